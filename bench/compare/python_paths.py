#!/usr/bin/env python3
"""Host time per all_reduce call from Python, every path side by side in one process, against the
C++ direct call measured by `ncclrt bench overhead` in the same run.

    python3 bench/compare/python_paths.py --nccl-lib /path/libnccl.so.2 \
        [--tool build-gpu/tools/ncclrt/ncclrt] --json out.json --markdown out.md

One GPU, one rank, float32 all_reduce out of place at 1 KiB and 1 MiB (the workload of
`ncclrt bench overhead`). Each path issues batches of --calls calls; batches of all paths are
interleaved round by round (the order rotates) and the median of --rounds batches is reported,
after a synchronize that is not timed. Paths that are not installed are listed as such.

Then in place (the same tensor as send and recv): on one rank NCCL does no GPU work then (about
0.2 us of its own), so the binding's own cost is what differs between the paths. Every path's
call is the body of its own generated loop (no lambda around it), --in-place-calls calls a batch,
batches interleaved, the median of --in-place-rounds. bench/compare/table.py prints that table
from the JSON, with the issue's targets. Without --tool the C++ cross-check is left out.
"""
import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # vllm_ctypes, table


def cpp_overhead(tool, lib, calls, rounds):
    """`ncclrt bench overhead` (C++ direct call and ncclrt's C++ API), as JSON rows by size."""
    out = f"/tmp/ncclrt-overhead-{os.getpid()}.json"
    subprocess.run([tool, "bench", "overhead", "--nccl-lib", lib, "-n", str(calls), "--rounds",
                    str(rounds), "-J", out], check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        data = json.load(f)
    return data, {r["size"]: r for r in data["rows"]}


class UniqueId(ctypes.Structure):
    _fields_ = [("internal", ctypes.c_byte * 128)]


class OneRank:
    """The group vLLM's class is given: one rank, whose broadcast of the unique id is itself."""
    rank, world_size = 0, 1

    def broadcast_obj(self, obj, src):
        return obj


def ctypes_comm(lib_path):
    """NCCL through ctypes as vLLM's NCCLLibrary binds it, and a communicator of one rank."""
    nccl = ctypes.CDLL(lib_path)
    nccl.ncclAllReduce.restype = ctypes.c_int
    nccl.ncclAllReduce.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                   ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    uid = UniqueId()
    assert nccl.ncclGetUniqueId(ctypes.byref(uid)) == 0
    raw_comm = ctypes.c_void_p()
    assert nccl.ncclCommInitRank(ctypes.byref(raw_comm), 1, uid, 0) == 0
    return nccl, raw_comm


def one_rank_vllm(lib_path):
    from ncclrt.torch import PyNcclCommunicator
    return PyNcclCommunicator(OneRank(), device=torch.cuda.current_device(),
                              library_path=lib_path)


def make_paths(lib_path, size, skipped):
    """{name: call} for every path that can run here; `skipped` gets {name: why} for the rest."""
    import ncclrt

    n = size // 4
    x = torch.ones(n, device="cuda")
    y = torch.empty_like(x)
    stream = torch.cuda.current_stream()  # the non-blocking stream main() made current
    paths = {}

    lib = ncclrt.Library.open(lib_path)
    comm = ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id())
    xp, yp, sp = x.data_ptr(), y.data_ptr(), stream.cuda_stream
    f32 = ncclrt.DataType.FLOAT32
    paths["ncclrt: torch tensors, stream=None"] = lambda: comm.all_reduce(x, y)
    paths["ncclrt: torch tensors, stream=torch.cuda.Stream"] = (
        lambda: comm.all_reduce(x, y, stream=stream))
    paths["ncclrt: raw int pointers, count=, dtype=, stream=int"] = (
        lambda: comm.all_reduce(xp, yp, count=n, dtype=f32, stream=sp))
    # These two split the torch path's cost: one tensor vs two, and the stream lookup.
    paths["ncclrt: one torch tensor (in place), stream=int"] = (
        lambda: comm.all_reduce(x, stream=sp))
    paths["ncclrt: torch tensors, stream=int"] = lambda: comm.all_reduce(x, y, stream=sp)

    vllm = one_rank_vllm(lib_path)
    paths["ncclrt.torch.PyNcclCommunicator.all_reduce(x, y)"] = lambda: vllm.all_reduce(x, y)

    # The baseline: ncclAllReduce called from C in a loop, same process, comm, buffers, stream.
    loop = ctypes.CDLL(_direct_loop_library())
    loop.direct_loop.restype = ctypes.c_double
    loop.direct_loop.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    fn = ctypes.cast(ctypes.CDLL(lib_path).ncclAllReduce, ctypes.c_void_p).value
    native = comm.native

    def direct_batch(calls):
        us = loop.direct_loop(fn, xp, yp, n, native, sp, calls)
        assert us >= 0, "direct ncclAllReduce failed"
        return us
    paths[DIRECT] = direct_batch

    # The pynccl way: ctypes, checking every result (vLLM's NCCLLibrary).
    nccl, raw_comm = ctypes_comm(lib_path)

    def ctypes_call():
        assert nccl.ncclAllReduce(ctypes.c_void_p(x.data_ptr()), ctypes.c_void_p(y.data_ptr()),
                                  x.numel(), 7, 0, raw_comm,
                                  ctypes.c_void_p(stream.cuda_stream)) == 0
    paths["Python ctypes (the pynccl way)"] = ctypes_call
    current = torch._C._cuda_getCurrentRawStream
    dev = torch.cuda.current_device()

    def ctypes_on_current_stream():  # for capture: the capture stream is the current one
        assert nccl.ncclAllReduce(ctypes.c_void_p(x.data_ptr()), ctypes.c_void_p(y.data_ptr()),
                                  x.numel(), 7, 0, raw_comm, ctypes.c_void_p(current(dev))) == 0

    try:
        import cupy
        from cupy.cuda import nccl as cnccl
        cc = cnccl.NcclCommunicator(1, cnccl.get_unique_id(), 0)
        paths["cupy.cuda.nccl allReduce (ints)"] = (
            lambda: cc.allReduce(x.data_ptr(), y.data_ptr(), n, cnccl.NCCL_FLOAT32,
                                 cnccl.NCCL_SUM, stream.cuda_stream))
        cx = cupy.ones(n, dtype=cupy.float32)
        cy = cupy.empty_like(cx)
        cs = cupy.cuda.ExternalStream(sp)  # (deprecated in cupy 14, still there)
        paths["ncclrt: cupy arrays, stream=cupy stream"] = lambda: comm.all_reduce(cx, cy, stream=cs)
    except Exception as e:  # noqa: BLE001
        skipped["cupy"] = f"{type(e).__name__}: {e}"

    try:
        import nccl.core as nc4
        uid4 = nc4.get_unique_id()
        c4 = nc4.Communicator.init(1, 0, uid4)
        op = getattr(nc4, "SUM", None)
        if op is None:
            op = nc4.NcclRedOp.SUM
        c4.allreduce(x, y, op, stream=sp)
        paths["nccl4py (nccl.core) allreduce(torch tensors)"] = (
            lambda: c4.allreduce(x, y, op, stream=sp))
    except Exception as e:  # noqa: BLE001
        skipped["nccl4py"] = f"{type(e).__name__}: {e}"
    return paths, (x, y, ctypes_on_current_stream)


