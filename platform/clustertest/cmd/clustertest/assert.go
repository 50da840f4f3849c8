package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const ns = "shortener"

// poolerSecret is install.sh's step 7: the pooler URIs from CloudNativePG's app secret.
func poolerSecret(ctx context.Context, a *applier) error {
	var app *unstructured.Unstructured
	err := poll(ctx, 2*time.Minute, "secret shortener-db-app (made by CloudNativePG)", func() (bool, error) {
		u, err := a.get(ctx, "v1", "Secret", ns, "shortener-db-app")
		app = u
		return err == nil, nil
	})
	if err != nil {
		return err
	}
	field := func(k string) string {
		s, _, _ := unstructured.NestedString(app.Object, "data", k)
		b, _ := base64.StdEncoding.DecodeString(s)
		return string(b)
	}
	user, pass, db := field("username"), urlencode(field("password")), field("dbname")
	if user == "" || db == "" {
		return fmt.Errorf("shortener-db-app lacks username or dbname")
	}
	objs, err := decode("install.sh shortener-db-pooler", []byte(secretYAML("shortener-db-pooler", map[string]string{
		"uri":    fmt.Sprintf("postgresql://%s:%s@shortener-db-pooler-rw.%s:5432/%s", user, pass, ns, db),
		"ro-uri": fmt.Sprintf("postgresql://%s:%s@shortener-db-pooler-ro.%s:5432/%s", user, pass, ns, db),
	})))
	if err != nil {
		return err
	}
	return joinErrs(a.applyAll(ctx, objs, false))
}

// urlencode percent-encodes everything but unreserved characters, as install.sh's does.
func urlencode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".~_-", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// waitReady waits for an object's Ready condition and returns the object.
func waitReady(ctx context.Context, a *applier, apiVersion, kind, namespace, name string, timeout time.Duration) (*unstructured.Unstructured, error) {
	var last *unstructured.Unstructured
	err := poll(ctx, timeout, fmt.Sprintf("%s %s/%s Ready", kind, namespace, name), func() (bool, error) {
		u, err := a.get(ctx, apiVersion, kind, namespace, name)
		if err != nil {
			return false, nil
		}
		last = u
		return condTrue(u, "Ready") && observed(u), nil
	})
	if err != nil && last != nil {
		return last, fmt.Errorf("%w: %s", err, condSummary(last))
	}
	return last, err
}

func observed(u *unstructured.Unstructured) bool {
	g, found, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	return !found || g >= u.GetGeneration()
}

func str(u *unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, path...)
	return s
}

// firstContainer is spec.template.spec.containers[0] of a Service, or spec.containers[0] of
// a Revision.
func firstContainer(u *unstructured.Unstructured, path ...string) map[string]any {
	cs, _, _ := unstructured.NestedSlice(u.Object, path...)
	if len(cs) == 0 {
		return nil
	}
	m, _ := cs[0].(map[string]any)
	return m
}

// envMap is a container's env by name (value or valueFrom).
func envMap(c map[string]any) map[string]any {
	out := map[string]any{}
	list, _ := c["env"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		if v, ok := m["value"]; ok {
			out[fmt.Sprint(m["name"])] = v
		} else {
			out[fmt.Sprint(m["name"])] = m["valueFrom"]
		}
	}
	return out
}

