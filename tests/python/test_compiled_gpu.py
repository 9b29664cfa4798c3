"""ncclrt's ops in compiled models on GPUs (tests/python/compiled_model_worker.py): N ranks, one
process each, every task; N=1 on any GPU (PyTorch's own NCCL unless $NCCLRT_NCCL_LIB says
otherwise), N=2 and 4 on one GPU with NCCL >= 2.30.3 and NCCL_MULTI_RANK_GPU_ENABLE=1 (point
$NCCLRT_NCCL_LIB at it), or on N GPUs. scripts/gpu/compiled_model.sh runs the same with logs."""
import os

import pytest

from conftest import gpu_available

ok, why = gpu_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not ok, reason=why)]


@pytest.mark.parametrize("n", [1, 2, 4])
def test_compiled_model(n, tmp_path):
    import torch

    import compiled_model_worker
    from test_multi_rank import can_run
    if tuple(int(v) for v in torch.__version__.split(".")[:2]) < (2, 8):
        pytest.skip(f"ncclrt.ops needs torch >= 2.8; this is {torch.__version__}")
    runnable, reason = can_run(n)
    if not runnable:
        pytest.skip(reason)
    assert compiled_model_worker.launch(n, compiled_model_worker.TASKS, str(tmp_path),
                                        timeout=float(os.environ.get("NCCLRT_COMPILED_TIMEOUT",
                                                                     "600")))
