#!/usr/bin/env bash
# ctest driver of the `multi_rank` label: N ranks on however many GPUs there are (rank r on GPU
# r % GPUs), which needs NCCL >= 2.30.3 with NCCL_MULTI_RANK_GPU_ENABLE=1 when N > GPUs. PART:
#   every_op  one process per rank (ncclrt's variables): every operation, type and size, eager
#             and graph-captured, on every rank;
#   failures  one process per rank through each launcher's variables: a killed rank recovered by
#             revoke + shrink (torchrun's), a rank that never calls and one that exits early (Open
#             MPI's, Slurm's), revoke + shrink, grow, one-sided signals;
#   threads   the whole multi_gpu suite with one thread per rank;
#   nonblocking  every operation on nonblocking communicators (Config::timeout), then the grouped
#             forms of all_to_all, gather and scatter with NCCL's own turned off.
#   multi_rank.sh SUITE CHECK N SOURCE_DIR PART
set -uo pipefail
suite=$1 check=$2 n=$3 src=$4 part=$5
launch=$src/scripts/launch_local.sh
# shellcheck source=can_run.sh
source "$(dirname "$0")/can_run.sh"
worst=0
step() {  # launcher mode [minimum ranks]
  if [ "$n" -lt "${3:-2}" ]; then return; fi
  local s=$SECONDS
  out=$(timeout 300 "$launch" --as "$1" "$n" "$check" "$2" 2>&1)
  local r=$?
  # The killed rank's SIGKILL (137) is the launcher's status; the survivors' lines decide.
  if [ "$2" = kill ] && [ "$r" -eq 137 ] &&
    [ "$(grep -c 'all_reduce correct' <<<"$out")" -eq $((n - 1)) ]; then
    r=0
  fi
  echo "== processes, $1's variables: $2 (rc=$r, $((SECONDS - s)) s)"
  grep -E "^rank|error" <<<"$out" | grep -v "launched by" | sort
  ((r > worst)) && worst=$r
}
case $part in
  every_op) step ncclrt every_op ;;
  nonblocking)
    step ncclrt every_op_nonblocking
    # the grouped send/recv forms of all_to_all, gather and scatter, in place of NCCL's own
    export NCCLRT_DISABLE_FUNCTIONS=ncclAlltoAll,ncclGather,ncclScatter
    export NCCLRT_CHECK_ONLY=all_to_all,gather,scatter
    step ncclrt every_op_nonblocking
    unset NCCLRT_DISABLE_FUNCTIONS NCCLRT_CHECK_ONLY
    ;;
  failures)
    step torchrun kill 3
    step openmpi absent 3
    step slurm exit 3
    step openmpi revoke_shrink 3
    step slurm grow 2
    step torchrun signals 2
    ;;
  threads)
    # Threads: the whole multi_gpu suite with one thread per rank (CTAs capped where threads share a
    # GPU): every operation, type and size per rank through init_rank and init_all (a GPU repeated),
    # uneven v-variants, every root, splits with kSplitNoColor, two communicators at once, shrink
    # without the first, a middle and the last rank, the grouped fallbacks against the native calls.
    echo "== threads: the multi_gpu suite with NCCLRT_RANKS=$n"
    out=$(NCCLRT_RANKS=$n timeout 500 "$suite" 2>&1)
    r=$?
    echo "-- rc=$r$([ $r -eq 124 ] && echo ' (TIMED OUT after 500 s)')"
    grep -E "^\[  (FAILED|PASSED|SKIPPED)|^\[==========\].*ran|Failure" <<<"$out" | head -20
    ((r > worst)) && worst=$r
    ;;
  *)
    echo "unknown part $part (every_op, failures, threads, nonblocking)"
    exit 2
    ;;
esac
[ "$worst" -eq 0 ] && echo "ALL OK: $part with $n ranks on $gpus GPU(s)"
exit "$worst"
