#!/usr/bin/env bash
# ctest driver of MultiRank.N<n>.recovery: the fault-tolerant loop examples, C++ and Python, with
# N ranks (rank r on GPU r % GPUs; more ranks than GPUs needs NCCL >= 2.30.3 with
# NCCL_MULTI_RANK_GPU_ENABLE=1). Two ranks are SIGKILLed mid-loop, at different steps; every
# survivor must notice within its deadline + 0.5 s, recover (revoke, agree, shrink), finish every
# step with correct results and end with N - 2 ranks.
#   fault_tolerant.sh EXAMPLE_BINARY N SOURCE_DIR CHECK_BINARY
set -uo pipefail
example=$1 n=$2 src=$3 check=$4
launch=$src/scripts/launch_local.sh
# shellcheck source=can_run.sh
source "$(dirname "$0")/can_run.sh"
# Never rank 0: with launch_local.sh, torch's store (the Python agreement) lives in rank 0.
case $n in
  4) kills=(--kill 2@5 --kill 1@12) ;;
  *) kills=(--kill $((n - 3))@5 --kill 2@12) ;;
esac
deadline_ms=3000
worst=0
run() {  # name command...
  local name=$1 s=$SECONDS
  shift
  out=$(timeout 240 "$@" 2>&1)
  local rc=$? bad=0
  echo "== $name: ${kills[*]} (launcher rc=$rc, $((SECONDS - s)) s)"
  grep -E "^rank [0-9]+:" <<<"$out" | sort -t' ' -k2,2n -s
  local ok
  ok=$(grep -c "OK: .* finished with $((n - 2)) ranks" <<<"$out")
  if [ "$ok" -ne $((n - 2)) ]; then
    echo "-- FAILED: $ok of $((n - 2)) survivors finished correctly"
    grep -vE "^rank [0-9]+:" <<<"$out" | tail -20
    bad=1
  fi
  # every survivor noticed each loss within deadline + 0.5 s
  while read -r noticed; do
    if [ "$noticed" -gt $((deadline_ms + 500)) ]; then
      echo "-- FAILED: a loss noticed after $noticed ms (deadline $deadline_ms ms + 500)"
      bad=1
    fi
  done < <(grep -oE "noticed in [0-9]+ ms" <<<"$out" | grep -oE "[0-9]+")
  local recoveries
  recoveries=$(grep -c "noticed in" <<<"$out")
  if [ "$recoveries" -lt $((2 * (n - 2))) ]; then
    echo "-- FAILED: $recoveries recoveries, want two per survivor"
    bad=1
  fi
  ((bad > worst)) && worst=$bad
}
store=$(mktemp -d /tmp/ncclrt-ftl-XXXXXX)
run "C++ examples/fault_tolerant_loop" "$launch" "$n" "$example" --store "$store" \
  --deadline-ms $deadline_ms "${kills[@]}"
run "C++ examples/fault_tolerant_loop, a blocking communicator" "$launch" "$n" "$example" \
  --store "$store/blocking" --deadline-ms $deadline_ms --blocking 1 "${kills[@]}"
if python3 -c "import torch, ncclrt" 2>/dev/null; then
  run "Python examples/fault_tolerant_loop.py (vLLM class)" "$launch" --as torchrun "$n" \
    python3 "$src/examples/fault_tolerant_loop.py" --deadline $((deadline_ms / 1000)) "${kills[@]}"
else
  echo "== Python: not run (needs torch and the ncclrt module: pip install .)"
fi
rm -rf "$store"
[ "$worst" -eq 0 ] && echo "ALL OK: recovery from two lost ranks with $n ranks on $gpus GPU(s)"
exit "$worst"
