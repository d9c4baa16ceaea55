package deploy

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartv2util "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"sigs.k8s.io/yaml"
)

const (
	chartDir = "deploy/helm/assuresign-exporter"
	// The release is named as the kustomize files name their objects, so
	// that the chart's objects are named alike.
	releaseName = "assuresign-exporter"
	namespace   = "monitoring"
	webhookPort = 9866
)

// Values of the test cases that are secrets: none may show in a ConfigMap,
// an argument or an environment variable.
const (
	testContextIdentifier = "06C4A84A-693C-46CB-8DF2-40A8215AA056"
	testWebhookToken      = "test-webhook-token-0123456789abcdef"
	testAuthToken         = "8CC9A84B-693C-46CC-4342-40A8215AD76A"
	testAPIKey            = "test-rest-api-key-fedcba9876543210"
)

// restValues turn on the REST API with the API key in the chart's Secret.
const restValues = "assuresign: {api: rest, rest: {apiUsername: api-user, contextUsername: sender@example.com, apiKey: {value: " + testAPIKey + "}}}"

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(inRepo(chartDir))
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// renderChart renders the chart as `helm template` does, values validated
// against values.schema.json, and returns the manifests as one YAML stream.
func renderChart(t *testing.T, values map[string]any) (string, error) {
	t.Helper()
	files, err := renderFiles(t, values, nil)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if strings.HasSuffix(name, "NOTES.txt") || strings.TrimSpace(files[name]) == "" {
			continue
		}
		out.WriteString("---\n# Source: " + name + "\n" + files[name] + "\n")
	}
	return out.String(), nil
}

// renderFiles renders the chart's templates, each to its own text; lookup
// asks cluster, or finds nothing when it is nil (as `helm template` does).
func renderFiles(t *testing.T, values map[string]any, cluster engine.ClientProvider) (map[string]string, error) {
	t.Helper()
	ch := loadChart(t)
	opts := common.ReleaseOptions{Name: releaseName, Namespace: namespace, IsInstall: cluster == nil, IsUpgrade: cluster != nil}
	top, err := chartutil.ToRenderValuesWithSchemaValidation(ch, values, opts, nil, false)
	if err != nil {
		return nil, err
	}
	if cluster == nil {
		return engine.Render(ch, top)
	}
	return engine.RenderWithClientProvider(ch, top, cluster)
}

// chartValues decodes values given as YAML.
func chartValues(t *testing.T, valuesYAML string) map[string]any {
	t.Helper()
	values := map[string]any{}
	if err := yaml.Unmarshal([]byte(valuesYAML), &values); err != nil {
		t.Fatalf("test values: %v", err)
	}
	return values
}

// renderValues renders the chart with values given as YAML and decodes its
// objects strictly.
func renderValues(t *testing.T, valuesYAML string) *rendered {
	t.Helper()
	out, err := renderChart(t, chartValues(t, valuesYAML))
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return decodeObjects(t, chartDir, out)
}

// chartCase is a render of the chart with some values and what it must give.
type chartCase struct {
	name   string
	values string
	// Secrets and ConfigMaps the values name, which the chart does not make.
	existing []string
	check    func(t *testing.T, r *rendered)
}

