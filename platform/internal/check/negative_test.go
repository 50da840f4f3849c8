package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	"github.com/urlshort/shortener/platform/internal/funcyaml"
	"github.com/urlshort/shortener/shared/routing"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"
)

// Every check must fail on a deliberately broken copy of what it checks; otherwise a green
// run proves nothing. The copies are made from the real manifests at test time, so they
// stay in step with them.

// TestNegativeUnknownField adds an unknown field to every document of every file we own
// (and to a rendered Service): strict decoding must refuse each.
func TestNegativeUnknownField(t *testing.T) {
	root := repo(t)
	files, err := YAMLFiles(filepath.Join(root, "platform"), filepath.Join(root, "eventing"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	check := func(source string, raw []byte) {
		var m map[string]any
		if err := yaml.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if spec, ok := m["spec"].(map[string]any); ok {
			spec["replicaz"] = 3 // a typo of a real field
		} else {
			m["dataz"] = map[string]any{"a": "b"}
		}
		broken, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(source, broken); err == nil {
			t.Errorf("%s: an unknown field was accepted", source)
		}
		n++
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		raws, err := SplitYAML(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range raws {
			check(f, raw)
		}
	}
	for _, d := range rendered(t) {
		raw, _ := yaml.Marshal(d.Obj)
		check(d.Source, raw)
	}
	if n < 40 {
		t.Errorf("only %d documents mutated", n)
	}
}

// clone deep-copies a document through its YAML form.
func clone(t *testing.T, d *Doc) *Doc {
	t.Helper()
	raw, err := yaml.Marshal(d.Obj)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode(d.Source+" (broken copy)", raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func findDoc(t *testing.T, docs []*Doc, kind, name string) *Doc {
	t.Helper()
	for _, d := range docs {
		if d.GVK.Kind == kind && d.Name() == name {
			return clone(t, d)
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}

// TestNegativeInvalidValues breaks one value per case in a copy of a real object; the
// validation of that kind must reject it.
func TestNegativeInvalidValues(t *testing.T) {
	c := cluster(t)
	b := builds(t)
	fns := rendered(t)
	ksvc := func(name string) (*Doc, *servingv1.Service) {
		d := findDoc(t, fns, "Service", name)
		return d, d.Obj.(*servingv1.Service)
	}
	cases := []struct {
		name  string
		build func() *Doc
	}{
		{"KnativeServiceMinAboveMax", func() *Doc {
			d, s := ksvc("redirect")
			s.Spec.Template.Annotations["autoscaling.knative.dev/min-scale"] = "5"
			s.Spec.Template.Annotations["autoscaling.knative.dev/max-scale"] = "2"
			return d
		}},
		{"KnativeServiceMisspelledAutoscalingKey", func() *Doc {
			d, s := ksvc("urls")
			s.Spec.Template.Annotations["autoscaling.knative.dev/minscale"] = "1"
			return d
		}},
		{"KnativeServiceLegacyAutoscalingKey", func() *Doc {
			d, s := ksvc("urls")
			s.Spec.Template.Annotations["autoscaling.knative.dev/maxScale"] = "3"
			return d
		}},
		{"KnativeServiceAutoscalingOnServiceMetadata", func() *Doc {
			d, s := ksvc("users")
			s.Annotations["autoscaling.knative.dev/window"] = "30s"
			return d
		}},
		{"KnativeServiceMaxAboveClusterLimit", func() *Doc {
			d, s := ksvc("redirect")
			s.Spec.Template.Annotations["autoscaling.knative.dev/max-scale"] = "50"
			return d
		}},
		{"KnativeServiceBadMetric", func() *Doc {
			d, s := ksvc("events")
			s.Spec.Template.Annotations["autoscaling.knative.dev/metric"] = "memory"
			return d
		}},
		{"KnativeServiceNoImage", func() *Doc {
			d, s := ksvc("health")
			s.Spec.Template.Spec.Containers[0].Image = ""
			return d
		}},
		{"TriggerBackoffNotISO8601", func() *Doc {
			d := findDoc(t, b["eventing"], "Trigger", "events-writer")
			d.Obj.(*eventingv1.Trigger).Spec.Delivery.BackoffDelay = ptr("5s")
			return d
		}},
		{"TriggerNoBroker", func() *Doc {
			d := findDoc(t, b["eventing"], "Trigger", "events-writer")
			d.Obj.(*eventingv1.Trigger).Spec.Broker = ""
			return d
		}},
		{"BrokerBadBackoffPolicy", func() *Doc {
			d := findDoc(t, b["eventing"], "Broker", "default")
			p := eventingduckv1.BackoffPolicyType("fast")
			d.Obj.(*eventingv1.Broker).Spec.Delivery.BackoffPolicy = &p
			return d
		}},
		{"PingSourceBadSchedule", func() *Doc {
			d := findDoc(t, b["eventing"], "PingSource", "relay-outbox")
			d.Obj.(*sourcesv1.PingSource).Spec.Schedule = "every minute"
			return d
		}},
		{"SinkBindingSubjectWithoutKind", func() *Doc {
			d := findDoc(t, b["eventing"], "SinkBinding", "event-emitters")
			d.Obj.(*sourcesv1.SinkBinding).Spec.Subject.Kind = ""
			return d
		}},
		{"ClusterTwoInstances", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "Cluster", "shortener-db")
			d.Obj.(*cnpgv1.Cluster).Spec.Instances = 2
			return d
		}},
		{"ClusterStorageNotAQuantity", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "Cluster", "shortener-db")
			d.Obj.(*cnpgv1.Cluster).Spec.StorageConfiguration.Size = "5Gb"
			return d
		}},
		{"ClusterStorageTooSmall", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "Cluster", "shortener-db")
			d.Obj.(*cnpgv1.Cluster).Spec.StorageConfiguration.Size = "1Gi"
			return d
		}},
		{"ClusterBadAntiAffinityType", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "Cluster", "shortener-db")
			d.Obj.(*cnpgv1.Cluster).Spec.Affinity.PodAntiAffinityType = "sometimes"
			return d
		}},
		{"ClusterPreferredAntiAffinity", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "Cluster", "shortener-db")
			d.Obj.(*cnpgv1.Cluster).Spec.Affinity.PodAntiAffinityType = cnpgv1.PodAntiAffinityTypePreferred
			return d
		}},
		{"ClusterSharedBuffersAboveMemory", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "Cluster", "shortener-db")
			d.Obj.(*cnpgv1.Cluster).Spec.PostgresConfiguration.Parameters["shared_buffers"] = "2GB"
			return d
		}},
		{"ClusterFixedParameter", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "Cluster", "shortener-db")
			d.Obj.(*cnpgv1.Cluster).Spec.PostgresConfiguration.Parameters["listen_addresses"] = "*"
			return d
		}},
		{"ClusterImageWithoutVersion", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "Cluster", "shortener-db")
			d.Obj.(*cnpgv1.Cluster).Spec.ImageName = "ghcr.io/cloudnative-pg/postgresql"
			return d
		}},
		{"PoolerUnknownParameter", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "Pooler", "shortener-db-pooler-rw")
			d.Obj.(*cnpgv1.Pooler).Spec.PgBouncer.Parameters["max_client_connections"] = "1000"
			return d
		}},
		{"PoolerStatementMode", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "Pooler", "shortener-db-pooler-ro")
			d.Obj.(*cnpgv1.Pooler).Spec.PgBouncer.PoolMode = "statement"
			return d
		}},
		{"PoolerSingleInstance", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "Pooler", "shortener-db-pooler-rw")
			d.Obj.(*cnpgv1.Pooler).Spec.Instances = ptr(int32(1))
			return d
		}},
		{"StatefulSetWithoutLimits", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "StatefulSet", "valkey")
			d.Obj.(*appsv1.StatefulSet).Spec.Template.Spec.Containers[0].Resources.Limits = nil
			return d
		}},
		{"StatefulSetSelectorMismatch", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "StatefulSet", "valkey-sentinel")
			d.Obj.(*appsv1.StatefulSet).Spec.Selector.MatchLabels["app.kubernetes.io/name"] = "valkey"
			return d
		}},
		{"StatefulSetLatestImage", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "StatefulSet", "valkey")
			d.Obj.(*appsv1.StatefulSet).Spec.Template.Spec.Containers[0].Image = "docker.io/valkey/valkey:latest"
			return d
		}},
		{"UpstreamDeploymentWithoutLimits", func() *Doc {
			d := findDoc(t, b["platform/knative-eventing"], "Deployment", "imc-dispatcher")
			d.Obj.(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Resources.Limits = nil
			return d
		}},
		{"PDBBothFields", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "PodDisruptionBudget", "valkey")
			d.Obj.(*policyv1.PodDisruptionBudget).Spec.MinAvailable = ptr(intstr.FromInt32(1))
			return d
		}},
		{"PDBPercentageBlocksDrains", func() *Doc {
			d := findDoc(t, b["platform/kourier"], "PodDisruptionBudget", "3scale-kourier-gateway-pdb")
			p := d.Obj.(*policyv1.PodDisruptionBudget)
			p.Spec.MaxUnavailable, p.Spec.MinAvailable = nil, ptr(intstr.FromString("80%"))
			return d
		}},
		{"PDBEmptySelector", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "PodDisruptionBudget", "redirect")
			d.Obj.(*policyv1.PodDisruptionBudget).Spec.Selector = &metav1.LabelSelector{}
			return d
		}},
		{"IngressRouteUnsupportedMatcher", func() *Doc {
			d := findDoc(t, b["platform/traefik"], "IngressRoute", "shortener")
			d.Obj.(*IngressRoute).Spec.Routes[0].Match = "Method(`GET`)"
			return d
		}},
		{"IngressRouteUnknownEntryPoint", func() *Doc {
			d := findDoc(t, b["platform/traefik"], "IngressRoute", "shortener")
			d.Obj.(*IngressRoute).Spec.EntryPoints = []string{"https"}
			return d
		}},
		{"MiddlewareTwoKinds", func() *Doc {
			d := findDoc(t, b["platform/traefik"], "Middleware", "host-urls")
			d.Obj.(*Middleware).Spec.RedirectScheme = &RedirectScheme{Scheme: "https"}
			return d
		}},
		{"NetworkPolicyBadOperator", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "NetworkPolicy", "valkey-same-namespace")
			np := d.Obj.(*networkingv1.NetworkPolicy)
			np.Spec.PodSelector.MatchExpressions[0].Operator = "Maybe"
			return d
		}},
		{"BadObjectName", func() *Doc {
			d := findDoc(t, b["platform/shortener"], "StatefulSet", "valkey")
			d.Obj.(*appsv1.StatefulSet).Name = "Valkey_Primary"
			return d
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.build()
			if err := c.Validate(d); err == nil {
				t.Errorf("%s: the broken copy was accepted", d)
			} else {
				t.Logf("rejected: %v", firstLine(err))
			}
		})
	}
}

