# Shared by the load-tool benchmarks: sourced, not run.
command -v wrk >/dev/null || { echo "bench: wrk missing: apt-get install -y wrk"; exit 1; }

# start_api PORT PREFIX [VAR=value ...] starts bin/shortener (all route groups; another
# build when api_bin is set) on PORT against the bench database, with Valkey keys under
# PREFIX; its pid is in $api_pid.
start_api() {
  local port=$1 prefix=$2
  shift 2
  env $bench_env_lines "$@" LISTEN_ADDRESS=127.0.0.1:$port VALKEY_KEY_PREFIX="$prefix" "${api_bin:-./bin/shortener}" >/dev/null 2>&1 &
  api_pid=$!
}

# make_url PORT [FIELDS] waits for the server, creates a user and a URL, and prints the
# short code. FIELDS are more JSON members of the URL's body (link options such as
# '"expires_at":"2099-01-01T00:00:00Z"'). BENCH_KEY, when set, is sent as the API key (a
# server with AUTH_MODE=keys).
make_url() {
  local port=$1 fields=${2:-} uid
  local auth=(-H "X-Api-Key: ${BENCH_KEY:-}")
  for _ in $(seq 50); do curl -sf "localhost:$port/ready" >/dev/null && break; sleep 0.2; done
  uid=$(curl -sf -XPOST "localhost:$port/users" -H 'Content-Type: application/json' "${auth[@]}" \
    -d "{\"username\":\"bench\",\"email\":\"bench$port@example.com\"}" | sed 's/.*"id":\([0-9]*\).*/\1/')
  curl -sf -XPOST "localhost:$port/urls" -H 'Content-Type: application/json' "${auth[@]}" \
    -d "{\"user_id\":$uid,\"original_url\":\"https://example.com/\"${fields:+,$fields}}" | sed 's/.*"short_code":"\([^"]*\)".*/\1/'
}

# rps URL runs one wrk measurement and prints its requests per second.
rps() { wrk $WRK_ARGS "$1" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}'; }

# median prints the median of its arguments.
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

WRK_ARGS=${WRK_ARGS:--t2 -c64 -d10s}
# The key becomes hot only after a warm-up: for 2 s after a write a process reads that
# key from Valkey, not its client-side cache.
WARMUP=${WARMUP:-5s}
mkdir -p bin
go build -o bin/shortener ./functions/cmd/shortener
bench_env_lines=$(go run ./functions/cmd/devdeps -db bench -fresh)
