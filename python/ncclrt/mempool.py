"""NCCL's own memory (ncclMemAlloc) as a torch memory pool, registered with a communicator.

    from ncclrt.mempool import NcclMemPool
    pool = NcclMemPool(comm)            # an ncclrt.Communicator or ncclrt.torch.PyNcclCommunicator
    with pool:                          # torch allocations in here come from ncclMemAlloc
        x = torch.empty(n, device="cuda")
    comm.all_reduce(x)                  # NCCL's registered / symmetric paths

The allocator is two C functions of ncclrt's own extension module (``ncclrt_torch_alloc``,
``ncclrt_torch_free``) that call the loaded NCCL's ncclMemAlloc and ncclMemFree, wrapped in
torch's ``CUDAPluggableAllocator``: no compiler, CUDA headers or NCCL headers where it runs.

Segments are registered with the communicator when the pool's context is entered and left: as
symmetric windows (ncclCommWindowRegister, NCCL >= 2.27: a collective call, so every rank must
use the pool alike) or, with ``window=False`` or an older NCCL, with ncclCommRegister (local).
A segment registered stays so until torch frees it (``empty_cache``, or the pool going), which
deregisters it first. Registration synchronizes, so it never happens during a CUDA graph capture:
a segment allocated while a capture runs is registered when the pool's context is next entered or
left outside a capture (``with pool: pass`` after the capture, before the graph first runs), and
``register()`` called during a capture raises UsageError.
"""
from __future__ import annotations

import atexit
import itertools

import torch

from . import _ncclrt as _nc

__all__ = ["NcclMemPool", "nccl_memory"]

_tokens = itertools.count(1)


def _capturing() -> bool:
    return torch.cuda.is_current_stream_capturing()


def _current_stream() -> int:
    return torch.cuda.current_stream().cuda_stream


class NcclMemPool:
    """A ``torch.cuda.MemPool`` of ncclMemAlloc memory whose segments are registered with `comm`
    (an ncclrt.Communicator, or the vLLM class: its current communicator is used, so a shrink is
    followed). ``window`` picks symmetric windows (default where the loaded NCCL has
    ncclCommWindowRegister) or ncclCommRegister (``False``). ``graph_pool``: while a CUDA graph
    is captured, torch puts the capture's allocations into the graph's own pool; make that pool
    first (``h = torch.cuda.graph_pool_handle()``, captured with ``torch.cuda.graph(g, pool=h)``)
    and pass its id ``h`` here: the context, entered inside the capture, steps it aside so that
    allocations come from this pool, as vLLM does. Memory a graph uses must then stay allocated
    while the graph lives: this pool hands freed blocks out again."""

    def __init__(self, comm, *, window: bool | None = None, graph_pool=None):
        self._owner = comm
        lib = self._comm().library
        lib.require("ncclMemAlloc")
        has_windows = lib.has("ncclCommWindowRegister")
        if window is None:
            window = has_windows
        elif window:
            lib.require("ncclCommWindowRegister")
        else:
            lib.require("ncclCommRegister")
        self.window = bool(window)
        self.graph_pool = graph_pool
        self.library = lib
        self._token = next(_tokens)
        self._seen: set = set()  # segment ids this pool has registered or found foreign
        self._entered: list = []
        _nc._nccl_allocator_use(lib)
        from torch.cuda.memory import CUDAPluggableAllocator
        alloc, free = _nc._nccl_allocator_symbols()
        self._allocator = CUDAPluggableAllocator(_nc.__file__, alloc, free)
        self.mempool = torch.cuda.MemPool(self._allocator.allocator())

    def _comm(self):
        return getattr(self._owner, "comm", self._owner)

    @property
    def comm(self):
        """The communicator the segments are registered with."""
        return self._comm()

    def segments(self) -> list:
        """(address, bytes) of each segment the pool holds now."""
        return [(s["address"], s["total_size"]) for s in self.mempool.snapshot()]

    def pending(self) -> list:
        """(address, bytes) of the segments not registered yet."""
        mine = {a for a, _ in self.segments()}
        return [(a, n) for a, n, i in _nc._nccl_allocator_segments()
                if a in mine and i not in self._seen]

    def register(self) -> int:
        """Registers every segment not registered yet; returns how many. Refused with
        UsageError during a CUDA graph capture (registration synchronizes)."""
        if _capturing():
            raise _nc.UsageError(
                "NcclMemPool.register during a CUDA graph capture: registration synchronizes and "
                "would invalidate the capture. Register before capturing (run the step once "
                "outside the capture), or leave it to the pool's context, which registers when "
                "it is next entered or left outside a capture")
        return self._register()

    def _register(self) -> int:
        segments = _nc._nccl_allocator_segments()
        if all(i in self._seen for _, _, i in segments):
            return 0  # nothing new: no snapshot
        mine = {a for a, _ in self.segments()}
        comm, stream, done = self._comm(), _current_stream(), 0
        for address, _, seg_id in sorted(segments, key=lambda s: s[2]):  # allocation order
            if seg_id in self._seen:
                continue
            if address in mine:
                done += _nc._nccl_allocator_register(comm, address, self._token, self.window,
                                                     stream)
            self._seen.add(seg_id)  # a foreign segment is never this pool's
        return done

    def __enter__(self):
        capturing = _capturing()
        if not capturing:
            self._register()
        _nc._nccl_allocator_use(self.library)
        device = torch.cuda.current_device()
        swap = capturing and self.graph_pool is not None
        if swap:  # allocations on the capture stream go to the first pool begun: step it aside
            torch._C._cuda_endAllocateToPool(device, self.graph_pool)
        context = torch.cuda.use_mem_pool(self.mempool)
        context.__enter__()
        self._entered.append((context, device, swap))
        return self

    def __exit__(self, exc_type, exc, tb):
        context, device, swap = self._entered.pop()
        context.__exit__(exc_type, exc, tb)
        if swap:
            torch._C._cuda_beginAllocateCurrentThreadToPool(device, self.graph_pool)
        if exc is not None:
            reason = _nc._nccl_allocator_error()
            if reason and isinstance(exc, torch.OutOfMemoryError):
                exc.add_note(f"ncclrt's NCCL allocator: {reason}")
            return False
        if not _capturing():  # else deferred to the next entry or exit outside a capture
            self._register()
        return False


_POOLS: dict = {}
atexit.register(_POOLS.clear)  # the pools (and their communicators) go as module globals do


def nccl_memory(comm, *, window: bool | None = None, graph_pool=None) -> NcclMemPool:
    """The NcclMemPool of `comm` (one per communicator, made on first use): ``with
    nccl_memory(comm):`` allocates from it. `window` applies when the pool is made;
    `graph_pool` is set on every call."""
    entry = _POOLS.get(id(comm))
    if entry is None or entry[0] is not comm:
        entry = _POOLS[id(comm)] = (comm, NcclMemPool(comm, window=window))
    entry[1].graph_pool = graph_pool
    return entry[1]