DIRECT = "C direct call of ncclAllReduce (same process, comm, buffers, stream)"


def _direct_loop_library():
    here = os.path.dirname(os.path.abspath(__file__))
    out = f"/tmp/ncclrt-direct-loop-{os.getpid()}.so"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", out,
                    os.path.join(here, "direct_loop.c")], check=True)
    return out


def measure(paths, calls, rounds):
    names = list(paths)

    def batch(name):
        if name == DIRECT:
            return paths[name](calls)
        call = paths[name]
        t0 = time.perf_counter()
        for _ in range(calls):
            call()
        return (time.perf_counter() - t0) / calls * 1e6

    for name in names:  # warm up
        for _ in range(3):
            batch(name)
    torch.cuda.synchronize()
    times = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            times[name].append(batch(name))
            torch.cuda.synchronize()
    return {name: {"host_us_per_call": statistics.median(t), "host_us_min": min(t)}
            for name, t in times.items()}


def in_place_paths(lib_path, skipped):
    """(statement, names) per path for the in-place runs: each statement is one call, run as the
    body of a generated loop; `skipped` gets {name: why} for the paths that cannot run here."""
    import ncclrt

    n = 256
    x = torch.ones(n, device="cuda")
    stream = torch.cuda.current_stream()  # the non-blocking stream main() made current
    xp, sp = x.data_ptr(), stream.cuda_stream
    lib = ncclrt.Library.open(lib_path)
    comm = ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id())
    # The same calls with the flight recorder off: what the recorder, on by default, costs a call.
    quiet = ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id(),
                                          ncclrt.Config(trace_entries=0))

    vllm = one_rank_vllm(lib_path)
    names = dict(x=x, xp=xp, n=n, sp=sp, comm=comm, quiet=quiet, vllm=vllm,
                 f32=ncclrt.DataType.FLOAT32, f=lambda: None)
    paths = {
        "empty loop": "pass",
        "empty Python call": "f()",
        "ncclrt: torch tensors all_reduce(x, x)": "comm.all_reduce(x, x)",
        "ncclrt: torch tensor all_reduce(x)": "comm.all_reduce(x)",
        "ncclrt: torch tensors, stream=int all_reduce(x, x, stream=int)":
            "comm.all_reduce(x, x, stream=sp)",
        "ncclrt: raw ints all_reduce(p, p, count=, dtype=, stream=int)":
            "comm.all_reduce(xp, xp, count=n, dtype=f32, stream=sp)",
        "ncclrt, recorder off: raw ints": "quiet.all_reduce(xp, xp, count=n, dtype=f32, stream=sp)",
        "ncclrt, recorder off: torch tensors all_reduce(x, x)": "quiet.all_reduce(x, x)",
        "ncclrt.torch.PyNcclCommunicator.all_reduce(x, x) (vLLM class)": "vllm.all_reduce(x, x)",
    }
    try:  # the floor: a nanobind function of the same ints calling ncclAllReduce's pointer
        import _ncclrt_bench as bench
        bench.set_target(ctypes.cast(ctypes.CDLL(lib_path).ncclAllReduce, ctypes.c_void_p).value,
                         comm.native)
        names["floor"] = bench.floor_nogil
        paths["nanobind floor (ints, GIL released), same comm"] = "floor(xp, xp, n, 7, 0, sp)"
        # The same call holding the GIL: what releasing it (every binding here does) costs.
        names["floor_gil"] = bench.floor
        paths["nanobind floor, GIL held"] = "floor_gil(xp, xp, n, 7, 0, sp)"
    except ImportError as e:
        skipped["nanobind floor"] = f"_ncclrt_bench not installed ({e}): build the wheel with " \
                                    "-C cmake.define.NCCLRT_PYTHON_BENCH=ON"
    try:
        from cupy.cuda import nccl as cnccl
        names["cc"] = cnccl.NcclCommunicator(1, cnccl.get_unique_id(), 0)
        paths["cupy.cuda.nccl allReduce (raw ints)"] = "cc.allReduce(xp, xp, n, 7, 0, sp)"
        # The same binding called with keywords, as ncclrt's raw form is called.
        paths["cupy.cuda.nccl allReduce (raw ints, keywords)"] = \
            "cc.allReduce(xp, xp, count=n, datatype=7, op=0, stream=sp)"
    except Exception as e:  # noqa: BLE001
        skipped["cupy.cuda.nccl"] = f"{type(e).__name__}: {e}"

    # vLLM's NCCL class: ncclrt's (ncclrt.pynccl_wrapper), with plain ints (its cheap path) and
    # with the ctypes values vLLM's PyNcclCommunicator builds per call; and vLLM's own ctypes
    # class (or its per-call steps, vllm_ctypes.py), called the same way.
    from ncclrt.pynccl_wrapper import NCCLLibrary
    from vllm_ctypes import vllm_nccl_library
    wrapper = NCCLLibrary(lib_path)
    vcomm = wrapper.ncclCommInitRank(1, wrapper.ncclGetUniqueId(), 0)
    theirs, where = vllm_nccl_library(lib_path)
    tcomm = theirs.ncclCommInitRank(1, theirs.ncclGetUniqueId(), 0)
    names.update(wrapper=wrapper, vcomm=vcomm, theirs=theirs, tcomm=tcomm)
    paths["NCCLLibrary (ncclrt.pynccl_wrapper) positional ints"] = (
        "wrapper.ncclAllReduce(xp, xp, n, 7, 0, vcomm, sp)")
    vllm_call = ("{}.ncclAllReduce(vp(x.data_ptr()), vp(x.data_ptr()), x.numel(), 7, 0, {}, "
                 "vp(stream.cuda_stream))")
    paths["NCCLLibrary (ncclrt.pynccl_wrapper), vLLM's arguments"] = vllm_call.format(
        "wrapper", "vcomm")
    paths[f"vLLM's ctypes NCCLLibrary, vLLM's arguments ({where})"] = vllm_call.format(
        "theirs", "tcomm")

    nccl, raw_comm = ctypes_comm(lib_path)  # the pynccl way: ctypes, every result checked
    names.update(nccl=nccl, raw_comm=raw_comm, vp=ctypes.c_void_p, stream=stream)
    paths["Python ctypes (the pynccl way)"] = (
        "assert nccl.ncclAllReduce(vp(x.data_ptr()), vp(x.data_ptr()), x.numel(), 7, 0, raw_comm, "
        "vp(stream.cuda_stream)) == 0")
    try:
        import nccl.core as nc4
        c4 = nc4.Communicator.init(1, 0, nc4.get_unique_id())
        op4 = getattr(nc4, "SUM", None)
        if op4 is None:
            op4 = nc4.NcclRedOp.SUM
        c4.allreduce(x, x, op4, stream=sp)
        names.update(c4=c4, op4=op4)
        paths["nccl4py (nccl.core) allreduce(x, x)"] = "c4.allreduce(x, x, op4, stream=sp)"
    except Exception as e:  # noqa: BLE001
        skipped["nccl4py"] = f"{type(e).__name__}: {e}"
    try:
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group("nccl", store=dist.HashStore(), rank=0, world_size=1,
                                    device_id=torch.device("cuda", torch.cuda.current_device()))
        dist.all_reduce(x)
        names["dist"] = dist
        paths["torch.distributed.all_reduce(x) (NCCL process group of one)"] = "dist.all_reduce(x)"
    except Exception as e:  # noqa: BLE001
        skipped["torch.distributed"] = f"{type(e).__name__}: {e}"
    return paths, names, x


