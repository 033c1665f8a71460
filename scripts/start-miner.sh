#!/usr/bin/env bash
# Starts a nockpool miner against a pool server.
#
#   scripts/start-miner.sh <pool-ip>[:port] [more pools...] [-t THREADS] [-l LEVEL] [-h]
#
# Several pools = failover in order (the miner returns to the first when it is back).
# Worker name (--worker / WORKER_NAME) defaults to the hostname; the farm token comes from
# POOL_TOKEN (environment or .env). Any other miner flag is passed through.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<USAGE
usage: $0 <pool-ip>[:port] [more pools...] [-t THREADS] [-l LEVEL] [-h] [miner flags...]

  <pool-ip>     pool server address: IP, IP:port (default port 7777) or http:// URL
  -t THREADS    mining threads (default: CPU cores - 1, at least 1)
  -l LEVEL      log level: error, warn, info, debug, trace (default: RUST_LOG or info)
  -h            this help

Environment (or .env): POOL_TOKEN, POOL_TLS_CA, WORKER_NAME, RUST_LOG.
USAGE
}

pools=()
flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    -t|--threads|-l|--log|--worker|--token|--report-secs|--tls-ca)
      if [ $# -lt 2 ]; then echo "error: $1 needs a value" >&2; usage >&2; exit 2; fi
      flags+=("$1" "$2"); shift 2 ;;
    -*) flags+=("$1"); shift ;;
    *) pools+=("$1"); shift ;;
  esac
done
if [ ${#pools[@]} -eq 0 ]; then
  echo "error: give the pool server's address" >&2
  usage >&2
  exit 2
fi

bin=target/release/miner
if [ ! -x "$bin" ]; then
  echo "building the miner (cargo build --release)..." >&2
  cargo build --release -p nockpool-bins --bin miner
fi
exec "$bin" "${pools[@]}" "${flags[@]}"