// TestNegativeCrossReferences breaks one reference at a time.
func TestNegativeCrossReferences(t *testing.T) {
	ext := externalSecrets(t)
	cases := map[string]func(all []*Doc) []*Doc{
		"PDBSelectsNothing": func(all []*Doc) []*Doc {
			d := findDoc(t, all, "PodDisruptionBudget", "redirect")
			d.Obj.(*policyv1.PodDisruptionBudget).Spec.Selector.MatchLabels["serving.knative.dev/service"] = "redirector"
			return replace(all, d)
		},
		"TriggerSubscriberMissing": func(all []*Doc) []*Doc {
			d := findDoc(t, all, "Trigger", "events-writer")
			d.Obj.(*eventingv1.Trigger).Spec.Subscriber.Ref.Name = "event-writer"
			return replace(all, d)
		},
		"PingSourceSinkMissing": func(all []*Doc) []*Doc {
			d := findDoc(t, all, "PingSource", "relay-outbox")
			d.Obj.(*sourcesv1.PingSource).Spec.Sink.Ref.Name = "events"
			d.Obj.(*sourcesv1.PingSource).Spec.Sink.Ref.Kind = "Broker"
			return replace(all, d)
		},
		"SecretNobodyCreates": func(all []*Doc) []*Doc {
			d := findDoc(t, all, "Service", "redirect")
			for i := range d.Obj.(*servingv1.Service).Spec.Template.Spec.Containers[0].Env {
				e := &d.Obj.(*servingv1.Service).Spec.Template.Spec.Containers[0].Env[i]
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					e.ValueFrom.SecretKeyRef.Name = "shortener-db-application"
				}
			}
			return replace(all, d)
		},
		"PoolerClusterMissing": func(all []*Doc) []*Doc {
			d := findDoc(t, all, "Pooler", "shortener-db-pooler-ro")
			d.Obj.(*cnpgv1.Pooler).Spec.Cluster.Name = "shortener-pg"
			return replace(all, d)
		},
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			if err := CrossCheck(breakIt(everything(t)), ext); err == nil {
				t.Error("the broken reference was accepted")
			}
		})
	}
	t.Run("SinkBindingMissesAnEmitter", func(t *testing.T) {
		all := everything(t)
		d := findDoc(t, all, "Service", "urls")
		delete(d.Obj.(*servingv1.Service).Labels, "shortener.urlshort.dev/emits-events")
		all = replace(all, d)
		sb := findDoc(t, all, "SinkBinding", "event-emitters").Obj.(*sourcesv1.SinkBinding)
		got, _ := SinkBindingSubjects(sb, all)
		if len(got) == 3 {
			t.Error("the SinkBinding still selects three emitters")
		}
	})
}

