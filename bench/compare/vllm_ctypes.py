"""vLLM's NCCLLibrary (vllm.distributed.device_communicators.pynccl_wrapper, a ctypes class), for
the benchmarks to measure ncclrt.pynccl_wrapper against: vLLM's own where vLLM is installed, else
a class written here that calls NCCL the way vLLM 0.33's does per call: a Python method per NCCL
function, the ctypes function (argtypes set) taken from a dict, its result through NCCL_CHECK
(a method call), the ctypes values built by the caller.
"""
import ctypes


class UniqueId(ctypes.Structure):
    _fields_ = [("internal", ctypes.c_byte * 128)]


class CtypesNcclLibrary:
    """NCCL through ctypes, called as vLLM 0.33's NCCLLibrary calls it."""

    def __init__(self, path):
        so = ctypes.CDLL(path)
        vp, i, size = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
        signatures = {
            "ncclGetErrorString": (ctypes.c_char_p, [i]),
            "ncclGetUniqueId": (i, [ctypes.POINTER(UniqueId)]),
            "ncclCommInitRank": (i, [ctypes.POINTER(vp), i, UniqueId, i]),
            "ncclAllReduce": (i, [vp, vp, size, i, i, vp, vp]),
        }
        self._funcs = {}
        for name, (restype, argtypes) in signatures.items():
            f = getattr(so, name)
            f.restype, f.argtypes = restype, argtypes
            self._funcs[name] = f

    def NCCL_CHECK(self, result):
        if result != 0:
            text = self._funcs["ncclGetErrorString"](result).decode()
            raise RuntimeError(f"NCCL error: {text}")

    def ncclGetUniqueId(self):
        uid = UniqueId()
        self.NCCL_CHECK(self._funcs["ncclGetUniqueId"](ctypes.byref(uid)))
        return uid

    def ncclCommInitRank(self, world_size, unique_id, rank):
        comm = ctypes.c_void_p()
        self.NCCL_CHECK(self._funcs["ncclCommInitRank"](ctypes.byref(comm), world_size, unique_id,
                                                        rank))
        return comm

    def ncclAllReduce(self, sendbuff, recvbuff, count, datatype, op, comm, stream):
        self.NCCL_CHECK(self._funcs["ncclAllReduce"](sendbuff, recvbuff, count, datatype, op,
                                                     comm, stream))


def vllm_nccl_library(path):
    """(an NCCLLibrary of vLLM's on `path`, where it came from)."""
    try:
        from vllm.distributed.device_communicators.pynccl_wrapper import NCCLLibrary
        import ncclrt.pynccl_wrapper as ours
        if NCCLLibrary is not ours.NCCLLibrary:  # not aliased to ncclrt's
            return NCCLLibrary(path), "vLLM's own (vllm installed)"
    except Exception:  # noqa: BLE001 (not installed, or it needs a GPU to import)
        pass
    return CtypesNcclLibrary(path), "bench/compare/vllm_ctypes.py (vLLM's per-call steps)"
