#!/usr/bin/env bash
# Starts the nockpool pool server (embedded devnet backend unless --backend says otherwise).
#
#   scripts/start-pool-server.sh [-p ADDR[:SHARE]] [-a ADDR] [-l LEVEL] [-h] [pool-server flags...]
#
# Reads .env (MINING_PUBKEY, POOL_SERVER_ADDRESS, POOL_TOKEN, RUST_LOG, POOL_DATA_DIR, NODE_GRPC,
# PROVER_CMD, NODE_CMD); flags win.
# Any other flag is passed to target/release/pool-server (see its --help).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<USAGE
usage: $0 [-p ADDR[:SHARE]] [-a ADDR] [-l LEVEL] [-h] [pool-server flags...]

  -p ADDR[:SHARE]  farm payout address (Nockchain v1 address or v0 public key); repeat once
                   to split the coinbase (default: MINING_PUBKEY)
  -a ADDR          listen address (default: POOL_SERVER_ADDRESS or 0.0.0.0:7777)
  -l LEVEL         log level: error, warn, info, debug, trace (default: RUST_LOG or info)
  -h               this help

Other flags go to pool-server, e.g. --data-dir DIR, --token SECRET, --devnet-difficulty N.
Against a real Nockchain node: --backend node [--node-grpc http://127.0.0.1:5555]
  --prover-cmd "PROVER" [--node-cmd "nockchain ..."] (or NODE_GRPC, PROVER_CMD, NODE_CMD in .env).
Miners connect on TCP port 7777 by default: open it on the farm's LAN firewall.
USAGE
}

if [ -f .env ]; then
  set -a
  # shellcheck disable=SC1091
  . ./.env
  set +a
fi

flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    -p|--pubkey|-a|--address|-l|--log)
      if [ $# -lt 2 ]; then echo "error: $1 needs a value" >&2; usage >&2; exit 2; fi
      flags+=("$1" "$2"); shift 2 ;;
    *) flags+=("$1"); shift ;;
  esac
done

bin=target/release/pool-server
if [ ! -x "$bin" ]; then
  echo "building the pool server (cargo build --release)..." >&2
  cargo build --release -p nockpool-bins --bin pool-server
fi
# glibc gives each busy thread its own heap (up to 8 per core); with thousands of miners that
# fragments memory (issue 15: ≈ 5 KiB more per miner at 10,000). Two heaps are plenty.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
exec "$bin" "${flags[@]+"${flags[@]}"}"
