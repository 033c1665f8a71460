#!/usr/bin/env bash
# `make demo`: a pool server on the embedded devnet (a simulated development chain, not
# Nockchain mainnet) plus one local miner, both logging to this terminal. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir=${DEMO_DATA_DIR:-data/demo}
bin=target/release
if [ ! -x "$bin/pool-server" ] || [ ! -x "$bin/miner" ]; then
  cargo build --release -p nockpool-bins --bin pool-server --bin miner
fi
cores=$(nproc 2>/dev/null || echo 2)
threads=$(( cores > 1 ? cores - 1 : 1 ))
level=${RUST_LOG:-info}

"$bin/pool-server" --address 127.0.0.1:7777 --data-dir "$data_dir" --log "$level" "$@" &
pool_pid=$!
miner_pid=
cleanup() {
  [ -n "$miner_pid" ] && kill "$miner_pid" 2>/dev/null || true
  kill "$pool_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# The miner retries with backoff until the pool is listening, so no wait is needed here. Its
# stdout goes through a pipe: with the pool logging to the same terminal, its status line is
# better as log lines than redrawn in place.
"$bin/miner" 127.0.0.1:7777 --threads "$threads" --worker demo-miner --log "$level" > >(cat) &
miner_pid=$!
echo "demo: dashboard at http://127.0.0.1:8080/ (status API: /api/status, metrics: /metrics)"
wait "$pool_pid"
