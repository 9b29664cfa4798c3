"""NCCL memory for torch (ncclrt.mempool) on the CPU: the allocator's two C functions, exported by
the extension, called as torch's CUDAPluggableAllocator calls them (through ctypes, by name); the
segments registered with the recording stand-in as windows or buffers, once each, in allocation
order; registration deferred during a capture and refused by register(); deregistration before
ncclMemFree. torch's CUDA memory calls are played by FakeCuda (no GPU here): a MemPool whose
"allocations" call the real C functions. On a GPU, with torch's real MemPool and graph capture:
scripts/gpu/compiled_model.sh."""
import contextlib
import ctypes
import gc

import pytest

torch = pytest.importorskip(
    "torch", minversion="2.8",
    reason="ncclrt.mempool needs torch >= 2.8, not installed here (CI installs no torch: "
           "docs/python.md, 'In a compiled model')")

import ncclrt  # noqa: E402
import ncclrt.mempool as mempool  # noqa: E402
from ncclrt import _ncclrt  # noqa: E402

WIN_SYM = int(ncclrt.WIN_COLL_SYMMETRIC)
ALLOC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int, ctypes.c_void_p)
FREE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int, ctypes.c_void_p)


class FakeCuda:
    """torch.cuda's memory pool calls, played on the CPU."""

    def __init__(self, monkeypatch):
        self.capturing = False
        self.current = []  # pools made current by use_mem_pool
        self.pools = []
        self.pool_calls = []
        fake = self

        class Allocator:  # torch.cuda.memory.CUDAPluggableAllocator: dlopen + dlsym by name
            def __init__(self, path, alloc, free):
                so = ctypes.CDLL(path)
                self.alloc = ALLOC((alloc, so))
                self.free = FREE((free, so))

            def allocator(self):
                return self

        class MemPool:
            def __init__(self, allocator):
                self.allocator, self.held = allocator, {}
                self.id = (7, len(fake.pools))
                fake.pools.append(self)

            def snapshot(self):
                return [{"address": a, "total_size": n} for a, n in self.held.items()]

        @contextlib.contextmanager
        def use_mem_pool(pool):
            self.current.append(pool)
            try:
                yield
            finally:
                self.current.pop()

        monkeypatch.setattr(torch.cuda.memory, "CUDAPluggableAllocator", Allocator)
        monkeypatch.setattr(torch.cuda, "MemPool", MemPool)
        monkeypatch.setattr(torch.cuda, "use_mem_pool", use_mem_pool)
        monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: self.capturing)
        # The legacy default stream: registration asks the CUDA driver, where there is one,
        # whether the stream is being captured, and a made-up stream handle would crash it.
        monkeypatch.setattr(torch.cuda, "current_stream",
                            lambda: type("S", (), {"cuda_stream": 0})())
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(torch._C, "_cuda_endAllocateToPool",
                            lambda d, p: self.pool_calls.append(("end", p)), raising=False)
        monkeypatch.setattr(torch._C, "_cuda_beginAllocateCurrentThreadToPool",
                            lambda d, p: self.pool_calls.append(("begin", p)), raising=False)

    def allocate(self, nbytes):
        """A new segment of the current pool, as torch's caching allocator makes one."""
        pool = self.current[-1]
        ptr = pool.allocator.alloc(nbytes, 0, None)
        if ptr:
            pool.held[ptr] = nbytes
        return ptr

    @staticmethod
    def free(pool, ptr):
        pool.allocator.free(ptr, pool.held.pop(ptr), 0, None)

    def release_all(self):
        """What torch does when a pool goes: its segments back to the allocator."""
        for pool in self.pools:
            for ptr in list(pool.held):
                self.free(pool, ptr)


@pytest.fixture
def cuda(monkeypatch):
    fake = FakeCuda(monkeypatch)
    yield fake
    fake.release_all()
    _ncclrt._nccl_allocator_error()  # leave no error behind for the next test
    mempool._POOLS.clear()  # nor a pool keeping a communicator alive
    gc.collect()
    assert _ncclrt._nccl_allocator_segments() == []


def fns(recorder):
    return [r["fn"] for r in recorder.records()]


def test_the_allocator_is_exported_by_the_extension(newest, cuda):
    alloc_name, free_name = _ncclrt._nccl_allocator_symbols()
    assert (alloc_name, free_name) == ("ncclrt_torch_alloc", "ncclrt_torch_free")
    so = ctypes.CDLL(_ncclrt.__file__)  # by name, as torch's CUDAPluggableAllocator does
    alloc, free = ALLOC((alloc_name, so)), FREE((free_name, so))
    _ncclrt._nccl_allocator_use(newest.lib)
    newest.clear()
    p = alloc(4096, 0, None)
    assert p and (p, 4096) in [(a, n) for a, n, _ in _ncclrt._nccl_allocator_segments()]
    free(p, 4096, 0, None)
    assert newest.records() == [
        dict(fn="ncclMemAlloc", send=0, recv=p, count=4096, type=0, op=0, root=-1, comm=0,
             stream=0),
        dict(fn="ncclMemFree", send=p, recv=0, count=0, type=0, op=0, root=-1, comm=0, stream=0)]
    assert p not in [a for a, _, _ in _ncclrt._nccl_allocator_segments()]
    # failures: null for torch (its out-of-memory error), the reason kept
    assert alloc(-1, 0, None) is None
    assert "size must be positive" in _ncclrt._nccl_allocator_error()
    free(0x1234, 8, 0, None)  # not ours: left alone
    assert "is no segment of ncclrt's NCCL allocator" in _ncclrt._nccl_allocator_error()
    assert _ncclrt._nccl_allocator_error() == ""