def measure_in_place(paths, names, calls, rounds):
    """Median and minimum us per call of each path, batches interleaved (the order rotates)."""
    runs = {}
    for name, stmt in paths.items():
        scope = dict(names)
        exec(compile(f"def run(rep):\n    for _ in rep:\n        {stmt}\n", f"<{name}>", "exec"),
             scope)
        runs[name] = scope["run"]
    rep = [None] * calls
    order = list(runs)
    # The measuring thread stays on one CPU, so a migration between batches does not decide a
    # comparison; NCCL's threads, started before, keep their own CPUs.
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(allowed)})
    for name in order:  # warm up
        runs[name](rep[:200])
    torch.cuda.synchronize()
    times = {name: [] for name in order}
    for r in range(rounds):
        for name in order[r % len(order):] + order[:r % len(order)]:
            t0 = time.perf_counter()
            runs[name](rep)
            times[name].append((time.perf_counter() - t0) / calls * 1e6)
            torch.cuda.synchronize()
    os.sched_setaffinity(0, allowed)
    # us_rounds keeps each round's figure: two paths' figures of one round were measured next to
    # each other, so their per-round differences (table.py) leave out what drifts between rounds.
    return {name: {"us_per_call": statistics.median(t), "us_min": min(t),
                   "us_quartiles": statistics.quantiles(t, n=4)[::2], "us_rounds": t}
            for name, t in times.items()}


