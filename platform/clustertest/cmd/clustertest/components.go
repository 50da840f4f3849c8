package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// component is an upstream controller or webhook that runs here as a local process, with the
// environment and arguments its Deployment gives its container.
type component struct {
	name       string // process and binary name
	namespace  string
	deployment string
	container  string
	webhook    string // the Service the API server calls, if it serves admission webhooks
	port       int    // base of the ports given to it (webhook, metrics, profiling, probes)
	extraArgs  []string
	env        []string
	// listen is where it serves its webhook, when not on port (set by its own arguments).
	listen int
	// secretMount plays the kubelet for one secret volume (name: directory), written into the
	// component's private /run (so only with privateRun).
	secretMount [2]string
	// privateRun runs it with a tmpfs over /run in a mount namespace of its own, which ends
	// with it: CloudNativePG writes its webhook certificates to /run/secrets/cnpg.io/webhook
	// and reads its namespace (for leader election) where a pod has it.
	privateRun bool
}

// Knative Serving, Eventing and CloudNativePG, as install.sh's steps start them. Ports are
// moved apart (the same ones in every Deployment) through the components' own variables.
var (
	servingComponents = []component{
		{name: "serving-webhook", namespace: "knative-serving", deployment: "webhook", container: "webhook", webhook: "webhook", port: 8600},
		{name: "serving-controller", namespace: "knative-serving", deployment: "controller", container: "controller", port: 8610},
		{name: "serving-autoscaler", namespace: "knative-serving", deployment: "autoscaler", container: "autoscaler", port: 8620},
	}
	eventingComponents = []component{
		{name: "eventing-webhook", namespace: "knative-eventing", deployment: "eventing-webhook", container: "eventing-webhook", webhook: "eventing-webhook", port: 8630},
		{name: "eventing-controller", namespace: "knative-eventing", deployment: "eventing-controller", container: "eventing-controller", port: 8640},
		{name: "imc-controller", namespace: "knative-eventing", deployment: "imc-controller", container: "controller", webhook: "inmemorychannel-webhook", port: 8650},
		{name: "imc-dispatcher", namespace: "knative-eventing", deployment: "imc-dispatcher", container: "dispatcher", port: 8690},
		{name: "mt-broker-controller", namespace: "knative-eventing", deployment: "mt-broker-controller", container: "mt-broker-controller", port: 8660},
	}
	cnpgComponents = []component{
		{name: "cnpg-manager", namespace: "cnpg-system", deployment: "cnpg-controller-manager", container: "manager", webhook: "cnpg-webhook-service", port: 8670,
			listen: 9443, privateRun: true, secretMount: [2]string{"cnpg-webhook-cert", "/run/secrets/cnpg.io/webhook"}, extraArgs: []string{"--metrics-bind-address=127.0.0.1:8671"}},
	}
)

// runner starts components and the TCP forwarders that stand in for kube-proxy in front of
// their webhooks.
type runner struct {
	cp        *controlPlane
	ps        *procs
	listeners []net.Listener
}

