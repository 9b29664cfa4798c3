"""A stand-in for the few parts of torch that ncclrt.torch's host-side logic touches, so that the
vLLM class's creation, groups and recovery can be tested on a machine without torch (with the
recording stand-in NCCL). Tensors are fake device pointers seen through
__cuda_array_interface__; nothing here computes. The real torch is used wherever it is installed
(tests/python/test_gpu.py and test_multi_rank.py on the GPU machine)."""
import itertools

from . import cuda, distributed  # noqa: F401

uint8 = "uint8"
float32 = "float32"
_addresses = itertools.count(0x100000, 0x10000)


class device:
    def __init__(self, kind, index=None):
        if isinstance(kind, str) and ":" in kind:
            kind, index = kind.split(":")[0], int(kind.split(":")[1])
        self.type, self.index = kind, index

    def __repr__(self):
        return f"device(type='{self.type}', index={self.index})"


class FakeTensor:
    def __init__(self, n, dtype=float32, address=None):
        typestr = {"float32": "<f4", "uint8": "|u1"}[dtype]
        self.dtype, self.shape = dtype, (n,)
        self.address = next(_addresses) if address is None else address
        self.copied_from = None
        self.__cuda_array_interface__ = dict(data=(self.address, False), shape=(n,),
                                             typestr=typestr, version=3, strides=None)

    def dim(self):
        return 1

    def numel(self):
        return self.shape[0]

    def element_size(self):
        return 4 if self.dtype == float32 else 1

    def data_ptr(self):
        return self.address

    def __getitem__(self, rows):  # a view of rows [start, stop) of dim 0
        start, stop, _ = rows.indices(self.shape[0])
        return FakeTensor(stop - start, self.dtype, self.address + start * self.element_size())

    def copy_(self, other):  # a device copy: remembered, not made
        self.copied_from = other.address
        return self


def zeros(n, device=None, dtype=float32):
    return FakeTensor(n, dtype)


def empty_like(t):
    return FakeTensor(t.shape[0], t.dtype)
