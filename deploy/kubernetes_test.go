package deploy

import (
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// The Secret the manifests read, as docs/deployment.md's "The Secret"
// documents it: each key and the flag that is given its file.
const secretName = "assuresign-exporter"

var secretKeys = map[string]string{
	"watch.yml":          "watch.file",
	"context-identifier": "assuresign.context-identifier-file",
	"webhook-token":      "webhook.bearer-token-file",
	"api-key":            "assuresign.rest.api-key-file",
}

// secretEnvKeys are the Secret's keys the REST API's component gives as
// environment variables (user names, no secrets), each to its variable.
var secretEnvKeys = map[string]string{
	"api-username":     "ASSURESIGN_API_USERNAME",
	"context-username": "ASSURESIGN_CONTEXT_USERNAME",
}

const (
	containerName = "assuresign-exporter"
	metricsPort   = 9865
	portName      = "http-metrics"
	runAsUser     = 65532
	stateDir      = "/var/lib/assuresign_exporter"
	// Sized from measurements: about 64 MiB RSS at 10,000 documents (the
	// --watch.max-documents default), 380 MiB at 100,000.
	memoryRequest = "64Mi"
	memoryLimit   = "128Mi"
	cpuRequest    = "50m"
)

// wantKustomizations are the directories that must render; any other
// kustomization under deploy/kubernetes is rendered and checked too.
var wantKustomizations = []string{"base", "webhook", "sharded", "rest-api"}

// rendered is the output of one kustomization or Helm render, decoded.
type rendered struct {
	dir             string
	serviceAccounts []*corev1.ServiceAccount
	services        []*corev1.Service
	deployments     []*appsv1.Deployment
	statefulSets    []*appsv1.StatefulSet
	serviceMonitors []*monitoringv1.ServiceMonitor
	rules           []*monitoringv1.PrometheusRule
	secrets         []*corev1.Secret
	configMaps      []*corev1.ConfigMap
	claims          []*corev1.PersistentVolumeClaim
	ingresses       []*networkingv1.Ingress
	httpRoutes      []*gatewayv1.HTTPRoute
	disruptions     []*policyv1.PodDisruptionBudget
	networkPolicies []*networkingv1.NetworkPolicy
	pods            []*corev1.Pod // the chart's `helm test` pod
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// render runs kubectl kustomize on dir and decodes its objects.
func render(t *testing.T, kubectl, dir string) *rendered {
	t.Helper()
	out, err := exec.Command(kubectl, "kustomize", dir).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr)
	}
	return decodeObjects(t, dir, string(out))
}

// decodeObjects decodes every object of a multi-document YAML stream strictly
// into its Go type: an unknown field, a duplicate key or a wrong type fails.
func decodeObjects(t *testing.T, where, stream string) *rendered {
	t.Helper()
	r := &rendered{dir: where}
	for i, doc := range docSeparator.Split(stream, -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("%s: object %d: %v", where, i, err)
		}
		if meta == (metav1.TypeMeta{}) {
			var content map[string]any
			if err := yaml.Unmarshal([]byte(doc), &content); err == nil && len(content) == 0 {
				continue // only comments
			}
		}
		var obj any
		switch meta.APIVersion + " " + meta.Kind {
		case "v1 ServiceAccount":
			obj = appendNew(&r.serviceAccounts)
		case "v1 Service":
			obj = appendNew(&r.services)
		case "apps/v1 Deployment":
			obj = appendNew(&r.deployments)
		case "apps/v1 StatefulSet":
			obj = appendNew(&r.statefulSets)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			obj = appendNew(&r.serviceMonitors)
		case "monitoring.coreos.com/v1 PrometheusRule":
			obj = appendNew(&r.rules)
		case "v1 Secret":
			obj = appendNew(&r.secrets)
		case "v1 ConfigMap":
			obj = appendNew(&r.configMaps)
		case "v1 PersistentVolumeClaim":
			obj = appendNew(&r.claims)
		case "networking.k8s.io/v1 Ingress":
			obj = appendNew(&r.ingresses)
		case "gateway.networking.k8s.io/v1 HTTPRoute":
			obj = appendNew(&r.httpRoutes)
		case "policy/v1 PodDisruptionBudget":
			obj = appendNew(&r.disruptions)
		case "networking.k8s.io/v1 NetworkPolicy":
			obj = appendNew(&r.networkPolicies)
		case "v1 Pod":
			obj = appendNew(&r.pods)
		default:
			t.Fatalf("%s: object %d: no check for %s %s", where, i, meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Errorf("%s: %s %d: %v", where, meta.Kind, i, err)
		}
	}
	return r
}

