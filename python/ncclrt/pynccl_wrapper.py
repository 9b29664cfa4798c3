"""vLLM's NCCL wrapper (``vllm.distributed.device_communicators.pynccl_wrapper``, vLLM 0.33), with
ncclrt underneath.

    from ncclrt.pynccl_wrapper import NCCLLibrary, buffer_type, cudaStream_t
    nccl = NCCLLibrary()                     # so_file=None: ncclrt's discovery
    comm = nccl.ncclCommInitRank(world_size, nccl.ncclGetUniqueId(), rank)
    nccl.ncclAllReduce(buffer_type(x.data_ptr()), buffer_type(y.data_ptr()), x.numel(),
                       ncclDataTypeEnum.from_torch(x.dtype), ncclRedOpTypeEnum.ncclSum, comm,
                       cudaStream_t(torch.cuda.current_stream().cuda_stream))
    nccl.ncclAllReduce(xp, yp, n, 7, 0, comm, sp)   # the same call with plain ints: the fast path

Every name of vLLM's module, with its arguments, types and return values. What differs:

- Underneath is ncclrt: the library is probed in a separate process before it is loaded, every
  method is gated by the loaded NCCL's version (one newer than it raises
  ``ncclrt.UnsupportedError`` naming the release it needs), every call is checked before it
  reaches NCCL and recorded by the flight recorder, and ``ncclCommAbort`` is bounded.
- Errors are ncclrt's exceptions, all ``RuntimeError`` subclasses whose text is ``NCCL_CHECK``'s:
  "NCCL error: <NCCL's string>" with "\\nLast error:\\n<ncclGetLastError>" where NCCL said more
  (``ncclrt.NcclError``, which keeps ``result``, ``last_error``, ``call`` and ``version``); an
  error ncclrt finds before NCCL reads "NCCL error: <what ncclrt found>".
- ``ncclCommInitRank`` returns an ``ncclComm_t`` whose value is NCCL's handle and whose
  ``.communicator`` is the ``ncclrt.Communicator`` it wraps: hand either to ncclrt's own API.
- ``ncclGetVersion`` decodes both of NCCL's version encodings ("2.20.0", not "2.20.").
- ``ncclDataTypeEnum`` has NCCL's ``ncclFloat8e5m2`` (11) and ``ncclNumTypes`` (12).
- vLLM's private ``_funcs`` (its ctypes function table) does not exist.

Standing in for vLLM's module (then vLLM's ``PyNcclCommunicator`` runs on ncclrt), before vLLM
imports it:

    import sys, ncclrt.pynccl_wrapper
    sys.modules["vllm.distributed.device_communicators.pynccl_wrapper"] = ncclrt.pynccl_wrapper

Nothing here imports torch until ``from_torch`` and friends are called.
"""
from __future__ import annotations

import atexit
import ctypes
import threading

from . import _ncclrt as _nc

__all__ = [
    "NCCLLibrary",
    "ncclDataTypeEnum",
    "ncclRedOpTypeEnum",
    "ncclUniqueId",
    "ncclComm_t",
    "ncclWindow_t",
    "cudaStream_t",
    "buffer_type",
    "ncclResult_t",
    "ncclDataType_t",
    "ncclRedOp_t",
    "ncclCommProperties",
    "NCCL_UNIQUE_ID_BYTES",
    "NCCL_COMM_PROPERTIES_LAYOUT_VERSION",
    "communicator_of",
]

# NCCL's C types as ctypes types (vLLM's names).
ncclResult_t = ctypes.c_int
ncclComm_t = ctypes.c_void_p
ncclWindow_t = ctypes.c_void_p
cudaStream_t = ctypes.c_void_p
buffer_type = ctypes.c_void_p
ncclDataType_t = ctypes.c_int
ncclRedOp_t = ctypes.c_int


class ncclUniqueId(ctypes.Structure):
    """NCCL's ncclUniqueId: 128 opaque bytes, passed by value."""
    _fields_ = [("internal", ctypes.c_byte * 128)]


