// Monitoring mixin for assuresign_exporter.
//
// The rules and the dashboard are the plain files in ../examples, which
// promtool tests (examples/check.sh); this file only wraps them, so there is
// one source of truth. With the default _config the output equals those
// files exactly (deploy/mixin_test.go checks it).
//
// _config:
//   assuresignSelector  replaces the selector job="assuresign" wherever the
//                       files spell it out: the AssureSignExporterDown alert
//                       and the dashboard's exporter panel. The other rules
//                       select by metric name and match on (job, instance,
//                       document_id), so they need no selector.
//   runbookURLBase      prefix of every alert's runbook_url; the alert's
//                       name, lower-cased, follows it.
local defaults = {
  assuresignSelector: 'job="assuresign"',
  runbookURLBase: 'https://github.com/assuresign-exporter/assuresign_exporter/blob/main/docs/alerts.md#',
};

// Replaces `from` by `to` in every string inside v.
local replaceAll(v, from, to) =
  if from == to then v
  else if std.isString(v) then std.strReplace(v, from, to)
  else if std.isArray(v) then [replaceAll(x, from, to) for x in v]
  else if std.isObject(v) then { [k]: replaceAll(v[k], from, to) for k in std.objectFields(v) }
  else v;

{
  _config+:: defaults,

  local config = self._config,
  local withSelector(v) = replaceAll(v, defaults.assuresignSelector, config.assuresignSelector),
  local withRunbook(rule) =
    if std.objectHas(rule, 'annotations') && std.objectHas(rule.annotations, 'runbook_url') then
      rule {
        annotations+: {
          runbook_url: std.strReplace(rule.annotations.runbook_url, defaults.runbookURLBase, config.runbookURLBase),
        },
      }
    else rule,

  prometheusAlerts+:: {
    local src = std.parseYaml(importstr '../examples/alerts.yml'),
    groups+: [
      group { rules: [withRunbook(withSelector(rule)) for rule in group.rules] }
      for group in src.groups
    ],
  },

  prometheusRules+:: {
    local src = std.parseYaml(importstr '../examples/rules.yml'),
    groups+: withSelector(src.groups),
  },

  grafanaDashboards+:: {
    'assuresign-documents.json': withSelector(std.parseJson(importstr '../examples/grafana-dashboard.json')),
  },
}
