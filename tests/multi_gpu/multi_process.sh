#!/usr/bin/env bash
# ctest driver for the multi-process checks: one process per GPU through from_environment.
set -uo pipefail
check=$1 mode=$2 src=$3
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [ "${gpus:-0}" -lt 2 ]; then
  echo "SKIPPED: needs 2 GPUs, found ${gpus:-0}"
  exit 0
fi
"$src/scripts/launch_local.sh" "$gpus" "$check" "$mode" && echo "ALL RANKS OK"
