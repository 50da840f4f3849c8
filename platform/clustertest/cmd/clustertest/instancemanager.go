package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// simulatedLSN is the WAL position every simulated instance reports: no PostgreSQL runs, so
// there is no WAL. One value for all makes the replicas exactly caught up, which is all the
// operator's ordering of instances needs.
const simulatedLSN = "0/3000060"

// instanceManagers is a SIMULATION of CloudNativePG's instance manager, the process that runs
// PostgreSQL inside each instance pod. kwok runs no container, so without it the operator
// never hears from instance 1 and never creates instances 2 and 3. For every instance pod it
// serves what the operator reads from a pod, at the pod's own IP (local here: see
// setupNetwork) on the status port, over TLS with the cluster's server certificate when the
// pod's command asks for it, exactly as the operator's client checks it (against the
// cluster's CA). It answers /pg/status with a made-up but consistent state (the target
// primary is the primary, the others stream from it with no lag) and, as the real one does
// when it first starts as primary, records itself as the Cluster's current primary. Anything
// else the operator asks for is refused and reported, since answering it would mean
// pretending to have done real work (a backup, a binary upgrade).
type instanceManagers struct {
	cp      *controlPlane
	a       *applier
	hash    string // of the cnpg-manager binary: the image's instance manager is that binary
	version string // of the CloudNativePG module, which the instance manager reports as its own
	logDir  string
	errLog  *log.Logger // the servers' own errors (TLS handshakes), kept out of the test's output

	mu         sync.Mutex
	served     map[string]*simulatedInstance // by namespace/name
	requests   map[string]int                // answered, by path
	unexpected map[string]int                // refused, by method and path
	wg         sync.WaitGroup
}

// simulatedInstance is one pod's simulated instance manager.
type simulatedInstance struct {
	namespace, pod, cluster, ip, node string
	session                           string
	srv                               *http.Server
}

func newInstanceManagers(cp *controlPlane, a *applier, logDir string) (*instanceManagers, error) {
	f, err := os.Open(filepath.Join(cp.bin, "cnpg-manager"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	cmd := exec.Command(goCmd(), "list", "-m", "-f", "{{.Version}}", "github.com/cloudnative-pg/cloudnative-pg")
	cmd.Dir = moduleRoot
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m github.com/cloudnative-pg/cloudnative-pg: %w", err)
	}
	return &instanceManagers{
		cp: cp, a: a, logDir: logDir,
		hash:       fmt.Sprintf("%x", h.Sum(nil)),
		version:    strings.TrimPrefix(strings.TrimSpace(string(out)), "v"),
		served:     map[string]*simulatedInstance{},
		requests:   map[string]int{},
		unexpected: map[string]int{},
	}, nil
}

// run follows the instance pods until ctx ends, then stops every server it started and waits
// for them.
func (m *instanceManagers) run(ctx context.Context) {
	lf, err := os.OpenFile(filepath.Join(m.logDir, "simulated-instance-manager.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		logf("simulated CNPG instance manager: %v", err)
		return
	}
	m.errLog = log.New(lf, "", log.LstdFlags)
	defer func() {
		m.mu.Lock()
		all := m.served
		m.served = map[string]*simulatedInstance{}
		m.mu.Unlock()
		for _, s := range all {
			m.stop(s)
		}
		m.wg.Wait()
		_ = lf.Close()
	}()
	for {
		m.sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// sync starts a server for each new running instance pod, stops those of pods gone, and
// plays the primary's first start.
func (m *instanceManagers) sync(ctx context.Context) {
	pods, err := m.cp.kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: "cnpg.io/podRole=instance"})
	if err != nil {
		return
	}
	// Servers are stopped outside the lock: a request being answered takes it too.
	var gone []*simulatedInstance
	m.mu.Lock()
	live := map[string]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		key := p.Namespace + "/" + p.Name
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			continue
		}
		live[key] = true
		if s := m.served[key]; s != nil && s.ip == p.Status.PodIP {
			continue
		} else if s != nil {
			gone = append(gone, s)
			delete(m.served, key)
		}
		s, err := m.start(p)
		if err != nil {
			logf("simulated CNPG instance manager for %s: %v", key, err)
			continue
		}
		m.served[key] = s
	}
	for key, s := range m.served {
		if !live[key] {
			gone = append(gone, s)
			delete(m.served, key)
		}
	}
	clusters := map[[2]string]bool{} // (namespace, name) of each Cluster with a served pod
	for _, s := range m.served {
		clusters[[2]string{s.namespace, s.cluster}] = true
	}
	served := map[string]bool{}
	for k := range m.served {
		served[k] = true
	}
	m.mu.Unlock()
	for _, s := range gone {
		m.stop(s)
	}
	for c := range clusters {
		m.markFirstPrimary(ctx, c[0], c[1], served)
	}
}

