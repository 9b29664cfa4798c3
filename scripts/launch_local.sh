#!/usr/bin/env bash
# Starts N processes of a command on this machine the way a launcher would, and waits for all;
# exits with the worst status. Each process gets its rank, the world size and its local rank in
# the variables of the launcher named by --as (default: ncclrt's own):
#   ncclrt    NCCLRT_RANK / NCCLRT_WORLD_SIZE / NCCLRT_LOCAL_RANK, NCCL_COMM_ID
#   torchrun  RANK / WORLD_SIZE / LOCAL_RANK, MASTER_ADDR / MASTER_PORT (ncclrt uses the port + 1)
#   openmpi   OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK, NCCL_COMM_ID
#   slurm     SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID, MASTER_ADDR / MASTER_PORT
# which is all Communicator::from_environment needs. Rank r runs on GPU r % GPUs.
#   scripts/launch_local.sh [--as LAUNCHER] N command [args...]
set -uo pipefail
as=ncclrt
if [ "${1:-}" = "--as" ]; then
  as=$2
  shift 2
fi
n=$1
shift
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}  # NVLink multicast stays off on shared machines
unset NCCL_COMM_ID MASTER_ADDR MASTER_PORT
pids=()
for ((r = 0; r < n; r++)); do
  case $as in
    ncclrt) env NCCLRT_RANK=$r NCCLRT_WORLD_SIZE=$n NCCLRT_LOCAL_RANK=$r \
              NCCL_COMM_ID=127.0.0.1:$port "$@" & ;;
    torchrun) env RANK=$r WORLD_SIZE=$n LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 \
                MASTER_PORT=$((port - 1)) "$@" & ;;
    openmpi) env OMPI_COMM_WORLD_RANK=$r OMPI_COMM_WORLD_SIZE=$n OMPI_COMM_WORLD_LOCAL_RANK=$r \
               NCCL_COMM_ID=127.0.0.1:$port "$@" & ;;
    slurm) env SLURM_PROCID=$r SLURM_NTASKS=$n SLURM_LOCALID=$r MASTER_ADDR=127.0.0.1 \
             MASTER_PORT=$((port - 1)) "$@" & ;;
    *) echo "launch_local.sh: unknown launcher '$as' (ncclrt, torchrun, openmpi, slurm)" >&2
       exit 2 ;;
  esac
  pids+=($!)
done
worst=0
for p in "${pids[@]}"; do
  wait "$p" || { rc=$?; ((rc > worst)) && worst=$rc; }
done
exit $worst