var chartCases = []chartCase{
	{name: "defaults", check: func(t *testing.T, r *rendered) {
		// The defaults need no CRD.
		wantCounts(t, r, map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 1, "Secret": 2, "ServiceMonitor": 0, "PrometheusRule": 0, "HTTPRoute": 0, "ConfigMap": 0})
		s := secretNamed(t, r, releaseName)
		if v, ok := s.Data["context-identifier"]; !ok || len(v) != 0 {
			t.Errorf("Secret %s: want an empty context-identifier, have %q (present %v)", s.Name, v, ok)
		}
		// SOAP, the exporter's default: no REST flag, variable or key.
		c := podSpec(r).Containers[0]
		for _, name := range []string{"assuresign.api", "assuresign.rest.api-key-file", "assuresign.rest.url", "assuresign.rest.auth-url"} {
			if _, v, ok := flagValue(c.Args, name); ok {
				t.Errorf("the default render has --%s=%s", name, v)
			}
		}
		if len(c.Env) != 0 || len(s.Data) != 2 {
			t.Errorf("the default render has env %v and Secret keys %v", c.Env, keys(stringData(s)))
		}
	}},
	{name: "assuresign.api rest", values: restValues, check: func(t *testing.T, r *rendered) {
		checkREST(t, r, releaseName, "api-key")
		if got := string(secretNamed(t, r, releaseName).Data["api-key"]); got != testAPIKey {
			t.Errorf("api-key is %q", got)
		}
		c := podSpec(r).Containers[0]
		for _, name := range []string{"assuresign.rest.url", "assuresign.rest.auth-url"} {
			if _, v, ok := flagValue(c.Args, name); ok {
				t.Errorf("--%s=%s without its value: the exporter's default should hold", name, v)
			}
		}
	}},
	{name: "assuresign.rest.apiKey.existingSecret", values: `
assuresign:
  api: rest
  rest:
    url: https://sb.assuresign.net/api/documentnow/v3.7
    authURL: https://sb-account.assuresign.net/api/v3.7/authentication/apiUser
    apiUsername: api-user
    contextUsername: sender@example.com
    apiKey: {existingSecret: assuresign-api, key: key}
contextIdentifier: {existingSecret: assuresign-api, key: guid}
`, existing: []string{"assuresign-api"}, check: func(t *testing.T, r *rendered) {
		checkREST(t, r, "assuresign-api", "key")
		wantCounts(t, r, map[string]int{"Secret": 1}) // the watch files' only
		c := podSpec(r).Containers[0]
		if _, v, _ := flagValue(c.Args, "assuresign.rest.url"); v != "https://sb.assuresign.net/api/documentnow/v3.7" {
			t.Errorf("--assuresign.rest.url=%q", v)
		}
		if _, v, _ := flagValue(c.Args, "assuresign.rest.auth-url"); v != "https://sb-account.assuresign.net/api/v3.7/authentication/apiUser" {
			t.Errorf("--assuresign.rest.auth-url=%q", v)
		}
	}},
	{name: "contextIdentifier.value", values: "contextIdentifier: {value: " + testContextIdentifier + "}",
		check: func(t *testing.T, r *rendered) {
			if got := string(secretNamed(t, r, releaseName).Data["context-identifier"]); got != testContextIdentifier {
				t.Errorf("context-identifier is %q", got)
			}
		}},
	{name: "contextIdentifier.existingSecret", values: "contextIdentifier: {existingSecret: account, key: guid}", existing: []string{"account"},
		check: func(t *testing.T, r *rendered) {
			wantCounts(t, r, map[string]int{"Secret": 1}) // the watch files' only
		}},
	{name: "watchFiles.files", values: `
watchFiles:
  files:
    sales.yml: {documents: [{id: 2CE11EF1-8938-DD11-8735-00065B8CE99B, auth_token: ` + testAuthToken + `}]}
    legal.yaml: |
      documents: []
`, check: func(t *testing.T, r *rendered) {
		s := secretNamed(t, r, releaseName+"-watch")
		if !strings.Contains(string(s.Data["sales.yml"]), testAuthToken) || string(s.Data["legal.yaml"]) != "documents: []\n" {
			t.Errorf("Secret %s: the inline watch files are not its keys: %v", s.Name, keys(stringData(s)))
		}
	}},
	{name: "watchFiles.existingSecret", values: "watchFiles: {existingSecret: watch-lists}", existing: []string{"watch-lists"},
		check: func(t *testing.T, r *rendered) { wantCounts(t, r, map[string]int{"Secret": 1}) }},
	{name: "pod options", values: `
image: {repository: registry.example.com/assuresign_exporter, digest: "sha256:` + strings.Repeat("ab", 32) + `", pullPolicy: Always}
imagePullSecrets: [{name: registry}]
extraArgs: [--refresh.interval=1h, --metrics.current-status-only]
env: [{name: GOGC, value: "100"}]
podAnnotations: {example.com/note: checked}
podLabels: {team: documents}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: monitoring, effect: NoSchedule}]
affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]}]}}}
topologySpreadConstraints: [{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway}]
priorityClassName: monitoring
`, existing: []string{"registry"}, check: func(t *testing.T, r *rendered) {
		spec := podSpec(r)
		c := spec.Containers[0]
		if c.Image != "registry.example.com/assuresign_exporter@sha256:"+strings.Repeat("ab", 32) || c.ImagePullPolicy != corev1.PullAlways {
			t.Errorf("image %s, pull policy %s", c.Image, c.ImagePullPolicy)
		}
		if _, v, _ := flagValue(c.Args, "refresh.interval"); v != "1h" || !slices.Contains(c.Args, "--metrics.current-status-only") {
			t.Errorf("extraArgs missing from %v", c.Args)
		}
		if len(spec.ImagePullSecrets) != 1 || len(spec.Tolerations) != 1 || spec.Affinity == nil || len(spec.TopologySpreadConstraints) != 1 ||
			spec.PriorityClassName != "monitoring" || spec.NodeSelector["kubernetes.io/os"] != "linux" || len(c.Env) != 1 {
			t.Errorf("pod options missing from the pod spec")
		}
		tpl := r.deployments[0].Spec.Template
		if tpl.Annotations["example.com/note"] != "checked" || tpl.Labels["team"] != "documents" {
			t.Errorf("pod annotations %v, labels %v", tpl.Annotations, tpl.Labels)
		}
	}},
	{name: "webhook", values: `
webhook:
  enabled: true
  bearerToken: {value: ` + testWebhookToken + `}
  ingress: {enabled: true, className: nginx, tls: [{secretName: webhook-tls, hosts: [assuresign-exporter.example.com]}]}
  httpRoute: {enabled: true, parentRefs: [{name: public, namespace: gateways}], hostnames: [assuresign-exporter.example.com]}
`, check: func(t *testing.T, r *rendered) {
		wantCounts(t, r, map[string]int{"Service": 2, "Ingress": 1, "HTTPRoute": 1})
		checkWebhook(t, r)
		if got := string(secretNamed(t, r, releaseName).Data["webhook-token"]); got != testWebhookToken {
			t.Errorf("webhook-token is %q", got)
		}
	}},
	{name: "webhook.bearerToken.existingSecret", values: "webhook: {enabled: true, bearerToken: {existingSecret: documenttrak, key: token}}",
		existing: []string{"documenttrak"}, check: checkWebhook},
	{name: "sharding", values: "sharding: {shards: 3}", check: func(t *testing.T, r *rendered) {
		wantCounts(t, r, map[string]int{"StatefulSet": 1, "Deployment": 0, "Service": 2, "PersistentVolumeClaim": 0})
		checkChartShards(t, r, 3)
	}},
	{name: "persistence", values: "persistence: {enabled: true, size: 1Gi, storageClassName: fast}", check: func(t *testing.T, r *rendered) {
		wantCounts(t, r, map[string]int{"PersistentVolumeClaim": 1})
		d := r.deployments[0]
		if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("Deployment %s: want strategy Recreate with a ReadWriteOnce claim", d.Name)
		}
		if pvc := r.claims[0]; pvc.Spec.Resources.Requests.Storage().String() != "1Gi" || *pvc.Spec.StorageClassName != "fast" {
			t.Errorf("claim %s: %v", pvc.Name, pvc.Spec)
		}
	}},
	{name: "persistence.existingClaim", values: "persistence: {enabled: true, existingClaim: exporter-state}", existing: []string{"exporter-state"},
		check: func(t *testing.T, r *rendered) { wantCounts(t, r, map[string]int{"PersistentVolumeClaim": 0}) }},
	{name: "sharding with persistence and the webhook", values: `
sharding: {shards: 4}
persistence: {enabled: true}
webhook: {enabled: true, bearerToken: {value: ` + testWebhookToken + `}}
`, check: func(t *testing.T, r *rendered) {
		wantCounts(t, r, map[string]int{"StatefulSet": 1, "Service": 3, "PersistentVolumeClaim": 0})
		checkChartShards(t, r, 4)
		checkWebhook(t, r)
		if claims := r.statefulSets[0].Spec.VolumeClaimTemplates; len(claims) != 1 || claims[0].Name != "state" {
			t.Errorf("want the volumeClaimTemplate state, have %v", claims)
		}
	}},
	{name: "serviceMonitor", values: "serviceMonitor: {enabled: true, additionalLabels: {release: kube-prometheus-stack}}",
		check: func(t *testing.T, r *rendered) {
			checkServiceMonitor(t, r)
			if r.serviceMonitors[0].Labels["release"] != "kube-prometheus-stack" {
				t.Errorf("ServiceMonitor lacks the additional labels: %v", r.serviceMonitors[0].Labels)
			}
		}},
	{name: "prometheusRule", values: "prometheusRule: {enabled: true, additionalLabels: {release: kube-prometheus-stack}}",
		check: func(t *testing.T, r *rendered) {
			wantCounts(t, r, map[string]int{"PrometheusRule": 1})
			checkRuleGroups(t, "PrometheusRule", r.rules[0].Spec.Groups, exampleRuleGroups(t))
			if r.rules[0].Labels["release"] != "kube-prometheus-stack" {
				t.Errorf("PrometheusRule lacks the additional labels: %v", r.rules[0].Labels)
			}
		}},
	{name: "grafanaDashboard", values: "grafanaDashboard: {enabled: true}", check: checkDashboard},
	{name: "webConfig", values: "webConfig: {existingSecret: web-tls, tls: true}\nserviceMonitor: {enabled: true, tlsConfig: {insecureSkipVerify: true}}",
		existing: []string{"web-tls"}, check: func(t *testing.T, r *rendered) {
			c := podSpec(r).Containers[0]
			if _, v, _ := flagValue(c.Args, "web.config.file"); v != "/etc/assuresign_exporter/web/web.yml" {
				t.Errorf("--web.config.file=%q", v)
			}
			if c.LivenessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS || c.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
				t.Errorf("probes do not use HTTPS with webConfig.tls")
			}
			if ep := r.serviceMonitors[0].Spec.Endpoints[0]; ep.Scheme == nil || *ep.Scheme != "https" || ep.TLSConfig == nil {
				t.Errorf("ServiceMonitor does not scrape with https and the tlsConfig")
			}
		}},
	{name: "podDisruptionBudget", values: "podDisruptionBudget: {enabled: true}", check: func(t *testing.T, r *rendered) {
		wantCounts(t, r, map[string]int{"PodDisruptionBudget": 1})
		pdb := r.disruptions[0]
		if ok, _ := selects(pdb.Spec.Selector, podTemplate(r).Labels); !ok || pdb.Spec.MaxUnavailable == nil {
			t.Errorf("PodDisruptionBudget %s: does not select the pods or sets no maxUnavailable", pdb.Name)
		}
	}},
	{name: "networkPolicy", values: "networkPolicy: {enabled: true}", check: func(t *testing.T, r *rendered) {
		// The default: the Prometheus pods of the release's namespace, no other.
		np := checkNetworkPolicy(t, r, 1)
		peers := admittedTo(t, np, "http-metrics")
		if slices.ContainsFunc(peers, func(p networkingv1.NetworkPolicyPeer) bool { return p.NamespaceSelector != nil || p.IPBlock != nil }) {
			t.Errorf("NetworkPolicy %s: the metrics port admits %v, want the release's namespace only", np.Name, peers)
		}
		for what, labels := range map[string]map[string]string{"Prometheus": {"app.kubernetes.io/name": "prometheus"}, "the helm test": r.pods[0].Labels} {
			if !slices.ContainsFunc(peers, func(p networkingv1.NetworkPolicyPeer) bool { ok, _ := selects(p.PodSelector, labels); return ok }) {
				t.Errorf("NetworkPolicy %s: the metrics port does not admit %s pod", np.Name, what)
			}
		}
	}},
	{name: "networkPolicy.metricsNamespaceSelector", values: "networkPolicy: {enabled: true, metricsNamespaceSelector: {matchLabels: {kubernetes.io/metadata.name: observability}}}",
		check: func(t *testing.T, r *rendered) {
			np := checkNetworkPolicy(t, r, 1)
			peers := admittedTo(t, np, "http-metrics")
			other := slices.ContainsFunc(peers, func(p networkingv1.NetworkPolicyPeer) bool {
				ok, _ := selects(p.NamespaceSelector, map[string]string{"kubernetes.io/metadata.name": "observability"})
				return ok && p.PodSelector == nil
			})
			if len(peers) != 3 || !other {
				t.Errorf("NetworkPolicy %s: the metrics port admits %v, want the release's Prometheus and the namespace observability", np.Name, peers)
			}
		}},
	{name: "networkPolicy.metricsFrom empty", values: "networkPolicy: {enabled: true, metricsFrom: []}\ntest: {enabled: false}", check: func(t *testing.T, r *rendered) {
		// No peer: the metrics port is closed, not open to all.
		checkNetworkPolicy(t, r, 0)
	}},
	{name: "networkPolicy with the sharded webhook", values: `
networkPolicy: {enabled: true, webhookFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}}]}
sharding: {shards: 2}
webhook: {enabled: true, bearerToken: {value: ` + testWebhookToken + `}}
`, check: func(t *testing.T, r *rendered) {
		np := checkNetworkPolicy(t, r, 2)
		from := admittedTo(t, np, "http-webhook")
		self := slices.ContainsFunc(from, func(p networkingv1.NetworkPolicyPeer) bool {
			ok, _ := selects(p.PodSelector, podTemplate(r).Labels)
			return ok && p.NamespaceSelector == nil
		})
		if len(from) != 2 || !self {
			t.Errorf("NetworkPolicy %s: the webhook port should admit webhookFrom and the other shards, admits %v", np.Name, from)
		}
	}},
	{name: "helm test", values: "", check: func(t *testing.T, r *rendered) {
		checkTestPod(t, r, "http")
	}},
	{name: "helm test with TLS", values: "webConfig: {existingSecret: web-tls, tls: true}\ntest: {image: {digest: sha256:" + strings.Repeat("cd", 32) + "}}",
		existing: []string{"web-tls"}, check: func(t *testing.T, r *rendered) {
			pod := checkTestPod(t, r, "https")
			if pod.Spec.Containers[0].Image != "busybox@sha256:"+strings.Repeat("cd", 32) {
				t.Errorf("test pod image %s, want the digest", pod.Spec.Containers[0].Image)
			}
		}},
	{name: "test disabled", values: "test: {enabled: false}", check: func(t *testing.T, r *rendered) {
		if len(r.pods) != 0 {
			t.Errorf("test.enabled false still makes %d test pods", len(r.pods))
		}
	}},
	{name: "commonLabels, extraVolumes, relabelings", values: `
commonLabels: {team: documents, cost-center: "42"}
extraVolumes: [{name: ca, configMap: {name: corporate-ca}}]
extraVolumeMounts: [{name: ca, mountPath: /etc/ssl/corporate, readOnly: true}]
serviceMonitor:
  enabled: true
  relabelings: [{action: replace, sourceLabels: [__meta_kubernetes_pod_node_name], targetLabel: node}]
  metricRelabelings: [{action: drop, sourceLabels: [__name__], regex: go_.*}]
`, existing: []string{"corporate-ca"}, check: func(t *testing.T, r *rendered) {
		objects := []metav1.ObjectMeta{r.deployments[0].ObjectMeta, r.serviceAccounts[0].ObjectMeta, r.serviceMonitors[0].ObjectMeta, r.pods[0].ObjectMeta}
		for _, s := range r.services {
			objects = append(objects, s.ObjectMeta)
		}
		for _, s := range r.secrets {
			objects = append(objects, s.ObjectMeta)
		}
		for _, o := range objects {
			if o.Labels["team"] != "documents" || o.Labels["cost-center"] != "42" {
				t.Errorf("%s lacks commonLabels: %v", o.Name, o.Labels)
			}
		}
		spec := podSpec(r)
		if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == "ca" && v.ConfigMap != nil }) ||
			!slices.ContainsFunc(spec.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "ca" && m.MountPath == "/etc/ssl/corporate" }) {
			t.Errorf("extraVolumes or extraVolumeMounts missing: %v, %v", spec.Volumes, spec.Containers[0].VolumeMounts)
		}
		checkServiceMonitor(t, r)
		ep := r.serviceMonitors[0].Spec.Endpoints[0]
		if len(ep.RelabelConfigs) != 2 || ep.RelabelConfigs[1].TargetLabel != "node" {
			t.Errorf("ServiceMonitor relabelings: want the chart's then node, have %v", ep.RelabelConfigs)
		}
		if len(ep.MetricRelabelConfigs) != 1 || ep.MetricRelabelConfigs[0].Regex != "go_.*" {
			t.Errorf("ServiceMonitor metricRelabelings: %v", ep.MetricRelabelConfigs)
		}
	}},
	{name: "all", values: `
contextIdentifier: {value: ` + testContextIdentifier + `}
assuresign: {api: rest, rest: {apiUsername: api-user, contextUsername: sender@example.com, apiKey: {value: ` + testAPIKey + `}}}
watchFiles: {files: {sales.yml: {documents: [{id: 2CE11EF1-8938-DD11-8735-00065B8CE99B, auth_token: ` + testAuthToken + `}]}}}
extraArgs: [--refresh.interval=1h]
sharding: {shards: 3}
persistence: {enabled: true}
webhook:
  enabled: true
  bearerToken: {value: ` + testWebhookToken + `}
  ingress: {enabled: true}
  httpRoute: {enabled: true, parentRefs: [{name: public}]}
webConfig: {existingSecret: web-tls, tls: true}
serviceMonitor: {enabled: true}
prometheusRule: {enabled: true}
grafanaDashboard: {enabled: true}
podDisruptionBudget: {enabled: true}
networkPolicy: {enabled: true}
`, existing: []string{"web-tls"}, check: func(t *testing.T, r *rendered) {
		wantCounts(t, r, map[string]int{"StatefulSet": 1, "Service": 3, "ServiceMonitor": 1, "PrometheusRule": 1, "ConfigMap": 1,
			"Ingress": 1, "HTTPRoute": 1, "PodDisruptionBudget": 1, "NetworkPolicy": 1})
		checkChartShards(t, r, 3)
		checkWebhook(t, r)
		checkServiceMonitor(t, r)
		checkDashboard(t, r)
		checkREST(t, r, releaseName, "api-key")
	}},
}