NCCL_UNIQUE_ID_BYTES = ctypes.sizeof(ncclUniqueId)

# The layout of ncclCommProperties below is NCCL 2.31.2's; a caller filling it through NCCL must
# declare no newer version than this (NCCL reads the fields by version, not by size).
NCCL_COMM_PROPERTIES_LAYOUT_VERSION = 23102


class ncclCommProperties(ctypes.Structure):
    """NCCL's ncclCommProperties_t (nccl_device/core.h), as vLLM declares it (2.31.2, 144
    bytes). NCCLLibrary.ncclCommQueryProperties fills it from ncclrt's query, which reads the
    fields up to railedGinType (NCCL 2.30.7's layout); the 2.31 fields stay zero."""
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("magic", ctypes.c_uint),
        ("version", ctypes.c_uint),
        ("rank", ctypes.c_int),
        ("nRanks", ctypes.c_int),
        ("cudaDev", ctypes.c_int),
        ("nvmlDev", ctypes.c_int),
        ("deviceApiSupport", ctypes.c_bool),
        ("multimemSupport", ctypes.c_bool),
        ("ginType", ctypes.c_int),
        ("nLsaTeams", ctypes.c_int),
        ("hostRmaSupport", ctypes.c_bool),
        ("railedGinType", ctypes.c_int),
        ("commHash", ctypes.c_uint64),  # 2.31
        ("ginMinStride", ctypes.c_int),
        ("ginConnectionType", ctypes.c_int),
        ("ginSupport", ctypes.c_bool * 64),
        ("devCommRuntimeVersionSize", ctypes.c_size_t),
    ]


class ncclDataTypeEnum:
    """NCCL's ncclDataType_t values, and torch dtypes mapped to them."""
    ncclInt8 = 0
    ncclChar = 0
    ncclUint8 = 1
    ncclInt32 = 2
    ncclInt = 2
    ncclUint32 = 3
    ncclInt64 = 4
    ncclUint64 = 5
    ncclFloat16 = 6
    ncclHalf = 6
    ncclFloat32 = 7
    ncclFloat = 7
    ncclFloat64 = 8
    ncclDouble = 8
    ncclBfloat16 = 9
    ncclFloat8e4m3 = 10
    ncclFloat8e5m2 = 11
    ncclNumTypes = 12

    _by_torch = None

    @classmethod
    def _torch_types(cls) -> dict:
        if cls._by_torch is None:
            import torch
            table = {torch.int8: cls.ncclInt8, torch.uint8: cls.ncclUint8,
                     torch.int32: cls.ncclInt32, torch.int64: cls.ncclInt64,
                     torch.float16: cls.ncclFloat16, torch.float32: cls.ncclFloat32,
                     torch.float64: cls.ncclFloat64, torch.bfloat16: cls.ncclBfloat16}
            for name, value in (("float8_e4m3fn", cls.ncclFloat8e4m3),
                                ("float8_e5m2", cls.ncclFloat8e5m2)):
                if hasattr(torch, name):  # torch >= 2.1
                    table[getattr(torch, name)] = value
            cls._by_torch = table
        return cls._by_torch

    @classmethod
    def supports_torch_dtype(cls, dtype) -> bool:
        return dtype in cls._torch_types()

    @classmethod
    def try_from_torch(cls, dtype) -> int | None:
        return cls._torch_types().get(dtype)

    @classmethod
    def from_torch(cls, dtype) -> int:
        value = cls._torch_types().get(dtype)
        if value is None:
            raise ValueError(f"NCCL has no data type for torch's {dtype}; it takes int8, uint8, "
                             "int32, int64, float16, float32, float64, bfloat16, float8_e4m3fn "
                             "and float8_e5m2")
        return value


