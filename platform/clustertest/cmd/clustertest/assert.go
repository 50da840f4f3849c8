package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"reflect"
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
// the app secret install.sh reads. No PostgreSQL runs in a kwok pod, so nothing past that.
func assertCNPG(ctx context.Context, a *applier, cp *controlPlane, rep *report) {
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
	// The bootstrap as far as it goes without PostgreSQL: the initdb Job (kwok completes its
	// pod), then the first instance's pod on a bound PVC. The operator creates instances 2
	// and 3 only once it has read instance 1's status from its instance manager over HTTPS,
	// which no kwok pod serves, so three instance pods cannot be reached here.
	var last string
	err := poll(ctx, 2*time.Minute, "the initdb Job complete and instance shortener-db-1 Ready on a bound PVC", func() (bool, error) {
		job, err := cp.kube.BatchV1().Jobs(ns).Get(ctx, "shortener-db-1-initdb", metav1.GetOptions{})
		if err != nil {
			last = "no initdb Job"
			return false, nil
		}
		if job.Status.Succeeded < 1 {
			last = "initdb Job not complete"
			return false, nil
		}
		pod, err := cp.kube.CoreV1().Pods(ns).Get(ctx, "shortener-db-1", metav1.GetOptions{})
		if err != nil || pod.Labels["cnpg.io/podRole"] != "instance" || pod.Status.Phase != "Running" {
			last = "no running instance pod shortener-db-1"
			return false, nil
		}
		pvc, err := cp.kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "shortener-db-1", metav1.GetOptions{})
		if err != nil || pvc.Status.Phase != "Bound" {
			last = "PVC shortener-db-1 not Bound"
			return false, nil
		}
		if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "5Gi" {
			return false, fmt.Errorf("PVC shortener-db-1 asks for %s, postgres.yaml says 5Gi", q.String())
		}
		return true, nil
	})
	if err != nil {
		err = fmt.Errorf("%w (%s)", err, last)
	}
	rep.check("CNPG Cluster shortener-db bootstrapped: initdb Job complete, instance pod shortener-db-1 Running on a bound 5Gi PVC", err)
	if c, gerr := a.get(ctx, "postgresql.cnpg.io/v1", "Cluster", ns, "shortener-db"); gerr == nil {
		logf("     Cluster shortener-db: %d of %v instances exist; the operator reports %q: %s (expected here: no instance manager answers in a kwok pod)",
			len(mustSlice(c, "status", "instanceNames")), mustInt(c, "spec", "instances"), str(c, "status", "phase"), str(c, "status", "phaseReason"))
	}
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