// checkREST: the exporter asks the REST API with the API key as a file from
// the Secret keySecret's key, the user names in the environment, and never
// the key in the environment.
func checkREST(t *testing.T, r *rendered, keySecret, key string) {
	t.Helper()
	spec := podSpec(r)
	c := spec.Containers[0]
	if _, v, _ := flagValue(c.Args, "assuresign.api"); v != "rest" {
		t.Errorf("--assuresign.api=%q, want rest", v)
	}
	_, file, _ := flagValue(c.Args, "assuresign.rest.api-key-file")
	mounted := false
	for _, v := range spec.Volumes {
		for _, m := range c.VolumeMounts {
			if m.Name != v.Name || v.Projected == nil {
				continue
			}
			for _, src := range v.Projected.Sources {
				if src.Secret != nil && src.Secret.Name == keySecret && slices.Contains(src.Secret.Items, corev1.KeyToPath{Key: key, Path: path.Base(file)}) && path.Dir(file) == m.MountPath {
					mounted = true
				}
			}
		}
	}
	if !mounted {
		t.Errorf("--assuresign.rest.api-key-file=%q is not Secret %s's key %s", file, keySecret, key)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["ASSURESIGN_API_USERNAME"] == "" || env["ASSURESIGN_CONTEXT_USERNAME"] == "" {
		t.Errorf("want $ASSURESIGN_API_USERNAME and $ASSURESIGN_CONTEXT_USERNAME, have env %v", env)
	}
	if _, ok := env["ASSURESIGN_API_KEY"]; ok {
		t.Error("$ASSURESIGN_API_KEY is set: the key belongs in a file")
	}
}

func TestHelmChartRender(t *testing.T) {
	for _, tc := range chartCases {
		t.Run(tc.name, func(t *testing.T) {
			r := renderValues(t, tc.values)
			checkChart(t, r, tc.existing)
			tc.check(t, r)
		})
	}
}

// checkChart checks what every render of the chart must give.
func checkChart(t *testing.T, r *rendered, existing []string) {
	t.Helper()
	if n := len(r.deployments) + len(r.statefulSets); n != 1 {
		t.Fatalf("want one Deployment or StatefulSet, got %d", n)
	}
	var what string
	var sel *metav1.LabelSelector
	var tpl *corev1.PodTemplateSpec
	for _, d := range r.deployments {
		what, sel, tpl = "Deployment "+d.Name, d.Spec.Selector, &d.Spec.Template
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
			t.Errorf("%s: want 1 replica (more would repeat every AssureSign request)", what)
		}
	}
	var volumes []string
	for _, s := range r.statefulSets {
		what, sel, tpl = "StatefulSet "+s.Name, s.Spec.Selector, &s.Spec.Template
		for _, c := range s.Spec.VolumeClaimTemplates {
			volumes = append(volumes, c.Name)
		}
	}
	for _, v := range tpl.Spec.Volumes {
		volumes = append(volumes, v.Name)
	}
	c := checkExporterPod(t, what, sel, tpl)
	checkFlags(t, what, c.Args)
	for _, m := range c.VolumeMounts {
		if !slices.Contains(volumes, m.Name) {
			t.Errorf("%s: mounts %s, which is neither a volume nor a volumeClaimTemplate", what, m.Name)
		}
	}
	checkServiceAccount(t, r)
	for _, svc := range r.services {
		if ok, _ := selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, tpl.Labels); !ok {
			t.Errorf("Service %s does not select the exporter's pods", svc.Name)
		}
	}
	checkServicePort(t, serviceNamed(t, r, releaseName)) // every render has the main Service
	checkChartVolumes(t, r, what, &tpl.Spec, existing)

	// No secret in a ConfigMap, an argument or the environment.
	exposed := strings.Join(c.Args, " ")
	for _, e := range c.Env {
		exposed += " " + e.Value
	}
	for _, cm := range r.configMaps {
		for _, v := range cm.Data {
			exposed += " " + v
		}
	}
	for _, secret := range []string{testContextIdentifier, testWebhookToken, testAuthToken, testAPIKey} {
		if strings.Contains(exposed, secret) {
			t.Errorf("a secret value (%s...) is in an argument, the environment or a ConfigMap", secret[:8])
		}
	}
}

