package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	apiserverIP = "192.0.2.10" // TEST-NET-1, on loopback inside the namespace only
	serviceCIDR = "10.96.0.0/16"
	podCIDR     = "10.244.0.0/16"
	adminToken  = "clustertest-admin-token"
	nodeCount   = 3
)

// controlPlane is etcd, the API server, the controller manager, the scheduler and kwok.
type controlPlane struct {
	bin, dir   string
	kubeconfig string
	config     *rest.Config
	kube       *kubernetes.Clientset
	// serviceAccounts ("namespace/name") get static tokens, so the controllers run as
	// their own ServiceAccounts, under the release's RBAC, as in a cluster.
	serviceAccounts []string
}

func saToken(ns, name string) string { return "clustertest-sa-" + ns + "-" + name }

// kubeconfigFor writes a kubeconfig with a ServiceAccount's token and returns its path.
func (cp *controlPlane) kubeconfigFor(ns, sa string) (string, error) {
	path := filepath.Join(cp.dir, "kubeconfig-"+ns+"-"+sa)
	return path, os.WriteFile(path, []byte(kubeconfigText(filepath.Join(cp.dir, "ca.crt"), saToken(ns, sa))), 0o600)
}

func kubeconfigText(ca, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: clustertest
  cluster: {server: "https://127.0.0.1:6443", certificate-authority: %q}
users:
- name: user
  user: {token: %q}
contexts:
- name: clustertest
  context: {cluster: clustertest, user: user}
current-context: clustertest
`, ca, token)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// certs writes a CA, the API server's serving certificate and the service-account key.
func (cp *controlPlane) certs() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "clustertest-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srv := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(apiserverIP), net.ParseIP("10.96.0.1")},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	caKeyDER, _ := x509.MarshalECPrivateKey(caKey)
	srvKeyDER, _ := x509.MarshalECPrivateKey(srvKey)
	saPub, _ := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	for _, w := range []struct {
		file, typ string
		der       []byte
	}{
		{"ca.crt", "CERTIFICATE", caDER}, {"ca.key", "EC PRIVATE KEY", caKeyDER},
		{"apiserver.crt", "CERTIFICATE", srvDER}, {"apiserver.key", "EC PRIVATE KEY", srvKeyDER},
		{"sa.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)}, {"sa.pub", "PUBLIC KEY", saPub},
	} {
		if err := writePEM(filepath.Join(cp.dir, w.file), w.typ, w.der); err != nil {
			return err
		}
	}
	tokens := adminToken + ",admin,admin,system:masters\n"
	for _, sa := range cp.serviceAccounts {
		ns, name, _ := strings.Cut(sa, "/")
		tokens += fmt.Sprintf("%s,system:serviceaccount:%s:%s,sa-%s-%s,\"system:serviceaccounts,system:serviceaccounts:%s,system:authenticated\"\n", saToken(ns, name), ns, name, ns, name, ns)
	}
	if err := os.WriteFile(filepath.Join(cp.dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return err
	}
	kc := kubeconfigText(filepath.Join(cp.dir, "ca.crt"), adminToken)
	cp.kubeconfig = filepath.Join(cp.dir, "kubeconfig")
	return os.WriteFile(cp.kubeconfig, []byte(kc), 0o600)
}

// start brings up the control plane and waits until the API server answers and the nodes are
// Ready.
func (cp *controlPlane) start(ctx context.Context, ps *procs) error {
	if err := cp.certs(); err != nil {
		return err
	}
	d := func(f string) string { return filepath.Join(cp.dir, f) }
	b := func(f string) string { return filepath.Join(cp.bin, f) }
	if _, err := ps.start("etcd", b("etcd"), []string{
		"--data-dir=" + d("etcd"), "--name=clustertest",
		"--listen-client-urls=http://127.0.0.1:2379", "--advertise-client-urls=http://127.0.0.1:2379",
		"--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380",
		"--initial-cluster=clustertest=http://127.0.0.1:2380", "--unsafe-no-fsync", "--log-level=warn",
	}, nil); err != nil {
		return err
	}
	if _, err := ps.start("kube-apiserver", b("kube-apiserver"), []string{
		"--etcd-servers=http://127.0.0.1:2379", "--secure-port=6443", "--bind-address=0.0.0.0",
		"--advertise-address=" + apiserverIP, "--service-cluster-ip-range=" + serviceCIDR,
		"--tls-cert-file=" + d("apiserver.crt"), "--tls-private-key-file=" + d("apiserver.key"),
		"--client-ca-file=" + d("ca.crt"), "--token-auth-file=" + d("tokens.csv"),
		"--authorization-mode=Node,RBAC", "--allow-privileged=true",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + d("sa.pub"), "--service-account-signing-key-file=" + d("sa.key"),
		"--cert-dir=" + d("apiserver-certs"), "--profiling=false", "--v=1",
	}, nil); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 200, 400
	cp.config = cfg
	cp.kube = kubernetes.NewForConfigOrDie(cfg)
	if err := poll(ctx, 90*time.Second, "the API server to answer /readyz", func() (bool, error) {
		if err := ps.exited(); err != nil {
			return false, err
		}
		body, err := cp.kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && strings.TrimSpace(string(body)) == "ok", nil
	}); err != nil {
		return err
	}
	v, err := cp.kube.Discovery().ServerVersion()
	if err != nil {
		return err
	}
	logf("API server %s is ready", v.GitVersion)
	if _, err := ps.start("kube-controller-manager", b("kube-controller-manager"), []string{
		"--kubeconfig=" + cp.kubeconfig, "--authentication-kubeconfig=" + cp.kubeconfig, "--authorization-kubeconfig=" + cp.kubeconfig,
		"--service-account-private-key-file=" + d("sa.key"), "--root-ca-file=" + d("ca.crt"),
		"--cluster-signing-cert-file=" + d("ca.crt"), "--cluster-signing-key-file=" + d("ca.key"),
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=10257",
		"--use-service-account-credentials=false", "--service-cluster-ip-range=" + serviceCIDR,
		// kwok renews node leases, but a busy two-core machine must never see a node go NotReady.
		"--node-monitor-grace-period=1h", "--controllers=*,-nodeipam", "--v=1",
	}, nil); err != nil {
		return err
	}
	if _, err := ps.start("kube-scheduler", b("kube-scheduler"), []string{
		"--kubeconfig=" + cp.kubeconfig, "--authentication-kubeconfig=" + cp.kubeconfig, "--authorization-kubeconfig=" + cp.kubeconfig,
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=10259", "--v=1",
	}, nil); err != nil {
		return err
	}
	stages, err := kwokStages()
	if err != nil {
		return err
	}
	if err := os.WriteFile(d("kwok.yaml"), stages, 0o644); err != nil {
		return err
	}
	if _, err := ps.start("kwok", b("kwok"), []string{
		"--config=" + d("kwok.yaml"), "--kubeconfig=" + cp.kubeconfig,
		"--manage-all-nodes=true", "--cidr=" + podCIDR, "--node-ip=" + apiserverIP,
		"--server-address=127.0.0.1:10247",
	}, nil); err != nil {
		return err
	}
	for i := 1; i <= nodeCount; i++ {
		if err := cp.createNode(ctx, fmt.Sprintf("node-%d", i)); err != nil {
			return err
		}
	}
	return poll(ctx, 90*time.Second, "3 Ready nodes", func() (bool, error) {
		if err := ps.exited(); err != nil {
			return false, err
		}
		nodes, err := cp.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == nodeCount, nil
	})
}

// createNode registers a node for kwok to pretend to be the kubelet of: no container runs.
func (cp *controlPlane) createNode(ctx context.Context, name string) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("128Gi"),
		corev1.ResourcePods:   resource.MustParse("250"),
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok", "topology.kubernetes.io/zone": "zone-" + name},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	_, err := cp.kube.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	return err
}

// kwokStages reads kwok's own "fast" stages (nodes Ready at once, pods Running and Ready once
// scheduled, Job pods Succeeded) from its module.
func kwokStages() ([]byte, error) {
	dir, err := moduleDir("sigs.k8s.io/kwok")
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, f := range []string{"node/fast/node-initialize.yaml", "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml"} {
		data, err := os.ReadFile(filepath.Join(dir, "kustomize/stage", f))
		if err != nil {
			return nil, err
		}
		out = append(out, "---\n"...)
		out = append(out, data...)
	}
	return out, nil
}

// moduleDir is where the Go toolchain keeps a module of this one's go.mod (or one fetched by
// name@version), for the upstream YAML shipped inside modules.
func moduleDir(mod string) (string, error) {
	args := []string{"list", "-m", "-f", "{{.Dir}}", mod}
	if strings.Contains(mod, "@") {
		args = []string{"mod", "download", "-json", mod}
	}
	cmd := exec.Command(goCmd(), args...)
	cmd.Dir = moduleRoot
	if strings.Contains(mod, "@") {
		// Outside any module, so that fetching it leaves this module's go.sum alone.
		cmd.Dir = os.TempDir()
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	s := strings.TrimSpace(string(out))
	if strings.Contains(mod, "@") {
		i := strings.Index(s, `"Dir": "`)
		if i < 0 {
			return "", fmt.Errorf("go mod download %s: no Dir in %s", mod, s)
		}
		s = s[i+len(`"Dir": "`):]
		s = s[:strings.Index(s, `"`)]
	}
	if s == "" {
		return "", fmt.Errorf("module %s is not downloaded", mod)
	}
	return s, nil
}

func goCmd() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// poll calls f every 500ms until it returns true, an error, or the timeout passes.
func poll(ctx context.Context, timeout time.Duration, what string, f func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := f()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}