def test_segments_become_symmetric_windows_once_each_in_allocation_order(newest, cuda):
    comm = newest.comm(4, 1)
    pool = mempool.NcclMemPool(comm)
    assert pool.window and pool.comm is comm
    newest.clear()
    with pool:
        a = cuda.allocate(1 << 20)
        b = cuda.allocate(2 << 20)
        assert fns(newest) == ["ncclMemAlloc", "ncclMemAlloc"]  # nothing registered inside
    regs = [r for r in newest.records() if r["fn"] == "ncclCommWindowRegister"]
    assert [(r["send"], r["count"], r["op"]) for r in regs] == [(a, 1 << 20, WIN_SYM),
                                                                 (b, 2 << 20, WIN_SYM)]
    assert pool.pending() == [] and sorted(pool.segments()) == sorted([(a, 1 << 20),
                                                                       (b, 2 << 20)])
    newest.clear()
    with pool:
        pass
    assert pool.register() == 0 and newest.records() == []  # registered once
    # torch frees a segment: its window goes first, then the memory
    cuda.free(pool.mempool, a)
    assert [(r["fn"], r["send"]) for r in newest.records()] == [
        ("ncclCommWindowDeregister", regs[0]["send"] + 2), ("ncclMemFree", a)]


def test_window_false_registers_buffers(newest, cuda):
    comm = newest.comm(2, 0)
    pool = mempool.NcclMemPool(comm, window=False)
    newest.clear()
    with pool:
        a = cuda.allocate(4096)
    assert [(r["fn"], r["send"], r["count"]) for r in newest.records()] == [
        ("ncclMemAlloc", 0, 4096), ("ncclCommRegister", a, 4096)]
    cuda.free(pool.mempool, a)
    assert fns(newest)[-2:] == ["ncclCommDeregister", "ncclMemFree"]


def test_a_capture_defers_registration_and_register_refuses(newest, cuda):
    comm = newest.comm(2, 0)
    pool = mempool.NcclMemPool(comm, graph_pool=(3, 4))
    newest.clear()
    cuda.capturing = True
    with pool:  # inside a capture: the graph's pool steps aside
        a = cuda.allocate(8192)
    assert cuda.pool_calls == [("end", (3, 4)), ("begin", (3, 4))]
    assert fns(newest) == ["ncclMemAlloc"]  # no registration during the capture
    assert pool.pending() == [(a, 8192)]
    with pytest.raises(ncclrt.UsageError, match="during a CUDA graph capture") as e:
        pool.register()
    assert "Register before capturing" in str(e.value)
    assert fns(newest) == ["ncclMemAlloc"]
    cuda.capturing = False  # the capture ended: the next use of the pool registers
    with pool:
        assert [(r["fn"], r["send"]) for r in newest.records()][1:] == [
            ("ncclCommWindowRegister", a)]
    assert cuda.pool_calls == [("end", (3, 4)), ("begin", (3, 4))]  # no swap outside a capture
    assert pool.pending() == []


def test_pools_register_only_their_own_segments(newest, cuda):
    c1, c2 = newest.comm(2, 0), newest.comm(2, 1)
    p1, p2 = mempool.NcclMemPool(c1, window=False), mempool.NcclMemPool(c2, window=False)
    newest.clear()
    with p1:
        a = cuda.allocate(4096)
    with p2:
        b = cuda.allocate(4096)
    with p1:
        pass
    regs = [(r["comm"], r["send"]) for r in newest.records() if r["fn"] == "ncclCommRegister"]
    assert [s for _, s in regs] == [a, b] and regs[0][0] != regs[1][0]


def test_what_the_loaded_nccl_lacks(old_recorder, stand_ins, cuda):
    with pytest.raises(ncclrt.UnsupportedError, match="ncclMemAlloc needs NCCL >= 2.19"):
        mempool.NcclMemPool(old_recorder.comm())  # 2.12.3
    no_windows = ncclrt.Library.open(stand_ins["recording_22605"])  # 2.26.5: before windows
    comm = ncclrt.Communicator.init_rank(no_windows, 2, 0, no_windows.unique_id())
    assert mempool.NcclMemPool(comm).window is False  # ncclCommRegister by default there
    with pytest.raises(ncclrt.UnsupportedError, match="ncclCommWindowRegister needs NCCL >= 2.27"):
        mempool.NcclMemPool(comm, window=True)


def test_no_library_no_memory(cuda):
    # A fresh process: the allocator has no Library until a pool is made.
    from conftest import run_python
    code = ("import ctypes\nfrom ncclrt import _ncclrt\n"
            "so = ctypes.CDLL(_ncclrt.__file__)\n"
            "f = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int, "
            "ctypes.c_void_p)(('ncclrt_torch_alloc', so))\n"
            "print(f(4096, 0, None)); print(_ncclrt._nccl_allocator_error())\n")
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "None"
    assert "has no Library: make an ncclrt.mempool.NcclMemPool first" in r.stdout


def test_nccl_memory_keeps_one_pool_per_communicator(newest, cuda):
    comm = newest.comm(2, 0)
    pool = mempool.nccl_memory(comm)
    assert mempool.nccl_memory(comm) is pool and pool.graph_pool is None
    assert mempool.nccl_memory(comm, graph_pool=(1, 2)) is pool and pool.graph_pool == (1, 2)
    assert mempool.nccl_memory(newest.comm(2, 1)) is not pool