// markFirstPrimary does what the instance manager of a cluster's first primary does once
// PostgreSQL is up: with no current primary yet, the target primary records itself as current.
func (m *instanceManagers) markFirstPrimary(ctx context.Context, ns, cluster string, served map[string]bool) {
	c, err := m.a.get(ctx, "postgresql.cnpg.io/v1", "Cluster", ns, cluster)
	if err != nil {
		return
	}
	target := str(c, "status", "targetPrimary")
	if target == "" || str(c, "status", "currentPrimary") != "" || !served[ns+"/"+target] {
		return
	}
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{
		"currentPrimary":          target,
		"currentPrimaryTimestamp": time.Now().UTC().Format(metav1.RFC3339Micro),
	}})
	r, err := m.a.resource(c)
	if err != nil {
		return
	}
	if _, err := r.Patch(ctx, cluster, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "clustertest-simulated-instance-manager"}, "status"); err == nil {
		logf("simulated CNPG instance manager: %s is the first primary of Cluster %s/%s (status.currentPrimary set, as its instance manager would)", target, ns, cluster)
	}
}

// start listens on the pod's IP and the instance manager's status port.
func (m *instanceManagers) start(p *corev1.Pod) (*simulatedInstance, error) {
	s := &simulatedInstance{namespace: p.Namespace, pod: p.Name, cluster: p.Labels["cnpg.io/cluster"], ip: p.Status.PodIP, node: p.Spec.NodeName, session: newSessionID()}
	if s.cluster == "" {
		return nil, errors.New("no cnpg.io/cluster label")
	}
	l, err := net.Listen("tcp", net.JoinHostPort(s.ip, "8000"))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pg/status", func(w http.ResponseWriter, r *http.Request) { m.status(w, r, s) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		what := r.Method + " " + r.URL.Path
		m.mu.Lock()
		m.unexpected[what]++
		first := m.unexpected[what] == 1
		m.mu.Unlock()
		if first {
			logf("simulated CNPG instance manager of %s/%s: refused %s (not simulated)", s.namespace, s.pod, what)
		}
		http.Error(w, "not simulated by clustertest", http.StatusNotImplemented)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: m.errLog}
	tlsOn := statusPortTLS(p)
	if tlsOn {
		s.srv.TLSConfig = &tls.Config{
			MinVersion: tls.VersionTLS13,
			// The server certificate CloudNativePG made for the cluster, read when a
			// client connects, as the instance manager keeps it in sync with its secret.
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return m.serverCert(s) },
			// As the instance manager: a client certificate is asked for, not required
			// (only the endpoints not simulated here check it).
			ClientAuth: tls.RequestClientCert,
		}
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if tlsOn {
			_ = s.srv.ServeTLS(l, "", "")
		} else {
			_ = s.srv.Serve(l)
		}
	}()
	scheme := "http"
	if tlsOn {
		scheme = "https"
	}
	logf("simulated CNPG instance manager for pod %s/%s serving %s://%s:8000/pg/status", s.namespace, s.pod, scheme, s.ip)
	return s, nil
}

func (m *instanceManagers) stop(s *simulatedInstance) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

// statusPortTLS is the operator's own rule for the scheme it uses: the postgres container's
// command carries --status-port-tls.
func statusPortTLS(p *corev1.Pod) bool {
	for _, c := range p.Spec.Containers {
		if c.Name == "postgres" {
			return slices.Contains(c.Command, "--status-port-tls")
		}
	}
	return false
}

