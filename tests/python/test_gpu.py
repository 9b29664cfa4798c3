"""GPU tests of the Python module (one GPU, one rank): every operation with torch tensors and cupy
arrays, eager and captured in torch.cuda.graph() then replayed with new input; the generic
protocols with real producers; the vLLM drop-in over a one-rank gloo group; three communicators
at once; a missing peer. Skipped, with the reason, where there is no GPU."""
import os
import re
import socket
import time

import pytest

import ncclrt
from conftest import gpu_available

ok, why = gpu_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not ok, reason=why)]

if ok:
    import torch

TORCH_TYPES = ["float32", "float16", "bfloat16", "float64", "int8", "uint8", "int32", "int64",
               "float8_e4m3fn", "float8_e5m2"]


@pytest.fixture(scope="module")
def lib():
    torch.cuda.set_device(0)
    return ncclrt.Library.open()  # $NCCLRT_NCCL_LIB, else the NCCL torch already loaded


@pytest.fixture(scope="module")
def comm(lib):
    c = ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id())
    yield c
    c.destroy()


def values(n, dtype, seed=0):
    """Small exact values of `dtype` (fp8 included)."""
    base = (torch.arange(n, device="cuda", dtype=torch.float32) + seed) % 7 + 1
    return base.to(getattr(torch, dtype))


def same(a, b):
    if a.dtype.itemsize == 1 and a.dtype.is_floating_point:
        return torch.equal(a.view(torch.uint8), b.view(torch.uint8))
    return torch.equal(a, b)


def junk(like):
    return torch.full_like(like.view(torch.uint8), 0xAB).view(like.dtype)


def run_op(comm, op, x, stream=None, junk=junk, clone=lambda t: t.clone()):
    """Issues `op` on one rank with input x (a torch tensor, or a cupy array with cupy's `junk`
    and `clone`); returns (output, expected)."""
    n = x.size if isinstance(x.size, int) else x.numel()
    kw = {"stream": stream}
    if op == "all_reduce":
        y = junk(x); comm.all_reduce(x, y, **kw); return y, x  # noqa: E702
    if op == "all_reduce_in_place":
        y = clone(x); comm.all_reduce(y, **kw); return y, x  # noqa: E702
    if op == "broadcast":
        y = junk(x); comm.broadcast(x, y, 0, **kw); return y, x  # noqa: E702
    if op == "reduce":
        y = junk(x); comm.reduce(x, y, root=0, **kw); return y, x  # noqa: E702
    if op == "all_gather":
        y = junk(x); comm.all_gather(x, y, **kw); return y, x  # noqa: E702
    if op == "reduce_scatter":
        y = junk(x); comm.reduce_scatter(x, y, **kw); return y, x  # noqa: E702
    if op == "all_to_all":
        y = junk(x); comm.all_to_all(x, y, **kw); return y, x  # noqa: E702
    if op == "gather":
        y = junk(x); comm.gather(x, y, 0, **kw); return y, x  # noqa: E702
    if op == "scatter":
        y = junk(x); comm.scatter(x, y, 0, **kw); return y, x  # noqa: E702
    if op == "all_gatherv":
        y = junk(x); comm.all_gatherv(x, y, [n], **kw); return y, x  # noqa: E702
    if op == "reduce_scatterv":
        y = junk(x); comm.reduce_scatterv(x, y, [n], **kw); return y, x  # noqa: E702
    if op == "send_recv":
        y = junk(x)
        with ncclrt.group(comm):
            comm.send(x, 0, **kw)
            comm.recv(y, 0, **kw)
        return y, x
    raise AssertionError(op)


OPS = ["all_reduce", "all_reduce_in_place", "broadcast", "reduce", "all_gather", "reduce_scatter",
       "all_to_all", "gather", "scatter", "all_gatherv", "reduce_scatterv", "send_recv"]
REDUCING = {"all_reduce", "all_reduce_in_place", "reduce", "reduce_scatter", "reduce_scatterv"}


@pytest.mark.parametrize("dtype", TORCH_TYPES)
@pytest.mark.parametrize("op", OPS)
def test_every_op_with_torch_tensors(comm, lib, op, dtype):
    if dtype.startswith("float8") and not lib.has("fp8"):
        pytest.skip(f"NCCL {lib.version} has no fp8")
    for n in (1, 1023, 1 << 20):
        x = values(n, dtype)
        y, want = run_op(comm, op, x)
        torch.cuda.synchronize()
        assert same(y, want), (op, dtype, n)