// appendNew appends a new object to list and returns it.
func appendNew[T any](list *[]*T) *T {
	o := new(T)
	*list = append(*list, o)
	return o
}

// kustomizations lists the directories under deploy/kubernetes holding a
// Kustomization (components are rendered through the overlays using them).
func kustomizations(t *testing.T) []string {
	t.Helper()
	var dirs []string
	root := inRepo("deploy/kubernetes")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() != "kustomization.yaml" {
			return err
		}
		var k metav1.TypeMeta
		if err := yaml.Unmarshal(readRepoFile(t, "deploy/kubernetes/"+mustRel(t, root, p)), &k); err != nil {
			return err
		}
		if k.Kind == "Kustomization" {
			dirs = append(dirs, mustRel(t, root, filepath.Dir(p)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range wantKustomizations {
		if !slices.Contains(dirs, want) {
			t.Errorf("no kustomization deploy/kubernetes/%s", want)
		}
	}
	return dirs
}

func mustRel(t *testing.T, base, p string) string {
	t.Helper()
	rel, err := filepath.Rel(base, p)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.ToSlash(rel)
}

func TestKustomizations(t *testing.T) {
	kubectl := requiredTool(t, "kubectl")
	all := map[string]*rendered{}
	for _, dir := range kustomizations(t) {
		all[dir] = render(t, kubectl, inRepo("deploy/kubernetes/"+dir))
		all[dir].dir = "deploy/kubernetes/" + dir
	}
	base := all["base"]
	if base == nil || len(base.deployments) != 1 {
		t.Fatal("base: want one Deployment")
	}
	baseArgs := base.deployments[0].Spec.Template.Spec.Containers[0].Args

	for _, dir := range slices.Sorted(maps.Keys(all)) {
		r := all[dir]
		t.Run(dir, func(t *testing.T) {
			if n := len(r.deployments) + len(r.statefulSets); n != 1 {
				t.Fatalf("want one Deployment or StatefulSet, got %d", n)
			}
			for _, d := range r.deployments {
				if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
					t.Errorf("Deployment %s: want 1 replica (more would repeat every AssureSign request)", d.Name)
				}
				checkPod(t, r, "Deployment "+d.Name, d.Spec.Selector, &d.Spec.Template, nil)
			}
			for _, s := range r.statefulSets {
				checkPod(t, r, "StatefulSet "+s.Name, s.Spec.Selector, &s.Spec.Template, s.Spec.VolumeClaimTemplates)
				checkShards(t, r, s)
				// The StatefulSet repeats the base's pod: it must keep every base argument.
				args := s.Spec.Template.Spec.Containers[0].Args
				for _, a := range baseArgs {
					if !slices.Contains(args, a) {
						t.Errorf("StatefulSet %s: lacks the base Deployment's argument %s", s.Name, a)
					}
				}
			}
			for _, svc := range r.services {
				checkServicePort(t, svc)
			}
			checkServiceMonitor(t, r)
			checkServiceAccount(t, r)
			if len(r.rules) != 1 {
				t.Fatalf("want one PrometheusRule, got %d", len(r.rules))
			}
			checkRuleGroups(t, "PrometheusRule "+r.rules[0].Name, r.rules[0].Spec.Groups, exampleRuleGroups(t))
		})
	}
}

// checkPod checks the exporter's pod template: hardening, ports, probes,
// resources, the Secret and the persistence volume, and its flags.
func checkPod(t *testing.T, r *rendered, what string, sel *metav1.LabelSelector, tpl *corev1.PodTemplateSpec, claims []corev1.PersistentVolumeClaim) {
	t.Helper()
	spec := &tpl.Spec
	c := checkExporterPod(t, what, sel, tpl)
	what += " container " + c.Name

	// Volumes: the Secret's keys, each given to its flag; the state directory.
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	secretFiles := 0
	var mountedKeys []string
	for _, v := range spec.Volumes {
		m, mounted := mounts[v.Name]
		if !mounted {
			t.Errorf("%s: volume %s is not mounted", what, v.Name)
			continue
		}
		if v.Secret == nil {
			continue
		}
		if v.Secret.SecretName != secretName {
			t.Errorf("%s: volume %s reads Secret %q, documented is %q", what, v.Name, v.Secret.SecretName, secretName)
		}
		if !m.ReadOnly {
			t.Errorf("%s: Secret volume %s is not mounted read-only", what, v.Name)
		}
		if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o077 != 0 {
			t.Errorf("%s: Secret volume %s: want defaultMode 0400 (it holds AuthTokens)", what, v.Name)
		}
		if len(v.Secret.Items) == 0 {
			t.Errorf("%s: Secret volume %s should list its keys (items)", what, v.Name)
		}
		for _, it := range v.Secret.Items {
			flagName, documented := secretKeys[it.Key]
			if !documented {
				t.Errorf("%s: Secret key %q is not among the documented keys %v", what, it.Key, keys(secretKeys))
				continue
			}
			if it.Path != it.Key {
				t.Errorf("%s: Secret key %s is mounted as %s; keep the key's name", what, it.Key, it.Path)
			}
			want := path.Join(m.MountPath, it.Path)
			if _, got, _ := flagValue(c.Args, flagName); got != want {
				t.Errorf("%s: Secret key %s is at %s, but --%s=%q", what, it.Key, want, flagName, got)
			}
			secretFiles++
			mountedKeys = append(mountedKeys, it.Key)
		}
	}
	for key, flagName := range secretKeys {
		if _, file, ok := flagValue(c.Args, flagName); ok && !slices.Contains(mountedKeys, key) {
			t.Errorf("%s: --%s=%s, but the Secret's key %s is not mounted", what, flagName, file, key)
		}
	}
	if secretFiles < 2 {
		t.Errorf("%s: want the Secret's watch.yml and context-identifier mounted", what)
	}
	checkRESTEnv(t, what, c)
	if _, p, ok := flagValue(c.Args, "persistence.file"); !ok {
		t.Errorf("%s: no --persistence.file", what)
	} else if path.Dir(p) != stateDir {
		t.Errorf("%s: --persistence.file=%s is not in %s", what, p, stateDir)
	}
	var state *corev1.VolumeMount
	for _, m := range c.VolumeMounts {
		if m.MountPath == stateDir {
			state = &m
		}
	}
	switch {
	case state == nil:
		t.Errorf("%s: nothing mounted at %s: the root filesystem is read-only", what, stateDir)
	case state.ReadOnly:
		t.Errorf("%s: %s is mounted read-only", what, stateDir)
	case claims == nil && !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == state.Name && v.EmptyDir != nil }):
		t.Errorf("%s: want an emptyDir at %s", what, stateDir)
	case claims != nil && !slices.ContainsFunc(claims, func(c corev1.PersistentVolumeClaim) bool { return c.Name == state.Name }):
		t.Errorf("%s: want a volumeClaimTemplate %s at %s", what, state.Name, stateDir)
	}

	// Every flag must exist in the exporter.
	checkFlags(t, r.dir+": "+what, append(slices.Clone(c.Command), c.Args...))
}