// fileFlags are the exporter's flags that name a file it reads or writes.
var fileFlags = []string{"watch.file", "assuresign.context-identifier-file", "assuresign.rest.api-key-file", "webhook.bearer-token-file", "web.config.file", "persistence.file"}

// checkChartVolumes checks that every file flag names a file in a mounted
// volume, mounted whole (a subPath mount never sees a Secret's update), and
// that every Secret or ConfigMap a volume reads is the chart's, holding the
// keys read, or one the values name.
func checkChartVolumes(t *testing.T, r *rendered, what string, spec *corev1.PodSpec, existing []string) {
	t.Helper()
	c := &spec.Containers[0]
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		if m.SubPath != "" || m.SubPathExpr != "" {
			t.Errorf("%s: volume %s is mounted with a subPath: updates would not reach the exporter", what, m.Name)
		}
		mounts[m.MountPath] = m
	}
	for _, name := range fileFlags {
		for _, a := range c.Args {
			if n, file, ok := argFlag(a); ok && n == name {
				if m, ok := mounts[path.Dir(file)]; !ok {
					t.Errorf("%s: --%s=%s: no volume is mounted at %s", what, name, file, path.Dir(file))
				} else if m.ReadOnly == (name == "persistence.file") {
					t.Errorf("%s: --%s: volume %s has readOnly %v", what, name, m.Name, m.ReadOnly)
				}
			}
		}
	}
	secrets := map[string]*corev1.Secret{}
	for _, s := range r.secrets {
		secrets[s.Name] = s
	}
	checkSource := func(vol, name string, items []corev1.KeyToPath, isSecret bool) {
		if slices.Contains(existing, name) {
			return
		}
		s, ok := secrets[name]
		if !ok || !isSecret {
			t.Errorf("%s: volume %s reads %s, which the chart does not make", what, vol, name)
			return
		}
		for _, it := range items {
			if _, ok := s.Data[it.Key]; !ok {
				t.Errorf("%s: volume %s reads key %s, which Secret %s lacks", what, vol, it.Key, name)
			}
		}
	}
	for _, v := range spec.Volumes {
		switch {
		case v.Secret != nil:
			checkSource(v.Name, v.Secret.SecretName, v.Secret.Items, true)
			if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o077 != 0 {
				t.Errorf("%s: Secret volume %s: want defaultMode 0400", what, v.Name)
			}
		case v.ConfigMap != nil:
			checkSource(v.Name, v.ConfigMap.Name, v.ConfigMap.Items, false)
		case v.PersistentVolumeClaim != nil:
			name := v.PersistentVolumeClaim.ClaimName
			if !slices.Contains(existing, name) && !slices.ContainsFunc(r.claims, func(c *corev1.PersistentVolumeClaim) bool { return c.Name == name }) {
				t.Errorf("%s: volume %s reads claim %s, which the chart does not make", what, v.Name, name)
			}
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					checkSource(v.Name, src.Secret.Name, src.Secret.Items, true)
				}
			}
			if v.Projected.DefaultMode == nil || *v.Projected.DefaultMode&0o077 != 0 {
				t.Errorf("%s: projected volume %s: want defaultMode 0400", what, v.Name)
			}
		}
	}
}