@pytest.mark.parametrize("op", OPS)
def test_every_op_captured_in_a_torch_graph_and_replayed(comm, op):
    x = values(4096, "float32")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm up outside the capture, as torch recommends
        run_op(comm, op, x)
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):  # stream=None: torch's current stream is the capture stream
        y, _ = run_op(comm, op, x)
    for seed in (11, 12, 13):
        x.copy_(values(4096, "float32", seed))
        g.replay()
        torch.cuda.synchronize()
        assert same(y, x), (op, seed)


def test_reduce_ops_and_pre_mul_sum(comm):
    x = values(1000, "float32")
    for op in (ncclrt.ReduceOp.SUM, ncclrt.ReduceOp.PROD, ncclrt.ReduceOp.MAX,
               ncclrt.ReduceOp.MIN, ncclrt.ReduceOp.AVG):
        y = junk(x)
        comm.all_reduce(x, y, op)
        torch.cuda.synchronize()
        assert torch.equal(y, x), op
    with comm.create_pre_mul_sum(2.0, dtype="float32") as twice:
        y = junk(x)
        comm.all_reduce(x, y, twice)
        torch.cuda.synchronize()
        assert torch.equal(y, 2 * x)
    scale = torch.tensor([3.0], device="cuda", dtype=torch.float64)
    xd = x.double()
    with comm.create_pre_mul_sum(scale, residence=ncclrt.ScalarResidence.DEVICE) as thrice:
        yd = torch.empty_like(xd)
        comm.all_reduce(xd, yd, thrice)
        torch.cuda.synchronize()
        assert torch.equal(yd, 3 * xd)


def test_explicit_streams_and_raw_pointers(comm):
    x = values(512, "float32")
    s = torch.cuda.Stream()
    y = junk(x)
    comm.all_reduce(x, y, stream=s)
    s.synchronize()
    assert torch.equal(y, x)
    z = junk(x)
    comm.all_reduce(x.data_ptr(), z.data_ptr(), count=x.numel(), dtype=ncclrt.DataType.FLOAT32,
                    stream=s.cuda_stream)
    s.synchronize()
    assert torch.equal(z, x)


def test_bad_torch_input_enqueues_nothing(comm):
    x = values(16, "float32")
    cases = [
        (lambda: comm.all_reduce(torch.ones(16)), "host (CPU)"),
        (lambda: comm.all_reduce(x.view(4, 4).t()), "non-contiguous"),
        (lambda: comm.all_reduce(torch.ones(4, device="cuda", dtype=torch.bool)), "torch.bool"),
        (lambda: comm.all_reduce(torch.ones(4, device="cuda", dtype=torch.complex64)),
         "torch.complex64"),
        (lambda: comm.all_reduce(torch.ones(4, device="cuda", dtype=torch.int16)), "torch.int16"),
        (lambda: comm.all_gather(x, torch.empty(15, device="cuda")), "has 15"),
        (lambda: comm.all_reduce(x, x.half()), "float16"),
    ]
    for call, words in cases:
        with pytest.raises(ncclrt.UsageError, match=re.escape(words)):
            call()
    # The same stream is still usable, and synchronize() sees no error.
    y = junk(x)
    comm.all_reduce(x, y)
    comm.synchronize(torch.cuda.current_stream().cuda_stream, timeout=10)
    assert torch.equal(y, x)


def test_parameters_views_and_subclasses(comm):
    # A parameter (requires grad, a Tensor subclass), a view at an offset, a 0-d tensor.
    p = torch.nn.Parameter(values(64, "float32"))
    y = junk(p.data)
    comm.all_reduce(p, y)
    base = values(100, "float32")
    view = base[10:74]
    z = junk(view)
    comm.all_reduce(view, z)
    scalar = torch.tensor(3.0, device="cuda")
    s_out = torch.zeros((), device="cuda")
    comm.all_reduce(scalar, s_out)
    torch.cuda.synchronize()
    assert torch.equal(y, p.data) and torch.equal(z, view) and s_out.item() == 3.0


