#!/usr/bin/env bash
# Prints a pool's status and its worker table from the status API.
#
#   scripts/monitor-pool.sh [URL] [-w SECS] [-h]
#
# URL defaults to POOL_HTTP_URL or http://127.0.0.1:8080 (the pool's --http-address). A token
# (--http-token on the pool) is read from POOL_HTTP_TOKEN. Needs curl and jq.
set -euo pipefail

usage() {
  cat <<USAGE
usage: $0 [URL] [-w SECS] [-h]

  URL      the pool's status API (default: POOL_HTTP_URL or http://127.0.0.1:8080)
  -w SECS  repeat every SECS seconds (clears the screen between)
  -h       this help

POOL_HTTP_TOKEN is sent as a Bearer token when set.
USAGE
}

url="${POOL_HTTP_URL:-http://127.0.0.1:8080}"
every=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    -w) every="${2:?-w needs seconds}"; shift 2 ;;
    -*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
    *) url="$1"; shift ;;
  esac
done
url="${url%/}"
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install $tool)" >&2; exit 1; }
done

auth=()
if [ -n "${POOL_HTTP_TOKEN:-}" ]; then
  auth=(-H "Authorization: Bearer ${POOL_HTTP_TOKEN}")
fi

get() {
  curl -fsS --max-time 10 "${auth[@]}" "$url$1" \
    || { echo "cannot read $url$1 (is the pool running with its status API on?)" >&2; return 1; }
}

show() {
  local status workers
  status="$(get /api/status)" || return 1
  workers="$(get /api/workers)" || return 1
  jq -r '
    def rate: if . >= 1e9 then "\(. / 1e9 * 100 | round / 100) GH/s"
              elif . >= 1e6 then "\(. / 1e6 * 100 | round / 100) MH/s"
              elif . >= 1e3 then "\(. / 1e3 * 100 | round / 100) kH/s"
              else "\(. | round) H/s" end;
    "pool \(.listen_address // "-")  v\(.version)  up \(.uptime_secs) s  backend \(.backend // "-") \(if .backend_up then "up" else "DOWN" end)",
    "height \(.job_height // "-")  job age \(.job_age_secs // "-") s  miners \(.miners_connected)  workers online \(.workers_online), offline \(.workers_offline)",
    "hashrate \(.hashrate_1m | rate) (1m) \(.hashrate_5m | rate) (5m) \(.hashrate_1h | rate) (1h)",
    "shares accepted \(.shares_accepted), rejected \(.shares_rejected)  blocks found \(.blocks_found)  storage \(if .storage_ok then "ok" else "FAILING" end)"
  ' <<<"$status"
  echo
  jq -r '
    def rate: if . >= 1e9 then "\(. / 1e9 * 100 | round / 100) GH/s"
              elif . >= 1e6 then "\(. / 1e6 * 100 | round / 100) MH/s"
              elif . >= 1e3 then "\(. / 1e3 * 100 | round / 100) kH/s"
              else "\(. | round) H/s" end;
    (["WORKER", "STATE", "5MIN", "1HOUR", "ACCEPTED", "REJECTED", "LAST SHARE", "ADDRESS"] | @tsv),
    (.workers | sort_by(.name)[] |
      [ .name, (if .online then "online" else "OFFLINE" end), (.hashrate_5m | rate),
        (.hashrate_1h | rate), .accepted, .rejected,
        (if .last_seen_age_secs == null then "never" else "\(.last_seen_age_secs) s ago" end),
        (.address // "-") ] | @tsv)
  ' <<<"$workers" | column -t -s $'\t'
}

if [ -z "$every" ]; then
  show
else
  while true; do
    out="$(show 2>&1 || true)"
    clear
    printf '%s\n' "$out"
    sleep "$every"
  done
fi