// start reads the component's Deployment from the API server and runs its binary with that
// container's arguments and environment.
func (r *runner) start(ctx context.Context, c component) error {
	d, err := r.cp.kube.AppsV1().Deployments(c.namespace).Get(ctx, c.deployment, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	var ctr *corev1.Container
	for i := range d.Spec.Template.Spec.Containers {
		if d.Spec.Template.Spec.Containers[i].Name == c.container {
			ctr = &d.Spec.Template.Spec.Containers[i]
		}
	}
	if ctr == nil {
		return fmt.Errorf("%s: Deployment %s/%s has no container %q", c.name, c.namespace, c.deployment, c.container)
	}
	pod := c.deployment + "-clustertest"
	kc, err := r.cp.kubeconfigFor(c.namespace, d.Spec.Template.Spec.ServiceAccountName)
	if err != nil {
		return err
	}
	env := []string{"KUBECONFIG=" + kc}
	for _, e := range ctr.Env {
		v := e.Value
		if e.ValueFrom != nil {
			switch {
			case e.ValueFrom.FieldRef != nil:
				switch e.ValueFrom.FieldRef.FieldPath {
				case "metadata.namespace":
					v = c.namespace
				case "metadata.name":
					v = pod
				case "spec.serviceAccountName":
					v = d.Spec.Template.Spec.ServiceAccountName
				case "status.podIP", "status.hostIP":
					// Local, but not loopback: the autoscaler publishes it in an EndpointSlice.
					v = apiserverIP
				case "spec.nodeName":
					v = "node-1"
				default:
					continue
				}
			default:
				continue
			}
		}
		env = append(env, e.Name+"="+v)
	}
	webhookPort := c.port
	if c.listen != 0 {
		webhookPort = c.listen
	}
	env = append(env,
		"WEBHOOK_PORT="+strconv.Itoa(webhookPort),
		"METRICS_PROMETHEUS_PORT="+strconv.Itoa(c.port+1),
		"PROFILING_PORT="+strconv.Itoa(c.port+2),
		"CLUSTERTEST_PROBES_PORT="+strconv.Itoa(c.port+3),
		"HOSTNAME="+pod, "POD_NAME="+pod,
	)
	env = append(env, c.env...)
	args := append([]string{}, ctr.Args...)
	args = append(args, c.extraArgs...)
	binary := filepath.Join(r.cp.bin, c.name)
	if c.privateRun {
		args = append([]string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c",
			`mount -t tmpfs clustertest /run && mkdir -p /run/secrets/cnpg.io/webhook /run/secrets/kubernetes.io/serviceaccount && ` +
				`printf %s "$OPERATOR_NAMESPACE" >/run/secrets/kubernetes.io/serviceaccount/namespace && exec "$0" "$@"`, binary}, args...)
		binary = "/usr/bin/unshare"
	}
	dir := r.ps.dir
	if c.name == "cnpg-manager" {
		// The operator lists the architectures it can run instances on from the manager
		// binaries beside it in its image (operator/manager_<arch>, relative to its directory).
		dir = filepath.Join(r.cp.dir, "cnpg")
		if err := os.MkdirAll(filepath.Join(dir, "operator"), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(filepath.Join(r.cp.bin, c.name), filepath.Join(dir, "operator", "manager_"+runtime.GOARCH)); err != nil {
			return err
		}
	}
	p, err := r.ps.startIn(dir, c.name, binary, args, env)
	if err != nil {
		return err
	}
	if c.secretMount[0] != "" {
		go r.syncSecret(ctx, p, c.namespace, c.secretMount[0], c.secretMount[1])
	}
	if c.webhook != "" {
		return r.forward(ctx, c.namespace, c.webhook, webhookPort)
	}
	return nil
}

// syncSecret copies a Secret's keys into a directory of the process's own mount namespace
// (reached through /proc/PID/root), as the kubelet keeps a secret volume in sync.
func (r *runner) syncSecret(ctx context.Context, p *proc, ns, name, dir string) {
	root := fmt.Sprintf("/proc/%d/root", p.cmd.Process.Pid)
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.done:
			return
		case <-time.After(500 * time.Millisecond):
		}
		s, err := r.cp.kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		for k, v := range s.Data {
			path := filepath.Join(root, dir, k)
			if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, v) {
				continue
			}
			_ = os.WriteFile(path, v, 0o600)
		}
	}
}

// forward listens on every port of the Service's ClusterIP (local inside the namespace) and
// copies connections to the component on localhost: what kube-proxy would do for the API
// server's webhook calls.
func (r *runner) forward(ctx context.Context, ns, name string, to int) error {
	svc, err := r.cp.kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("webhook service %s/%s: %w", ns, name, err)
	}
	for _, p := range svc.Spec.Ports {
		if p.Port != 443 {
			continue
		}
		addr := net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(p.Port)))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("forwarder for %s/%s: %w", ns, name, err)
		}
		r.listeners = append(r.listeners, l)
		target := "127.0.0.1:" + strconv.Itoa(to)
		logf("forwarding %s (service %s/%s) to %s", addr, ns, name, target)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go pipe(c, target)
			}
		}()
	}
	return nil
}

func pipe(c net.Conn, target string) {
	defer c.Close()
	t, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return
	}
	defer t.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(t, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, t); done <- struct{}{} }()
	<-done
}

func (r *runner) close() {
	for _, l := range r.listeners {
		_ = l.Close()
	}
}

// waitDeployments waits until every Deployment in ns is Available (kwok plays the kubelet).
func (r *runner) waitDeployments(ctx context.Context, ns string, timeout time.Duration) error {
	var pending []string
	err := poll(ctx, timeout, "Deployments Available in "+ns, func() (bool, error) {
		if err := r.ps.exited(); err != nil {
			return false, err
		}
		l, err := r.cp.kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		pending = pending[:0]
		for _, d := range l.Items {
			if !deploymentAvailable(&d) {
				pending = append(pending, d.Name)
			}
		}
		return len(l.Items) > 0 && len(pending) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("%w (not Available: %v)", err, pending)
	}
	return nil
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return d.Status.ObservedGeneration >= d.Generation
		}
	}
	return false
}
