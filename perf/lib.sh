# Shared helpers of the perf/ scripts. Source it: `. "$(dirname "$0")/lib.sh"`.
#
# Every script starts its own throwaway redis-server on a free loopback port (start_redis) and
# stops it on exit, also on Ctrl-C or failure (the trap below). Nothing is left running.

set -euo pipefail

PERF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT_DIR="$(cd "$PERF_DIR/.." && pwd)"
OUT_DIR="$PERF_DIR/out"
mkdir -p "$OUT_DIR"

REDIS_PIDS=()
REDIS_DIRS=()

cleanup_perf() {
    local pid dir
    for pid in "${REDIS_PIDS[@]:-}"; do
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    for dir in "${REDIS_DIRS[@]:-}"; do [ -n "$dir" ] && rm -rf "$dir"; done
    return 0
}
trap cleanup_perf EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Installs the Debian packages a perf script needs (beyond the library's own).
ensure_packages() {
    "$ROOT_DIR/scripts/install-deps" "$@"
}

# A TCP port on 127.0.0.1 that nothing listens on.
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

# Starts a throwaway redis-server; sets REDIS_PORT. No persistence, data in a temp folder.
start_redis() {
    local dir port
    dir=$(mktemp -d "${TMPDIR:-/tmp}/dcache-redis-perf-XXXXXX")
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
        --logfile "$dir/redis.log" --daemonize no &
    REDIS_PIDS+=("$!")
    REDIS_DIRS+=("$dir")
    for _ in $(seq 1 200); do
        if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ]; then
            REDIS_PORT=$port
            return
        fi
        sleep 0.05
    done
    echo "redis-server did not start; log:" >&2
    cat "$dir/redis.log" >&2
    exit 1
}

# Builds the release dcache tool once per script run.
build_dcache() {
    (cd "$ROOT_DIR" && swift build -c release --product dcache >&2)
    DCACHE="$ROOT_DIR/.build/release/dcache"
}

# Builds the release dcache-probe (perf/Probe: N operations after a fixed setup).
build_probe() {
    (cd "$ROOT_DIR" && swift build -c release --product dcache-probe >&2)
    PROBE="$ROOT_DIR/.build/release/dcache-probe"
}

# The machine, for results files.
machine_description() {
    local cpu cores
    cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
    cores=$(nproc)
    echo "$cpu, $cores vCPUs, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r), Swift $(swift --version 2>&1 | grep -o 'Swift version [0-9.]*' | cut -d' ' -f3), redis-server $(redis-server --version | grep -o 'v=[0-9.]*' | cut -d= -f2)"
}

# Extracts a numeric field from a flat JSON object: json_field '{"a":1.5}' a -> 1.5
json_field() {
    echo "$1" | sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p"
}

# ratio A B -> A/B with 2 decimals
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'
}
