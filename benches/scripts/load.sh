#!/usr/bin/env bash
# Starts a release pool-server on loopback with --fixed-difficulty 1, runs pool-loadtest against
# it (extra arguments go to pool-loadtest), prints the tool's output, and stops the pool.
# Build first: cargo build --release -p nockpool-bins --bin pool-server \
#                -p nockpool-benches --bin pool-loadtest
# Env: PORT (17777), COMPETITOR (devnet template interval, s; 2), POOL_ARGS (extra pool flags),
#      POOL_ENV (e.g. MALLOC_ARENA_MAX=2), WAVES (runs of the tool against the same pool, for
#      churn; 1).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CARGO_TARGET_DIR:-$root/target}/release
port=${PORT:-17777}
ulimit -n "$(ulimit -Hn)"
data=$(mktemp -d /tmp/nockpool-load.XXXXXX)
# The pool and the tool each run in a session of their own: with the kernel's autogroup
# scheduling (sched_autogroup_enabled=1) each session gets a fair share of the CPUs, so on a
# shared machine this gives the pool its own share instead of splitting one with the tool.
# shellcheck disable=SC2086
setsid env ${POOL_ENV:-} "$bin/pool-server" -a "127.0.0.1:$port" --data-dir "$data" -l warn \
    --fixed-difficulty 1 --devnet-difficulty 1099511627776 \
    --devnet-competitor "${COMPETITOR:-2}" ${POOL_ARGS:-} >"$data/pool.log" 2>&1 &
pool=$!
stop() { kill "$pool" 2>/dev/null || true; wait "$pool" 2>/dev/null || true; rm -rf "$data"; }
trap stop EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
[ "$(cat "/proc/$pool/comm")" = pool-server ] || { echo "lost the pool's pid" >&2; exit 1; }
for wave in $(seq "${WAVES:-1}"); do
    [ "${WAVES:-1}" -gt 1 ] && echo "--- wave $wave"
    setsid "$bin/pool-loadtest" --pool "http://127.0.0.1:$port" --server-pid "$pool" "$@"
done
