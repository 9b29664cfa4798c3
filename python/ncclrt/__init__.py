"""ncclrt: NCCL loaded at run time, from Python.

Open NCCL (a path, $NCCLRT_NCCL_LIB, or discovery), make communicators, and run every NCCL
operation on torch tensors, cupy arrays, anything with ``__cuda_array_interface__`` or
``__dlpack__``, or raw device pointers. Every operation is safe to capture in a CUDA graph;
errors are exceptions that say what, where, why and what to try.

    import ncclrt, torch
    lib = ncclrt.Library.open()
    comm = ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id())
    x = torch.ones(1024, device="cuda")
    comm.all_reduce(x)              # in place, on torch's current stream

Nothing here imports torch, cupy or CUDA; NCCL is loaded when a Library is opened.
"""
from ._ncclrt import (  # noqa: F401
    SPLIT_NOCOLOR,
    WIN_COLL_SYMMETRIC,
    WIN_DEFAULT,
    Capability,
    CollConfig,
    AgreementStore,
    Communicator,
    Config,
    DataType,
    DirectoryStore,
    Error,
    Group,
    Library,
    LoadError,
    MemoryStats,
    NcclError,
    NcclMemory,
    PreMulSum,
    ProbeResult,
    ReduceOp,
    Registration,
    ScalarResidence,
    SearchStep,
    SignalWait,
    SuspendFlags,
    Suspension,
    TimeoutError,
    TraceLabel,
    UniqueId,
    UnsupportedError,
    UsageError,
    Version,
    Watchdog,
    Window,
    __version__,
    agree_on_failed_ranks,
    dump_traces,
    max_ctas_for_shared_gpu,
    probe,
    set_log_level,
    size_of,
)


def _hand_over_the_environment():
    # Discovery looks for pip's NCCL (nvidia/nccl/lib) in this interpreter's own package
    # directories, read here in-process: no interpreter is started to ask, and the NCCL found is
    # the one PyTorch in the same environment loads.
    import os
    import sys
    from . import _ncclrt
    _ncclrt._set_python_environment([os.path.abspath(p or os.curdir) for p in sys.path])


_hand_over_the_environment()


def group(lib=None, timeout=None):
    """``with ncclrt.group(lib):`` issues ncclGroupStart, and ncclGroupEnd on leaving.

    `lib` is a Library, a Communicator (its library), or None (the NCCL discovery finds). On
    nonblocking communicators the end waits until each one used inside has enqueued its work,
    within `timeout` seconds (else each communicator's own deadline).
    """
    if isinstance(lib, Communicator):
        lib = lib.library
    return Group(lib, timeout)


__all__ = [name for name in dir() if not name.startswith("_")]
