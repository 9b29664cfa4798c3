#!/usr/bin/env bash
# Starts N processes of a command on this machine, one per GPU, the way a launcher would:
# NCCLRT_RANK / NCCLRT_WORLD_SIZE / NCCLRT_LOCAL_RANK and NCCL_COMM_ID on a free loopback port,
# which is all Communicator::from_environment needs. Waits for all; exits with the worst status.
#   scripts/launch_local.sh N command [args...]
set -uo pipefail
n=$1
shift
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export NCCL_COMM_ID=127.0.0.1:$port NCCLRT_WORLD_SIZE=$n
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}  # NVLink multicast stays off on shared machines
pids=()
for ((r = 0; r < n; r++)); do
  NCCLRT_RANK=$r NCCLRT_LOCAL_RANK=$r "$@" &
  pids+=($!)
done
worst=0
for p in "${pids[@]}"; do
  wait "$p" || { rc=$?; ((rc > worst)) && worst=$rc; }
done
exit $worst
