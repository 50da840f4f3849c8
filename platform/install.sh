#!/usr/bin/env bash
# Installs the platform the URL shortener runs on, in order, onto a K3s cluster (see
# platform/README.md): Knative Serving + Kourier, Knative Eventing, CloudNativePG and the
# shortener namespace (PostgreSQL, PgBouncer, Valkey + Sentinel, secrets), the Broker and its
# Trigger, and Traefik's routes. Idempotent: running it again converges and changes nothing
# that is already right. The functions themselves are deployed afterwards by `make deploy`.
#
#   PUBLIC_HOST=short.example.org platform/install.sh
#
# Environment:
#   PUBLIC_HOST    the one public host name clients use (required)
#   GITHUB_MIRROR  base URL of a mirror of the release files (default https://github.com)
#   SKIP_DOWNLOAD  1: use the files already in platform/*/upstream/ (air-gapped installs)
#   TIMEOUT        how long each wait may take (default 600s)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
# shellcheck source=versions.env
source "$here/versions.env"

PUBLIC_HOST="${PUBLIC_HOST:-}"
SKIP_DOWNLOAD="${SKIP_DOWNLOAD:-0}"
TIMEOUT="${TIMEOUT:-600s}"
NS=shortener
# Server-side apply: the CRDs are too large for client-side apply's annotation, and a field
# manager of our own lets controllers keep the fields they own (webhook CA bundles, ...).
APPLY=(kubectl apply --server-side --force-conflicts --field-manager=shortener-platform)

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

# fetch COMPONENT FILE URL downloads a pinned release file into COMPONENT/upstream/FILE,
# once per URL.
fetch() {
  local dest="$here/$1/upstream/$2" url="$3"
  mkdir -p "$(dirname "$dest")"
  if [[ "$SKIP_DOWNLOAD" == 1 ]]; then
    [[ -s "$dest" ]] || die "SKIP_DOWNLOAD=1 but $dest is missing (see platform/AIRGAP.md)"
    return
  fi
  if [[ -s "$dest" && "$(cat "$dest.url" 2>/dev/null)" == "$url" ]]; then
    return
  fi
  echo "    $url"
  curl -fsSL --retry 3 -o "$dest.tmp" "$url"
  mv "$dest.tmp" "$dest"
  echo "$url" >"$dest.url"
}

# apply_kustomization DIR builds DIR with kubectl's kustomize and applies the result.
apply_kustomization() {
  kubectl kustomize "$1" | "${APPLY[@]}" -f -
}

# wait_deployments NAMESPACE waits until every Deployment there is Available.
wait_deployments() {
  kubectl -n "$1" wait --for=condition=Available deployment --all --timeout="$TIMEOUT"
}

# urlencode STRING percent-encodes everything but unreserved characters.
urlencode() {
  local LC_ALL=C s="$1" out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [a-zA-Z0-9.~_-]) out+="$c" ;;
      *) out+="$(printf '%%%02X' "'$c")" ;;
    esac
  done
  printf '%s' "$out"
}

secret_field() { # secret_field SECRET KEY
  kubectl -n "$NS" get secret "$1" -o "jsonpath={.data.$2}" | base64 -d
}

log "0/9 Preflight"
command -v kubectl >/dev/null || die "kubectl not found"
command -v curl >/dev/null || [[ "$SKIP_DOWNLOAD" == 1 ]] || die "curl not found"
[[ -n "$PUBLIC_HOST" ]] || die "set PUBLIC_HOST to the host name clients will use (e.g. short.example.org)"
server_minor="$(kubectl version -o json | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' | tail -n 1)"
[[ "${server_minor:-0}" -ge 34 ]] || die "Kubernetes 1.34+ needed (Knative $KNATIVE_VERSION); the server is 1.${server_minor:-?}"
ready_nodes="$(kubectl get nodes --no-headers | awk '$2 == "Ready"' | wc -l)"
echo "    $ready_nodes Ready node(s)"
[[ "$ready_nodes" -ge 3 ]] || [[ "${ALLOW_FEWER_NODES:-0}" == 1 ]] ||
  die "want 3 Ready nodes (PostgreSQL, Valkey and the Sentinels spread one per node); ALLOW_FEWER_NODES=1 to try anyway"
kubectl get crd ingressroutes.traefik.io >/dev/null 2>&1 ||
  die "Traefik's CRDs are missing: install K3s with its bundled Traefik (do not pass --disable traefik)"
default_sc="$(kubectl get storageclass -o jsonpath='{range .items[*]}{.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}{"\n"}{end}')"
[[ "$default_sc" == *true* ]] || die "no default StorageClass (K3s ships local-path)"