class ncclRedOpTypeEnum:
    """NCCL's ncclRedOp_t values, and torch's ReduceOp mapped to them."""
    ncclSum = 0
    ncclProd = 1
    ncclMax = 2
    ncclMin = 3
    ncclAvg = 4
    ncclNumOps = 5

    @classmethod
    def from_torch(cls, op) -> int:
        from torch.distributed import ReduceOp
        for theirs, ours in ((ReduceOp.SUM, cls.ncclSum), (ReduceOp.PRODUCT, cls.ncclProd),
                             (ReduceOp.MAX, cls.ncclMax), (ReduceOp.MIN, cls.ncclMin),
                             (ReduceOp.AVG, cls.ncclAvg)):
            if op == theirs:
                return ours
        raise ValueError(f"NCCL has no reduce op for torch's {op}; it takes SUM, PRODUCT, MAX, "
                         "MIN and AVG")


class _Comm(ncclComm_t):
    """What ncclCommInitRank returns: an ncclComm_t whose value is NCCL's handle, and whose
    ``communicator`` is the ncclrt.Communicator that owns it."""

    def __repr__(self):
        return f"ncclComm_t(0x{self.value or 0:x}, {self.communicator!r})"


class _Window(ncclWindow_t):
    """What ncclCommWindowRegister returns: an ncclWindow_t whose value is NCCL's handle, and
    whose ``window`` is the ncclrt.Window that owns it."""

    def __repr__(self):
        return f"ncclWindow_t(0x{self.value or 0:x})"


# NCCL's handle -> the ncclrt object behind it, for what NCCLLibrary made. The compiled
# collectives read _communicators (see _ncclrt._bind_nccl_library).
_communicators: dict = {}
_windows: dict = {}
_groups = threading.local()  # this thread's open groups (NCCL's groups are per thread)

_RESULT_NAMES = ("ncclSuccess", "ncclUnhandledCudaError", "ncclSystemError", "ncclInternalError",
                 "ncclInvalidArgument", "ncclInvalidUsage", "ncclRemoteError", "ncclInProgress",
                 "ncclTimeout")


def _integer(x) -> int:
    """An int argument given as an int or a ctypes value (None, a null pointer, is 0)."""
    if isinstance(x, int):
        return x
    value = getattr(x, "value", x)
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    raise _nc.UsageError(f"NCCL error: expected an int or a ctypes value; got {x!r}")


def _in_nccl_words(e: Exception) -> Exception:
    """ncclrt's exception `e` as NCCL_CHECK words it, of the same class (NcclError keeps its
    fields)."""
    text = str(e)
    if text.startswith("NCCL error: "):
        return e
    if isinstance(e, _nc.NcclError):
        text = f"NCCL error: {e.result_string}"
        if e.last_error:
            text += f"\nLast error:\n{e.last_error}"
        out = _nc.NcclError(text)
        for field in ("result", "result_name", "result_string", "last_error", "call", "version"):
            setattr(out, field, getattr(e, field))
        return out
    return type(e)("NCCL error: " + text)


