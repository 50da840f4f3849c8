#!/usr/bin/env bash
# Runs README's "A tour of the API" line by line, as a reader pastes it, against a freshly
# built all-in-one server on a free port with a fresh database and key prefix of its own,
# and checks each line against its comment: every status line, header, "key":value pair,
# metric sample and (status) the comment quotes must be in what the line prints.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
go build -o bin/ ./functions/cmd/devdeps ./functions/cmd/shortener
env_lines=$(bin/devdeps -db tour -fresh)
port=${TOUR_PORT:-}
if [ -z "$port" ]; then
  # The first port from 18380 on where nothing answers.
  for p in $(seq 18380 18479); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
  done
fi
log=$(mktemp)
env $env_lines LISTEN_ADDRESS=127.0.0.1:$port VALKEY_KEY_PREFIX="tour$$:" ./bin/shortener >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  curl -sf "127.0.0.1:$port/ready" >/dev/null 2>&1 && break
  sleep 0.1
done

# The tour's lines, continuations joined, one per line.
mapfile -t lines < <(awk '
  /^## A tour of the API/ { tour = 1; next }
  tour && /^```sh/ { inblock = 1; next }
  inblock && /^```/ { exit }
  inblock { if (sub(/\\$/, "")) { held = held $0; next } print held $0; held = "" }
' README.md)
if [ ${#lines[@]} -lt 10 ]; then
  echo "tour: found ${#lines[@]} lines in README's tour, want the whole block" >&2
  exit 1
fi

failed=0 passed=0 nfailed=0
for line in "${lines[@]}"; do
  cmd=${line%%# *}
  comment=${line#*# }
  cmd=${cmd//localhost:8080/127.0.0.1:$port}
  # The status that -s hides is printed after the body when the comment names one.
  if [[ $comment =~ ^\([0-9]{3}\) ]]; then
    cmd="curl -w '\n(%{http_code})' ${cmd#curl }"
  fi
  # What the comment quotes: status lines, headers, "key":value pairs, metric samples, (status).
  mapfile -t want < <(grep -oE 'HTTP/1\.1 [0-9]{3}( [A-Z][a-z]+)*|(Location|X-[A-Za-z-]+): [^ ,;)]+|"[a-z_]+":("[^"]*"|-?[0-9]+|true|false)|shortener_[a-z_]+\{[^}]*\} [0-9]+|^\([0-9]{3}\)' <<<"$comment")
  if [ ${#want[@]} -eq 0 ]; then
    echo "tour: FAIL: nothing to check in the comment of: $line"
    failed=1
    continue
  fi
  out=$(bash -c "$cmd" 2>&1) || true
  missing=()
  for w in "${want[@]}"; do
    [[ $w == *…* ]] && continue # "…" stands for a timestamp or what was left out
    grep -qF -- "$w" <<<"$out" || missing+=("$w")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "tour: ok   ${line:0:90}"
    passed=$((passed + 1))
  else
    nfailed=$((nfailed + 1))
    echo "tour: FAIL ${line:0:90}"
    printf '  missing: %s\n' "${missing[@]}"
    printf '  printed: %s\n' "${out:0:600}"
    failed=1
  fi
  # A reader pastes one line at a time; the click of the redirect is written within 20 ms.
  sleep 0.2
done
if [ $failed -ne 0 ]; then echo "--- server log (last 30 lines)"; tail -30 "$log"; fi
echo "tour: $passed passed, $nfailed failed"
exit $failed
