# Sourced by the multi-rank ctest drivers: exits 0 with "SKIPPED: <why>" (ctest's skip) unless
# this machine has a GPU and may run $n ranks on it ($check can_run asks the loaded NCCL).
# Sets $gpus. Needs $n and $check.
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [ "${gpus:-0}" -lt 1 ]; then
  echo "SKIPPED: needs a GPU, found none"
  exit 0
fi
can=$(NCCLRT_WORLD_SIZE=$n NCCLRT_RANK=0 NCCLRT_LOCAL_RANK=0 "$check" can_run 2>&1)
if grep -q "SKIPPED:" <<<"$can"; then
  grep -m1 "SKIPPED:" <<<"$can"
  exit 0
fi