func replace(all []*Doc, d *Doc) []*Doc {
	out := make([]*Doc, 0, len(all))
	for _, o := range all {
		if o.GVK == d.GVK && o.Name() == d.Name() && o.Namespace() == d.Namespace() {
			out = append(out, d)
			continue
		}
		out = append(out, o)
	}
	return out
}

// TestNegativeRoutes: routes that disagree with shared/routing must fail.
func TestNegativeRoutes(t *testing.T) {
	domain := cluster(t).Domain
	cases := map[string]func(ir *IngressRoute, mws map[string]*Middleware){
		// /urls/x/redirect would go to urls, not redirect.
		"UrlsOutranksRedirect": func(ir *IngressRoute, _ map[string]*Middleware) {
			for i := range ir.Spec.Routes {
				if strings.Contains(ir.Spec.Routes[i].Match, "Path(`/urls`)") {
					ir.Spec.Routes[i].Priority = 85
				}
			}
		},
		"PrefixWithoutSlash": func(ir *IngressRoute, _ map[string]*Middleware) {
			for i := range ir.Spec.Routes {
				ir.Spec.Routes[i].Match = strings.ReplaceAll(ir.Spec.Routes[i].Match, "PathPrefix(`/users/`)", "PathPrefix(`/users`)")
			}
		},
		"WrongHostHeader": func(_ *IngressRoute, mws map[string]*Middleware) {
			mws["host-events"].Spec.Headers.CustomRequestHeaders["Host"] = "events.default." + domain
		},
		"MiddlewareSwapped": func(ir *IngressRoute, _ map[string]*Middleware) {
			for i, ref := range ir.Spec.Routes[0].Middlewares {
				if ref.Name == "host-health" {
					ir.Spec.Routes[0].Middlewares[i].Name = "host-users"
				}
			}
		},
		"NotThroughKourier": func(ir *IngressRoute, _ map[string]*Middleware) {
			ir.Spec.Routes[1].Services[0].Name = "users"
		},
		"TieBetweenRoutes": func(ir *IngressRoute, _ map[string]*Middleware) {
			for i := range ir.Spec.Routes {
				ir.Spec.Routes[i].Priority = 10
			}
		},
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			var docs []*Doc
			for _, d := range builds(t)["platform/traefik"] {
				docs = append(docs, clone(t, d))
			}
			ir, mws := traefik(t, docs, "shortener")
			breakIt(ir, mws)
			if err := CheckRoutes(ir, mws, funcyaml.Namespace, domain, samplePaths(), routing.FunctionFor); err == nil {
				t.Error("the broken routes were accepted")
			}
		})
	}
}

