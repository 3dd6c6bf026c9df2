#!/usr/bin/env bash
# Measures the heavy-read API as a deployed service is measured: a release `--serve` instance
# (with its throwaway loopback Redis) loaded from another process by wrk, over loopback, first
# on the cached route, then on the same route reading Redis on every request, in one run.
#
#   Examples/heavy-read-api/measure.sh        (DURATION=10 CONNECTIONS=32 by default)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
"$HERE/../../scripts/install-deps" wrk >/dev/null
(cd "$HERE/.." && swift build -c release --product heavy-read-api >&2)
BIN="$(cd "$HERE/.." && swift build -c release --show-bin-path)/heavy-read-api"
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PORT=$PORT "$BIN" --serve >/tmp/heavy-read-api.log 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.05; done
# Every product loaded once (the "database" takes 5 ms a read), so both routes read warm data.
for id in $(seq 1 1000); do curl -sf "http://127.0.0.1:$PORT/products/$id" >/dev/null; done
SCRIPT=$(mktemp)
cat >"$SCRIPT" <<'LUA'
-- 80 % of reads on 50 popular products, the rest spread over all 1,000 (the example's load).
math.randomseed(42)
request = function()
  local id = math.random() < 0.8 and math.random(1, 50) or math.random(1, 1000)
  return wrk.format("GET", prefix .. id)
end
LUA
run() { # path-prefix -> "requests/s p50 p99"
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$SCRIPT" "http://127.0.0.1:$PORT" -- "$1" 2>/dev/null \
        | awk '/Requests\/sec/ { r = $2 } /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 } END { print r, p50, p99 }'
}
sed -i 's/^request = function()/init = function(args) prefix = args[1] end\nrequest = function()/' "$SCRIPT"
read -r cached c50 c99 <<<"$(run /products/)"
read -r direct d50 d99 <<<"$(run /direct/products/)"
echo "| route (wrk -t2 -c$CONNECTIONS -d${DURATION}s, loopback, release) | requests/s | p50 | p99 |"
echo "|---|--:|--:|--:|"
echo "| GET /products/{id} (local cache) | $cached | $c50 | $c99 |"
echo "| GET /direct/products/{id} (Redis on every request) | $direct | $d50 | $d99 |"
rm -f "$SCRIPT"
