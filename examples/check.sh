#!/usr/bin/env bash
# Checks the example Prometheus/Alertmanager/Grafana files in this directory.
# Runs from any working directory; `make test` calls it.
#
# Needs promtool (Prometheus), amtool (Alertmanager) and python3 on PATH.
# Debian/Ubuntu: apt-get install prometheus prometheus-alertmanager
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

for tool in promtool amtool python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "check.sh: $tool not found on PATH" >&2
		exit 1
	fi
done

step() { printf '\n== %s\n' "$*"; }

step "promtool check rules"
promtool check rules alerts.yml rules.yml

step "promtool test rules"
promtool test rules alerts_test.yml rules_test.yml

step "promtool check config (rule_files are relative to prometheus.yml)"
promtool check config prometheus.yml

step "the demo's rules (demo/alerts.yml: alerts.yml with shorter for:, go test -run TestDemoAlerts holds them together)"
promtool test rules demo/alerts_test.yml
promtool check config demo/prometheus.yml

step "amtool check-config"
amtool check-config alertmanager.yml

step "amtool: routing by severity"
route() { # route RECEIVER LABEL=VALUE...
	local want=$1 got
	shift
	got=$(amtool config routes test --config.file=alertmanager.yml "$@" 2>/dev/null) || true
	if [[ $got != "$want" ]]; then
		echo "routing $*: got '$got', want '$want'" >&2
		exit 1
	fi
	echo "$* -> $got"
}
route assuresign-pager severity=critical alertname=AssureSignDocumentDeclined document_id=X
route assuresign-pager severity=critical alertname=AssureSignEnvelopeDeclined envelope_id=X
route assuresign-chat severity=warning alertname=AssureSignDocumentStuck document_id=X
route assuresign-low-noise severity=info alertname=AssureSignDocumentCancelled document_id=X
route assuresign-chat alertname=SomethingElse

step "grafana-dashboard.json is JSON"
python3 -m json.tool grafana-dashboard.json >/dev/null
echo ok

step "dashboard PromQL parses (Grafana variables substituted)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/dashboard-exprs.yml" <<'PY'
import json, sys

d = json.load(open("grafana-dashboard.json"))
subst = [("$customer", ".*"), ("$team", ".*"), ("$job", ".*"), ("$instance", ".*"), ("$__rate_interval", "1m"),
         ("$__interval", "15s"), ("$__range", "5m")]
with open(sys.argv[1], "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    n = 0
    for p in d["panels"]:
        for t in p.get("targets", []):
            expr = t["expr"]
            for a, b in subst:
                expr = expr.replace(a, b)
            n += 1
            out.write(f"      - record: dashboard_expr_{n}\n        expr: {json.dumps(expr)}\n")
PY
promtool check rules "$tmp/dashboard-exprs.yml"

step "consistency: alerts, runbooks, tests, dashboard"
python3 - <<'PY'
import json, re, sys

errors = []
alerts_yml = open("alerts.yml").read()
names = re.findall(r"^\s*- alert:\s*(\S+)", alerts_yml, re.M)
runbooks = open("../docs/alerts.md").read()
tests = open("alerts_test.yml").read()
base = "https://github.com/assuresign-exporter/assuresign_exporter/blob/main/docs/alerts.md#"

# Every alert: a severity, a runbook_url with its own anchor, a runbook
# section in docs/alerts.md, a row in its table, and unit tests.
blocks = re.split(r"^\s*- (?=alert:|record:)", alerts_yml, flags=re.M)[1:]
for b in blocks:
    m = re.match(r"alert:\s*(\S+)", b)
    if not m:
        continue
    name = m.group(1)
    if not re.search(r"^\s*severity:\s*(critical|warning|info)\s*$", b, re.M):
        errors.append(f"{name}: no severity label critical/warning/info")
    for ann in ("summary", "description", "runbook_url"):
        if not re.search(rf"^\s*{ann}:", b, re.M):
            errors.append(f"{name}: no {ann} annotation")
    if f"runbook_url: {base}{name.lower()}\n" not in b:
        errors.append(f"{name}: runbook_url is not {base}{name.lower()}")
    if not re.search(rf"^## {name}\s*$", runbooks, re.M):
        errors.append(f"{name}: no '## {name}' runbook in docs/alerts.md")
    if f"| [{name}](#{name.lower()}) |" not in runbooks:
        errors.append(f"{name}: not in docs/alerts.md's alert table")
    n = len(re.findall(rf"alertname:\s*{name}\s*$", tests, re.M))
    if n < 2:
        errors.append(f"{name}: {n} alert_rule_test cases in alerts_test.yml, want firing and not firing")
if not names:
    errors.append("no alerts found in alerts.yml")

# Dashboard: every panel and target on ${datasource}, PromQL only in expr,
# and the customer/team variables.
d = json.load(open("grafana-dashboard.json"))
variables = {v["name"]: v for v in d["templating"]["list"]}
if variables.get("datasource", {}).get("type") != "datasource" or variables["datasource"].get("query") != "prometheus":
    errors.append("dashboard: no datasource variable of type datasource/prometheus")
for v in ("customer", "team", "job", "instance"):
    var = variables.get(v)
    if not var or var.get("type") != "query" or not var.get("includeAll"):
        errors.append(f"dashboard: no include-all query variable {v}")
for p in d["panels"]:
    if p.get("type") == "row":
        continue
    if p.get("datasource", {}).get("uid") != "${datasource}":
        errors.append(f"dashboard panel {p['title']!r}: datasource is not ${{datasource}}")
    if not p.get("targets"):
        errors.append(f"dashboard panel {p['title']!r}: no targets")
    for t in p.get("targets", []):
        if t.get("datasource", {}).get("uid") != "${datasource}":
            errors.append(f"dashboard panel {p['title']!r} target {t.get('refId')}: datasource is not ${{datasource}}")
        if not t.get("expr"):
            errors.append(f"dashboard panel {p['title']!r} target {t.get('refId')}: no expr")
        if "$__range_s" in t.get("expr", "") or "$__range_ms" in t.get("expr", ""):
            errors.append(f"dashboard panel {p['title']!r}: use $__range, not $__range_s/_ms")

if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print(f"ok: {len(names)} alerts, {sum(1 for p in d['panels'] if p.get('type') != 'row')} panels")
PY

step "all checks passed"
