package check

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	"github.com/urlshort/shortener/platform/internal/funcyaml"
	"github.com/urlshort/shortener/shared/routing"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"knative.dev/serving/pkg/apis/autoscaling"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// TestVersionsMatchGoModules: the releases install.sh installs are the ones whose Go types
// validate our manifests, and every URL is on the air-gap list.
func TestVersionsMatchGoModules(t *testing.T) {
	v := versions(t)
	mod, err := os.ReadFile(filepath.Join(repo(t), "platform", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	modVersion := func(path string) string {
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(path) + ` (v\S+)`).FindSubmatch(mod)
		if m == nil {
			t.Fatalf("go.mod does not require %s", path)
		}
		return string(m[1])
	}
	// Knative 1.N ships the Go modules v0.(N+27): 1.23 is v0.50.
	kn := strings.Split(v["KNATIVE_VERSION"], ".")
	minor, _ := strconv.Atoi(kn[1])
	for _, m := range []string{"knative.dev/serving", "knative.dev/eventing"} {
		if got, want := modVersion(m), fmt.Sprintf("v0.%d.", minor+27); !strings.HasPrefix(got, want) {
			t.Errorf("Knative %s installs %s %s*, go.mod validates with %s", v["KNATIVE_VERSION"], m, want, got)
		}
	}
	if got := modVersion("github.com/cloudnative-pg/cloudnative-pg"); got != "v"+v["CNPG_VERSION"] {
		t.Errorf("CNPG %s installed, go.mod validates with %s", v["CNPG_VERSION"], got)
	}

	airgap, err := os.ReadFile(filepath.Join(repo(t), "platform", "AIRGAP.md"))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkAirgap(string(airgap), v, allImages(t)); err != nil {
		t.Error(err)
	}
}

// allImages lists every image the platform's objects run (our registry placeholder aside).
func allImages(t testing.TB) []string {
	var out []string
	for _, d := range everything(t) {
		for _, img := range images(d) {
			if !strings.HasPrefix(img, "registry.example.com/") {
				out = append(out, img)
			}
		}
	}
	return out
}

// checkAirgap wants every release URL of versions.env and every image in the air-gap list.
func checkAirgap(airgap string, vars map[string]string, imgs []string) error {
	var errs []error
	for k, u := range vars {
		if !strings.HasSuffix(k, "_URL") {
			continue
		}
		if !strings.HasPrefix(u, "https://github.com/") {
			errs = append(errs, fmt.Errorf("%s=%s: want a GitHub release URL by default", k, u))
		}
		if !strings.Contains(airgap, u) {
			errs = append(errs, fmt.Errorf("AIRGAP.md does not list %s (%s)", u, k))
		}
	}
	for _, img := range imgs {
		if !strings.Contains(airgap, img) {
			errs = append(errs, fmt.Errorf("AIRGAP.md does not list image %s", img))
		}
	}
	return errors.Join(errs...)
}

// TestNegativeAirgap: a URL or an image missing from the list must fail.
func TestNegativeAirgap(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repo(t), "platform", "AIRGAP.md"))
	if err != nil {
		t.Fatal(err)
	}
	v, imgs := versions(t), allImages(t)
	for _, drop := range []string{v["CNPG_URL"], "docker.io/valkey/valkey:9.0.5-alpine"} {
		if err := checkAirgap(strings.ReplaceAll(string(data), drop, "…"), v, imgs); err == nil {
			t.Errorf("AIRGAP.md without %s was accepted", drop)
		}
	}
}

func images(d *Doc) []string {
	if c, ok := d.Obj.(*cnpgv1.Cluster); ok {
		return []string{c.Spec.ImageName}
	}
	spec, ok := podSpecOf(d)
	if !ok {
		return nil
	}
	var out []string
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		out = append(out, c.Image)
	}
	return out
}