// checkRESTEnv: with --assuresign.api=rest the API key is a file (checkPod
// holds it to a mounted key) and the user names come from the Secret's
// documented keys; without it, none of them is given. The key is
// never an environment variable.
func checkRESTEnv(t *testing.T, what string, c *corev1.Container) {
	t.Helper()
	fromSecret := map[string]bool{}
	for _, e := range c.Env {
		if e.Name == "ASSURESIGN_API_KEY" {
			t.Errorf("%s: $ASSURESIGN_API_KEY is set: the key belongs in a file", what)
		}
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref.Name != secretName || secretEnvKeys[ref.Key] != e.Name {
			t.Errorf("%s: $%s from Secret %s key %s; documented are %v of Secret %s", what, e.Name, ref.Name, ref.Key, secretEnvKeys, secretName)
		}
		fromSecret[e.Name] = true
	}
	_, api, _ := flagValue(c.Args, "assuresign.api")
	_, _, keyFile := flagValue(c.Args, "assuresign.rest.api-key-file")
	rest := api == "rest"
	if keyFile != rest {
		t.Errorf("%s: --assuresign.api=%q with --assuresign.rest.api-key-file %v", what, api, keyFile)
	}
	for _, name := range secretEnvKeys {
		if fromSecret[name] != rest {
			t.Errorf("%s: --assuresign.api=%q with $%s from the Secret %v", what, api, name, fromSecret[name])
		}
	}
}

