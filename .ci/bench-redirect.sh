#!/usr/bin/env bash
# Redirect throughput of the all-in-one server on a hot key against a bare Go 302 server
# (the ceiling), under the same wrk load. Prints both and their ratio, RUNS times, and the
# median ratio. FUNCGO_CEILING=1 also measures a 302 served through func-go's runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/bench-lib.sh
go build -o bin/ceiling ./functions/cmd/ceiling
start_api 18180 "bench$$:" ${BENCH_ENV:-}
api=$api_pid
./bin/ceiling -addr 127.0.0.1:18181 &
ceil=$!
./bin/ceiling -funcgo -addr 127.0.0.1:18182 >/dev/null 2>&1 &
fceil=$!
trap 'kill $api $ceil $fceil 2>/dev/null || true' EXIT
code=$(make_url 18180)
wrk -t2 -c64 -d"$WARMUP" "http://127.0.0.1:18180/$code" >/dev/null
wrk -t2 -c64 -d"$WARMUP" "http://127.0.0.1:18181/$code" >/dev/null
[ -z "${FUNCGO_CEILING:-}" ] || wrk -t2 -c64 -d"$WARMUP" "http://127.0.0.1:18182/$code" >/dev/null
ratios=()
for run in $(seq "${RUNS:-1}"); do
  echo "== run $run: all-in-one redirect: GET /$code" >&2; a=$(rps "http://127.0.0.1:18180/$code")
  echo "== run $run: bare Go 302 ceiling" >&2; c=$(rps "http://127.0.0.1:18181/$code")
  awk -v r="$run" -v a="$a" -v c="$c" 'BEGIN {printf "run %d: redirect %.0f req/s, ceiling %.0f req/s, ratio %.3f\n", r, a, c, a/c}'
  if [ -n "${FUNCGO_CEILING:-}" ]; then # the same 302 served through func-go's runtime
    echo "== run $run: 302 through func-go" >&2; f=$(rps "http://127.0.0.1:18182/$code")
    awk -v a="$a" -v f="$f" -v c="$c" 'BEGIN {printf "       func-go 302 %.0f req/s (%.3f of the ceiling); redirect/func-go %.3f\n", f, f/c, a/f}'
  fi
  ratios+=("$(awk -v a="$a" -v c="$c" 'BEGIN {printf "%.3f", a/c}')")
done
echo "median ratio over ${#ratios[@]} run(s): $(median "${ratios[@]}")"