class _Checked:
    """Re-raises ncclrt's exceptions in NCCL_CHECK's words."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None and isinstance(exc, _nc.Error):
            out = _in_nccl_words(exc)
            if out is not exc:
                raise out from None
        return False


_checked = _Checked()


def communicator_of(comm) -> _nc.Communicator:
    """The ncclrt.Communicator behind `comm`: what NCCLLibrary.ncclCommInitRank returned, its
    handle as an int or ctypes value, or an ncclrt.Communicator itself."""
    if isinstance(comm, _Comm):
        return comm.communicator
    if isinstance(comm, _nc.Communicator):
        return comm
    handle = _integer(comm)
    found = _communicators.get(handle)
    if found is None:
        raise _nc.UsageError(f"NCCL error: comm 0x{handle:x} is no communicator NCCLLibrary made "
                             "(ncclCommInitRank), or it was destroyed or aborted")
    return found


def _forget(communicator) -> None:
    for handle in [h for h, c in _communicators.items() if c is communicator]:
        del _communicators[handle]
    for handle in [h for h, w in _windows.items() if w[0] is communicator]:
        del _windows[handle]  # NCCL freed them with the communicator
    _nc._forget_nccl_library_comm(communicator)


class NCCLLibrary:
    """One NCCL file, opened by ncclrt (vLLM's NCCLLibrary). ``so_file=None`` is ncclrt's
    discovery ($NCCLRT_NCCL_LIB, then the usual places); the same path gives the same loaded
    library (``path_to_library_cache``, a class attribute, as ncclrt's own cache)."""

    # so_file as given, and the path opened -> ncclrt.Library
    path_to_library_cache: dict = {}

    def __init__(self, so_file: str | None = None):
        lib = NCCLLibrary.path_to_library_cache.get(so_file)
        if lib is None:
            lib = _nc.Library.open(so_file)
            NCCLLibrary.path_to_library_cache[so_file] = lib
            NCCLLibrary.path_to_library_cache.setdefault(lib.path, lib)
        self.lib = lib
        self.so_file = lib.path

    def __repr__(self):
        return f"NCCLLibrary({self.lib!r})"

    def has_symbol(self, name: str) -> bool:
        """Whether the loaded NCCL has the function `name` and ncclrt may call it (the version
        reaches the release that has it)."""
        try:
            return self.lib.has(name)
        except _nc.UsageError:  # no NCCL function ncclrt knows
            return False

    def ncclGetErrorString(self, result) -> str:
        return self.lib.error_string(_integer(result))

    def ncclGetLastError(self) -> str | None:
        """NCCL's text about its last failure (None where the loaded NCCL cannot say, or said
        nothing). NCCL keeps it after later calls succeed: read it right after a failure."""
        if not self.lib.has("ncclGetLastError"):
            return None
        return self.lib.last_error() or None

    def NCCL_CHECK(self, result) -> None:
        """Raises ncclrt.NcclError, "NCCL error: <string>" (and the last error), unless
        `result` is ncclSuccess."""
        code = _integer(result)
        if code == 0:
            return
        string = self.ncclGetErrorString(code)
        last = self.ncclGetLastError()
        text = f"NCCL error: {string}" + (f"\nLast error:\n{last}" if last else "")
        e = _nc.NcclError(text)
        e.result = code
        e.result_name = _RESULT_NAMES[code] if 0 <= code < len(_RESULT_NAMES) else str(code)
        e.result_string = string
        e.last_error = last or ""
        e.call = "NCCL_CHECK"
        e.version = str(self.lib.version)
        raise e

    def ncclGetRawVersion(self) -> int:
        return self.lib.version.code

    def ncclGetVersion(self) -> str:
        return str(self.lib.version)

    def ncclGetUniqueId(self) -> ncclUniqueId:
        with _checked:
            return self.unique_id_from_bytes(self.lib.unique_id().bytes)

    def unique_id_from_bytes(self, data: bytes) -> ncclUniqueId:
        if len(data) != NCCL_UNIQUE_ID_BYTES:
            raise ValueError(f"an ncclUniqueId is {NCCL_UNIQUE_ID_BYTES} bytes; got {len(data)}")
        uid = ncclUniqueId()
        ctypes.memmove(uid.internal, bytes(data), NCCL_UNIQUE_ID_BYTES)
        return uid

    def ncclCommInitRank(self, world_size: int, unique_id, rank: int) -> ncclComm_t:
        """ncclrt's Communicator.init_rank on the current CUDA device; returns its ncclComm_t
        (``.communicator`` is the ncclrt.Communicator, recorded and bounded as any other)."""
        if isinstance(unique_id, ncclUniqueId):
            uid = _nc.UniqueId(bytes(unique_id.internal))
        elif isinstance(unique_id, _nc.UniqueId):
            uid = unique_id
        else:
            uid = _nc.UniqueId(bytes(unique_id))
        with _checked:
            communicator = _nc.Communicator.init_rank(self.lib, _integer(world_size),
                                                      _integer(rank), uid)
        comm = _Comm(communicator.native)
        comm.communicator = communicator
        _communicators[communicator.native] = communicator
        return comm

    def ncclCommDestroy(self, comm) -> None:
        """ncclrt's destroy (bounded where the communicator has a deadline)."""
        communicator = communicator_of(comm)
        try:
            with _checked:
                communicator.destroy()
        finally:
            if not communicator.valid:
                _forget(communicator)

    def ncclCommAbort(self, comm) -> None:
        """ncclrt's abort: never waits for peers, bounded ($NCCLRT_ABORT_TIMEOUT_MS)."""
        communicator = communicator_of(comm)
        communicator.abort()
        _forget(communicator)

    def ncclCommSuspend(self, comm, flags: int) -> None:
        """NCCL >= 2.29.7; operations are refused until ncclCommResume."""
        communicator = communicator_of(comm)
        with _checked:
            communicator.suspend(_nc.SuspendFlags(_integer(flags)))

    def ncclCommResume(self, comm) -> None:
        communicator = communicator_of(comm)
        with _checked:
            self.lib.require("ncclCommResume")  # before the state: an old NCCL says so
            communicator.resume()

    def ncclGroupStart(self) -> None:
        group = _nc.Group(self.lib)
        with _checked:
            group.__enter__()
        stack = getattr(_groups, "stack", None)
        if stack is None:
            stack = _groups.stack = []
        stack.append(group)

    def ncclGroupEnd(self) -> None:
        stack = getattr(_groups, "stack", None)
        if not stack:
            raise _nc.UsageError("NCCL error: ncclGroupEnd without ncclGroupStart on this thread")
        with _checked:
            stack.pop().__exit__(None, None, None)

    def ncclCommWindowRegister(self, comm, buff, size: int, win_flags: int) -> ncclWindow_t:
        """ncclrt's register_window; refused during a CUDA-graph capture ncclrt can see."""
        communicator = communicator_of(comm)
        with _checked:
            window = communicator.register_window(_integer(buff), _integer(size),
                                                  flags=_integer(win_flags))
        out = _Window(window.native)
        out.window = window
        _windows[window.native] = (communicator, window)
        return out

    def ncclCommWindowDeregister(self, comm, window) -> None:
        communicator_of(comm)
        handle = _integer(window)
        entry = _windows.pop(handle, None)
        if entry is None:
            raise _nc.UsageError(f"NCCL error: window 0x{handle:x} is no window NCCLLibrary "
                                 "registered, or it was deregistered")
        with _checked:
            entry[1].close()

    def ncclCommQueryProperties(self, comm) -> ncclCommProperties:
        """ncclCommQueryProperties (NCCL >= 2.29.2) through ncclrt: the fields NCCL 2.30.7
        declares (those the loaded NCCL fills), in vLLM's struct."""
        with _checked:
            p = communicator_of(comm).properties()
        out = ncclCommProperties()
        out.size = ctypes.sizeof(out)
        out.magic = 0xCAFEBEEF
        out.version = p.layout.code
        out.rank, out.nRanks, out.cudaDev, out.nvmlDev = p.rank, p.size, p.cuda_device, p.nvml_device
        out.deviceApiSupport, out.multimemSupport = p.device_api_support, p.multimem_support
        out.ginType = p.gin_type
        out.nLsaTeams = p.lsa_teams or 0
        out.hostRmaSupport = bool(p.host_rma_support)
        out.railedGinType = p.railed_gin_type or 0
        return out

    # ncclAllReduce, ncclReduce, ncclReduceScatter, ncclAllGather, ncclBroadcast, ncclSend and
    # ncclRecv are compiled (python/src/nccl_library.cpp), bound below.


def _ctypes_ints():
    """(type, signed) of ctypes' integer and pointer types, each once (some are aliases)."""
    out = []
    for name in ("c_void_p", "c_size_t", "c_ssize_t", "c_int", "c_uint", "c_long", "c_ulong",
                 "c_longlong", "c_ulonglong", "c_int32", "c_uint32", "c_int64", "c_uint64"):
        t = getattr(ctypes, name)
        if all(t is not seen for seen, _ in out):
            out.append((t, name not in ("c_void_p", "c_size_t") and "_u" not in name
                        and not name.startswith("c_u")))
    return out


_nc._bind_nccl_library(NCCLLibrary, _communicators, _ctypes_ints())
atexit.register(_nc._release_nccl_library)