def stand_in_costs(path, calls=20000):
    """The extension's own cost per call, without NCCL: the same calls on a communicator of the
    recording stand-in (tests/stand_ins/recording_nccl.c), whose operations only record."""
    import ncclrt
    lib = ncclrt.Library.open(path)
    comm = ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id())
    x = torch.ones(256, device="cuda")
    y = torch.empty_like(x)
    sp = torch.cuda.current_stream().cuda_stream
    f32 = ncclrt.DataType.FLOAT32
    calls_ = {"empty Python call": lambda: None,
              "raw int pointers, count=, dtype=, stream=int":
                  lambda: comm.all_reduce(0x1000, 0x2000, count=256, dtype=f32, stream=sp),
              "one torch tensor, stream=int": lambda: comm.all_reduce(x, stream=sp),
              "two torch tensors, stream=int": lambda: comm.all_reduce(x, y, stream=sp),
              "two torch tensors, stream=None": lambda: comm.all_reduce(x, y)}
    out = {}
    for name, fn in calls_.items():
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            best = min(best, (time.perf_counter() - t0) / calls * 1e6)
        out[name] = best
    return out


def graph_time(call, calls, launches=10):
    """GPU time per op of `calls` captured calls, replayed `launches` times."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        call()
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(calls):
            call()
    g.replay()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    e0.record()
    for _ in range(launches):
        g.replay()
    e1.record()
    e1.synchronize()
    return e0.elapsed_time(e1) * 1e3 / (calls * launches)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tool", help="the ncclrt command (for the C++ figures; left out without it)")
    p.add_argument("--nccl-lib", required=True)
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--in-place-calls", type=int, default=2000)
    p.add_argument("--in-place-rounds", type=int, default=41)
    p.add_argument("--stand-in", help="the recording stand-in library, for the extension's own "
                   "cost without NCCL")
    p.add_argument("--json")
    p.add_argument("--markdown")
    a = p.parse_args()
    torch.cuda.set_device(0)
    os.environ["NCCLRT_NCCL_LIB"] = a.nccl_lib
    # Every path runs on one non-blocking stream, as `ncclrt bench overhead` does (launches on the
    # legacy default stream cost the driver more, whoever makes them).
    torch.cuda.set_stream(torch.cuda.Stream())

    before, cpp_before = (cpp_overhead(a.tool, a.nccl_lib, a.calls, a.rounds) if a.tool
                          else (None, None))
    rows, skipped = [], {}
    for size in (1024, 1 << 20):
        paths, (x, y, direct_on_current) = make_paths(a.nccl_lib, size, skipped)
        host = measure(paths, a.calls, a.rounds)
        import ncclrt
        comm = ncclrt.Communicator.init_rank(ncclrt.Library.open(a.nccl_lib), 1, 0,
                                             ncclrt.Library.open(a.nccl_lib).unique_id())
        graph = graph_time(lambda: comm.all_reduce(x, y), a.calls)
        torch.cuda.synchronize()
        assert torch.equal(y, x)
        # The same capture of a direct NCCL call (ctypes), so torch's graph machinery is the same.
        direct_graph = graph_time(direct_on_current, a.calls)
        rows.append({"size": size, "paths": host, "ncclrt_graph_us_per_op": graph,
                     "ctypes_graph_us_per_op": direct_graph})
    after, cpp_after = (cpp_overhead(a.tool, a.nccl_lib, a.calls, a.rounds) if a.tool
                        else (None, None))
    parts = breakdown()
    exchange = exchange_costs()
    own = stand_in_costs(a.stand_in) if a.stand_in else {}
    in_place_skipped = {}
    ip_paths, ip_names, ip_x = in_place_paths(a.nccl_lib, in_place_skipped)
    in_place = measure_in_place(ip_paths, ip_names, a.in_place_calls, a.in_place_rounds)
    torch.cuda.synchronize()
    assert torch.equal(ip_x, torch.ones_like(ip_x)), "in place on one rank must leave x as it was"

    try:
        import importlib.metadata as md
        versions = {k: md.version(k) for k in ("torch", "cupy-cuda13x", "nccl4py", "nanobind")
                    if _has(md, k)}
    except Exception:  # noqa: BLE001
        versions = {}
    import ncclrt
    lib = ncclrt.Library.open(a.nccl_lib)
    nccl_info = before["nccl"] if before else {"version": str(lib.version), "path": lib.path}
    devices = before["devices"] if before else [{"name": torch.cuda.get_device_name(0)}]
    result = {"nccl": nccl_info, "devices": devices, "python": sys.version,
              "versions": versions, "calls": a.calls, "rounds": a.rounds, "rows": rows,
              "cpp_before": before["rows"] if before else None,
              "cpp_after": after["rows"] if after else None, "skipped": skipped,
              "breakdown_us": parts, "exchange_ns": exchange, "stand_in_us": own,
              "torch_dlpack_c_exchange_api": hasattr(torch.Tensor, "__dlpack_c_exchange_api__"),
              "in_place": {"size_bytes": 1024, "calls": a.in_place_calls,
                           "rounds": a.in_place_rounds, "paths": in_place,
                           "skipped": in_place_skipped}}
    lines = table(result, cpp_before, cpp_after)
    from table import python_in_place
    lines += [""] + python_in_place(result)
    print("\n".join(lines))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")


def breakdown(n=200000):
    """What the reads a torch tensor needs cost from Python (the extension makes the same calls
    from C, without the interpreter's frame)."""
    x = torch.ones(256, device="cuda")
    get_stream = torch._C._cuda_getCurrentRawStream
    reads = {"empty Python call": lambda: None, "x.data_ptr()": x.data_ptr,
             "x.numel()": x.numel, "x.dtype": lambda: x.dtype, "x.get_device()": x.get_device,
             "x.is_contiguous()": x.is_contiguous, "x.nbytes": lambda: x.nbytes,
             "x.is_cuda": lambda: x.is_cuda, "x.element_size()": x.element_size,
             "torch._C._cuda_getCurrentRawStream(0)": lambda: get_stream(0),
             "torch.cuda.current_stream().cuda_stream":
                 lambda: torch.cuda.current_stream().cuda_stream,
             "x.__cuda_array_interface__": lambda: x.__cuda_array_interface__}
    out = {}
    for name, fn in reads.items():
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(n // 10):
                fn()
            best = min(best, (time.perf_counter() - t0) / (n // 10) * 1e6)
        out[name] = best
    return out


def exchange_costs():
    """ns per call of the two calls ncclrt makes into torch's DLPack C exchange table for a
    tensor argument (the tensor, then stream=None's current stream), timed in C: torch's part of
    a tensor call."""
    try:
        import _ncclrt_bench as bench
    except ImportError:
        return {}
    if not hasattr(torch.Tensor, "__dlpack_c_exchange_api__"):
        return {}
    return bench.exchange_costs(torch.ones(256, device="cuda"), 200000)


def _has(md, name):
    try:
        md.version(name)
        return True
    except md.PackageNotFoundError:
        return False


def table(result, cpp_before, cpp_after):
    dev = result["devices"][0]["name"] if result["devices"] else "?"
    lines = [f"NCCL {result['nccl']['version']} ({result['nccl']['path']}), {dev}, Python "
             f"{result['python'].split()[0]}, {result['versions']}; torch.Tensor has "
             f"__dlpack_c_exchange_api__: {result['torch_dlpack_c_exchange_api']}", "",
             "| path | 1 KiB host us/call | added over the C direct call | 1 MiB host us/call | "
             "added over the C direct call |", "|---|---|---|---|---|"]
    by_size = {r["size"]: r for r in result["rows"]}
    base = {s: by_size[s]["paths"][DIRECT]["host_us_per_call"] for s in by_size}
    if cpp_before:  # `ncclrt bench overhead` ran (--tool)
        direct = {s: (cpp_before[s]["direct"]["host_us_per_call"] +
                      cpp_after[s]["direct"]["host_us_per_call"]) / 2 for s in cpp_before}
        cpp_api = {s: (cpp_before[s]["ncclrt"]["host_us_per_call"] +
                       cpp_after[s]["ncclrt"]["host_us_per_call"]) / 2 for s in cpp_before}
        lines.append(f"| (separate process) C++ direct call, `ncclrt bench overhead`, mean of the "
                     f"runs before and after | {direct[1024]:.2f} | | {direct[1 << 20]:.2f} | |")
        lines.append(f"| (separate process) ncclrt C++ `Communicator::all_reduce`, same runs | "
                     f"{cpp_api[1024]:.2f} | {cpp_api[1024] - direct[1024]:+.2f} vs that | "
                     f"{cpp_api[1 << 20]:.2f} | {cpp_api[1 << 20] - direct[1 << 20]:+.2f} vs that |")
    for name in by_size[1024]["paths"]:
        k = by_size[1024]["paths"][name]["host_us_per_call"]
        m = by_size[1 << 20]["paths"].get(name, {}).get("host_us_per_call", float("nan"))
        lines.append(f"| {name} | {k:.2f} | {k - base[1024]:+.2f} | {m:.2f} | "
                     f"{m - base[1 << 20]:+.2f} |")
    for name, why in result["skipped"].items():
        lines.append(f"| {name} | not measured: {why} | | | |")
    lines += ["", "| one read from Python (min of 5 x 20k) | us |", "|---|---|"]
    lines += [f"| `{k}` | {v:.3f} |" for k, v in result["breakdown_us"].items()]
    if result.get("exchange_ns"):
        lines += ["", "| torch's DLPack C exchange table, called from C (best of 5 x 200k) | ns |",
                  "|---|---|"]
        lines += [f"| `{k}` | {v:.1f} |" for k, v in result["exchange_ns"].items()]
    if result["stand_in_us"]:
        lines += ["", "| the extension without NCCL (recording stand-in), per call | us |",
                  "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in result["stand_in_us"].items()]
    lines += ["", "| size | ncclrt Python, torch.cuda.graph replay, us/op | direct NCCL call "
              "(ctypes) captured the same way, us/op | C++ direct, cudaStreamBeginCapture, us/op "
              "(before / after) |", "|---|---|---|---|"]
    for s, r in sorted(by_size.items()):
        cpp = (f"{cpp_before[s]['direct']['graph_us_per_op']:.3f} / "
               f"{cpp_after[s]['direct']['graph_us_per_op']:.3f}" if cpp_before else "(no --tool)")
        lines.append(f"| {s} B | {r['ncclrt_graph_us_per_op']:.3f} | "
                     f"{r['ctypes_graph_us_per_op']:.3f} | {cpp} |")
    return lines


if __name__ == "__main__":
    main()
