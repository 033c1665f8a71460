#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a while on its seed corpus.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     (default: 60 s per target, every target)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install --locked cargo-fuzz`). Seeds come
# from ../shared/spec (fuzz/seeds.py); a crash stops the run and leaves its input under
# fuzz/artifacts/<target>/ (reproduce: cargo +nightly fuzz run -s none -a <target> <file>).
# libFuzzer's last lines per target (executions, cov, ft) go to fuzz/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(pool_messages felts cue_jam node_nouns wallet_parsers)
fi
# Sanitizers off: the decoders are safe Rust (no `unsafe`), so a bug shows as a panic or a
# failed property; debug assertions on, so integer overflow panics too.
flags=(-s none -a)
python3 seeds.py "${SPEC_DIR:-../../shared/spec}"
cargo +nightly fuzz build "${flags[@]}"
mkdir -p logs
for target in "${targets[@]}"; do
  echo "== fuzz $target (${seconds}s)"
  # A private working corpus, so the seed corpus stays what seeds.py wrote.
  mkdir -p "corpus-run/$target"
  if ! cargo +nightly fuzz run "${flags[@]}" "$target" "corpus-run/$target" "corpus/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 -timeout=25 -rss_limit_mb=2048 \
      >"logs/$target.log" 2>&1; then
    tail -n 40 "logs/$target.log" >&2
    echo "fuzz target $target failed: see fuzz/logs/$target.log and fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^#[0-9]+[[:space:]]+DONE' "logs/$target.log" | tail -n 1 || true
  grep -E '^stat::number_of_executed_units' "logs/$target.log" || true
done
