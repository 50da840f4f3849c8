#!/usr/bin/env bash
# A/B of two settings of the all-in-one server on a hot-key redirect: two servers run side
# by side on one database and take turns under the same wrk load, PAIRS times; prints
# B's throughput over A's for each pair and their median. Comparing two servers directly
# cancels most of the machine's drift, which moves the ratio to the ceiling by ±0.06.
#   bash .ci/bench-ab.sh "LOG_LEVEL=debug" ""     # A: redirects logged at info, B: default
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 'A env' 'B env'   (e.g. \"GOGC=100\" \"\")"; exit 2; }
source .ci/bench-lib.sh
read -ra env_a <<<"$1"
read -ra env_b <<<"$2"
start_api 18280 "benchA$$:" "${env_a[@]}"
a=$api_pid
start_api 18281 "benchB$$:" "${env_b[@]}"
b=$api_pid
trap 'kill $a $b 2>/dev/null || true' EXIT
code_a=$(make_url 18280)
code_b=$(make_url 18281)
wrk -t2 -c64 -d"$WARMUP" "http://127.0.0.1:18280/$code_a" >/dev/null
wrk -t2 -c64 -d"$WARMUP" "http://127.0.0.1:18281/$code_b" >/dev/null
ratios=()
for pair in $(seq "${PAIRS:-7}"); do
  ra=$(rps "http://127.0.0.1:18280/$code_a" 2>/dev/null)
  rb=$(rps "http://127.0.0.1:18281/$code_b" 2>/dev/null)
  r=$(awk -v a="$ra" -v b="$rb" 'BEGIN {printf "%.3f", b/a}')
  ratios+=("$r")
  echo "pair $pair: A ($1) $ra req/s, B ($2) $rb req/s, B/A $r"
done
echo "median B/A over ${#ratios[@]} pair(s): $(median "${ratios[@]}")"
