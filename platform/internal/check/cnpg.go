package check

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	"github.com/cloudnative-pg/cloudnative-pg/pkg/postgres"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// What this project requires of its PostgreSQL cluster.
const (
	wantInstances   = 3
	wantStorage     = "5Gi"
	wantDatabase    = "shortener"
	wantOwner       = "shortener"
	wantTopologyKey = "kubernetes.io/hostname"
)

// ValidateCluster defaults a CloudNativePG Cluster with the operator's own SetDefaults and
// then checks what the operator's admission webhook (internal/webhook/v1, which cannot be
// imported from outside its module) would reject and what this project requires.
func ValidateCluster(in *cnpgv1.Cluster) error {
	c := in.DeepCopy()
	c.SetDefaults()
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	// Webhook: validateName.
	if msgs := validation.IsDNS1035Label(c.Name); len(msgs) > 0 || len(c.Name) > 50 {
		add("metadata.name %q: must be a DNS-1035 label of at most 50 characters", c.Name)
	}
	// Webhook: validateImageName (a tag or digest it can read a major version from).
	major, err := c.GetPostgresqlMajorVersion()
	switch {
	case err != nil:
		add("spec.imageName %q: %v", c.Spec.ImageName, err)
	case major < 13:
		add("spec.imageName %q: PostgreSQL %d is unsupported", c.Spec.ImageName, major)
	}
	// Webhook: validateStorageSize.
	if c.Spec.StorageConfiguration.Size == "" {
		add("spec.storage.size: required")
	} else if q, err := resource.ParseQuantity(c.Spec.StorageConfiguration.Size); err != nil {
		add("spec.storage.size %q: %v", c.Spec.StorageConfiguration.Size, err)
	} else if q.Cmp(resource.MustParse(wantStorage)) != 0 {
		add("spec.storage.size %s: want %s", q.String(), wantStorage)
	}
	// Webhook: validateAntiAffinity.
	switch c.Spec.Affinity.PodAntiAffinityType {
	case cnpgv1.PodAntiAffinityTypePreferred, cnpgv1.PodAntiAffinityTypeRequired:
	default:
		add("spec.affinity.podAntiAffinityType %q: must be preferred or required", c.Spec.Affinity.PodAntiAffinityType)
	}
	// Webhook: validateResources (request <= limit, shared_buffers fits in the request).
	req, lim := c.Spec.Resources.Requests, c.Spec.Resources.Limits
	if req.Cpu().Cmp(*lim.Cpu()) > 0 && !lim.Cpu().IsZero() {
		add("spec.resources: cpu request above limit")
	}
	if req.Memory().Cmp(*lim.Memory()) > 0 && !lim.Memory().IsZero() {
		add("spec.resources: memory request above limit")
	}
	params := in.Spec.PostgresConfiguration.Parameters
	if sb, ok := params["shared_buffers"]; ok {
		bytes, err := postgresBytes(sb)
		if err != nil {
			add("spec.postgresql.parameters.shared_buffers %q: %v", sb, err)
		} else if req.Memory().Value() < bytes {
			add("spec.resources.requests.memory %s: lower than shared_buffers %s", req.Memory(), sb)
		}
	}
	// Webhook: validateConfiguration (no fixed parameters, valid names).
	for k, v := range params {
		if !regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$`).MatchString(k) {
			add("spec.postgresql.parameters %q: not a parameter name", k)
		}
		if _, fixed := postgres.FixedConfigurationParameters[k]; fixed {
			add("spec.postgresql.parameters.%s=%s: fixed by the operator", k, v)
		}
	}
	// Webhook: validateMinSyncReplicas / validateMaxSyncReplicas.
	if c.Spec.MaxSyncReplicas >= c.Spec.Instances && c.Spec.MaxSyncReplicas > 0 {
		add("spec.maxSyncReplicas must be below spec.instances")
	}
	if c.Spec.MinSyncReplicas > c.Spec.MaxSyncReplicas {
		add("spec.minSyncReplicas must not exceed spec.maxSyncReplicas")
	}
	// Webhook: validatePrimaryUpdateStrategy.
	if s := c.Spec.PrimaryUpdateStrategy; s != "" && s != cnpgv1.PrimaryUpdateStrategySupervised &&
		s != cnpgv1.PrimaryUpdateStrategyUnsupervised {
		add("spec.primaryUpdateStrategy %q: invalid", s)
	}

	// This project's requirements.
	if c.Spec.Instances != wantInstances {
		add("spec.instances %d: want %d (one per node)", c.Spec.Instances, wantInstances)
	}
	if c.Spec.Affinity.EnablePodAntiAffinity != nil && !*c.Spec.Affinity.EnablePodAntiAffinity {
		add("spec.affinity.enablePodAntiAffinity: must stay on")
	}
	if c.Spec.Affinity.PodAntiAffinityType != cnpgv1.PodAntiAffinityTypeRequired {
		add("spec.affinity.podAntiAffinityType: want required, so no two instances share a node")
	}
	if c.Spec.Affinity.TopologyKey != wantTopologyKey {
		add("spec.affinity.topologyKey %q: want %s", c.Spec.Affinity.TopologyKey, wantTopologyKey)
	}
	if b := c.Spec.Bootstrap; b == nil || b.InitDB == nil || b.InitDB.Database != wantDatabase || b.InitDB.Owner != wantOwner {
		add("spec.bootstrap.initdb: want database %s owned by %s", wantDatabase, wantOwner)
	}
	for _, p := range []string{"max_connections", "shared_buffers"} {
		if _, ok := params[p]; !ok {
			add("spec.postgresql.parameters.%s: required", p)
		}
	}
	if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Cpu().IsZero() || lim.Memory().IsZero() {
		add("spec.resources: cpu and memory requests and limits are required")
	}
	if strings.HasSuffix(c.Spec.ImageName, ":latest") || !strings.Contains(c.Spec.ImageName, ":") {
		add("spec.imageName %q: pin a version", c.Spec.ImageName)
	}
	return errors.Join(errs...)
}

// postgresBytes reads a PostgreSQL memory setting: a number of 8kB pages or a number with
// a kB/MB/GB/TB unit.
func postgresBytes(v string) (int64, error) {
	units := map[string]int64{"kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
	for u, m := range units {
		if n, ok := strings.CutSuffix(v, u); ok {
			i, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
			return i * m, err
		}
	}
	i, err := strconv.ParseInt(v, 10, 64)
	return i * 8 << 10, err
}

// pgbouncerAllowed reads the PgBouncer parameters CloudNativePG's Pooler webhook accepts
// (AllowedPgbouncerGenericConfigurationParameters) from the operator's source in the module
// cache: the webhook package is internal to its module and cannot be imported.
func pgbouncerAllowed() (map[string]bool, error) {
	dir, err := ModuleDir("github.com/cloudnative-pg/cloudnative-pg")
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(filepath.Join(dir, "internal/webhook/v1/pooler_webhook.go"))
	if err != nil {
		return nil, err
	}
	start := strings.Index(string(src), "AllowedPgbouncerGenericConfigurationParameters = stringset.From([]string{")
	if start < 0 {
		return nil, errors.New("allowed PgBouncer parameters not found in the CloudNativePG source")
	}
	block := string(src[start:])
	block = block[:strings.Index(block, "})")]
	allowed := map[string]bool{}
	for _, m := range regexp.MustCompile(`"([a-z0-9_]+)"`).FindAllStringSubmatch(block, -1) {
		allowed[m[1]] = true
	}
	return allowed, nil
}

// ValidatePooler checks a Pooler as CloudNativePG's webhook does, plus this project's rules.
func ValidatePooler(p *cnpgv1.Pooler) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if p.Spec.Cluster.Name == "" {
		add("spec.cluster.name: required")
	}
	if p.Spec.Cluster.Name == p.Name {
		add("metadata.name: must differ from the cluster's")
	}
	if p.Spec.PgBouncer == nil {
		return errors.New("spec.pgbouncer: required")
	}
	switch p.Spec.Type {
	case cnpgv1.PoolerTypeRW, cnpgv1.PoolerTypeRO:
	default:
		add("spec.type %q: want rw or ro", p.Spec.Type)
	}
	switch p.Spec.PgBouncer.PoolMode {
	case cnpgv1.PgBouncerPoolModeSession, cnpgv1.PgBouncerPoolModeTransaction:
	default:
		add("spec.pgbouncer.poolMode %q: want session or transaction", p.Spec.PgBouncer.PoolMode)
	}
	allowed, err := pgbouncerAllowed()
	if err != nil {
		return err
	}
	for k, v := range p.Spec.PgBouncer.Parameters {
		if !allowed[k] {
			add("spec.pgbouncer.parameters.%s: not a parameter the operator accepts", k)
		}
		if strings.HasSuffix(k, "_conn") || strings.HasSuffix(k, "_size") || strings.HasSuffix(k, "_statements") {
			if _, err := strconv.Atoi(v); err != nil {
				add("spec.pgbouncer.parameters.%s=%q: want an integer", k, v)
			}
		}
	}
	if p.Spec.Instances == nil || *p.Spec.Instances < 2 {
		add("spec.instances: want at least 2, so a drained node does not cut the database off")
	}
	if p.Spec.Template == nil {
		add("spec.template: required (it carries the pgbouncer container's resources)")
	} else {
		found := false
		for _, c := range p.Spec.Template.Spec.Containers {
			if c.Name == "pgbouncer" {
				found = true
				if err := checkResources(c.Resources); err != nil {
					add("pgbouncer container: %v", err)
				}
			}
		}
		if !found {
			add("spec.template: no pgbouncer container to carry resources")
		}
	}
	return errors.Join(errs...)
}