func (m *instanceManagers) serverCert(s *simulatedInstance) (*tls.Certificate, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := m.a.get(ctx, "postgresql.cnpg.io/v1", "Cluster", s.namespace, s.cluster)
	if err != nil {
		return nil, err
	}
	name := str(c, "status", "certificates", "serverTLSSecret")
	if name == "" {
		name = s.cluster + "-server"
	}
	sec, err := m.cp.kube.CoreV1().Secrets(s.namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return &cert, nil
}

// pgStatus is the part of CloudNativePG's postgres.PostgresqlStatus (pkg/postgres/status.go,
// the JSON of /pg/status) that the simulation fills; the JSON names are the operator's.
type pgStatus struct {
	CurrentLsn                 string           `json:"currentLsn,omitempty"`
	ReceivedLsn                string           `json:"receivedLsn,omitempty"`
	ReplayLsn                  string           `json:"replayLsn,omitempty"`
	SystemID                   string           `json:"systemID"`
	IsPrimary                  bool             `json:"isPrimary"`
	ReplayPaused               bool             `json:"replayPaused"`
	PendingRestart             bool             `json:"pendingRestart"`
	PendingRestartForDecrease  bool             `json:"pendingRestartForDecrease"`
	IsWalReceiverActive        bool             `json:"isWalReceiverActive"`
	IsPgRewindRunning          bool             `json:"isPgRewindRunning"`
	MightBeUnavailable         bool             `json:"mightBeUnavailable"`
	Node                       string           `json:"node"`
	Pod                        map[string]any   `json:"pod"`
	LoadedConfigurationHash    string           `json:"loadedConfigurationHash,omitempty"`
	TimeLineID                 int              `json:"timeLineID,omitempty"`
	ReplicationInfo            []map[string]any `json:"replicationInfo,omitempty"`
	ExecutableHash             string           `json:"executableHash"`
	InstanceManagerVersion     string           `json:"instanceManagerVersion"`
	InstanceArch               string           `json:"instanceArch"`
	IsInstanceManagerUpgrading bool             `json:"isInstanceManagerUpgrading"`
	SessionID                  string           `json:"sessionID"`
}

// status answers /pg/status for one pod. Every value that would come from PostgreSQL is made
// up: the system identifier (one per Cluster, from its UID), the LSNs and the timeline; the
// configuration hash is of the Cluster's spec.postgresql, which every instance would have
// written the same way.
func (m *instanceManagers) status(w http.ResponseWriter, r *http.Request, s *simulatedInstance) {
	c, err := m.a.get(r.Context(), "postgresql.cnpg.io/v1", "Cluster", s.namespace, s.cluster)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	sysID := fnv.New64a()
	sysID.Write([]byte(c.GetUID()))
	pgSpec, _, _ := unstructured.NestedMap(c.Object, "spec", "postgresql")
	cfg, _ := json.Marshal(pgSpec)
	st := pgStatus{
		SystemID:                fmt.Sprintf("%d", sysID.Sum64()>>1),
		IsPrimary:               str(c, "status", "targetPrimary") == s.pod,
		Node:                    s.node,
		Pod:                     map[string]any{"metadata": map[string]any{"name": s.pod}},
		LoadedConfigurationHash: fmt.Sprintf("%x", sha256.Sum256(cfg)),
		TimeLineID:              1,
		ExecutableHash:          m.hash,
		InstanceManagerVersion:  m.version,
		InstanceArch:            runtime.GOARCH,
		SessionID:               s.session,
	}
	if st.IsPrimary {
		st.CurrentLsn = simulatedLSN
		m.mu.Lock()
		var replicas []string
		for _, o := range m.served {
			if o.namespace == s.namespace && o.cluster == s.cluster && o.pod != s.pod {
				replicas = append(replicas, o.pod)
			}
		}
		m.mu.Unlock()
		sort.Strings(replicas)
		for _, p := range replicas {
			st.ReplicationInfo = append(st.ReplicationInfo, map[string]any{
				"applicationName": p, "state": "streaming", "syncState": "async",
				"receivedLsn": simulatedLSN, "writeLsn": simulatedLSN, "flushLsn": simulatedLSN, "replayLsn": simulatedLSN,
			})
		}
	} else {
		st.ReceivedLsn, st.ReplayLsn, st.IsWalReceiverActive = simulatedLSN, simulatedLSN, true
	}
	body, err := json.Marshal(st)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	m.mu.Lock()
	m.requests[r.URL.Path]++
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// summary is what the simulation answered and refused, for the test's output.
func (m *instanceManagers) summary() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var parts []string
	for p, n := range m.requests {
		parts = append(parts, fmt.Sprintf("%d × %s answered", n, p))
	}
	for p, n := range m.unexpected {
		parts = append(parts, fmt.Sprintf("%d × %s refused", n, p))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "no requests"
	}
	return strings.Join(parts, ", ")
}

func newSessionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