// assertServing checks what Knative Serving made of the six Services.
func assertServing(ctx context.Context, a *applier, cp *controlPlane, ksvcs []object, rep *report) {
	cmDeploy, err := a.get(ctx, "v1", "ConfigMap", "knative-serving", "config-deployment")
	if err != nil {
		rep.check("read config-deployment", err)
		return
	}
	// One wait for all six (they reconcile together), then each is looked at closely.
	_ = poll(ctx, 4*time.Minute, "every Service to have a ready Revision", func() (bool, error) {
		for _, o := range ksvcs {
			u, err := a.get(ctx, "serving.knative.dev/v1", "Service", ns, o.u.GetName())
			if err != nil || str(u, "status", "latestReadyRevisionName") == "" || str(u, "status", "latestReadyRevisionName") != str(u, "status", "latestCreatedRevisionName") {
				return false, nil
			}
		}
		return true, nil
	})
	for _, o := range ksvcs {
		name := o.u.GetName()
		want := o.u
		rep.check("Service "+name+": a Ready Revision with its func.yaml's container, env, resources and scale", func() error {
			var ksvc *unstructured.Unstructured
			err := poll(ctx, 5*time.Second, "Service "+name+" to have a ready Revision", func() (bool, error) {
				u, err := a.get(ctx, "serving.knative.dev/v1", "Service", ns, name)
				if err != nil {
					return false, nil
				}
				ksvc = u
				return str(u, "status", "latestReadyRevisionName") != "" && str(u, "status", "latestReadyRevisionName") == str(u, "status", "latestCreatedRevisionName"), nil
			})
			if err != nil {
				if ksvc != nil {
					return fmt.Errorf("%w: %s", err, condSummary(ksvc))
				}
				return err
			}
			revName := str(ksvc, "status", "latestReadyRevisionName")
			rev, err := waitReady(ctx, a, "serving.knative.dev/v1", "Revision", ns, revName, time.Minute)
			if err != nil {
				return err
			}
			var problems []string
			wc := firstContainer(want, "spec", "template", "spec", "containers")
			rc := firstContainer(rev, "spec", "containers")
			if rc["image"] != wc["image"] {
				problems = append(problems, fmt.Sprintf("image %v, want %v", rc["image"], wc["image"]))
			}
			if !reflect.DeepEqual(normResources(rc["resources"]), normResources(wc["resources"])) {
				problems = append(problems, fmt.Sprintf("resources %v, want %v", rc["resources"], wc["resources"]))
			}
			renv := envMap(rc)
			for k, v := range envMap(wc) {
				if !reflect.DeepEqual(renv[k], v) {
					problems = append(problems, fmt.Sprintf("env %s = %v, want %v", k, renv[k], v))
				}
			}
			// The autoscaling annotations reach the PodAutoscaler unchanged.
			pa, err := a.get(ctx, "autoscaling.internal.knative.dev/v1alpha1", "PodAutoscaler", ns, revName)
			if err != nil {
				return err
			}
			wantAnn, _, _ := unstructured.NestedStringMap(want.Object, "spec", "template", "metadata", "annotations")
			paAnn := pa.GetAnnotations()
			for k, v := range wantAnn {
				if strings.HasPrefix(k, "autoscaling.knative.dev/") && paAnn[k] != v {
					problems = append(problems, fmt.Sprintf("PodAutoscaler annotation %s = %q, want %q", k, paAnn[k], v))
				}
			}
			// Scale: at least min-scale pods Ready (simulated), never above max-scale.
			minScale, maxScale := atoi(wantAnn["autoscaling.knative.dev/min-scale"]), atoi(wantAnn["autoscaling.knative.dev/max-scale"])
			var ready, replicas int64
			err = poll(ctx, 30*time.Second, fmt.Sprintf("Revision %s at min-scale %d", revName, minScale), func() (bool, error) {
				d, err := cp.kube.AppsV1().Deployments(ns).Get(ctx, revName+"-deployment", metav1.GetOptions{})
				if err != nil {
					return false, nil
				}
				ready, replicas = int64(d.Status.ReadyReplicas), int64(*d.Spec.Replicas)
				return ready >= int64(minScale), nil
			})
			if err != nil {
				problems = append(problems, fmt.Sprintf("%v (ready %d of %d)", err, ready, replicas))
			}
			if maxScale > 0 && replicas > int64(maxScale) {
				problems = append(problems, fmt.Sprintf("%d replicas, above max-scale %d", replicas, maxScale))
			}
			// config-deployment's queue-proxy resources are in the pods Knative makes.
			d, err := cp.kube.AppsV1().Deployments(ns).Get(ctx, revName+"-deployment", metav1.GetOptions{})
			if err == nil {
				for _, c := range d.Spec.Template.Spec.Containers {
					if c.Name != "queue-proxy" {
						continue
					}
					for key, got := range map[string]string{
						"queue-sidecar-cpu-request":    c.Resources.Requests.Cpu().String(),
						"queue-sidecar-memory-request": c.Resources.Requests.Memory().String(),
						"queue-sidecar-cpu-limit":      c.Resources.Limits.Cpu().String(),
						"queue-sidecar-memory-limit":   c.Resources.Limits.Memory().String(),
					} {
						if w := str(cmDeploy, "data", key); w != "" && w != got {
							problems = append(problems, fmt.Sprintf("queue-proxy %s = %s, config-deployment says %s", key, got, w))
						}
					}
				}
			}
			// config-domain and the cluster-local label decide the URL.
			u := str(ksvc, "status", "url")
			wantURL := "http://" + name + ".shortener.knative.internal"
			if want.GetLabels()["networking.knative.dev/visibility"] == "cluster-local" {
				wantURL = "http://" + name + ".shortener.svc.cluster.local"
			}
			if u != wantURL {
				problems = append(problems, fmt.Sprintf("URL %q, want %q", u, wantURL))
			}
			logf("     %s: revision %s Ready, %d/%d pods ready (min %d, max %d), %s", name, revName, ready, replicas, minScale, maxScale, u)
			if len(problems) > 0 {
				return fmt.Errorf("%s", strings.Join(problems, "\n"))
			}
			return nil
		}())
	}
}