// checkExporterPod checks what every pod of the exporter must be, however it is
// deployed: selected by its controller, hardened, with its port, probes and
// resources. It returns the exporter's container.
func checkExporterPod(t *testing.T, what string, sel *metav1.LabelSelector, tpl *corev1.PodTemplateSpec) *corev1.Container {
	t.Helper()
	spec := &tpl.Spec
	if ok, err := selects(sel, tpl.Labels); err != nil || !ok {
		t.Errorf("%s: selector %v does not select its pods' labels %v (%v)", what, sel, tpl.Labels, err)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken should be false: the exporter never calls the Kubernetes API", what)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Errorf("%s: uses a host namespace", what)
	}
	if len(spec.Containers) != 1 || spec.Containers[0].Name != containerName {
		t.Fatalf("%s: want the one container %q", what, containerName)
	}
	c := &spec.Containers[0]
	what += " container " + c.Name

	checkSecurityContext(t, what, spec.SecurityContext, c.SecurityContext)

	// Ports and probes.
	var port *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].Name == portName {
			port = &c.Ports[i]
		}
	}
	if port == nil || port.ContainerPort != metricsPort {
		t.Fatalf("%s: want port %s = %d, have %v", what, portName, metricsPort, c.Ports)
	}
	if name, value, _ := flagValue(c.Args, "web.listen-address"); name != "" && !strings.HasSuffix(value, ":"+strconv.Itoa(metricsPort)) {
		t.Errorf("%s: --web.listen-address=%s does not listen on the container port %d", what, value, metricsPort)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"livenessProbe", c.LivenessProbe, "/-/healthy"}, {"readinessProbe", c.ReadinessProbe, "/-/ready"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s", what, p.name)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path {
			t.Errorf("%s: %s path %q, want %q", what, p.name, g.Path, p.path)
		}
		if resolvePort(c, g.Port) != metricsPort {
			t.Errorf("%s: %s port %s is not the container's port %d", what, p.name, g.Port.String(), metricsPort)
		}
	}

	// Resources.
	res := c.Resources
	for _, q := range []struct {
		what string
		got  resource.Quantity
		ok   bool
		want string
	}{
		{"memory request", res.Requests[corev1.ResourceMemory], res.Requests != nil, memoryRequest},
		{"memory limit", res.Limits[corev1.ResourceMemory], res.Limits != nil, memoryLimit},
		{"cpu request", res.Requests[corev1.ResourceCPU], res.Requests != nil, cpuRequest},
	} {
		if want := resource.MustParse(q.want); !q.ok || q.got.Cmp(want) != 0 {
			t.Errorf("%s: %s %s, want %s", what, q.what, q.got.String(), q.want)
		}
	}
	return c
}

func checkSecurityContext(t *testing.T, what string, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) {
	t.Helper()
	if c == nil {
		t.Errorf("%s: no securityContext", what)
		return
	}
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	// The container's setting wins over the pod's.
	runAsNonRoot := firstNonNil(c.RunAsNonRoot, pod.RunAsNonRoot)
	user := firstNonNil(c.RunAsUser, pod.RunAsUser)
	seccomp := firstNonNil(c.SeccompProfile, pod.SeccompProfile)
	switch {
	case runAsNonRoot == nil || !*runAsNonRoot:
		t.Errorf("%s: want runAsNonRoot", what)
	case user == nil || *user != runAsUser:
		t.Errorf("%s: want runAsUser %d (the image's nonroot user)", what, runAsUser)
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		t.Errorf("%s: want readOnlyRootFilesystem", what)
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		t.Errorf("%s: want allowPrivilegeEscalation false", what)
	}
	if c.Privileged != nil && *c.Privileged {
		t.Errorf("%s: privileged", what)
	}
	if c.Capabilities == nil || !slices.Contains(c.Capabilities.Drop, "ALL") || len(c.Capabilities.Add) > 0 {
		t.Errorf("%s: want capabilities drop [ALL] and none added", what)
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: want seccompProfile RuntimeDefault", what)
	}
}

