#!/usr/bin/env bash
# A/B of two settings of the all-in-one server on a hot-key redirect: two servers run side
# by side on one database and take turns under the same wrk load (A first in odd pairs, B
# first in even ones), PAIRS times; prints B's throughput over A's for each pair and their
# median. Comparing two servers directly cancels most of the machine's drift, which moves
# the ratio to the ceiling by ±0.06.
#   bash .ci/bench-ab.sh "LOG_LEVEL=debug" ""     # A: redirects logged at info, B: default
# A and B may also differ by build (BIN_A, BIN_B: default the current bin/shortener) and by
# the link each one redirects (OPTS_A, OPTS_B: JSON members added to its POST /urls body):
#   BIN_A=/tmp/old BIN_B=/tmp/new bash .ci/bench-ab.sh "" ""
#   OPTS_B='"expires_at":"2099-01-01T00:00:00Z"' bash .ci/bench-ab.sh "" ""
# Each pair also prints the CPU each side spent per request (its server process and the
# bench database's PostgreSQL backends, while the other side idles), which a busy machine
# moves less than throughput, and the share of its clicks it dropped: a server whose click
# writer falls behind does less work per redirect, so throughputs compare only while
# neither drops any. Each measurement starts once both servers hold no unwritten clicks
# (at most SETTLE seconds), so neither runs while the other's backlog goes into PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: [BIN_A=… BIN_B=… OPTS_A=… OPTS_B=…] $0 'A env' 'B env'   (e.g. \"GOGC=100\" \"\")"; exit 2; }
source .ci/bench-lib.sh
read -ra env_a <<<"$1"
read -ra env_b <<<"$2"
bin_a=${BIN_A:-./bin/shortener}
bin_b=${BIN_B:-./bin/shortener}
api_bin=$bin_a start_api 18280 "benchA$$:" "${env_a[@]}"
a=$api_pid
api_bin=$bin_b start_api 18281 "benchB$$:" "${env_b[@]}"
b=$api_pid
trap 'kill $a $b 2>/dev/null || true' EXIT
code_a=$(make_url 18280 "${OPTS_A:-}")
code_b=$(make_url 18281 "${OPTS_B:-}")
# A refused body (or a link that does not redirect) would otherwise be measured as 404s.
for side in "A 18280 $code_a" "B 18281 $code_b"; do
  read -r name port code <<<"$side"
  status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/$code")
  [ -n "$code" ] && [ "$status" = 302 ] || { echo "bench-ab: $name's link /$code answers $status, not 302"; exit 1; }
done
label_a=$(echo "$1${BIN_A:+ $bin_a}${OPTS_A:+ $OPTS_A}" | sed 's/^ *//')
label_b=$(echo "$2${BIN_B:+ $bin_b}${OPTS_B:+ $OPTS_B}" | sed 's/^ *//')

db_url=$(printf '%s\n' $bench_env_lines | sed -n 's/^DATABASE_URL=//p')
tick_us=$((1000000 / $(getconf CLK_TCK)))
# ticks PID... prints the CPU time (user and system, in clock ticks) the processes used.
ticks() { [ $# -gt 0 ] || { echo 0; return; }; cat "${@/#//proc/}" 2>/dev/null | sed 's/.*) //' | awk '{s += $12 + $13} END {print s + 0}'; }
# pg_pids prints the PostgreSQL backends of the bench database (none without psql).
pg_pids() {
  command -v psql >/dev/null || return 0
  psql -XAt "$db_url" -c "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()" 2>/dev/null | sed 's|$|/stat|'
}
# lost PORT prints how many clicks the server on PORT has dropped.
lost() { curl -s "localhost:$1/metrics" | awk '/^shortener_clicks_lost_total / {n = $2} END {printf "%d", n + 0}'; }
# settle waits until both servers hold no unwritten clicks, at most SETTLE (30) seconds.
settle() {
  local held
  for _ in $(seq $((${SETTLE:-30} * 5))); do
    held=$(for port in 18280 18281; do curl -s "localhost:$port/metrics"; done |
      awk '/^shortener_clicks_buffered / {n += $2} END {printf "%d", n + 0}')
    [ "$held" = 0 ] && return
    sleep 0.2
  done
}
# measure PORT CODE PID runs one wrk measurement; sets rps, cpu (server and PostgreSQL µs
# per request) and drop (per cent of the requests' clicks dropped).
measure() {
  local out s0 p0 l0 s1 p1 l1 n pids
  settle
  pids=$(pg_pids)
  s0=$(ticks "$3/stat") p0=$(ticks $pids) l0=$(lost "$1")
  out=$(wrk $WRK_ARGS "http://127.0.0.1:$1/$2")
  s1=$(ticks "$3/stat") p1=$(ticks $pids) l1=$(lost "$1")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu=$(awk -v s=$((s1 - s0)) -v p=$((p1 - p0)) -v n="$n" -v t="$tick_us" 'BEGIN {printf "%.1f+%.1f", s*t/n, p*t/n}')
  drop=$(awk -v l=$((l1 - l0)) -v n="$n" 'BEGIN {printf "%.1f", 100*l/n}')
}

wrk -t2 -c64 -d"$WARMUP" "http://127.0.0.1:18280/$code_a" >/dev/null
wrk -t2 -c64 -d"$WARMUP" "http://127.0.0.1:18281/$code_b" >/dev/null
ratios=() cpu_a=() cpu_b=()
for pair in $(seq "${PAIRS:-7}"); do
  # Going second was worth some per cent on a busy machine: the order alternates.
  if ((pair % 2)); then
    measure 18280 "$code_a" "$a"; ra=$rps ca=$cpu da=$drop
    measure 18281 "$code_b" "$b"; rb=$rps cb=$cpu db=$drop
  else
    measure 18281 "$code_b" "$b"; rb=$rps cb=$cpu db=$drop
    measure 18280 "$code_a" "$a"; ra=$rps ca=$cpu da=$drop
  fi
  r=$(awk -v a="$ra" -v b="$rb" 'BEGIN {printf "%.3f", b/a}')
  ratios+=("$r") cpu_a+=("$(awk -F+ '{print $1 + $2}' <<<"$ca")") cpu_b+=("$(awk -F+ '{print $1 + $2}' <<<"$cb")")
  echo "pair $pair: A ($label_a) $ra req/s, B ($label_b) $rb req/s, B/A $r; CPU µs/req server+PostgreSQL A $ca, B $cb; clicks dropped A $da %, B $db %"
done
echo "median B/A over ${#ratios[@]} pair(s): $(median "${ratios[@]}")"
echo "median CPU µs/req (server+PostgreSQL): A $(median "${cpu_a[@]}"), B $(median "${cpu_b[@]}")"