// assertRoutes checks that Knative turns each Service's Route into a KIngress of the right
// visibility and, once the KIngress stand-in (kingress.go, not net-kourier) has marked it
// Ready, reports the Route and the Service Ready. No request goes through any ingress here.
func assertRoutes(ctx context.Context, a *applier, cp *controlPlane, ksvcs []object, k *kourierStandIn, rep *report) {
	_ = poll(ctx, 2*time.Minute, "every Service and Route Ready", func() (bool, error) {
		for _, o := range ksvcs {
			for _, kind := range []string{"Service", "Route"} {
				u, err := a.get(ctx, "serving.knative.dev/v1", kind, ns, o.u.GetName())
				if err != nil || !condTrue(u, "Ready") || !observed(u) {
					return false, nil
				}
			}
		}
		return true, nil
	})
	for _, o := range ksvcs {
		name := o.u.GetName()
		local := o.u.GetLabels()["networking.knative.dev/visibility"] == "cluster-local"
		host := name + ".shortener.knative.internal"
		svcHost := name + ".shortener.svc.cluster.local"
		what := "Service " + name + " and its Route Ready (KIngress stand-in): URL http://" + host + ", KIngress rules public and cluster-local, Service " + name + " → kourier-internal"
		if local {
			host = svcHost
			what = "Service " + name + " and its Route Ready (KIngress stand-in): cluster-local, URL http://" + host + ", KIngress rule cluster-local only, Service " + name + " → kourier-internal"
		}
		rep.check(what, func() error {
			var problems []string
			for _, kind := range []string{"Service", "Route"} {
				u, err := waitReady(ctx, a, "serving.knative.dev/v1", kind, ns, name, 5*time.Second)
				if err != nil {
					problems = append(problems, err.Error())
					continue
				}
				if got := str(u, "status", "url"); got != "http://"+host {
					problems = append(problems, fmt.Sprintf("%s URL %q, want %q", kind, got, "http://"+host))
				}
			}
			ing, err := a.get(ctx, "networking.internal.knative.dev/v1alpha1", "Ingress", ns, name)
			if err != nil {
				return fmt.Errorf("KIngress %s: %w", name, err)
			}
			// Which rule answers which host: cluster-local ones for the .svc names, the public
			// one for the config-domain name, none at all for a cluster-local Service.
			vis := map[string]bool{}
			rules, _, _ := unstructured.NestedSlice(ing.Object, "spec", "rules")
			for _, r := range rules {
				m, _ := r.(map[string]any)
				v, _ := m["visibility"].(string)
				hosts, _ := m["hosts"].([]any)
				for _, h := range hosts {
					if v == "ExternalIP" || h == host || h == svcHost {
						vis[fmt.Sprintf("%s %v", v, h)] = true
					}
				}
			}
			wantVis := []string{"ClusterLocal " + svcHost, "ExternalIP " + host}
			if local {
				wantVis = []string{"ClusterLocal " + svcHost}
			}
			var gotVis []string
			for v := range vis {
				gotVis = append(gotVis, v)
			}
			sort.Strings(gotVis)
			if !reflect.DeepEqual(gotVis, wantVis) {
				problems = append(problems, fmt.Sprintf("KIngress rules (public ones and this host) %v, want %v", gotVis, wantVis))
			}
			// The Route's placeholder Service is what makes the .svc name resolve to the
			// cluster-local gateway in a real cluster (the private load balancer, for every
			// visibility).
			svc, err := cp.kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				problems = append(problems, err.Error())
			} else if svc.Spec.Type != corev1.ServiceTypeExternalName || svc.Spec.ExternalName != privateLB {
				problems = append(problems, fmt.Sprintf("Service %s is %s %q, want ExternalName %q", name, svc.Spec.Type, svc.Spec.ExternalName, privateLB))
			}
			if len(problems) > 0 {
				return fmt.Errorf("%s", strings.Join(problems, "\n"))
			}
			return nil
		}())
	}
	logf("     KIngress stand-in marked %d KIngresses Ready; no traffic was sent through an ingress", k.count())
}

