// Command clustertest runs the platform against a real Kubernetes control plane built from Go
// modules: etcd, kube-apiserver, kube-controller-manager and kube-scheduler, kwok standing in
// for kubelets, and Knative Serving, Knative Eventing and CloudNativePG's own controllers and
// webhooks as local processes, all inside a private network namespace. It applies every CRD,
// then every manifest in install.sh's order (a server-side dry run of all first, then for
// real), asserts what the controllers made of them, checks that broken copies are rejected,
// and stops every process it started. `make cluster-test` builds the binaries and runs it;
// platform/README.md says what this proves and what it does not.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	moduleRoot string // platform/clustertest, for `go list -m`
	started    = time.Now()
)

func logf(format string, args ...any) {
	fmt.Printf("[%6.1fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	repo := flag.String("repo", "", "repository root (required)")
	bin := flag.String("bin", "", "directory of the built binaries (required)")
	keep := flag.Bool("keep", false, "keep the work directory (logs, etcd data) even on success")
	flag.Parse()
	if *repo == "" || *bin == "" {
		fmt.Fprintln(os.Stderr, "usage: clustertest -repo DIR -bin DIR")
		os.Exit(2)
	}
	moduleRoot = filepath.Join(*repo, "platform", "clustertest")
	if os.Getenv(inNetnsEnv) == "" {
		if err := prefetch(*repo); err != nil {
			fmt.Fprintln(os.Stderr, "clustertest:", err)
			os.Exit(1)
		}
		os.Exit(reexecInNetns())
	}
	os.Exit(run(*repo, *bin, *keep))
}

// result is one named check of the run.
type result struct {
	name string
	err  error
}

type report struct{ results []result }

func (r *report) check(name string, err error) bool {
	r.results = append(r.results, result{name, err})
	if err != nil {
		logf("FAIL %s:\n%s", name, indent(err.Error()))
		return false
	}
	logf("ok   %s", name)
	return true
}

func indent(s string) string {
	return "       " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n       ")
}

func (r *report) failed() int {
	n := 0
	for _, x := range r.results {
		if x.err != nil {
			n++
		}
	}
	return n
}

func run(repo, bin string, keep bool) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		logf("%v: stopping", s)
		cancel()
	}()

	work, err := os.MkdirTemp("", "clustertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ps := &procs{dir: filepath.Join(work, "logs")}
	_ = os.MkdirAll(ps.dir, 0o755)
	cp := &controlPlane{bin: bin, dir: work}
	rn := &runner{cp: cp, ps: ps}
	rep := &report{}

	err = stage(ctx, repo, work, cp, rn, rep)
	if err != nil {
		rep.check("the stage ran to its end", err)
	}
	rn.close()
	if err := ps.stopAll(); err != nil {
		rep.check("every process stopped", err)
	} else {
		logf("every process this run started has been stopped")
	}
	failed := rep.failed()
	if failed == 0 && !keep {
		_ = os.RemoveAll(work)
	} else {
		logf("logs and data kept in %s", work)
	}
	fmt.Printf("clustertest: %d passed, %d failed\n", len(rep.results)-failed, failed)
	if failed > 0 || ctx.Err() != nil {
		return 1
	}
	return 0
}

// imageDigest is what the functions are rendered with: by digest, as `make deploy` gives
// func, so Knative resolves nothing against a registry.
func imageDigest() string {
	return fmt.Sprintf("registry.invalid/shortener@sha256:%x", sha256.Sum256([]byte("shortener")))
}

// step is one of install.sh's steps: the objects it applies, then what it starts and waits for.
type step struct {
	name  string
	objs  []object
	after func(ctx context.Context) error
}