// checkWebhook: its own listener, port, Service, token file, and the Ingress
// and HTTPRoute, when made, route its path alone to that Service.
func checkWebhook(t *testing.T, r *rendered) {
	t.Helper()
	c := podSpec(r).Containers[0]
	if _, v, _ := flagValue(c.Args, "webhook.listen-address"); v != ":"+strconv.Itoa(webhookPort) {
		t.Errorf("--webhook.listen-address=%q, want :%d", v, webhookPort)
	}
	if _, v, _ := flagValue(c.Args, "webhook.bearer-token-file"); v == "" {
		t.Error("no --webhook.bearer-token-file")
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "http-webhook" && p.ContainerPort == webhookPort }) {
		t.Errorf("no container port http-webhook = %d", webhookPort)
	}
	svc := serviceNamed(t, r, releaseName+"-webhook")
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != webhookPort || svc.Spec.Ports[0].TargetPort.StrVal != "http-webhook" {
		t.Errorf("Service %s: want only the port %d to http-webhook, have %v", svc.Name, webhookPort, svc.Spec.Ports)
	}
	for _, ing := range r.ingresses {
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				if p.Path != "/webhooks/documenttrak" || *p.PathType != "Exact" || p.Backend.Service.Name != svc.Name {
					t.Errorf("Ingress %s: routes %s (%s) to %s; want only /webhooks/documenttrak to %s", ing.Name, p.Path, *p.PathType, p.Backend.Service.Name, svc.Name)
				}
			}
		}
	}
	for _, route := range r.httpRoutes {
		for _, rule := range route.Spec.Rules {
			for _, m := range rule.Matches {
				if m.Path == nil || *m.Path.Type != "Exact" || *m.Path.Value != "/webhooks/documenttrak" {
					t.Errorf("HTTPRoute %s: matches %v; want only the path /webhooks/documenttrak", route.Name, m.Path)
				}
			}
			for _, b := range rule.BackendRefs {
				if string(b.Name) != svc.Name || b.Port == nil || int32(*b.Port) != webhookPort {
					t.Errorf("HTTPRoute %s: backend %s:%v, want %s:%d", route.Name, b.Name, b.Port, svc.Name, webhookPort)
				}
			}
		}
		if len(route.Spec.ParentRefs) == 0 {
			t.Errorf("HTTPRoute %s: no parentRefs", route.Name)
		}
	}
}

// checkChartShards checks the StatefulSet as checkShards does the kustomize
// overlay's, with the webhook on its own port.
func checkChartShards(t *testing.T, r *rendered, shards int32) {
	t.Helper()
	s := r.statefulSets[0]
	what := "StatefulSet " + s.Name
	c := checkShardPods(t, s)
	if s.Spec.Replicas == nil || *s.Spec.Replicas != shards {
		t.Errorf("%s: replicas %v, want %d", what, s.Spec.Replicas, shards)
	}
	headless := serviceNamed(t, r, s.Spec.ServiceName)
	if headless.Spec.ClusterIP != corev1.ClusterIPNone || headless.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: want headless, ready pods only", headless.Name)
	}
	_, url, forwarding := flagValue(c.Args, "webhook.shard-url-template")
	_, _, webhook := flagValue(c.Args, "webhook.bearer-token-file")
	want := "http://" + s.Name + "-{shard}." + headless.Name + ".$(POD_NAMESPACE).svc:" + strconv.Itoa(webhookPort) + "/webhooks/documenttrak"
	switch {
	case webhook && url != want:
		t.Errorf("%s: --webhook.shard-url-template=%q, want %q", what, url, want)
	case webhook && !slices.ContainsFunc(headless.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == webhookPort }):
		t.Errorf("Service %s: lacks the webhook's port %d the shards forward to", headless.Name, webhookPort)
	case !webhook && forwarding:
		t.Errorf("%s: --webhook.shard-url-template without the webhook", what)
	}
}

func checkDashboard(t *testing.T, r *rendered) {
	t.Helper()
	wantCounts(t, r, map[string]int{"ConfigMap": 1})
	cm := r.configMaps[0]
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("ConfigMap %s: want the Grafana sidecar's label grafana_dashboard: \"1\", have %v", cm.Name, cm.Labels)
	}
	want := strings.TrimRight(string(readRepoFile(t, "examples/grafana-dashboard.json")), "\n")
	if len(cm.Data) != 1 || cm.Data["assuresign-exporter.json"] != want {
		t.Errorf("ConfigMap %s: want examples/grafana-dashboard.json as assuresign-exporter.json", cm.Name)
	}
}

func checkNetworkPolicy(t *testing.T, r *rendered, rules int) *networkingv1.NetworkPolicy {
	t.Helper()
	wantCounts(t, r, map[string]int{"NetworkPolicy": 1})
	np := r.networkPolicies[0]
	if ok, _ := selects(&np.Spec.PodSelector, podTemplate(r).Labels); !ok {
		t.Errorf("NetworkPolicy %s does not select the exporter's pods", np.Name)
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{"Ingress"}) || len(np.Spec.Ingress) != rules {
		t.Fatalf("NetworkPolicy %s: want policyTypes [Ingress] and %d rules, have %v, %d", np.Name, rules, np.Spec.PolicyTypes, len(np.Spec.Ingress))
	}
	for i, rule := range np.Spec.Ingress {
		if len(rule.Ports) != 1 || !slices.Contains([]string{"http-metrics", "http-webhook"}, rule.Ports[0].Port.StrVal) {
			t.Errorf("NetworkPolicy %s: rule %d admits %v, want only port http-metrics or http-webhook", np.Name, i, rule.Ports)
		}
	}
	return np
}

// admittedTo returns the peers of the rules for port; a rule without
// peers admits everyone, so it fails the test.
func admittedTo(t *testing.T, np *networkingv1.NetworkPolicy, port string) []networkingv1.NetworkPolicyPeer {
	t.Helper()
	var peers []networkingv1.NetworkPolicyPeer
	for _, rule := range np.Spec.Ingress {
		if rule.Ports[0].Port.StrVal != port {
			continue
		}
		if len(rule.From) == 0 {
			t.Errorf("NetworkPolicy %s: port %s is open to all", np.Name, port)
		}
		peers = append(peers, rule.From...)
	}
	return peers
}