log "1/9 Release manifests (platform/versions.env)"
fetch knative-serving serving-crds.yaml "$KNATIVE_SERVING_CRDS_URL"
fetch knative-serving serving-core.yaml "$KNATIVE_SERVING_CORE_URL"
fetch kourier kourier.yaml "$KOURIER_URL"
fetch knative-eventing eventing-crds.yaml "$KNATIVE_EVENTING_CRDS_URL"
fetch knative-eventing eventing-core.yaml "$KNATIVE_EVENTING_CORE_URL"
fetch knative-eventing in-memory-channel.yaml "$KNATIVE_IMC_URL"
fetch knative-eventing mt-channel-broker.yaml "$KNATIVE_MT_BROKER_URL"
fetch cnpg-operator cnpg.yaml "$CNPG_URL"

log "2/9 Knative Serving $KNATIVE_VERSION"
"${APPLY[@]}" -f "$here/knative-serving/upstream/serving-crds.yaml"
kubectl wait --for=condition=Established --timeout="$TIMEOUT" -f "$here/knative-serving/upstream/serving-crds.yaml"
apply_kustomization "$here/knative-serving"
wait_deployments knative-serving

log "3/9 Kourier $KNATIVE_VERSION (ClusterIP, behind Traefik)"
apply_kustomization "$here/kourier"
wait_deployments kourier-system
wait_deployments knative-serving

log "4/9 Knative Eventing $KNATIVE_VERSION"
"${APPLY[@]}" -f "$here/knative-eventing/upstream/eventing-crds.yaml"
kubectl wait --for=condition=Established --timeout="$TIMEOUT" -f "$here/knative-eventing/upstream/eventing-crds.yaml"
apply_kustomization "$here/knative-eventing"
wait_deployments knative-eventing

log "5/9 CloudNativePG $CNPG_VERSION"
apply_kustomization "$here/cnpg-operator"
wait_deployments cnpg-system

log "6/9 Namespace $NS, secrets, PostgreSQL, PgBouncer, Valkey"
"${APPLY[@]}" -f "$here/shortener/namespace.yaml"
if ! kubectl -n "$NS" get secret valkey-auth >/dev/null 2>&1; then
  kubectl -n "$NS" create secret generic valkey-auth \
    --from-literal=password="$(head -c 24 /dev/urandom | od -An -vtx1 | tr -d ' \n')"
fi
# The admin API key (ADMIN_API_KEY of the functions, platform/README.md "Access control"):
# generated once, never replaced by a re-run. Shaped like the keys the API issues (shk_ and
# 24 random bytes, base64url), and passed on stdin so it never shows in a process list.
if ! kubectl -n "$NS" get secret shortener-admin-api-key >/dev/null 2>&1; then
  printf 'shk_%s' "$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')" |
    kubectl -n "$NS" create secret generic shortener-admin-api-key --from-file=key=/dev/stdin
fi
apply_kustomization "$here/shortener"
echo "    waiting for PostgreSQL (first start: initdb and two replicas, a few minutes)"
kubectl -n "$NS" wait --for=condition=Ready cluster.postgresql.cnpg.io/shortener-db --timeout=900s
kubectl -n "$NS" rollout status deployment/shortener-db-pooler-rw --timeout="$TIMEOUT"
kubectl -n "$NS" rollout status deployment/shortener-db-pooler-ro --timeout="$TIMEOUT"
kubectl -n "$NS" rollout status statefulset/valkey --timeout="$TIMEOUT"
kubectl -n "$NS" rollout status statefulset/valkey-sentinel --timeout="$TIMEOUT"

log "7/9 Connection strings through PgBouncer (secret shortener-db-pooler)"
# CloudNativePG owns the app user's password (secret shortener-db-app, whose uri points at
# the -rw service). The functions connect through the poolers instead, with the same user.
db_user="$(secret_field shortener-db-app username)"
db_pass="$(urlencode "$(secret_field shortener-db-app password)")"
db_name="$(secret_field shortener-db-app dbname)"
kubectl -n "$NS" create secret generic shortener-db-pooler \
  --from-literal=uri="postgresql://$db_user:$db_pass@shortener-db-pooler-rw.$NS:5432/$db_name" \
  --from-literal=ro-uri="postgresql://$db_user:$db_pass@shortener-db-pooler-ro.$NS:5432/$db_name" \
  --dry-run=client -o yaml | kubectl apply -f -

log "8/9 Broker, Trigger, SinkBinding, PingSource (eventing/)"
apply_kustomization "$repo/eventing"
kubectl -n "$NS" wait --for=condition=Ready broker/default --timeout="$TIMEOUT"

log "9/9 Traefik routes for $PUBLIC_HOST"
kubectl kustomize "$here/traefik" | sed "s/shortener\.example\.com/$PUBLIC_HOST/g" | "${APPLY[@]}" -f -
if kubectl get crd podmonitors.monitoring.coreos.com >/dev/null 2>&1; then
  apply_kustomization "$here/podmonitors"
else
  echo "    Prometheus Operator not installed: skipped platform/podmonitors (apply it once it is)"
fi

log "Platform ready. Next: make deploy (or make manifests | kubectl apply -f -), then
    curl -k https://$PUBLIC_HOST/health
The Trigger and the PingSource become Ready once the events-writer is deployed."
