#!/usr/bin/env bash
# Builds the control plane's binaries once per go.sum into a cache outside the work tree and
# prints its directory. A later clone on the same machine (CI's) finds them there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
GO="${GO:-go}"
key="$(cat go.mod go.sum build.sh | sha256sum | cut -c1-16)"
cache="${CLUSTERTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shortener-clustertest}/$key"
# The driver is this module's own small command: rebuilt every run (go build skips the link
# when nothing changed), so editing it never costs the tools' build.
driver() {
  mkdir -p "$cache"
  nice -n 10 "$GO" build -trimpath -o "$cache/clustertest" ./cmd/clustertest
}
if [[ -f "$cache/.complete" ]]; then
  driver
  echo "$cache"
  exit 0
fi
mkdir -p "$cache"
kube=v1.36.3
# Without these the servers report v0.0.0-master and Knative refuses to start on them.
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $p.gitVersion=$kube -X $p.gitMajor=1 -X $p.gitMinor=36 -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
# Two upstream modules need a small change to run here, made in copies under a temporary
# directory (the module cache is read-only and overlays may not reach into it), which an
# alternate go.mod (-modfile) replaces them with. This module's go.mod is not touched.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
copy() { # copy MODULE DEST: a writable copy of a module from the module cache
  # On a fresh machine the module is not in the cache yet, and `go list -m` gives no Dir.
  "$GO" mod download "$1"
  cp -r "$("$GO" list -m -f '{{.Dir}}' "$1")" "$2"
  chmod -R u+w "$2"
}
# 1. Every Knative controller serves its health probes on a fixed :8080 (knative.dev/pkg
#    injection.HealthCheckDefaultPort), so several on one loopback would clash:
#    CLUSTERTEST_PROBES_PORT moves it.
copy knative.dev/pkg "$work/pkg"
hc="$work/pkg/injection/health_check.go"
sed -i -e 's|^\t"net/http"$|\t"net/http"\n\t"os"|' \
  -e 's|Addr: ":" + strconv.Itoa(port)}|Addr: ":" + strconv.Itoa(port)}\n\tif p := os.Getenv("CLUSTERTEST_PROBES_PORT"); p != "" {\n\t\tserver.Addr = ":" + p\n\t}|' "$hc"
grep -q CLUSTERTEST_PROBES_PORT "$hc" || { echo "build.sh: the health-port patch no longer applies to knative.dev/pkg" >&2; exit 1; }
# 2. Eventing v0.50.0 was built against client-go v0.35; v0.36's cache.Store adds two methods,
#    which two stores of its ApiServerSource adapter (linked into the controller) lack.
copy knative.dev/eventing "$work/eventing"
cat >"$work/eventing/pkg/adapter/apiserver/zz_clustertest_bookmark.go" <<'GO'
package apiserver

// Bookmark and LastStoreSyncResourceVersion are client-go v0.36's additions to cache.Store;
// a delegate that only forwards events keeps no resource version.
func (a *resourceDelegate) Bookmark(string) {}

// LastStoreSyncResourceVersion: see Bookmark.
func (a *resourceDelegate) LastStoreSyncResourceVersion() string { return "" }

// Bookmark passes the resource version on to the filtered store.
func (c *controllerFilter) Bookmark(rv string) { c.delegate.Bookmark(rv) }

// LastStoreSyncResourceVersion asks the filtered store.
func (c *controllerFilter) LastStoreSyncResourceVersion() string {
	return c.delegate.LastStoreSyncResourceVersion()
}
GO
# 3. The in-memory channel's dispatcher (which marks a channel's subscribers ready) listens on
#    a fixed :8080, as does Serving's autoscaler: the dispatcher moves to :8089 (no event is
#    sent to it here).
disp="$work/eventing/pkg/reconciler/inmemorychannel/dispatcher/controller.go"
sed -i 's|^\thttpPort      = 8080$|\thttpPort      = 8089|' "$disp"
grep -q 'httpPort      = 8089' "$disp" || { echo "build.sh: the dispatcher-port patch no longer applies" >&2; exit 1; }
cp go.mod "$work/go.mod"
cp go.sum "$work/go.sum"
"$GO" mod edit -modfile="$work/go.mod" -replace "knative.dev/pkg=$work/pkg" -replace "knative.dev/eventing=$work/eventing"
build() { # build NAME PACKAGE
  echo "clustertest: building $1 ($2)" >&2
  nice -n 10 "$GO" build -trimpath -modfile "$work/go.mod" -ldflags "$ld" -o "$cache/$1.tmp" "$2"
  mv "$cache/$1.tmp" "$cache/$1"
}
start=$SECONDS
build etcd go.etcd.io/etcd/server/v3
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
build kwok sigs.k8s.io/kwok/cmd/kwok
build serving-webhook knative.dev/serving/cmd/webhook
build serving-controller knative.dev/serving/cmd/controller
build serving-autoscaler knative.dev/serving/cmd/autoscaler
build eventing-webhook knative.dev/eventing/cmd/webhook
build eventing-controller knative.dev/eventing/cmd/controller
build imc-controller knative.dev/eventing/cmd/in_memory/channel_controller
build imc-dispatcher knative.dev/eventing/cmd/in_memory/channel_dispatcher
build mt-broker-controller knative.dev/eventing/cmd/mtchannel_broker
build cnpg-manager github.com/cloudnative-pg/cloudnative-pg/cmd/manager
driver
touch "$cache/.complete"
# About 1 GiB a set: keep this one and the one before it (another clone may be on it).
ls -dt "$(dirname "$cache")"/*/ 2>/dev/null | tail -n +3 | xargs -r rm -rf
echo "clustertest: built in $((SECONDS - start))s into $cache" >&2
echo "$cache"