def test_generic_protocols_with_real_producers(comm):
    x = values(300, "bfloat16")

    class OnlyDLPack:
        def __init__(self, t):
            self.t = t

        def __dlpack__(self, **kw):
            return self.t.__dlpack__(**kw)

        def __dlpack_device__(self):
            return self.t.__dlpack_device__()

    class OnlyCAI:
        def __init__(self, t):
            self.__cuda_array_interface__ = t.__cuda_array_interface__

    y = junk(x)
    comm.all_reduce(OnlyDLPack(x), OnlyDLPack(y))
    torch.cuda.synchronize()
    assert torch.equal(y, x)
    xf, yf = values(300, "float32"), torch.zeros(300, device="cuda")
    comm.all_reduce(OnlyCAI(xf), OnlyCAI(yf))
    torch.cuda.synchronize()
    assert torch.equal(yf, xf)


try:
    import cupy as cp
except ImportError:
    cp = None
needs_cupy = pytest.mark.skipif(cp is None, reason="needs cupy: cupy is not installed")


def cupy_junk(like):
    return cp.full(like.nbytes, 0xAB, dtype=cp.uint8).view(like.dtype).reshape(like.shape)


@needs_cupy
@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "uint8", "float64", "int64"])
@pytest.mark.parametrize("op", OPS)
def test_every_op_with_cupy_arrays(comm, op, dtype):
    s = cp.cuda.Stream(non_blocking=True)
    for n in (1, 1023, 1 << 20):
        x = (cp.arange(n) % 7 + 1).astype(dtype)
        for stream in (None, s, s.ptr):  # the default stream, a cupy stream, an int handle
            y, want = run_op(comm, op, x, stream, cupy_junk, lambda a: a.copy())
            cp.cuda.Device().synchronize()
            assert bool((y == want).all()), (op, dtype, n, stream)


@needs_cupy
def test_cupy_array_captured_in_a_cupy_graph(comm):
    x = cp.arange(1024, dtype=cp.float32)
    y = cp.zeros_like(x)
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        s.begin_capture()
        comm.all_reduce(x, y, stream=s)
        graph = s.end_capture()
    x += 1
    graph.launch(s)
    s.synchronize()
    assert bool((y == x).all())


def test_three_communicators_at_once(lib):
    comms = [ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id()) for _ in range(3)]
    streams = [torch.cuda.Stream() for _ in comms]
    xs = [values(1 << 16, "float32", i) for i in range(3)]
    ys = [torch.zeros_like(x) for x in xs]
    for _ in range(5):
        for c, s, x, y in zip(comms, streams, xs, ys):
            c.all_reduce(x, y, stream=s)
    for c, s, x, y in zip(comms, streams, xs, ys):
        c.synchronize(s, timeout=30)
        assert torch.equal(y, x)
    for c in comms:
        c.destroy()


def test_missing_peer_is_timeout_error(lib):
    start = time.monotonic()
    with pytest.raises(ncclrt.TimeoutError) as e:
        ncclrt.Communicator.init_rank(lib, 2, 0, lib.unique_id(), ncclrt.Config(timeout=2.0))
    took = time.monotonic() - start
    assert 2.0 <= took < 3.5, took
    assert "did not complete within 2000 ms" in str(e.value)
    assert isinstance(e.value, TimeoutError)
    with ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id()) as c:  # and life goes on
        x = values(8, "float32")
        y = junk(x)
        c.all_reduce(x, y)
        torch.cuda.synchronize()
        assert torch.equal(y, x)
    print(f"\nmissing peer: TimeoutError after {took:.2f} s (timeout 2.0 s)")


# ---- the vLLM drop-in ----

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gloo_world():
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0,
                            world_size=1)
    yield dist.group.WORLD
    dist.destroy_process_group()


def exercise_vllm_class(pynccl):
    from torch.distributed import ReduceOp
    x = values(4096, "bfloat16")
    out = pynccl.all_reduce(x)
    torch.cuda.synchronize()
    assert out is not x and torch.equal(out, x)
    y = junk(x)
    assert pynccl.all_reduce(x, y, op=ReduceOp.MAX) is y
    torch.cuda.synchronize()
    assert torch.equal(y, x)
    rows = values(64 * 8, "float16").view(64, 8)
    g = torch.empty_like(rows)
    pynccl.all_gather(g, rows)
    pynccl.all_gatherv(g2 := torch.empty_like(rows), rows, [64])
    rs = torch.empty_like(rows)
    pynccl.reduce_scatter(rs, rows)
    rsv = torch.empty_like(rows)
    pynccl.reduce_scatterv(rsv, rows, [64])
    b = rows.clone()
    pynccl.broadcast(b, 0)
    r = torch.empty_like(rows)
    pynccl.group_start()
    pynccl.send(rows, 0)
    pynccl.recv(r, 0)
    pynccl.group_end()
    torch.cuda.synchronize()
    for t in (g, g2, rs, rsv, b, r):
        assert torch.equal(t, rows)
    # Captured with the caller's tensors, as vLLM's cuda graphs do.
    src, dst = values(1024, "float32"), torch.zeros(1024, device="cuda")
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        pynccl.all_reduce(src, dst)
    src.copy_(values(1024, "float32", 5))
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(dst, src)


