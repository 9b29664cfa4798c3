#!/usr/bin/env bash
# Builds the libFuzzer targets (clang) and runs each for a bounded time (default 30 s), starting
# from the seeds in tests/fuzz/corpus. Exits non-zero on the first crash.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
for target in unique_id launch_env trace_dump; do
  work=$(mktemp -d)
  cp tests/fuzz/corpus/$target/* "$work/"
  echo "== fuzz_$target for ${seconds}s"
  rc=0
  build/fuzz/tests/fuzz/fuzz_$target -max_total_time="$seconds" -print_final_stats=1 "$work" \
    >"$work.log" 2>&1 || rc=$?
  grep -E "stat::number_of_executed_units|stat::new_units_added|ERROR|SUMMARY|Done" "$work.log" || true
  if [ "$rc" -ne 0 ]; then
    tail -40 "$work.log"
    exit "$rc"
  fi
  rm -rf "$work" "$work.log"
done
