"""Objects that describe GPU memory through the array protocols, without a GPU: the module reads
their pointer, shape and type exactly as it reads a real array's."""
import ctypes

# DLPack's C ABI.
class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_Deleter = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _Deleter)]


class DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32),
                ("manager_ctx", ctypes.c_void_p), ("deleter", _Deleter),
                ("flags", ctypes.c_uint64), ("dl_tensor", DLTensor)]


_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]

# DLPack type codes: (code, bits)
DL_TYPES = {"int8": (0, 8), "int32": (0, 32), "int64": (0, 64), "uint8": (1, 8),
            "uint32": (1, 32), "uint64": (1, 64), "float16": (2, 16), "float32": (2, 32),
            "float64": (2, 64), "bfloat16": (4, 16), "float8_e4m3fn": (10, 8),
            "float8_e5m2": (12, 8), "bool": (6, 8), "complex64": (5, 64), "int16": (0, 16)}


class DL:
    """An array seen only through __dlpack__ / __dlpack_device__."""

    # device: (kDLCUDA, 2), where the recording stand-in puts rank 2, the rank the tests use.
    def __init__(self, ptr, shape, dtype="float32", device=(2, 2), strides=None, byte_offset=0,
                 versioned=True, readonly=False, lanes=1):
        self.ptr, self.shape, self.strides = ptr, tuple(shape), strides
        self.code, self.bits = DL_TYPES[dtype]
        self.device, self.byte_offset, self.versioned = device, byte_offset, versioned
        self.readonly, self.lanes = readonly, lanes
        self.requests = []  # the keyword arguments of each __dlpack__ call
        self._keep = []

    def __dlpack_device__(self):
        return self.device

    def __dlpack__(self, stream=None, max_version=None):
        self.requests.append({"stream": stream, "max_version": max_version})
        shape = (ctypes.c_int64 * max(1, len(self.shape)))(*self.shape)
        strides = None
        if self.strides is not None:
            strides = (ctypes.c_int64 * len(self.strides))(*self.strides)
        t = DLTensor(self.ptr, DLDevice(*self.device), len(self.shape),
                     DLDataType(self.code, self.bits, self.lanes), shape,
                     ctypes.cast(strides, ctypes.POINTER(ctypes.c_int64)) if strides else None,
                     self.byte_offset)
        if self.versioned and max_version is not None:
            m = DLManagedTensorVersioned(1, 0, None, _Deleter(), 1 if self.readonly else 0, t)
            name = b"dltensor_versioned"
        else:
            m = DLManagedTensor(t, None, _Deleter())
            name = b"dltensor"
        self._keep.append((shape, strides, m))
        return _capsule_new(ctypes.addressof(m), name, None)


class CAI:
    """An array seen only through __cuda_array_interface__."""

    def __init__(self, ptr, shape, typestr="<f4", readonly=False, strides=None, mask=None,
                 **extra):
        self.__cuda_array_interface__ = dict(data=(ptr, readonly), shape=tuple(shape),
                                             typestr=typestr, strides=strides, version=3, **extra)
        if mask is not None:
            self.__cuda_array_interface__["mask"] = mask


class Stream:
    """A stream through the CUDA stream protocol."""

    def __init__(self, handle):
        self.handle = handle

    def __cuda_stream__(self):
        return (0, self.handle)


class TorchLikeStream:
    """A stream exposing `cuda_stream`, as torch.cuda.Stream does."""

    def __init__(self, handle):
        self.cuda_stream = handle


class CupyLikeStream:
    """A stream exposing `ptr`, as cupy's does."""

    def __init__(self, handle):
        self.ptr = handle
