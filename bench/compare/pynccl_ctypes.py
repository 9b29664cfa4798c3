#!/usr/bin/env python3
"""Host time per all_reduce call the pynccl way: NCCL called through Python ctypes.

Run on a GPU machine with torch (for device memory and the stream):
    python3 bench/compare/pynccl_ctypes.py --nccl-lib /path/libnccl.so.2 --json out.json
Prints the median host time per call over interleaved rounds, for 1 KiB and 1 MiB floats.
"""
import argparse
import ctypes
import json
import statistics
import time

import torch


class UniqueId(ctypes.Structure):
    _fields_ = [("internal", ctypes.c_byte * 128)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nccl-lib", required=True)
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--json")
    a = p.parse_args()

    nccl = ctypes.CDLL(a.nccl_lib)
    nccl.ncclAllReduce.restype = ctypes.c_int
    nccl.ncclAllReduce.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                   ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    version = ctypes.c_int()
    assert nccl.ncclGetVersion(ctypes.byref(version)) == 0
    torch.cuda.set_device(0)
    uid = UniqueId()
    assert nccl.ncclGetUniqueId(ctypes.byref(uid)) == 0
    comm = ctypes.c_void_p()
    assert nccl.ncclCommInitRank(ctypes.byref(comm), 1, uid, 0) == 0
    stream = torch.cuda.current_stream()
    rows = []
    for size in (1024, 1 << 20):
        x = torch.ones(size // 4, device="cuda", dtype=torch.float32)
        y = torch.empty_like(x)

        def call():
            # As pynccl does: check the result of every call.
            result = nccl.ncclAllReduce(ctypes.c_void_p(x.data_ptr()), ctypes.c_void_p(y.data_ptr()),
                                        x.numel(), 7, 0, comm, ctypes.c_void_p(stream.cuda_stream))
            assert result == 0

        for _ in range(3 * a.calls):
            call()
        torch.cuda.synchronize()
        per_call = []
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            for _ in range(a.calls):
                call()
            per_call.append((time.perf_counter() - t0) / a.calls * 1e6)
            torch.cuda.synchronize()
        assert torch.equal(y, x)
        rows.append({"size": size, "host_us_per_call": statistics.median(per_call),
                     "host_us_min": min(per_call)})
        print(f"ctypes {size:>8} B: median {statistics.median(per_call):.3f} us/call, "
              f"min {min(per_call):.3f}")
    nccl.ncclCommDestroy(comm)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"path": "python ctypes (pynccl way)", "nccl_version": version.value,
                       "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
