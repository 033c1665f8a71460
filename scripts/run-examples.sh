#!/usr/bin/env bash
# Builds and runs every example briefly (each exits by itself); CI runs this via `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
examples=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
  | python3 -c 'import json,sys
m=json.load(sys.stdin)
for p in m["packages"]:
    if p["name"]=="nockpool-examples":
        for t in p["targets"]:
            if "example" in t["kind"]: print(t["name"])')
if [ -z "$examples" ]; then
  echo "no examples found"
  exit 0
fi
for ex in $examples; do
  echo "== example $ex"
  timeout 300 cargo run --quiet -p nockpool-examples --example "$ex"
done