// TestNegativeDelivery: retries that give up before a cold start is over must fail.
func TestNegativeDelivery(t *testing.T) {
	cases := map[string]func(tr *eventingv1.Trigger){
		"TooFewRetries": func(tr *eventingv1.Trigger) { tr.Spec.Delivery.Retry = ptr(int32(3)) },
		"LinearBackoff": func(tr *eventingv1.Trigger) {
			p := eventingduckv1.BackoffPolicyLinear
			tr.Spec.Delivery.BackoffPolicy = &p
		},
		"NoDeadLetter":    func(tr *eventingv1.Trigger) { tr.Spec.Delivery.DeadLetterSink = nil },
		"OtherTypePrefix": func(tr *eventingv1.Trigger) { tr.Spec.Filters[0].Prefix["type"] = "dev.shortener." },
		"ExactFilter": func(tr *eventingv1.Trigger) {
			tr.Spec.Filters[0].Exact = map[string]string{"type": "dev.urlshort.url.created"}
		},
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			tr := findDoc(t, builds(t)["eventing"], "Trigger", "events-writer").Obj.(*eventingv1.Trigger)
			breakIt(tr)
			if err := CheckTrigger(tr); err == nil {
				t.Error("the broken delivery was accepted")
			}
		})
	}
}

// TestNegativeConnectionBudget: more pods or bigger pools than PgBouncer/PostgreSQL take.
func TestNegativeConnectionBudget(t *testing.T) {
	good, err := budget(repo(t), builds(t)["platform/shortener"])
	if err != nil {
		t.Fatal(err)
	}
	for name, breakIt := range map[string]func(b *Budget){
		"FunctionsOutgrowPooler": func(b *Budget) { b.ClientConnsRW = b.PoolerClientCapRW + 1 },
		"PoolerOutgrowsPostgres": func(b *Budget) { b.MaxConnections = b.ServerConnsPrimary },
		"ReplicaOverloaded":      func(b *Budget) { b.ServerConnsPerReplica = b.MaxConnections },
	} {
		b := good
		breakIt(&b)
		if b.Check() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestNegativeKnativeConfig breaks a copy of our Knative ConfigMap patches.
func TestNegativeKnativeConfig(t *testing.T) {
	src := filepath.Join(repo(t), "platform", "knative-serving")
	cases := map[string]struct{ file, from, to string }{
		"MisspelledAutoscalerKey": {"config-autoscaler.yaml", "stable-window:", "stable-windw:"},
		"BadAutoscalerValue":      {"config-autoscaler.yaml", `stable-window: "60s"`, `stable-window: "1 minute"`},
		"MaxScaleAboveLimit":      {"config-autoscaler.yaml", `max-scale: "10"`, `max-scale: "30"`},
		"MisspelledDeploymentKey": {"config-deployment.yaml", "queue-sidecar-cpu-limit:", "queue-sidecar-cpu-limits:"},
		"BadQuantity":             {"config-deployment.yaml", `queue-sidecar-memory-limit: "200Mi"`, `queue-sidecar-memory-limit: "200MB!"`},
		"TwoDomains":              {"config-domain.yaml", `knative.internal: ""`, "knative.internal: \"\"\n  other.internal: \"\""},
		"MisspelledNetworkKey":    {"config-network.yaml", "ingress-class:", "ingress.class:"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "platform", "knative-serving")
			copyDir(t, src, dir)
			p := filepath.Join(dir, tc.file)
			data, _ := os.ReadFile(p)
			if !strings.Contains(string(data), tc.from) {
				t.Fatalf("%s has no %q", tc.file, tc.from)
			}
			writeFile(t, p, strings.Replace(string(data), tc.from, tc.to, 1))
			if _, err := LoadCluster(filepath.Dir(dir)); err == nil {
				t.Error("the broken ConfigMap was accepted")
			}
		})
	}
}

