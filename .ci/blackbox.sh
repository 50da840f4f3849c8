#!/usr/bin/env bash
# The black-box fuzz pass: zzuf-mutated and hand-written malformed requests over every
# route (functions/cmd/blackbox) against a freshly built all-in-one server on a free port,
# with a database and key prefix of its own, started the way .ci/acceptance.sh does.
# Without zzuf (`make fuzz` installs it when run as root) CI fails and a developer's run
# skips loudly, both printing the command that installs it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v zzuf >/dev/null; then
  if [ "${CI:-}" = true ]; then
    echo "blackbox: FAIL: zzuf is missing; run: sudo apt-get install -y zzuf" >&2
    exit 1
  fi
  echo "blackbox: SKIPPED: zzuf is missing; run: sudo apt-get install -y zzuf"
  exit 0
fi
mkdir -p bin .dev/blackbox
go build -o bin/shortener ./functions/cmd/shortener
go build -o bin/blackbox ./functions/cmd/blackbox
env_lines=$(go run ./functions/cmd/devdeps -db blackbox -fresh)
port=${BLACKBOX_PORT:-}
if [ -z "$port" ]; then
  # The first port from 18180 on where nothing answers.
  for p in $(seq 18180 18279); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
  done
fi
log=.dev/blackbox/server.log
env $env_lines LISTEN_ADDRESS=127.0.0.1:$port VALKEY_KEY_PREFIX="blackbox$$:" ./bin/shortener >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
status=0
./bin/blackbox -base "http://127.0.0.1:$port" ${BLACKBOX_ARGS:-} | tee .dev/blackbox/summary.txt || status=$?
if ! kill -0 $pid 2>/dev/null; then echo "blackbox: the server exited during the pass"; status=1; fi
if [ $status -ne 0 ]; then
  echo "--- server log: panics and 5xx lines (all of it in $log)"
  grep -E 'panic|"status":5[0-9][0-9]' "$log" | cut -c1-600 | tail -40 || true
fi
exit $status
