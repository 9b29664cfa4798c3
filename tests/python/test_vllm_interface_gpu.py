"""vLLM's interface on a GPU: N processes over a gloo group (vllm_interface_worker.py), each
driving ncclrt.pynccl_wrapper.NCCLLibrary and ncclrt.torch.PyNcclCommunicator the way vLLM does,
every method eagerly and in a CUDA graph, suspend/resume, the device API and a bounded destroy,
the numbers checked on every rank.

N ranks need N GPUs, or one GPU and an NCCL that runs several ranks on one GPU (NCCL >= 2.30.3
with NCCL_MULTI_RANK_GPU_ENABLE=1): point $NCCLRT_NCCL_LIB at such a file. N=1 runs on any GPU
and any NCCL (PyTorch's 2.28.9 shows the refusals of what it lacks)."""
import os
import random
import subprocess
import sys

import pytest

import ncclrt
from conftest import gpu_available

ok, why = gpu_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not ok, reason=why)]
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vllm_interface_worker.py")


@pytest.mark.parametrize("n", [1, 2, 4])
def test_vllm_shaped_calls_on_every_rank(n):
    import torch
    if n > torch.cuda.device_count():
        lib = ncclrt.Library.open()
        allowed, why_not = lib.ranks_per_gpu()
        if not allowed:
            pytest.skip(f"{n} ranks on {torch.cuda.device_count()} GPU(s): {why_not} (loaded "
                        f"{lib.version} from {lib.path}; set NCCLRT_NCCL_LIB and "
                        "NCCL_MULTI_RANK_GPU_ENABLE=1)")
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
            out, _ = p.communicate(timeout=240)
            outputs.append(out)
    finally:
        for p in procs:
            p.kill()
    for rank, (p, out) in enumerate(zip(procs, outputs)):
        print(f"--- rank {rank} ---\n" + "\n".join(
            line for line in out.splitlines() if line.startswith(("STEP", "RANK"))))
    for rank, (p, out) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0 and f"RANK {rank} OK" in out, f"rank {rank}:\n{out[-4000:]}"
