#!/usr/bin/env bash
# Memory of a CSV export of N events (default 1,000,000): loads them into a fresh bench
# database, starts the all-in-one server, and prints its RSS when idle and its peak RSS
# (VmHWM) after GET /events with Accept: text/csv, with the export's size and time.
#   bash .ci/bench-export.sh            # N=1000000
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-1000000}
mkdir -p bin
go build -o bin/shortener ./functions/cmd/shortener
lines=$(go run ./functions/cmd/devdeps -db exportbench -fresh)
db=$(sed -n 's/^DATABASE_URL=//p' <<<"$lines")
env $lines LISTEN_ADDRESS=127.0.0.1:18290 VALKEY_KEY_PREFIX="export$$:" LOG_LEVEL=warn ./bin/shortener >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf localhost:18290/ready >/dev/null && break; sleep 0.2; done
psql -q "$db" <<SQL
INSERT INTO users (username, email) VALUES ('bench', 'export-bench@example.com');
INSERT INTO urls (user_id, short_code, original_url) SELECT id, 'exportb', 'https://example.com/' FROM users;
INSERT INTO events (event_id, url_id, user_id, event_type, timestamp, details)
  SELECT 'bench-' || g, u.id, u.user_id, 'click', now() - g * interval '1 second',
         '{"short_code":"exportb","user_agent":"Mozilla/5.0 (X11; Linux x86_64)","referrer":"https://news.example.com/"}'
  FROM urls u, generate_series(1, $n) g;
SQL
idle=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
start=$(date +%s.%N)
bytes=$(curl -sf -H 'Accept: text/csv' localhost:18290/events | wc -c)
took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
peak=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
echo "events: $n; export: $bytes bytes in ${took}s; RSS idle ${idle} KiB, peak ${peak} KiB, peak above idle $(( (peak - idle) / 1024 )) MiB"
