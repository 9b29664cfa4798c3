#!/usr/bin/env bash
# Builds the libFuzzer targets (clang) and runs each for a bounded time, starting from the seeds in
# tests/fuzz/corpus. Usage: fuzz.sh [SECONDS [TRACE_SECONDS]]: each target SECONDS (default 30),
# fuzz_trace_dump TRACE_SECONDS (default SECONDS): it takes whole dumps (up to 1 MiB, with the
# words of tests/fuzz/trace_dump.dict), stops on undefined behaviour, and counts a unit that takes
# more than 25 s as a hang; without the entropic schedule, on which libFuzzer 14 spends ~70% of
# this target's time (~25 runs a second instead of hundreds). Exits non-zero on the first crash.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
trace_seconds=${2:-$seconds}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
for target in unique_id launch_env trace_dump; do
  work=$(mktemp -d)
  cp tests/fuzz/corpus/$target/* "$work/"
  run=(build/fuzz/tests/fuzz/fuzz_$target -max_total_time="$seconds")
  if [ "$target" = trace_dump ]; then
    run=(env UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 build/fuzz/tests/fuzz/fuzz_$target
      -max_total_time="$trace_seconds" -max_len=1048576 -timeout=25 -entropic=0
      -dict=tests/fuzz/trace_dump.dict)
  fi
  echo "== fuzz_$target for $([ "$target" = trace_dump ] && echo "$trace_seconds" || echo "$seconds")s"
  rc=0
  "${run[@]}" -print_final_stats=1 "$work" >"$work.log" 2>&1 || rc=$?
  grep -E "stat::number_of_executed_units|stat::new_units_added|ERROR|SUMMARY|Done" "$work.log" || true
  if [ "$rc" -ne 0 ]; then
    tail -40 "$work.log"
    exit "$rc"
  fi
  rm -rf "$work" "$work.log"
done
