"""Tensors read through the DLPack C exchange table (`__dlpack_c_exchange_api__`), the route the
module takes for torch tensors where torch provides it: one C call per tensor and one for the
current stream. A stand-in tensor type provides the table, so this runs without torch."""
import pytest

import ncclrt
from arrays import EXCHANGE_CALLS, Tensor

F32, BF16 = 7, 9


def test_tensors_and_stream_come_from_the_table(recorder):
    comm = recorder.comm()  # rank 2 of 4, on GPU 2
    x, y = Tensor(0x1000, (4, 8)), Tensor(0x2000, (32,))
    EXCHANGE_CALLS.clear()
    assert comm.all_reduce(x, y) is y
    r = recorder.records()[-1]
    assert (r["send"], r["recv"], r["count"], r["type"]) == (0x1000, 0x2000, 32, F32)
    # stream=None on a torch tensor: the framework's current stream of the tensor's device.
    assert r["stream"] == 0x5E02
    assert EXCHANGE_CALLS == [("tensor", id(x)), ("tensor", id(y)), ("stream", 2, 2)]
    comm.all_reduce(x, y, stream=7)
    assert recorder.records()[-1]["stream"] == 7


def test_bfloat16_through_the_table(recorder):
    recorder.comm().all_reduce(Tensor(0x1000, (3, 3), "bfloat16"))
    r = recorder.records()[-1]
    assert (r["type"], r["count"]) == (BF16, 9)


def test_a_tensor_the_table_declines_is_read_through_torchs_methods(recorder):
    x = Tensor(0x3000, (5,), requires_grad=True)
    recorder.comm().all_reduce(x)
    r = recorder.records()[-1]
    assert (r["send"], r["count"], r["type"]) == (0x3000, 5, F32)


@pytest.mark.parametrize("tensor,words", [
    (Tensor(0x1000, (4,), "bool"), ["torch.bool", "NCCL has not got"]),
    (Tensor(0x1000, (4,), "complex64"), ["torch.complex64"]),
    (Tensor(0x1000, (4,), device=(1, 0)), ["host (CPU)", ".cuda()"]),
    (Tensor(0x1000, (4, 4), strides=(1, 4)), ["non-contiguous", ".contiguous()"]),
    (Tensor(0x1000, (4,), device=(2, 0)), ["on GPU 0", "communicator is on GPU 2"]),
], ids=["bool", "complex", "cpu", "strided", "other-gpu"])
def test_refused_through_the_table(recorder, tensor, words):
    comm = recorder.comm()
    before = recorder.calls()
    with pytest.raises(ncclrt.UsageError) as e:
        comm.all_reduce(tensor)
    for w in words:
        assert w in str(e.value), f"{w!r} missing in: {e.value}"
    assert recorder.calls() == before
