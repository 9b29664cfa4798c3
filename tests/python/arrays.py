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


# The DLPack C exchange table (`__dlpack_c_exchange_api__`, DLPack 1.2+), as torch provides it.
_FromPy = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(DLTensor))
_Stream = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_int32,
                           ctypes.POINTER(ctypes.c_void_p))


class DLPackExchangeAPI(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32),
                ("prev_api", ctypes.c_void_p), ("managed_tensor_allocator", ctypes.c_void_p),
                ("managed_tensor_from_py_object_no_sync", ctypes.c_void_p),
                ("managed_tensor_to_py_object_no_sync", ctypes.c_void_p),
                ("dltensor_from_py_object_no_sync", _FromPy), ("current_work_stream", _Stream)]


EXCHANGE_CALLS = []  # ("tensor", id) and ("stream", device_type, device_id) as the module asks


def _from_py(obj_ptr, out):
    t = ctypes.cast(obj_ptr, ctypes.py_object).value
    EXCHANGE_CALLS.append(("tensor", id(t)))
    if t.requires_grad:  # torch declines to export these; the module must read them another way
        return -1
    shape = (ctypes.c_int64 * max(1, len(t.shape)))(*t.shape)
    strides = (ctypes.c_int64 * max(1, len(t.strides)))(*t.strides)
    t._keep = (shape, strides)
    code, bits = DL_TYPES[t.dtype_name]
    out.contents.data = t.ptr
    out.contents.device = DLDevice(*t.dl_device)
    out.contents.ndim = len(t.shape)
    out.contents.dtype = DLDataType(code, bits, 1)
    out.contents.shape = ctypes.cast(shape, ctypes.POINTER(ctypes.c_int64))
    out.contents.strides = ctypes.cast(strides, ctypes.POINTER(ctypes.c_int64))
    out.contents.byte_offset = 0
    return 0


def _current_stream(device_type, device_id, out):
    EXCHANGE_CALLS.append(("stream", device_type, device_id))
    out[0] = 0x5E00 + device_id
    return 0


_API = DLPackExchangeAPI(1, 2, None, None, None, None, _FromPy(_from_py), _Stream(_current_stream))
_API_NAME = ctypes.create_string_buffer(b"dlpack_exchange_api")  # a capsule keeps the pointer
_API_CAPSULE = _capsule_new(ctypes.addressof(_API), ctypes.cast(_API_NAME, ctypes.c_char_p), None)


class _Dtype:
    def __init__(self, name):
        self.name = name

    def __str__(self):
        return "torch." + self.name


class Tensor:
    """Plays a torch tensor: recognised by its type (module torch..., class Tensor), described
    through the C exchange table, and through torch's methods when the table declines."""
    __module__ = "torch.ncclrt_test"
    __dlpack_c_exchange_api__ = _API_CAPSULE

    def __init__(self, ptr, shape, dtype="float32", device=(2, 2), strides=None,
                 requires_grad=False):
        self.ptr, self.shape, self.dtype_name = ptr, tuple(shape), dtype
        self.dl_device, self.requires_grad = device, requires_grad
        contiguous = []
        step = 1
        for d in reversed(self.shape):
            contiguous.insert(0, step)
            step *= d
        self.strides = tuple(strides) if strides is not None else tuple(contiguous)
        self.dtype = _Dtype(dtype)

    # torch's methods, for the path without the exchange table
    def get_device(self):
        return self.dl_device[1] if self.dl_device[0] == 2 else -1

    def is_contiguous(self):
        return self.strides == Tensor(0, self.shape).strides

    def data_ptr(self):
        return self.ptr

    def numel(self):
        n = 1
        for d in self.shape:
            n *= d
        return n