// TestHelmChartMatchesKustomizeBase: the chart's defaults deploy the pod the
// kustomize base does.
func TestHelmChartMatchesKustomizeBase(t *testing.T) {
	base := render(t, requiredTool(t, "kubectl"), inRepo("deploy/kubernetes/base"))
	chartObjs := renderValues(t, "")
	if len(base.deployments) != 1 || len(chartObjs.deployments) != 1 {
		t.Fatal("want one Deployment from each")
	}
	want, got := base.deployments[0].Spec.Template.Spec, chartObjs.deployments[0].Spec.Template.Spec
	wc, gc := want.Containers[0], got.Containers[0]
	for _, f := range []struct {
		what      string
		want, got any
	}{
		{"image", wc.Image, gc.Image},
		{"ports", wc.Ports, gc.Ports},
		{"livenessProbe", wc.LivenessProbe, gc.LivenessProbe},
		{"readinessProbe", wc.ReadinessProbe, gc.ReadinessProbe},
		{"container securityContext", wc.SecurityContext, gc.SecurityContext},
		{"pod securityContext", want.SecurityContext, got.SecurityContext},
		{"resources", wc.Resources, gc.Resources},
		{"automountServiceAccountToken", want.AutomountServiceAccountToken, got.AutomountServiceAccountToken},
		{"flags", flagNames(wc.Args), flagNames(gc.Args)},
		{"Service ports", base.services[0].Spec.Ports, serviceNamed(t, chartObjs, releaseName).Spec.Ports},
	} {
		if !reflect.DeepEqual(f.want, f.got) {
			t.Errorf("%s: the chart has %+v, the kustomize base %+v", f.what, f.got, f.want)
		}
	}
}