// TestEveryYAMLDecodesStrictly covers every YAML file we own, patches included.
func TestEveryYAMLDecodesStrictly(t *testing.T) {
	root := repo(t)
	files, err := YAMLFiles(filepath.Join(root, "platform"), filepath.Join(root, "eventing"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("only %d YAML files found", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeAll(f, data); err != nil {
			t.Error(err)
		}
	}
}

// TestEveryYAMLIsInAKustomization: a manifest no kustomization lists is never installed.
func TestEveryYAMLIsInAKustomization(t *testing.T) {
	root := repo(t)
	files, err := YAMLFiles(filepath.Join(root, "platform"), filepath.Join(root, "eventing"))
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := Kustomizations(filepath.Join(root, "platform"), filepath.Join(root, "eventing"))
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, d := range dirs {
		used[filepath.Join(d, "kustomization.yaml")] = true
		res, patches, err := Referenced(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(res, patches...) {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("%s lists %s: %v", d, f, err)
			}
			used[f] = true
		}
	}
	for _, f := range files {
		if !used[f] {
			t.Errorf("%s is in no kustomization", f)
		}
	}
}

// TestKustomizationsBuildAndValidate builds every kustomization with kustomize (as kubectl
// kustomize does) and validates every object of the output.
func TestKustomizationsBuildAndValidate(t *testing.T) {
	c := cluster(t)
	want := []string{"eventing", "platform/cnpg-operator", "platform/knative-eventing", "platform/knative-serving",
		"platform/kourier", "platform/podmonitors", "platform/shortener", "platform/traefik"}
	var got []string
	for dir, docs := range builds(t) {
		got = append(got, dir)
		t.Run(dir, func(t *testing.T) {
			if len(docs) == 0 {
				t.Fatal("empty build")
			}
			for _, d := range docs {
				if d.Obj != nil && !ClusterScoped(d.GVK) && d.Namespace() == "" {
					t.Errorf("%s: no namespace", d)
				}
				if err := c.Validate(d); err != nil {
					t.Error(err)
				}
			}
		})
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("kustomizations %v, want %v", got, want)
	}
}

// TestPatchesApplied checks that the patches did what they are for.
func TestPatchesApplied(t *testing.T) {
	b := builds(t)
	find := func(dir, kind, name string) *Doc {
		for _, d := range b[dir] {
			if d.GVK.Kind == kind && d.Name() == name {
				return d
			}
		}
		t.Fatalf("%s: no %s %s", dir, kind, name)
		return nil
	}
	if s := find("platform/kourier", "Service", "kourier").Obj.(*corev1.Service); s.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("kourier Service type %s, want ClusterIP", s.Spec.Type)
	}
	cm := find("platform/knative-serving", "ConfigMap", "config-network").Obj.(*corev1.ConfigMap)
	if cm.Data["ingress-class"] != "kourier.ingress.networking.knative.dev" {
		t.Errorf("config-network ingress-class %q", cm.Data["ingress-class"])
	}
	if _, ok := find("platform/knative-serving", "ConfigMap", "config-deployment").Obj.(*corev1.ConfigMap).Data["queue-sidecar-image"]; !ok {
		t.Error("the config-deployment patch lost the release's queue-sidecar-image")
	}
	for _, name := range []string{"activator", "webhook"} {
		if h := find("platform/knative-serving", "HorizontalPodAutoscaler", name).Obj.(*autoscalingv2.HorizontalPodAutoscaler); *h.Spec.MinReplicas < 2 {
			t.Errorf("%s: minReplicas %d, want 2", name, *h.Spec.MinReplicas)
		}
	}
}

// TestRenderedServices: every function's Knative Service renders from its func.yaml and
// passes Serving's defaulting and validation under our cluster configuration.
func TestRenderedServices(t *testing.T) {
	c := cluster(t)
	docs := rendered(t)
	var names []string
	for _, d := range docs {
		svc := d.Obj.(*servingv1.Service)
		names = append(names, svc.Name)
		if err := c.Validate(d); err != nil {
			t.Error(err)
		}
		vis := svc.Labels["networking.knative.dev/visibility"]
		if svc.Name == routing.EventsWriter && vis != "cluster-local" {
			t.Errorf("%s: visibility %q, want cluster-local (no public route)", svc.Name, vis)
		}
		if svc.Name != routing.EventsWriter && vis != "" {
			t.Errorf("%s: visibility %q: public functions must be reachable through Kourier's external gateway", svc.Name, vis)
		}
		a := svc.Spec.Template.Annotations
		for _, k := range []string{autoscaling.MinScaleAnnotationKey, autoscaling.MaxScaleAnnotationKey} {
			if a[k] == "" {
				t.Errorf("%s: %s not set", svc.Name, k)
			}
		}
		if max, _ := strconv.Atoi(a[autoscaling.MaxScaleAnnotationKey]); max > int(c.Autoscaler.MaxScaleLimit) {
			t.Errorf("%s: max-scale %d above the cluster's max-scale-limit %d", svc.Name, max, c.Autoscaler.MaxScaleLimit)
		}
	}
	sort.Strings(names)
	all := slices.Clone(routing.All)
	sort.Strings(all)
	if !slices.Equal(names, all) {
		t.Errorf("functions with a func.yaml %v, routing.All %v", names, all)
	}
}

// TestScalingByDesign pins the scaling decisions of issue 4.
func TestScalingByDesign(t *testing.T) {
	ann := map[string]map[string]string{}
	for _, d := range rendered(t) {
		s := d.Obj.(*servingv1.Service)
		ann[s.Name] = s.Spec.Template.Annotations
	}
	num := func(fn, key string) float64 {
		v, err := strconv.ParseFloat(ann[fn][key], 64)
		if err != nil {
			t.Fatalf("%s %s=%q", fn, key, ann[fn][key])
		}
		return v
	}
	if num("redirect", autoscaling.MinScaleAnnotationKey) < 1 || ann["redirect"][autoscaling.MetricAnnotationKey] != "rps" {
		t.Error("redirect must stay warm (min-scale >= 1) and scale on rps")
	}
	for _, fn := range []string{"urls", "users", "events", "events-writer"} {
		if num(fn, autoscaling.MinScaleAnnotationKey) != 0 {
			t.Errorf("%s must scale to zero", fn)
		}
	}
	as := cluster(t).Autoscaler
	if !as.EnableScaleToZero {
		t.Error("config-autoscaler disables scale to zero")
	}
	// Idle pods of urls/users go away within stable window + grace period + retention.
	if idle := as.StableWindow + as.ScaleToZeroGracePeriod + as.ScaleToZeroPodRetentionPeriod; idle > 2*time.Minute {
		t.Errorf("scale-to-zero takes %s, want a short retention (<= 2m)", idle)
	}
}

// TestCrossReferences: selectors select, references resolve, Secrets exist.
func TestCrossReferences(t *testing.T) {
	all := everything(t)
	external := externalSecrets(t)
	if err := CrossCheck(all, external); err != nil {
		t.Error(err)
	}
	for _, d := range all {
		sb, ok := d.Obj.(*sourcesv1.SinkBinding)
		if !ok {
			continue
		}
		got, err := SinkBindingSubjects(sb, all)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"redirect", "urls", "users"}; !slices.Equal(got, want) {
			t.Errorf("SinkBinding %s gives K_SINK to %v, want %v", sb.Name, got, want)
		}
	}
}