func atoi(s string) int {
	n := 0
	fmt.Sscanf(s, "%d", &n)
	return n
}

// normResources compares quantities as the API server canonicalises them (1000m == 1).
func normResources(v any) string {
	return strings.NewReplacer("1000m", "1", "\"", "").Replace(fmt.Sprint(v))
}

// assertEventing checks the Broker, Trigger, PingSource and SinkBinding and K_SINK.
func assertEventing(ctx context.Context, a *applier, cp *controlPlane, ksvcs []object, rep *report) {
	objs := []struct{ apiVersion, kind, name string }{
		{"eventing.knative.dev/v1", "Broker", "default"},
		{"eventing.knative.dev/v1", "Trigger", "events-writer"},
		{"sources.knative.dev/v1", "PingSource", "relay-outbox"},
		{"sources.knative.dev/v1", "SinkBinding", "event-emitters"},
	}
	_ = poll(ctx, 3*time.Minute, "Broker, Trigger, PingSource and SinkBinding Ready", func() (bool, error) {
		for _, x := range objs {
			u, err := a.get(ctx, x.apiVersion, x.kind, ns, x.name)
			if err != nil || !condTrue(u, "Ready") {
				return false, nil
			}
		}
		return true, nil
	})
	var broker *unstructured.Unstructured
	for _, x := range objs {
		u, err := waitReady(ctx, a, x.apiVersion, x.kind, ns, x.name, 5*time.Second)
		if x.kind == "Broker" && err == nil {
			broker = u
		}
		rep.check(x.kind+" "+x.name+" Ready", err)
	}
	if broker == nil {
		return
	}
	sink := str(broker, "status", "address", "url")
	for _, o := range ksvcs {
		name := o.u.GetName()
		emits := o.u.GetLabels()["shortener.urlshort.dev/emits-events"] == "true"
		what := "Service " + name + ": no K_SINK (it emits no events)"
		if emits {
			what = "Service " + name + ": K_SINK = the Broker's address, in the Service and its latest ready Revision"
		}
		rep.check(what, poll(ctx, time.Minute, "K_SINK in "+name, func() (bool, error) {
			ksvc, err := a.get(ctx, "serving.knative.dev/v1", "Service", ns, name)
			if err != nil {
				return false, nil
			}
			got := envMap(firstContainer(ksvc, "spec", "template", "spec", "containers"))["K_SINK"]
			if !emits {
				if got != nil {
					return false, fmt.Errorf("K_SINK = %v injected into a Service without the emits-events label", got)
				}
				return true, nil
			}
			if got != sink {
				return false, nil
			}
			rev := str(ksvc, "status", "latestReadyRevisionName")
			if rev == "" || rev != str(ksvc, "status", "latestCreatedRevisionName") {
				return false, nil
			}
			r, err := a.get(ctx, "serving.knative.dev/v1", "Revision", ns, rev)
			if err != nil {
				return false, nil
			}
			return envMap(firstContainer(r, "spec", "containers"))["K_SINK"] == sink, nil
		}))
	}
}

