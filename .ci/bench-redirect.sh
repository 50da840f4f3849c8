#!/usr/bin/env bash
# Redirect throughput of the all-in-one server on a hot key against a bare Go 302 server
# (the ceiling), under the same wrk load. Prints both and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench: wrk missing: apt-get install -y wrk"; exit 1; }
WRK_ARGS=${WRK_ARGS:--t2 -c64 -d10s}
RUNS=${RUNS:-1}  # FUNCGO_CEILING=1 also measures a 302 served through func-go's runtime
mkdir -p bin
go build -o bin/shortener ./functions/cmd/shortener
go build -o bin/ceiling ./functions/cmd/ceiling
env_lines=$(go run ./functions/cmd/devdeps -db bench -fresh)
env $env_lines ${BENCH_ENV:-} LISTEN_ADDRESS=127.0.0.1:18180 VALKEY_KEY_PREFIX="bench$$:" ./bin/shortener >/dev/null 2>&1 &
api=$!
./bin/ceiling -addr 127.0.0.1:18181 &
ceil=$!
./bin/ceiling -funcgo -addr 127.0.0.1:18182 >/dev/null 2>&1 &
fceil=$!
trap 'kill $api $ceil $fceil 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf localhost:18180/ready >/dev/null && break; sleep 0.2; done
uid=$(curl -sf -XPOST localhost:18180/users -H 'Content-Type: application/json' -d '{"username":"bench","email":"bench@example.com"}' | sed 's/.*"id":\([0-9]*\).*/\1/')
code=$(curl -sf -XPOST localhost:18180/urls -H 'Content-Type: application/json' -d "{\"user_id\":$uid,\"original_url\":\"https://example.com/\"}" | sed 's/.*"short_code":"\([^"]*\)".*/\1/')
# Warm both servers up the same way. The redirect's key becomes hot only here: for 2 s
# after a write a process reads that key from Valkey, not its client-side cache.
WARMUP=${WARMUP:-5s}
wrk -t2 -c64 -d"$WARMUP" "http://127.0.0.1:18180/$code" >/dev/null
wrk -t2 -c64 -d"$WARMUP" "http://127.0.0.1:18181/$code" >/dev/null
[ -z "${FUNCGO_CEILING:-}" ] || wrk -t2 -c64 -d"$WARMUP" "http://127.0.0.1:18182/$code" >/dev/null
rps() { wrk $WRK_ARGS "$1" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}'; }
ratios=""
for run in $(seq "$RUNS"); do
  echo "== run $run: all-in-one redirect: GET /$code" >&2; a=$(rps "http://127.0.0.1:18180/$code")
  echo "== run $run: bare Go 302 ceiling" >&2; c=$(rps "http://127.0.0.1:18181/$code")
  awk -v r="$run" -v a="$a" -v c="$c" 'BEGIN {printf "run %d: redirect %.0f req/s, ceiling %.0f req/s, ratio %.3f\n", r, a, c, a/c}'
  if [ -n "${FUNCGO_CEILING:-}" ]; then # the same 302 served through func-go's runtime
    echo "== run $run: 302 through func-go" >&2; f=$(rps "http://127.0.0.1:18182/$code")
    awk -v a="$a" -v f="$f" -v c="$c" 'BEGIN {printf "       func-go 302 %.0f req/s (%.3f of the ceiling); redirect/func-go %.3f\n", f, f/c, a/f}'
  fi
  ratios="$ratios $(awk -v a="$a" -v c="$c" 'BEGIN {printf "%.3f", a/c}')"
done
echo "median ratio over $RUNS run(s): $(echo $ratios | tr ' ' '\n' | sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}')"