// externalSecrets are made at install time: CloudNativePG's app secret, and what install.sh
// creates (checked against its text).
func externalSecrets(t testing.TB) map[string]bool {
	install, err := os.ReadFile(filepath.Join(repo(t), "platform", "install.sh"))
	if err != nil {
		t.Fatal(err)
	}
	ext := map[string]bool{"shortener/shortener-db-app": true}
	for _, m := range regexp.MustCompile(`create secret generic ([a-z0-9-]+)`).FindAllStringSubmatch(string(install), -1) {
		ext["shortener/"+m[1]] = true
	}
	return ext
}

// TestTraefikRoutesMatchRoutingTable drives Traefik's rules (as Traefik evaluates them) with
// paths of every shape of shared/routing and compares with routing.FunctionFor.
func TestTraefikRoutesMatchRoutingTable(t *testing.T) {
	ir, mws := traefik(t, builds(t)["platform/traefik"], "shortener")
	if err := CheckRoutes(ir, mws, funcyaml.Namespace, cluster(t).Domain, samplePaths(), routing.FunctionFor); err != nil {
		t.Error(err)
	}
	// Every public function is reachable, the events-writer is not.
	reached := map[string]bool{}
	for _, p := range samplePaths() {
		fn, _ := RoutedFunction(ir, mws, funcyaml.Namespace, cluster(t).Domain, p)
		reached[fn] = true
	}
	for _, fn := range routing.Public {
		if !reached[fn] {
			t.Errorf("no path reaches %s", fn)
		}
	}
	if reached[routing.EventsWriter] {
		t.Error("a public path reaches the events-writer")
	}
}

// TestProbePathsNotPublic checks that func-go's plain-text probe answers cannot be reached
// from outside: Traefik rewrites those paths to ones func-go's exact patterns do not take,
// so the function's own router answers them as JSON.
func TestProbePathsNotPublic(t *testing.T) {
	ir, mws := traefik(t, builds(t)["platform/traefik"], "shortener")
	for _, probe := range []string{"/health/readiness", "/health/liveness"} {
		forwarded, err := ForwardedPath(ir, mws, probe)
		if err != nil {
			t.Fatal(err)
		}
		if forwarded == probe {
			t.Errorf("%s reaches func-go's probe handler from outside", probe)
		}
	}
	if got, _ := ForwardedPath(ir, mws, "/health"); got != "/health" {
		t.Errorf("/health forwarded as %q", got)
	}
}

