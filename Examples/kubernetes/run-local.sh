#!/usr/bin/env bash
# The three pods of heavy-read-api.yaml as local processes, with the environment the manifests
# give them (the ConfigMap's variables, CACHE_POD_ID from the "pod name", a port each), on a
# throwaway loopback redis-server: it checks each pod's /readyz and /products/1, shows a write on
# one pod reaching the others, then stops them with SIGTERM (the graceful shutdown Kubernetes
# would send) and the Redis. Bounded: every wait has a limit; a few seconds after the build.
#
#   Examples/kubernetes/run-local.sh                  (from anywhere; release build)
#   BUILD=debug Examples/kubernetes/run-local.sh      (the debug build, as make examples-run)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
EXAMPLES="$HERE/.."
BUILD=${BUILD:-release}
(cd "$EXAMPLES" && swift build -c "$BUILD" --product heavy-read-api >&2)
BIN="$(cd "$EXAMPLES" && swift build -c "$BUILD" --show-bin-path)/heavy-read-api"

DIR=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

REDIS_PORT=$(port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" --daemonize no >/dev/null &
PIDS+=("$!")
for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

# The ConfigMap's data, as the pods see it; the Service name "redis" becomes the local server.
eval "$(python3 - "$HERE/configmap.yaml" "$REDIS_PORT" <<'PY'
import shlex, sys, yaml
data = yaml.safe_load(open(sys.argv[1]))["data"]
data["CACHE_REDIS_ADDR"] = f"127.0.0.1:{sys.argv[2]}"
data["BIND_ADDRESS"] = "127.0.0.1"
for key, value in data.items():
    print(f"export {key}={shlex.quote(value)}")
PY
)"
PORTS=()
for n in 0 1 2; do
    p=$(port)
    PORTS+=("$p")
    CACHE_POD_ID="heavy-read-api-$n" PORT="$p" "$BIN" --serve >"$DIR/pod-$n.log" 2>&1 &
    PIDS+=("$!")
done
for p in "${PORTS[@]}"; do
    for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$p/readyz" >/dev/null && break; sleep 0.05; done
    echo "pod on :$p ready: $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/readyz"), /products/1 -> $(curl -s "http://127.0.0.1:$p/products/1")"
done
echo "pod ids: $(for p in "${PORTS[@]}"; do curl -s "http://127.0.0.1:$p/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pod"])'; done | tr '\n' ' ')"
# A price change on pod 0 reaches pods 1 and 2 with the event: each serves it from memory.
NEW_PRICE=4242
echo "PUT /products/1/price $NEW_PRICE on pod 0 -> $(curl -sf -X PUT --data "$NEW_PRICE" "http://127.0.0.1:${PORTS[0]}/products/1/price")"
for n in 1 2; do
    seen=""
    for _ in $(seq 1 100); do
        seen=$(curl -s "http://127.0.0.1:${PORTS[$n]}/products/1")
        [[ "$seen" == *"\"priceCents\":$NEW_PRICE"* ]] && break
        sleep 0.02
    done
    [[ "$seen" == *"\"priceCents\":$NEW_PRICE"* ]] || { echo "pod $n never saw the new price: $seen" >&2; exit 1; }
    echo "pod $n serves the new price: $seen"
done
echo "stopping the pods with SIGTERM (graceful shutdown) ..."
for n in 1 2 3; do kill -TERM "${PIDS[$n]}"; done
for n in 1 2 3; do wait "${PIDS[$n]}" || true; done
echo "every pod exited"