def test_vllm_class_over_a_one_rank_gloo_group(lib, gloo_world):
    from ncclrt.torch import PyNcclCommunicator
    pynccl = PyNcclCommunicator(gloo_world, device=0, library_path=lib.path)
    assert pynccl.world_size == 1 and pynccl.rank == 0 and pynccl.available
    assert pynccl.lib.path == lib.path  # library_path is honoured
    assert pynccl.nccl_version == lib.version.code
    exercise_vllm_class(pynccl)
    pynccl.disabled = True
    assert pynccl.all_reduce(values(4, "float32")) is None


def test_vllm_class_over_a_stateless_group(lib):
    from ncclrt.torch import PyNcclCommunicator

    class Stateless:
        rank, world_size = 0, 1

        def broadcast_obj(self, obj, src):
            return obj

    pynccl = PyNcclCommunicator(Stateless(), device="cuda:0")
    exercise_vllm_class(pynccl)


def test_vllm_windows_on_nccl_memory(lib, gloo_world):
    if not lib.has("ncclCommWindowRegister"):
        pytest.skip(f"NCCL {lib.version} has no windows")
    from ncclrt.torch import PyNcclCommunicator
    pynccl = PyNcclCommunicator(gloo_world, device=0)
    with ncclrt.NcclMemory.allocate(lib, 1 << 21) as mem:
        win = pynccl.register_comm_window_raw(mem.ptr, mem.nbytes)
        assert win.native != 0
        pynccl.deregister_comm_window(win)
        assert win.native == 0


def test_environment_variable_picks_the_library_for_workers(lib):
    from conftest import run_python
    r = run_python("import torch, ncclrt; l = ncclrt.Library.open(); print(l.path, l.found_by)",
                   env={"NCCLRT_NCCL_LIB": lib.path})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [os.path.realpath(lib.path), "environment"]


def test_revoke_then_split_recovers(lib):
    if not lib.has("ncclCommRevoke"):
        pytest.skip(f"ncclCommRevoke needs NCCL >= 2.28.7; loaded {lib.version}")
    c = ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id())
    x = torch.arange(1024, device="cuda", dtype=torch.float32)
    c.revoke()
    assert c.revoked
    with pytest.raises(ncclrt.UsageError, match="revoked"):
        c.all_reduce(x)
    fresh = c.split(0, 0)
    c.destroy()
    y = torch.empty_like(x)
    fresh.all_reduce(x, y)
    torch.cuda.synchronize()
    assert torch.equal(x, y)
    fresh.destroy()


def test_suspension_frees_memory_and_resumes(lib):
    if not lib.has("ncclCommSuspend"):
        pytest.skip(f"ncclCommSuspend needs NCCL >= 2.29.7; loaded {lib.version}")
    c = ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id())
    x = torch.ones(1 << 20, device="cuda")
    c.all_reduce(x)
    torch.cuda.synchronize()
    before = c.memory_stats()
    with c.suspension():
        during = c.memory_stats()
        assert during.suspended
        with pytest.raises(ncclrt.UsageError, match="suspended"):
            c.all_reduce(x)
    after = c.memory_stats()
    print(f"memory_stats: before {before}; suspended {during}; after {after}")
    assert not after.suspended and during.total_bytes <= before.total_bytes
    c.all_reduce(x)
    torch.cuda.synchronize()
    assert torch.equal(x, torch.ones_like(x))
    c.destroy()


def test_parameters_and_typos(lib, monkeypatch):
    monkeypatch.setenv("NCCL_SOCKET_IFNAM", "lo")
    assert lib.unknown_environment()["NCCL_SOCKET_IFNAM"][0] == "NCCL_SOCKET_IFNAME"
    if not lib.has("ncclParamGetAllParameterKeys"):
        pytest.skip(f"the parameter list needs NCCL >= 2.30.4; loaded {lib.version}")
    params = lib.parameters()
    print(f"NCCL {lib.version}: {len(params)} parameters: {sorted(params)}")
    assert "NCCL_DEBUG" in params