// assertCNPG checks what CloudNativePG made of the Cluster: its instance pods, services and
// the app secret install.sh reads, and the operator's view of the instances, which here is
// of what the simulated instance managers tell it (no PostgreSQL runs in a kwok pod).
func assertCNPG(ctx context.Context, a *applier, cp *controlPlane, ims *instanceManagers, rep *report) {
	for _, svc := range []string{"shortener-db-rw", "shortener-db-ro", "shortener-db-r"} {
		rep.check("CNPG Service "+svc, poll(ctx, 2*time.Minute, "Service "+svc, func() (bool, error) {
			_, err := cp.kube.CoreV1().Services(ns).Get(ctx, svc, metav1.GetOptions{})
			return err == nil, nil
		}))
	}
	rep.check("CNPG secret shortener-db-app (username, password, dbname, uri)", poll(ctx, time.Minute, "shortener-db-app", func() (bool, error) {
		s, err := cp.kube.CoreV1().Secrets(ns).Get(ctx, "shortener-db-app", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, k := range []string{"username", "password", "dbname", "uri"} {
			if len(s.Data[k]) == 0 {
				return false, nil
			}
		}
		return true, nil
	}))
	// The bootstrap, with a simulated instance manager in each pod (instancemanager.go): the
	// initdb Job, then instances 2 and 3 each through its join Job, each pod on a bound PVC of
	// its own, one per node as the required anti-affinity asks.
	const instances = 3
	var last string
	err := poll(ctx, 3*time.Minute, fmt.Sprintf("%d instances of shortener-db Running on bound PVCs", instances), func() (bool, error) {
		nodes := map[string]string{}
		for i := 1; i <= instances; i++ {
			name := fmt.Sprintf("shortener-db-%d", i)
			job := name + "-join"
			if i == 1 {
				job = name + "-initdb"
			}
			j, err := cp.kube.BatchV1().Jobs(ns).Get(ctx, job, metav1.GetOptions{})
			if err != nil || j.Status.Succeeded < 1 {
				// The operator removes its Jobs once every instance reports, so a missing Job
				// is fine when the pod is there.
				if _, perr := cp.kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); perr != nil {
					last = "Job " + job + " not complete"
					return false, nil
				}
			}
			pod, err := cp.kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil || pod.Labels["cnpg.io/podRole"] != "instance" || pod.Status.Phase != "Running" {
				last = "no running instance pod " + name
				return false, nil
			}
			if other, dup := nodes[pod.Spec.NodeName]; dup {
				return false, fmt.Errorf("%s and %s both on %s despite the required anti-affinity", other, name, pod.Spec.NodeName)
			}
			nodes[pod.Spec.NodeName] = name
			pvc, err := cp.kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil || pvc.Status.Phase != "Bound" {
				last = "PVC " + name + " not Bound"
				return false, nil
			}
			if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "5Gi" {
				return false, fmt.Errorf("PVC %s asks for %s, postgres.yaml says 5Gi", name, q.String())
			}
		}
		return true, nil
	})
	if err != nil {
		err = fmt.Errorf("%w (%s)", err, last)
	}
	rep.check(fmt.Sprintf("CNPG Cluster shortener-db (simulated instance managers): initdb and join Jobs complete, instance pods shortener-db-1..%d Running on bound 5Gi PVCs, one per node", instances), err)

	// The operator's own verdict, from what the simulated instance managers report.
	c, err := waitReady(ctx, a, "postgresql.cnpg.io/v1", "Cluster", ns, "shortener-db", 2*time.Minute)
	if err == nil {
		var problems []string
		if n := mustInt(c, "status", "readyInstances"); n != instances {
			problems = append(problems, fmt.Sprintf("readyInstances %d", n))
		}
		if p, t := str(c, "status", "currentPrimary"), str(c, "status", "targetPrimary"); p != "shortener-db-1" || t != p {
			problems = append(problems, fmt.Sprintf("currentPrimary %q, targetPrimary %q, want both shortener-db-1", p, t))
		}
		if len(problems) > 0 {
			err = fmt.Errorf("%s", strings.Join(problems, "; "))
		}
	}
	rep.check(fmt.Sprintf("CNPG Cluster shortener-db Ready (simulated instance managers): %d/%d instances ready, primary shortener-db-1", instances, instances), err)
	if c != nil {
		logf("     Cluster shortener-db: phase %q, instances %v; simulated instance managers: %s",
			str(c, "status", "phase"), mustSlice(c, "status", "instanceNames"), ims.summary())
	}

	// The operator labels the pods by role; the endpoint controller turns the selectors of
	// its Services into addresses: -rw the primary, -ro the replicas, -r all of them.
	want := map[string][]string{
		"shortener-db-rw": {"shortener-db-1"},
		"shortener-db-ro": {"shortener-db-2", "shortener-db-3"},
		"shortener-db-r":  {"shortener-db-1", "shortener-db-2", "shortener-db-3"},
	}
	var got map[string][]string
	err = poll(ctx, time.Minute, "the CNPG Services' endpoints", func() (bool, error) {
		got = map[string][]string{}
		for svc := range want {
			l, err := cp.kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc})
			if err != nil {
				return false, nil
			}
			for _, sl := range l.Items {
				for _, e := range sl.Endpoints {
					if e.TargetRef != nil && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
						got[svc] = append(got[svc], e.TargetRef.Name)
					}
				}
			}
			sort.Strings(got[svc])
		}
		return reflect.DeepEqual(got, want), nil
	})
	if err != nil {
		err = fmt.Errorf("%w: got %v, want %v", err, got, want)
	}
	rep.check("CNPG Services by role (simulated instance managers): -rw → shortener-db-1 (primary), -ro → shortener-db-2 and -3, -r → all three", err)
}