// checkShardPods checks what every sharded StatefulSet's pod needs:
// --total-shards equal to the replicas, the pod's name as --shard, and the
// downward API's POD_NAME and POD_NAMESPACE. It returns the container.
func checkShardPods(t *testing.T, s *appsv1.StatefulSet) *corev1.Container {
	t.Helper()
	what := "StatefulSet " + s.Name
	c := &s.Spec.Template.Spec.Containers[0]
	_, total, ok := flagValue(c.Args, "total-shards")
	if n, err := strconv.Atoi(total); !ok || err != nil || s.Spec.Replicas == nil || int32(n) != *s.Spec.Replicas {
		t.Errorf("%s: --total-shards=%q must equal replicas", what, total)
	}
	if _, shard, _ := flagValue(c.Args, "shard"); shard != "$(POD_NAME)" {
		t.Errorf("%s: --shard=%q, want $(POD_NAME)", what, shard)
	}
	fieldEnv := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			fieldEnv[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if fieldEnv["POD_NAME"] != "metadata.name" || fieldEnv["POD_NAMESPACE"] != "metadata.namespace" {
		t.Errorf("%s: want env POD_NAME and POD_NAMESPACE from the downward API, have %v", what, fieldEnv)
	}
	return c
}

// checkShards checks the sharded StatefulSet: replicas = --total-shards, the
// pod's name as --shard, and the webhook's forwarding address.
func checkShards(t *testing.T, r *rendered, s *appsv1.StatefulSet) {
	t.Helper()
	what := "StatefulSet " + s.Name
	c := checkShardPods(t, s)

	// The headless Service that names each shard.
	var headless *corev1.Service
	for _, svc := range r.services {
		if svc.Name == s.Spec.ServiceName {
			headless = svc
		}
	}
	switch {
	case headless == nil:
		t.Fatalf("%s: serviceName %q: no such Service", what, s.Spec.ServiceName)
	case headless.Spec.ClusterIP != corev1.ClusterIPNone:
		t.Errorf("Service %s: want clusterIP None (headless)", headless.Name)
	case headless.Spec.PublishNotReadyAddresses:
		t.Errorf("Service %s: want publishNotReadyAddresses false", headless.Name)
	}
	if ok, _ := selects(&metav1.LabelSelector{MatchLabels: headless.Spec.Selector}, s.Spec.Template.Labels); !ok {
		t.Errorf("Service %s does not select the StatefulSet's pods", headless.Name)
	}

	// Notifications are forwarded to the owner's pod through that Service.
	if _, _, ok := flagValue(c.Args, "webhook.bearer-token-file"); !ok {
		t.Errorf("%s: the webhook is off, so there is nothing to forward", what)
	}
	want := "http://" + s.Name + "-{shard}." + headless.Name + ".$(POD_NAMESPACE).svc:" + strconv.Itoa(metricsPort) + "/webhooks/documenttrak"
	if _, got, _ := flagValue(c.Args, "webhook.shard-url-template"); got != want {
		t.Errorf("%s: --webhook.shard-url-template=%q, want %q", what, got, want)
	}
	for _, pvc := range s.Spec.VolumeClaimTemplates {
		if got := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; got.Cmp(resource.MustParse("64Mi")) != 0 {
			t.Errorf("%s: volumeClaimTemplate %s: storage %s, want 64Mi", what, pvc.Name, got.String())
		}
	}
}

func checkServicePort(t *testing.T, svc *corev1.Service) {
	t.Helper()
	for _, p := range svc.Spec.Ports {
		if p.Name != portName {
			continue
		}
		if p.Port != metricsPort {
			t.Errorf("Service %s: port %s is %d, want %d", svc.Name, portName, p.Port, metricsPort)
		}
		if tp := p.TargetPort; !(tp.Type == intstr.String && tp.StrVal == portName) && !(tp.Type == intstr.Int && tp.IntVal == metricsPort) {
			t.Errorf("Service %s: targetPort %s is not the container's %s", svc.Name, tp.String(), portName)
		}
		return
	}
	t.Errorf("Service %s: no port named %s", svc.Name, portName)
}

// checkServiceMonitor: the pods are scraped once each, through exactly one
// Service, as job="assuresign" (the rules' and the mixin's default selector).
func checkServiceMonitor(t *testing.T, r *rendered) {
	t.Helper()
	if len(r.serviceMonitors) != 1 {
		t.Fatalf("want one ServiceMonitor, got %d", len(r.serviceMonitors))
	}
	sm := r.serviceMonitors[0]
	what := "ServiceMonitor " + sm.Name
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("%s: want one endpoint", what)
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Port != portName || ep.Path != "/metrics" || ep.Interval != "30s" {
		t.Errorf("%s: want port %s, path /metrics, interval 30s", what, portName)
	}
	var matched []*corev1.Service
	for _, svc := range r.services {
		if ok, err := selects(&sm.Spec.Selector, svc.Labels); err != nil {
			t.Fatalf("%s: %v", what, err)
		} else if ok {
			matched = append(matched, svc)
		}
	}
	if len(matched) != 1 {
		t.Fatalf("%s: selects %d Services; want exactly one, or each pod is scraped more than once", what, len(matched))
	}
	if matched[0].Spec.ClusterIP == corev1.ClusterIPNone {
		t.Errorf("%s: selects the headless Service %s", what, matched[0].Name)
	}
	job := ""
	for _, rc := range ep.RelabelConfigs {
		if rc.TargetLabel == "job" && rc.Replacement != nil && (rc.Action == "" || strings.EqualFold(rc.Action, "replace")) && len(rc.SourceLabels) == 0 {
			job = *rc.Replacement
		}
	}
	if job != "assuresign" {
		t.Errorf("%s: targets should get job=%q (the rules select it), relabeled to %q", what, "assuresign", job)
	}
}

func checkServiceAccount(t *testing.T, r *rendered) {
	t.Helper()
	names := map[string]bool{}
	for _, sa := range r.serviceAccounts {
		names[sa.Name] = true
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Errorf("ServiceAccount %s: want automountServiceAccountToken false", sa.Name)
		}
	}
	for _, d := range r.deployments {
		if !names[d.Spec.Template.Spec.ServiceAccountName] {
			t.Errorf("Deployment %s: no ServiceAccount %q", d.Name, d.Spec.Template.Spec.ServiceAccountName)
		}
	}
	for _, s := range r.statefulSets {
		if !names[s.Spec.Template.Spec.ServiceAccountName] {
			t.Errorf("StatefulSet %s: no ServiceAccount %q", s.Name, s.Spec.Template.Spec.ServiceAccountName)
		}
	}
}