// TestNegativeKustomizations breaks a copy of real kustomizations.
func TestNegativeKustomizations(t *testing.T) {
	up := upstream(t)
	cases := map[string]struct {
		dir      string
		file     string
		from, to string
	}{
		"UnknownField":        {"platform/shortener", "kustomization.yaml", "resources:", "resource:"},
		"MissingResource":     {"platform/shortener", "kustomization.yaml", "- pdbs.yaml", "- pdb.yaml"},
		"PatchTargetsNothing": {"platform/kourier", "service-clusterip.yaml", "name: kourier\n", "name: kourier-gateway\n"},
		"JSONPatchBadPath":    {"platform/knative-serving", "kustomization.yaml", "path: /spec/minReplicas", "path: /spec/minReplica/x"},
		"BrokenYAML":          {"eventing", "trigger.yaml", "  broker: default", "  broker: [default"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(repo(t), tc.dir)
			dir := filepath.Join(t.TempDir(), filepath.Base(tc.dir))
			copyDir(t, src, dir)
			p := filepath.Join(dir, tc.file)
			data, _ := os.ReadFile(p)
			if !strings.Contains(string(data), tc.from) {
				t.Fatalf("%s has no %q", tc.file, tc.from)
			}
			writeFile(t, p, strings.Replace(string(data), tc.from, tc.to, 1))
			if _, _, err := Build(dir, up); err == nil {
				t.Error("the broken kustomization built")
			}
		})
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if d.Name() == "upstream" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func ptr[T any](v T) *T { return &v }