func mustSlice(u *unstructured.Unstructured, path ...string) []string {
	s, _, _ := unstructured.NestedStringSlice(u.Object, path...)
	return s
}

func mustInt(u *unstructured.Unstructured, path ...string) int64 {
	n, _, _ := unstructured.NestedInt64(u.Object, path...)
	return n
}

// rolledOut is install.sh's rollout waits of step 6: the Poolers' Deployments (which CNPG
// makes) and Valkey's StatefulSets, every replica Ready (as kwok reports it).
func rolledOut(ctx context.Context, cp *controlPlane) error {
	var pending []string
	err := poll(ctx, 2*time.Minute, "poolers and Valkey rolled out", func() (bool, error) {
		pending = pending[:0]
		for _, d := range []string{"shortener-db-pooler-rw", "shortener-db-pooler-ro"} {
			x, err := cp.kube.AppsV1().Deployments(ns).Get(ctx, d, metav1.GetOptions{})
			if err != nil || !deploymentAvailable(x) || x.Status.ReadyReplicas < *x.Spec.Replicas {
				pending = append(pending, "Deployment "+d)
			}
		}
		for _, st := range []string{"valkey", "valkey-sentinel"} {
			x, err := cp.kube.AppsV1().StatefulSets(ns).Get(ctx, st, metav1.GetOptions{})
			if err != nil || x.Status.ReadyReplicas < *x.Spec.Replicas {
				pending = append(pending, "StatefulSet "+st)
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("%w (not rolled out: %v)", err, pending)
	}
	return nil
}