func selects(sel *metav1.LabelSelector, lbls map[string]string) (bool, error) {
	if sel == nil {
		return false, nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, err
	}
	return !s.Empty() && s.Matches(labelSet(lbls)), nil
}

type labelSet map[string]string

func (l labelSet) Has(k string) bool              { _, ok := l[k]; return ok }
func (l labelSet) Get(k string) string            { return l[k] }
func (l labelSet) Lookup(k string) (string, bool) { v, ok := l[k]; return v, ok }

// resolvePort gives the number of a probe's port, by number or by name.
func resolvePort(c *corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return -1
}

// flagValue finds --name=value in args (the last one wins, as in kingpin).
func flagValue(args []string, name string) (found, value string, ok bool) {
	for _, a := range args {
		if n, v, isFlag := argFlag(a); isFlag && n == name {
			found, value, ok = n, v, true
		}
	}
	return found, value, ok
}

func firstNonNil[T any](ps ...*T) *T {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

func keys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestKustomizeRESTComponent: components/rest-api turns the REST API on in
// every workload: the base's Deployment (rest-api/, which TestKustomizations
// checks) and the sharded StatefulSet, which has an env of its own.
func TestKustomizeRESTComponent(t *testing.T) {
	kubectl := requiredTool(t, "kubectl")
	dir := t.TempDir()
	rel := func(p string) string { return mustRel(t, dir, inRepo(p)) }
	kustomization := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
		"resources: [" + rel("deploy/kubernetes/sharded") + "]\ncomponents: [" + rel("deploy/kubernetes/components/rest-api") + "]\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
		t.Fatal(err)
	}
	sharded := render(t, kubectl, dir)
	sharded.dir = "sharded with components/rest-api"
	if len(sharded.statefulSets) != 1 {
		t.Fatalf("%s: want one StatefulSet", sharded.dir)
	}
	s := sharded.statefulSets[0]
	checkPod(t, sharded, "StatefulSet "+s.Name, s.Spec.Selector, &s.Spec.Template, s.Spec.VolumeClaimTemplates)
	checkShards(t, sharded, s)
	for what, r := range map[string]*rendered{"rest-api": render(t, kubectl, inRepo("deploy/kubernetes/rest-api")), sharded.dir: sharded} {
		if _, api, _ := flagValue(podSpec(r).Containers[0].Args, "assuresign.api"); api != "rest" {
			t.Errorf("%s: --assuresign.api=%q, want rest", what, api)
		}
	}
}

// TestSecretKeysDocumented: docs/deployment.md's table of the Secret's keys
// lists every key the manifests read.
func TestSecretKeysDocumented(t *testing.T) {
	doc := string(readRepoFile(t, "docs/deployment.md"))
	for _, key := range append(keys(secretKeys), keys(secretEnvKeys)...) {
		if !regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(key) + "`").MatchString(doc) {
			t.Errorf("docs/deployment.md: the Secret's key %s has no row (| `%s` | ...)", key, key)
		}
	}
}
