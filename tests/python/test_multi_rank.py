"""N real ranks, one process each, over a real gloo group (multi_rank_worker.py): the vLLM class
and Communicator.from_environment with every operation checked on every rank.

N ranks need N GPUs, or one GPU and an NCCL that runs several ranks on one GPU (NCCL >= 2.30.3
with NCCL_MULTI_RANK_GPU_ENABLE=1): point $NCCLRT_NCCL_LIB at such a file. N=1 runs on any GPU."""
import os
import random
import subprocess
import sys

import pytest

import ncclrt
from conftest import gpu_available

ok, why = gpu_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not ok, reason=why)]
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multi_rank_worker.py")


def can_run(n):
    import torch
    gpus = torch.cuda.device_count()
    if n <= gpus:
        return True, ""
    lib = ncclrt.Library.open()
    if lib.version < (2, 30, 3):
        return False, (f"{n} ranks on {gpus} GPU(s) need NCCL >= 2.30.3 (several ranks per GPU); "
                       f"loaded {lib.version} from {lib.path}: set NCCLRT_NCCL_LIB")
    return True, ""


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_every_op_on_every_rank(n):
    runnable, reason = can_run(n)
    if not runnable:
        pytest.skip(reason)
    port = random.randint(20000, 40000)
    procs = []
    for rank in range(n):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(n), LOCAL_RANK=str(rank),
                   LOCAL_WORLD_SIZE=str(n), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   NCCL_MULTI_RANK_GPU_ENABLE="1", PYTHONPATH=os.pathsep.join(sys.path))
        procs.append(subprocess.Popen([sys.executable, WORKER], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=300)
            outputs.append(out)
    finally:
        for p in procs:
            p.kill()
    for rank, (p, out) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0 and f"RANK {rank} OK" in out, f"rank {rank}:\n{out[-3000:]}"
        print(out.strip().splitlines()[-1])