func traefik(t testing.TB, docs []*Doc, name string) (*IngressRoute, map[string]*Middleware) {
	t.Helper()
	var ir *IngressRoute
	mws := map[string]*Middleware{}
	for _, d := range docs {
		switch o := d.Obj.(type) {
		case *IngressRoute:
			if o.Name == name {
				ir = o
			}
		case *Middleware:
			mws[o.Name] = o
		}
	}
	if ir == nil {
		t.Fatalf("no IngressRoute %s", name)
	}
	return ir, mws
}

// samplePaths are paths of every shape the routing table distinguishes, and their edges.
func samplePaths() []string {
	paths := []string{"/", "/abc123", "/Ab_-9", "/metrics", "/healthz", "/health/x", "/usersx", "/urlsx",
		"/eventsx", "/urls/", "/urls//redirect", "/urls/a/b/redirect", "/urls/abc/redirect/x",
		"/urls/abc/redirectx", "/users/1/urls", "/events/1/x", "/x/urls/1/redirect"}
	for _, r := range routing.Table {
		p := strings.ReplaceAll(r.Path, "*", "x1")
		paths = append(paths, p)
		if strings.HasSuffix(r.Path, "/*") {
			paths = append(paths, p+"/deeper", strings.TrimSuffix(r.Path, "*")+"42")
		}
	}
	return paths
}

// TestEventing pins the event plumbing of issue 3.
func TestEventing(t *testing.T) {
	docs := builds(t)["eventing"]
	var trig *eventingv1.Trigger
	var ping *sourcesv1.PingSource
	for _, d := range docs {
		switch o := d.Obj.(type) {
		case *eventingv1.Trigger:
			trig = o
		case *sourcesv1.PingSource:
			ping = o
		}
	}
	if trig == nil || ping == nil {
		t.Fatal("want a Trigger and a PingSource")
	}
	if err := CheckTrigger(trig); err != nil {
		t.Error(err)
	}
	if ping.Spec.Schedule != "* * * * *" || ping.Spec.Data != `{"task":"relay-outbox"}` ||
		ping.Spec.Sink.Ref == nil || ping.Spec.Sink.Ref.Name != routing.EventsWriter || ping.Spec.Sink.Ref.Kind != "Service" {
		t.Errorf("PingSource: want every minute, data {\"task\":\"relay-outbox\"}, sink the events-writer Service; have %+v", ping.Spec)
	}
}

// TestConnectionBudget is README "Connections" as arithmetic: every function at max-scale
// with a full pool fits the poolers, and the poolers fit max_connections.
func TestConnectionBudget(t *testing.T) {
	b, err := budget(repo(t), builds(t)["platform/shortener"])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", b)
	if err := b.Check(); err != nil {
		t.Error(err)
	}
}

func budget(root string, docs []*Doc) (Budget, error) {
	var b Budget
	dirs, err := filepath.Glob(filepath.Join(root, "functions", "*", "func.yaml"))
	if err != nil {
		return b, err
	}
	for _, p := range dirs {
		f, err := funcyaml.Load(filepath.Dir(p))
		if err != nil {
			return b, err
		}
		env := map[string]string{}
		for _, e := range f.Run.Envs {
			if e.Name != nil && e.Value != nil {
				env[*e.Name] = *e.Value
			}
		}
		pool := 10 // DB_MAX_CONNS default
		if v, ok := env["DB_MAX_CONNS"]; ok {
			if pool, err = strconv.Atoi(v); err != nil {
				return b, fmt.Errorf("%s: DB_MAX_CONNS %q", p, v)
			}
		}
		max := int(*f.Deploy.Options.Scale.Max)
		b.ClientConnsRW += max * pool
		if _, ok := env["DATABASE_RO_URL"]; ok {
			b.ClientConnsRO += max * pool
		}
	}
	for _, d := range docs {
		switch o := d.Obj.(type) {
		case *cnpgv1.Pooler:
			clients, servers, err := PoolerCapacity(o)
			if err != nil {
				return b, err
			}
			if o.Spec.Type == cnpgv1.PoolerTypeRO {
				b.PoolerClientCapRO, b.ServerConnsPerReplica = clients, servers
			} else {
				b.PoolerClientCapRW, b.ServerConnsPrimary = clients, servers
			}
		case *cnpgv1.Cluster:
			if b.MaxConnections, err = MaxConnections(o); err != nil {
				return b, err
			}
		}
	}
	return b, nil
}
