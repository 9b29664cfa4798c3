#!/usr/bin/env bash
# ctest driver for the multi-process checks: one process per GPU through from_environment.
set -uo pipefail
check=$1 mode=$2 src=$3
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
# NCCLRT_RANKS ranks (default: one per GPU); more ranks than GPUs needs NCCL >= 2.30.3 with
# NCCL_MULTI_RANK_GPU_ENABLE=1 (rank r then runs on GPU r % GPUs).
ranks=${NCCLRT_RANKS:-${gpus:-0}}
if [ "${gpus:-0}" -lt 1 ]; then
  echo "SKIPPED: needs a GPU, found none"
  exit 0
fi
if [ "$ranks" -lt 2 ]; then
  echo "SKIPPED: needs 2 ranks: 2 GPUs, or NCCLRT_RANKS=N with NCCL_MULTI_RANK_GPU_ENABLE=1; found ${gpus} GPU(s)"
  exit 0
fi
if [ "$ranks" -gt "$gpus" ] && [ "${NCCL_MULTI_RANK_GPU_ENABLE:-0}" != 1 ]; then
  echo "SKIPPED: $ranks ranks on $gpus GPU(s) needs NCCL_MULTI_RANK_GPU_ENABLE=1 (NCCL >= 2.30.3)"
  exit 0
fi
"$src/scripts/launch_local.sh" "$ranks" "$check" "$mode" && echo "ALL RANKS OK"