func stage(ctx context.Context, repo, work string, cp *controlPlane, rn *runner, rep *report) error {
	if err := setupNetwork(); err != nil {
		return err
	}
	t := filepath.Join(work, "tree")
	if err := tree(repo, t); err != nil {
		return err
	}
	p := func(s string) string { return filepath.Join(t, "platform", s) }
	var steps []*step
	add := func(name string, sources ...func() ([]object, error)) *step {
		s := &step{name: name}
		for _, src := range sources {
			objs, err := src()
			if err != nil {
				rep.check("render "+name, err)
				continue
			}
			s.objs = append(s.objs, objs...)
		}
		steps = append(steps, s)
		return s
	}
	file := func(path string) func() ([]object, error) {
		return func() ([]object, error) {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			rel, _ := filepath.Rel(t, path)
			return decode(rel, data)
		}
	}
	kust := func(dir string, edit func([]byte) []byte) func() ([]object, error) {
		return func() ([]object, error) {
			data, err := kustomize(dir)
			if err != nil {
				return nil, err
			}
			if edit != nil {
				data = edit(data)
			}
			rel, _ := filepath.Rel(t, dir)
			return decode("kustomize "+rel, data)
		}
	}
	add("CRDs from K3s (Traefik, helm-controller) and Prometheus Operator", func() ([]object, error) {
		data, err := extraCRDs()
		if err != nil {
			return nil, err
		}
		return decode("traefik + helm-controller + prometheus-operator CRDs", data)
	})
	serving := add("2/9 Knative Serving", file(p("knative-serving/upstream/serving-crds.yaml")), kust(p("knative-serving"), nil))
	kourier := add("3/9 Kourier (stand-in file; a KIngress stand-in instead of net-kourier)", kust(p("kourier"), nil))
	eventing := add("4/9 Knative Eventing", file(p("knative-eventing/upstream/eventing-crds.yaml")), kust(p("knative-eventing"), nil))
	cnpg := add("5/9 CloudNativePG (and a simulated instance manager per instance pod)", kust(p("cnpg-operator"), nil))
	shortener := add("6/9 namespace shortener, PostgreSQL, PgBouncer, Valkey", file(p("shortener/namespace.yaml")),
		func() ([]object, error) {
			return decode("install.sh valkey-auth", []byte(secretYAML("valkey-auth", map[string]string{"password": "clustertest"})))
		},
		func() ([]object, error) {
			return decode("install.sh shortener-admin-api-key", []byte(secretYAML("shortener-admin-api-key", map[string]string{"key": "shk_clustertest"})))
		},
		kust(p("shortener"), nil))
	pooler := add("7/9 secret shortener-db-pooler", func() ([]object, error) {
		// For the dry run; the real one is derived from CloudNativePG's app secret as install.sh does.
		return decode("install.sh shortener-db-pooler", []byte(secretYAML("shortener-db-pooler", map[string]string{"uri": "postgresql://x", "ro-uri": "postgresql://x"})))
	})
	events := add("8/9 Broker, Trigger, SinkBinding, PingSource", kust(filepath.Join(t, "eventing"), nil))
	routes := add("9/9 Traefik routes and PodMonitors",
		kust(p("traefik"), func(b []byte) []byte {
			return []byte(strings.ReplaceAll(string(b), "shortener.example.com", publicHost))
		}),
		kust(p("podmonitors"), nil))
	functions := add("make deploy: the six Knative Services from func.yaml", func() ([]object, error) {
		cmd := exec.Command(goCmd(), "run", "./cmd/manifests", "-image", imageDigest())
		cmd.Dir = filepath.Join(repo, "platform")
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go run ./cmd/manifests: %w", err)
		}
		return decode("make manifests", out)
	})
	if rep.failed() > 0 {
		return fmt.Errorf("the manifests did not render")
	}

	for _, s := range steps {
		for _, o := range s.objs {
			if o.u.GetKind() == "ServiceAccount" {
				cp.serviceAccounts = append(cp.serviceAccounts, o.u.GetNamespace()+"/"+o.u.GetName())
			}
		}
	}
	if err := cp.start(ctx, rn.ps); err != nil {
		return err
	}
	rep.check("control plane up: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok with 3 Ready nodes", nil)
	if err := cp.storageClass(ctx); err != nil {
		return err
	}
	pctx, stopProvisioning := context.WithCancel(ctx)
	defer stopProvisioning()
	go cp.provision(pctx)
	a, err := newApplier(cp)
	if err != nil {
		return err
	}
	// The two stand-ins (kingress.go, instancemanager.go) run in this process until the stage
	// ends, and are waited for: their listeners are closed before the processes are stopped.
	simCtx, stopSims := context.WithCancel(ctx)
	var sims sync.WaitGroup
	defer sims.Wait()
	defer stopSims()
	simulate := func(run func(context.Context)) {
		sims.Add(1)
		go func() { defer sims.Done(); run(simCtx) }()
	}
	kingress := &kourierStandIn{cp: cp, a: a}
	ims, err := newInstanceManagers(cp, a, rn.ps.dir)
	if err != nil {
		return err
	}

	// Every CRD first, dry run then for real; then the namespaces, which the dry runs need.
	var all, allCRDs, namespaces []object
	for _, s := range steps {
		c, ns, rest := splitCRDs(s.objs)
		allCRDs = append(allCRDs, c...)
		namespaces = append(namespaces, ns...)
		all = append(all, rest...)
	}
	allCRDs = dedupe(allCRDs)
	if !rep.check(fmt.Sprintf("server-side dry run of %d CRDs", len(allCRDs)), joinErrs(a.applyAll(ctx, allCRDs, true))) {
		return fmt.Errorf("CRDs rejected")
	}
	if !rep.check(fmt.Sprintf("apply %d CRDs, all Established", len(allCRDs)), joinErrs(append(a.applyAll(ctx, allCRDs, false), a.waitEstablished(ctx, allCRDs)))) {
		return fmt.Errorf("CRDs not applied")
	}
	if !rep.check(fmt.Sprintf("apply %d namespaces", len(dedupe(namespaces))), joinErrs(a.applyAll(ctx, dedupe(namespaces), false))) {
		return fmt.Errorf("namespaces not applied")
	}
	if !rep.check(fmt.Sprintf("server-side dry run of the other %d objects, in install.sh's order", len(all)), joinErrs(a.applyAll(ctx, all, true))) {
		return fmt.Errorf("objects rejected by the dry run")
	}

	// For real, step by step, starting each step's controllers.
	serving.after = func(ctx context.Context) error {
		for _, c := range servingComponents {
			if err := rn.start(ctx, c); err != nil {
				return err
			}
		}
		return rn.waitDeployments(ctx, "knative-serving", 3*time.Minute)
	}
	kourier.after = func(ctx context.Context) error {
		simulate(kingress.run)
		return rn.waitDeployments(ctx, "kourier-system", 2*time.Minute)
	}
	eventing.after = func(ctx context.Context) error {
		for _, c := range eventingComponents {
			if err := rn.start(ctx, c); err != nil {
				return err
			}
		}
		return rn.waitDeployments(ctx, "knative-eventing", 3*time.Minute)
	}
	cnpg.after = func(ctx context.Context) error {
		for _, c := range cnpgComponents {
			if err := rn.start(ctx, c); err != nil {
				return err
			}
		}
		simulate(ims.run)
		return rn.waitDeployments(ctx, "cnpg-system", 3*time.Minute)
	}
	// install.sh's waits: the Cluster Ready (here with simulated instance managers), then the
	// poolers and Valkey rolled out.
	shortener.after = func(ctx context.Context) error {
		if _, err := waitReady(ctx, a, "postgresql.cnpg.io/v1", "Cluster", ns, "shortener-db", 4*time.Minute); err != nil {
			return err
		}
		return rolledOut(ctx, cp)
	}
	pooler.objs = nil
	pooler.after = func(ctx context.Context) error { return poolerSecret(ctx, a) }
	events.after = func(ctx context.Context) error { return nil }
	routes.after = func(ctx context.Context) error { return nil }
	functions.after = func(ctx context.Context) error { return nil }
	for _, s := range steps[1:] {
		_, _, rest := splitCRDs(s.objs)
		errs := a.applyAll(ctx, rest, false)
		if s.after != nil && len(errs) == 0 {
			if err := s.after(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if !rep.check(fmt.Sprintf("%s: %d objects applied", s.name, len(rest)), joinErrs(errs)) && ctx.Err() != nil {
			return ctx.Err()
		}
	}

	for _, assert := range []func(){
		func() { assertServing(ctx, a, cp, functions.objs, rep) },
		func() { assertRoutes(ctx, a, cp, functions.objs, kingress, rep) },
		func() { assertEventing(ctx, a, cp, functions.objs, rep) },
		func() { assertCNPG(ctx, a, cp, ims, rep) },
		func() { negatives(ctx, a, all, rep) },
	} {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		assert()
	}
	return ctx.Err()
}

const publicHost = "short.example.org"

func secretYAML(name string, data map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: shortener\nstringData:\n", name)
	for k, v := range data {
		fmt.Fprintf(&b, "  %s: %q\n", k, v)
	}
	return b.String()
}

func joinErrs(errs []error) error {
	var msgs []string
	for _, e := range errs {
		if e != nil {
			msgs = append(msgs, e.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%d rejected or failed:\n%s", len(msgs), strings.Join(msgs, "\n"))
}
