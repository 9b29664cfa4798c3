#!/usr/bin/env bash
# ctest driver of the `multi_rank` label: N ranks on however many GPUs there are (rank r on GPU
# r % GPUs), which needs NCCL >= 2.30.3 with NCCL_MULTI_RANK_GPU_ENABLE=1 when N > GPUs. Runs the
# multi_gpu suite with one thread per rank and with init_all (a GPU repeated), then one process per
# rank through each launcher's variables: every operation (ncclrt's), a killed rank recovered by
# revoke + shrink (torchrun's), a rank that never calls and one that exits early (Open MPI's,
# Slurm's), revoke + shrink, grow, one-sided signals.
#   multi_rank.sh SUITE CHECK N SOURCE_DIR
set -uo pipefail
suite=$1 check=$2 n=$3 src=$4
launch=$src/scripts/launch_local.sh
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [ "${gpus:-0}" -lt 1 ]; then
  echo "SKIPPED: needs a GPU, found none"
  exit 0
fi
first=$(timeout 300 "$launch" "$n" "$check" every_op 2>&1)
rc=$?
if grep -q "SKIPPED:" <<<"$first"; then
  grep -m1 "SKIPPED:" <<<"$first"
  exit 0
fi
echo "== processes, ncclrt's variables: every_op (rc=$rc)"
grep -E "^rank" <<<"$first" | sort
worst=$rc
step() {  # launcher mode [minimum ranks]
  if [ "$n" -lt "${3:-2}" ]; then return; fi
  out=$(timeout 300 "$launch" --as "$1" "$n" "$check" "$2" 2>&1)
  local r=$?
  echo "== processes, $1's variables: $2 (rc=$r)"
  grep -E "^rank|error" <<<"$out" | sort
  ((r > worst)) && worst=$r
}
step torchrun kill 3
step openmpi absent 3
step slurm exit 3
step openmpi revoke_shrink 3
step slurm grow 2
step torchrun signals 2
# Threads: every operation through init_all (a GPU repeated), split halves used at once, shrink,
# and one thread per rank for a sum, the v-variants, a ring and a last-rank root (the processes
# above already checked every operation, type and size per rank).
echo "== threads: the multi_gpu suite with NCCLRT_RANKS=$n"
for filter in '*EveryRankInitAll*' 'MultiGpuSplit*:MultiGpuShrink*' \
    '*ThreadPerGpu/all_reduce_sum:*ThreadPerGpu/all_gatherv:*ThreadPerGpu/reduce_scatterv' \
    '*ThreadPerGpu/send_recv_ring:*ThreadPerGpu/broadcast_last_root'; do
  out=$(NCCLRT_RANKS=$n timeout 120 "$suite" --gtest_brief=1 --gtest_filter="$filter" 2>&1)
  r=$?
  echo "-- $filter: rc=$r$([ $r -eq 124 ] && echo ' (TIMED OUT after 120 s)')"
  tail -3 <<<"$out"
  ((r > worst)) && worst=$r
done
[ "$worst" -eq 0 ] && echo "ALL OK with $n ranks on $gpus GPU(s)"
exit "$worst"