// flagNames are the names of the flags in args, sorted, each once.
func flagNames(args []string) []string {
	var names []string
	for _, a := range args {
		if n, _, ok := argFlag(a); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// TestHelmChartLint lints the chart with the values of every render case; a
// warning fails, as with `helm lint --strict`.
func TestHelmChartLint(t *testing.T) {
	for _, tc := range chartCases {
		t.Run(tc.name, func(t *testing.T) {
			result := lint.RunAll(inRepo(chartDir), chartValues(t, tc.values), namespace)
			for _, m := range result.Messages {
				if m.Severity >= support.WarningSev {
					t.Error(m)
				}
			}
		})
	}
}

// TestHelmChartRefuses: values that cannot work fail the render with a
// message saying what to set.
func TestHelmChartRefuses(t *testing.T) {
	for values, want := range map[string]string{
		"webhook: {enabled: true}": "webhook.enabled needs webhook.bearerToken.existingSecret or webhook.bearerToken.value",
		"webhook: {enabled: true, bearerToken: {value: t}, httpRoute: {enabled: true}}": "webhook.httpRoute.enabled needs webhook.httpRoute.parentRefs",
		"sharding: {shards: 2}\npersistence: {enabled: true, existingClaim: state}":     "persistence.existingClaim cannot be shared by shards",
		"assuresign: {api: rest, rest: {apiUsername: u, contextUsername: c}}":           "assuresign.api=rest needs assuresign.rest.apiKey.existingSecret or assuresign.rest.apiKey.value",
		"assuresign: {api: rest, rest: {contextUsername: c, apiKey: {value: k}}}":       "assuresign.api=rest needs assuresign.rest.apiUsername",
		"assuresign: {api: rest, rest: {apiUsername: u, apiKey: {existingSecret: s}}}":  "assuresign.api=rest needs assuresign.rest.contextUsername",
	} {
		if _, err := renderChart(t, chartValues(t, values)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("values %s: want an error %q, got %v", values, want, err)
		}
	}
}

// TestHelmChartSchema: a value the chart does not know is an error naming it.
func TestHelmChartSchema(t *testing.T) {
	for values, want := range map[string]string{
		"imagee: {tag: v1}":               "imagee",
		"webhook: {enabeld: true}":        "enabeld",
		"sharding: {shards: 0}":           "minimum",
		"watchFiles: {files: {a.txt: x}}": "a.txt",
		// The nested Kubernetes objects are closed: a typo is not dropped in silence.
		"securityContext: {readOnlyRootFilesystm: true}":          "readOnlyRootFilesystm",
		"podSecurityContext: {runAsNonRot: true}":                 "runAsNonRot",
		"resources: {limits: {memry: 128Mi}}":                     "memry",
		"resources: {limits: {memory: 128MB}}":                    "128MB",
		"livenessProbe: {httpGett: {path: /-/healthy}}":           "httpGett",
		"readinessProbe: {httpGet: {path: /-/ready, prot: 9865}}": "prot",
		"podDisruptionBudget: {maxUnavailable: abc}":              "abc",
		"persistence: {size: lots}":                               "lots",
		"serviceMonitor: {interval: 30 seconds}":                  "30 seconds",
		// Watch files hold AuthTokens: never in a ConfigMap.
		"watchFiles: {existingConfigMap: watch-lists}":  "existingConfigMap",
		"assuresign: {api: graphql}":                    "/assuresign/api",
		"assuresign: {rest: {apiKey: {secret: k}}}":     "secret",
		"assuresign: {rest: {url: www.assuresign.net}}": "/assuresign/rest/url",
		// A URL is one argument: no line break slips YAML into the pod.
		`assuresign: {rest: {authURL: "https://x\n  hostNetwork: true"}}`: "/assuresign/rest/authURL",
		`assuresign: {rest: {apiKey: {value: "key\n"}}}`:                  "/assuresign/rest/apiKey/value",
		// What the exporter would refuse at start.
		`webhook: {bearerToken: {value: "token\nwith a line break"}}`: "/webhook/bearerToken/value",
	} {
		_, err := renderChart(t, chartValues(t, values))
		if err == nil || !strings.Contains(err.Error(), "values don't meet the specifications of the schema") || !strings.Contains(err.Error(), want) {
			t.Errorf("values %s: want the schema's error naming %q, got %v", values, want, err)
		}
	}
}

// TestHelmChartAppVersion: the chart deploys the release of the repository's
// VERSION, whose image is tagged vX.Y.Z (TestEveryManifestNamesTheReleaseImage
// checks the image of the default render).
func TestHelmChartAppVersion(t *testing.T) {
	version := strings.TrimSpace(string(readRepoFile(t, "VERSION")))
	if got := loadChart(t).Metadata.AppVersion; got != "v"+version {
		t.Errorf("%s/Chart.yaml: appVersion %q, want %q (VERSION)", chartDir, got, "v"+version)
	}
}

// TestHelmChartIcon: Artifact Hub and the Helm repositories show the chart
// with its icon.
func TestHelmChartIcon(t *testing.T) {
	if icon := loadChart(t).Metadata.Icon; !strings.HasPrefix(icon, "https://") {
		t.Errorf("%s/Chart.yaml: icon %q, want an https URL", chartDir, icon)
	}
}

// chartFiles are the chart's copies of examples/ (Helm reads no file
// outside the chart).
var chartFiles = map[string]string{
	chartDir + "/files/alerts.yml":             "examples/alerts.yml",
	chartDir + "/files/rules.yml":              "examples/rules.yml",
	chartDir + "/files/grafana-dashboard.json": "examples/grafana-dashboard.json",
}

// TestHelmChartFiles fails when a copy differs from examples/; -update copies.
func TestHelmChartFiles(t *testing.T) {
	for copied, source := range chartFiles {
		want := readRepoFile(t, source)
		if *update {
			writeRepoFile(t, copied, want)
			continue
		}
		if !bytes.Equal(readRepoFile(t, copied), want) {
			t.Errorf("%s differs from %s; run: cd deploy && go test -run TestHelmChartFiles -update", copied, source)
		}
	}
}

func wantCounts(t *testing.T, r *rendered, want map[string]int) {
	t.Helper()
	have := map[string]int{
		"Deployment": len(r.deployments), "StatefulSet": len(r.statefulSets), "Service": len(r.services),
		"ServiceAccount": len(r.serviceAccounts), "Secret": len(r.secrets), "ConfigMap": len(r.configMaps),
		"PersistentVolumeClaim": len(r.claims), "Ingress": len(r.ingresses), "HTTPRoute": len(r.httpRoutes),
		"PodDisruptionBudget": len(r.disruptions), "NetworkPolicy": len(r.networkPolicies),
		"ServiceMonitor": len(r.serviceMonitors), "PrometheusRule": len(r.rules),
	}
	for kind, n := range want {
		if have[kind] != n {
			t.Errorf("want %d %s, got %d", n, kind, have[kind])
		}
	}
}

func podTemplate(r *rendered) *corev1.PodTemplateSpec {
	if len(r.statefulSets) > 0 {
		return &r.statefulSets[0].Spec.Template
	}
	return &r.deployments[0].Spec.Template
}

func podSpec(r *rendered) *corev1.PodSpec { return &podTemplate(r).Spec }

func secretNamed(t *testing.T, r *rendered, name string) *corev1.Secret {
	t.Helper()
	for _, s := range r.secrets {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no Secret %s", name)
	return nil
}

func serviceNamed(t *testing.T, r *rendered, name string) *corev1.Service {
	t.Helper()
	for _, s := range r.services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no Service %s", name)
	return nil
}

func stringData(s *corev1.Secret) map[string]string {
	m := map[string]string{}
	for k, v := range s.Data {
		m[k] = string(v)
	}
	return m
}

// TestHelmChartReadmeExample renders the values the chart's README shows for
// a sharded, persisted exporter with the webhook, a ServiceMonitor, a
// PrometheusRule and the Grafana dashboard, and checks that they give it.
func TestHelmChartReadmeExample(t *testing.T) {
	readme := string(readRepoFile(t, chartReadme))
	_, block, ok := strings.Cut(readme, "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatalf("%s: no yaml block", chartReadme)
	}
	r := renderValues(t, block)
	checkChart(t, r, []string{"assuresign-account", "assuresign-watch", "assuresign-documenttrak"})
	wantCounts(t, r, map[string]int{"StatefulSet": 1, "ServiceMonitor": 1, "PrometheusRule": 1, "Ingress": 1})
	checkChartShards(t, r, 3)
	checkWebhook(t, r)
	checkServiceMonitor(t, r)
	checkDashboard(t, r)
	if len(r.rules) == 1 { // else wantCounts has said so
		checkRuleGroups(t, "PrometheusRule", r.rules[0].Spec.Groups, exampleRuleGroups(t))
	}
	if len(r.statefulSets) != 1 || len(r.statefulSets[0].Spec.VolumeClaimTemplates) != 1 {
		t.Error("the example's shards keep no state on a claim")
	}
}

// TestHelmChartPackage packages the chart as `helm package` does and renders
// the archive: the copies of examples/ must be in it.
func TestHelmChartPackage(t *testing.T) {
	archive, err := chartv2util.Save(loadChart(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	packaged, err := loader.Load(archive)
	if err != nil {
		t.Fatal(err)
	}
	for copied := range chartFiles {
		name := strings.TrimPrefix(copied, chartDir+"/")
		if !slices.ContainsFunc(packaged.Files, func(f *common.File) bool { return f.Name == name }) {
			t.Errorf("%s: %s is not in the package", path.Base(archive), name)
		}
	}
	if want := "assuresign-exporter-" + packaged.Metadata.Version + ".tgz"; path.Base(archive) != want {
		t.Errorf("package %s, want %s", path.Base(archive), want)
	}
}

// injection would add host namespaces to the pod if a template wrote a
// string value unquoted: every string must come out verbatim, never as YAML.
const injection = "x\n  hostNetwork: true\n  hostPID: true\n"

// TestHelmChartQuotesStrings renders each free string value as injection:
// the value is kept verbatim, and no pod shares the host's namespaces.
func TestHelmChartQuotesStrings(t *testing.T) {
	inj := strconv.Quote(injection)
	for _, tc := range []struct {
		values string
		got    func(r *rendered) string
	}{
		{"priorityClassName: " + inj, func(r *rendered) string { return podSpec(r).PriorityClassName }},
		{"serviceAccount: {name: " + inj + "}", func(r *rendered) string { return podSpec(r).ServiceAccountName }},
		{"image: {repository: " + inj + "}", func(r *rendered) string {
			return strings.TrimSuffix(podSpec(r).Containers[0].Image, ":"+loadChart(t).Metadata.AppVersion)
		}},
		{"image: {tag: " + inj + "}", func(r *rendered) string {
			_, tag, _ := strings.Cut(podSpec(r).Containers[0].Image, ":")
			return tag
		}},
		{"contextIdentifier: {existingSecret: " + inj + "}", func(r *rendered) string {
			return podSpec(r).Volumes[1].Projected.Sources[0].Secret.Name
		}},
		{"webhook: {enabled: true, bearerToken: {existingSecret: " + inj + "}}", func(r *rendered) string {
			return podSpec(r).Volumes[1].Projected.Sources[1].Secret.Name
		}},
		{"watchFiles: {existingSecret: " + inj + "}", func(r *rendered) string { return podSpec(r).Volumes[0].Secret.SecretName }},
		{"assuresign: {api: rest, rest: {apiUsername: " + inj + ", contextUsername: c, apiKey: {value: k}}}", func(r *rendered) string {
			return podSpec(r).Containers[0].Env[0].Value
		}},
		{"assuresign: {api: rest, rest: {apiUsername: u, contextUsername: " + inj + ", apiKey: {value: k}}}", func(r *rendered) string {
			return podSpec(r).Containers[0].Env[1].Value
		}},
		{"assuresign: {api: rest, rest: {apiUsername: u, contextUsername: c, apiKey: {existingSecret: " + inj + "}}}", func(r *rendered) string {
			return podSpec(r).Volumes[1].Projected.Sources[1].Secret.Name
		}},
		{"webConfig: {existingSecret: " + inj + "}", func(r *rendered) string { return podSpec(r).Volumes[2].Secret.SecretName }},
		{"persistence: {enabled: true, existingClaim: " + inj + "}", func(r *rendered) string {
			return podSpec(r).Volumes[2].PersistentVolumeClaim.ClaimName
		}},
		{"persistence: {enabled: true, storageClassName: " + inj + "}", func(r *rendered) string { return *r.claims[0].Spec.StorageClassName }},
		{"webhook: {enabled: true, bearerToken: {value: t}, ingress: {enabled: true, className: " + inj + "}}", func(r *rendered) string {
			return *r.ingresses[0].Spec.IngressClassName
		}},
		{"grafanaDashboard: {enabled: true, namespace: " + inj + "}", func(r *rendered) string { return r.configMaps[0].Namespace }},
		{"fullnameOverride: " + inj, func(r *rendered) string { return r.deployments[0].Name }},
		{"nameOverride: " + inj, func(r *rendered) string { return podTemplate(r).Labels["app.kubernetes.io/name"] }},
		{"test: {image: {tag: " + inj + "}}", func(r *rendered) string {
			return strings.TrimPrefix(r.pods[0].Spec.Containers[0].Image, "busybox:")
		}},
	} {
		t.Run(tc.values, func(t *testing.T) {
			r := renderValues(t, tc.values)
			for _, spec := range []*corev1.PodSpec{podSpec(r), &r.pods[0].Spec} {
				if spec.HostNetwork || spec.HostPID {
					t.Errorf("the value became YAML: hostNetwork %v, hostPID %v", spec.HostNetwork, spec.HostPID)
				}
			}
			if got := tc.got(r); got != injection {
				t.Errorf("the value came out as %q, want %q", got, injection)
			}
		})
	}
}

// secretsCluster answers the chart's lookups of Secrets from secrets.
type secretsCluster struct {
	client *dynamicfake.FakeDynamicClient
}

func newSecretsCluster(t *testing.T, secrets ...*corev1.Secret) secretsCluster {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	objs := make([]runtime.Object, len(secrets))
	for i, s := range secrets {
		objs[i] = s
	}
	return secretsCluster{dynamicfake.NewSimpleDynamicClient(scheme, objs...)}
}

func (c secretsCluster) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	if apiVersion != "v1" || kind != "Secret" {
		return nil, false, fmt.Errorf("the test cluster has no %s %s", apiVersion, kind)
	}
	return c.client.Resource(corev1.SchemeGroupVersion.WithResource("secrets")), true, nil
}

// TestHelmChartSecretChecksum: the checksum/secret annotation, which anyone
// who can read pods sees, is no hash a guess of a secret (the webhook's token,
// the REST API key) can be checked against; an upgrade keeps it while the
// Secret is unchanged (its salt is read back) and changes it with the secret.
func TestHelmChartSecretChecksum(t *testing.T) {
	const secretFile = "assuresign-exporter/templates/secret.yaml"
	for name, valuesOf := range map[string]func(secret string) string{
		"webhook token": func(token string) string { return "webhook: {enabled: true, bearerToken: {value: " + token + "}}" },
		"REST API key": func(key string) string {
			return strings.Replace(restValues, testAPIKey, key, 1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			install := func(secret, salt string, cluster engine.ClientProvider) (annotation, manifest string) {
				t.Helper()
				files, err := renderFiles(t, chartValues(t, valuesOf(secret)+"\nchecksumSalt: "+salt), cluster)
				if err != nil {
					t.Fatal(err)
				}
				r := decodeObjects(t, chartDir, files[secretFile]+"\n---\n"+files["assuresign-exporter/templates/deployment.yaml"])
				return podTemplate(r).Annotations["checksum/secret"], files[secretFile]
			}
			sum := func(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }

			const secret = "test-secret-0123456789abcdef"
			annotation, manifest := install(secret, "", nil)
			// What one who knows the chart can build around a guess: the
			// secret, the manifest without its salt.
			var unsalted []string
			for _, line := range strings.Split(manifest, "\n") {
				if !strings.Contains(line, "checksum-salt") {
					unsalted = append(unsalted, line)
				}
			}
			for what, guess := range map[string]string{"the secret": secret, "the Secret's manifest": strings.Join(unsalted, "\n")} {
				if annotation == sum(guess) {
					t.Errorf("checksum/secret is the SHA-256 of %s", what)
				}
			}

			var installed corev1.Secret
			if err := yaml.UnmarshalStrict([]byte(manifest), &installed); err != nil {
				t.Fatal(err)
			}
			cluster := newSecretsCluster(t, &installed)
			if again, _ := install(secret, "", cluster); again != annotation {
				t.Errorf("an upgrade with the same secret changed checksum/secret (%s to %s): the pods would roll for nothing", annotation, again)
			}
			if changed, _ := install(secret+"-new", "", cluster); changed == annotation {
				t.Errorf("checksum/secret did not change with the secret: the pods would keep the old one")
			}

			// helm template reads nothing back: a salt given as a value keeps
			// the annotation from one render to the next.
			const salt = "kept-with-the-values-0123456789"
			first, manifest := install(secret, salt, nil)
			if !strings.Contains(manifest, base64.StdEncoding.EncodeToString([]byte(salt))) {
				t.Errorf("the Secret does not keep the checksumSalt value:\n%s", manifest)
			}
			if again, _ := install(secret, salt, nil); again != first {
				t.Errorf("with checksumSalt, a second helm template changed checksum/secret (%s to %s)", first, again)
			}
			if changed, _ := install(secret+"-new", salt, nil); changed == first {
				t.Errorf("with checksumSalt, checksum/secret did not change with the secret")
			}
		})
	}
}

// checkTestPod: the `helm test` pod fetches /-/healthy through the main
// Service, hardened as the exporter, and is no exporter's pod to any selector.
func checkTestPod(t *testing.T, r *rendered, scheme string) *corev1.Pod {
	t.Helper()
	if len(r.pods) != 1 {
		t.Fatalf("want one helm test pod, have %d", len(r.pods))
	}
	pod := r.pods[0]
	if pod.Annotations["helm.sh/hook"] != "test" || pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("pod %s: not a helm test hook that runs once: %v", pod.Name, pod.Annotations)
	}
	svc := serviceNamed(t, r, releaseName)
	url := fmt.Sprintf("%s://%s:%d/-/healthy", scheme, svc.Name, svc.Spec.Ports[0].Port)
	if cmd := pod.Spec.Containers[0].Command; cmd[0] != "wget" || cmd[len(cmd)-1] != url {
		t.Errorf("pod %s runs %v, want wget of %s", pod.Name, cmd, url)
	}
	checkSecurityContext(t, "test pod "+pod.Name, pod.Spec.SecurityContext, pod.Spec.Containers[0].SecurityContext)
	for what, sel := range map[string]map[string]string{"Service": svc.Spec.Selector, "workload": podTemplate(r).Labels} {
		if ok, _ := selects(&metav1.LabelSelector{MatchLabels: sel}, pod.Labels); ok {
			t.Errorf("pod %s has the %s's selector labels: it would be taken for an exporter", pod.Name, what)
		}
	}
	return pod
}

// TestHelmChartCIValues renders the chart with each values file of its ci/
// directory, as chart-testing installs it.
func TestHelmChartCIValues(t *testing.T) {
	files, err := filepath.Glob(inRepo(chartDir + "/ci/*-values.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s/ci: no *-values.yaml (%v)", chartDir, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r := renderValues(t, string(data))
			checkChart(t, r, nil)
			checkTestPod(t, r, "http")
		})
	}
}
