#!/usr/bin/env bash
# Redirect throughput of the all-in-one server on a hot key against a bare Go 302 server
# (the ceiling), under the same wrk load. Prints both and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench: wrk missing: apt-get install -y wrk"; exit 1; }
WRK_ARGS=${WRK_ARGS:--t2 -c64 -d10s}
mkdir -p bin
go build -o bin/shortener ./functions/cmd/shortener
go build -o bin/ceiling ./functions/cmd/ceiling
env_lines=$(go run ./functions/cmd/devdeps -db bench -fresh)
env $env_lines ${BENCH_ENV:-} LISTEN_ADDRESS=127.0.0.1:18180 VALKEY_KEY_PREFIX="bench$$:" ./bin/shortener >/dev/null 2>&1 &
api=$!
./bin/ceiling -addr 127.0.0.1:18181 &
ceil=$!
trap 'kill $api $ceil 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf localhost:18180/ready >/dev/null && break; sleep 0.2; done
uid=$(curl -sf -XPOST localhost:18180/users -H 'Content-Type: application/json' -d '{"username":"bench","email":"bench@example.com"}' | sed 's/.*"id":\([0-9]*\).*/\1/')
code=$(curl -sf -XPOST localhost:18180/urls -H 'Content-Type: application/json' -d "{\"user_id\":$uid,\"original_url\":\"https://example.com/\"}" | sed 's/.*"short_code":"\([^"]*\)".*/\1/')
curl -s -o /dev/null localhost:18180/$code # warm the cache
rps() { wrk $WRK_ARGS "$1" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}'; }
echo "== all-in-one redirect: GET /$code"; a=$(rps "http://127.0.0.1:18180/$code")
echo "== bare Go 302 ceiling"; c=$(rps "http://127.0.0.1:18181/$code")
awk -v a="$a" -v c="$c" 'BEGIN {printf "redirect %.0f req/s, ceiling %.0f req/s, ratio %.2f\n", a, c, a/c}'
