#!/usr/bin/env python3
"""Instructions per call of ncclrt's Python collective paths, counted by callgrind, next to a floor.

    python3 bench/python_instructions.py [--stand-in LIB] [--calls N] [--json OUT]
                                         [--check bench/python_instructions_budget.json]

Needs valgrind, ncclrt and `_ncclrt_bench` (a wheel built with NCCLRT_PYTHON_BENCH=ON, as
scripts/python_tests.sh builds it) importable by this Python. No GPU and no NCCL: every path
calls the recording stand-in (tests/stand_ins/recording_nccl.c, compiled here with `cc` unless
--stand-in names it), whose ncclAllReduce only records, on a communicator of one rank.

One process under `valgrind --tool=callgrind` runs every path: a warm-up, then --calls calls in
a loop between two marks (callgrind zeroes its counts at the first and dumps them at the second),
so the interpreter's start and the warm-up are left out. Instruction counts are deterministic:
the same build gives the same figures on every run. A path's figure is its loop's instructions
minus those of the same loop with `pass` as its body, per call: the call expression itself, from
loading the arguments to dropping the result.

The floor is `_ncclrt_bench.floor(send, recv, count, dtype, op, stream)`: a nanobind function
taking the same ints positionally and calling the same ncclAllReduce through a function pointer,
its result checked; built the same way as ncclrt's extension. --check compares each path's
instructions above the floor with a budget (instructions above the floor of the same run, so a
different compiler or Python moves both) and exits 1 if one is over its budget by more than the
file's margin.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (name, the statement called per iteration). Names are the keys of the JSON and of the budget.
PATHS = [
    ("(first interval, not reported: one-time costs of the marks)", "pass"),
    ("empty loop", "pass"),
    ("empty Python call", "f()"),
    ("floor", "floor(xp, xp, n, 7, 0, sp)"),
    ("floor, keyword arguments", "floor_kw(xp, xp, count=n, dtype=7, stream=sp)"),
    ("floor, GIL released", "floor_nogil(xp, xp, n, 7, 0, sp)"),
    ("ncclrt raw ints: all_reduce(p, p, count=, dtype=, stream=int)",
     "comm.all_reduce(xp, xp, count=n, dtype=f32, stream=sp)"),
    ("ncclrt raw int in place: all_reduce(p, count=, dtype=, stream=int)",
     "comm.all_reduce(xp, count=n, dtype=f32, stream=sp)"),
    ("ncclrt tensors: all_reduce(x, x)", "comm.all_reduce(x, x)"),
    ("ncclrt tensor in place: all_reduce(x)", "comm.all_reduce(x)"),
    ("ncclrt tensors, stream=int: all_reduce(x, x, stream=int)", "comm.all_reduce(x, x, stream=sp)"),
    ("vLLM class: PyNcclCommunicator.all_reduce(x, x)", "vllm.all_reduce(x, x)"),
    # ncclrt.pynccl_wrapper.NCCLLibrary (vLLM's NCCL class over ncclrt): NCCL's arguments,
    # positional, as plain ints (the cheap path), and as the ctypes values vLLM passes.
    ("NCCLLibrary positional ints: ncclAllReduce(p, p, n, 7, 0, comm, s)",
     "nccl.ncclAllReduce(xp, xp, n, 7, 0, vcomm, sp)"),
    ("NCCLLibrary, vLLM's arguments: ncclAllReduce(buffer_type(p), .., comm, cudaStream_t(s))",
     "nccl.ncclAllReduce(bt(xp), bt(xp), n, 7, 0, vcomm, cs(sp))"),
    ("NCCLLibrary, ctypes values made beforehand: ncclAllReduce(bp, bp, n, 7, 0, comm, cs)",
     "nccl.ncclAllReduce(bxp, bxp, n, 7, 0, vcomm, csp)"),
    ("NCCLLibrary positional ints, recorder off",
     "nccl.ncclAllReduce(xp, xp, n, 7, 0, vquiet, sp)"),
    # vLLM's own ctypes class (or its per-call steps, bench/compare/vllm_ctypes.py), called the
    # same way: what the NCCLLibrary paths replace.
    ("vLLM's ctypes NCCLLibrary: ncclAllReduce(buffer_type(p), .., comm, cudaStream_t(s))",
     "cnccl.ncclAllReduce(bt(xp), bt(xp), n, 7, 0, ccomm, cs(sp))"),
    # What the flight recorder (on by default) costs: the same calls on a communicator made with
    # Config(trace_entries=0).
    ("ncclrt raw ints, recorder off", "quiet.all_reduce(xp, xp, count=n, dtype=f32, stream=sp)"),
    ("ncclrt tensors, recorder off", "quiet.all_reduce(x, x)"),
    # Measured where cupy is installed (its NCCL binding links libnccl.so.2: the stand-in here).
    ("cupy.cuda.nccl raw ints: allReduce(p, p, n, dtype, op, stream)",
     "cupy_comm.allReduce(xp, xp, n, 7, 0, sp)"),
    # The same binding called the way ncclrt's raw form is (keywords): what CPython's keyword
    # call costs a builtin method, whoever wrote it.
    ("cupy.cuda.nccl raw ints, keywords: allReduce(p, p, count=, datatype=, op=, stream=)",
     "cupy_comm.allReduce(xp, xp, count=n, datatype=7, op=0, stream=sp)"),
]
OPTIONAL = {"cupy.cuda.nccl raw ints: allReduce(p, p, n, dtype, op, stream)": "cupy_comm",
            "cupy.cuda.nccl raw ints, keywords: allReduce(p, p, count=, datatype=, op=, stream=)":
                "cupy_comm",
            # absent from builds before ncclrt.pynccl_wrapper (for a measurement of such a build)
            "NCCLLibrary positional ints: ncclAllReduce(p, p, n, 7, 0, comm, s)": "nccl",
            "NCCLLibrary, vLLM's arguments: ncclAllReduce(buffer_type(p), .., comm, "
            "cudaStream_t(s))": "nccl",
            "NCCLLibrary, ctypes values made beforehand: ncclAllReduce(bp, bp, n, 7, 0, comm, cs)":
                "nccl",
            "NCCLLibrary positional ints, recorder off": "nccl"}
EMPTY = "empty loop"
FLOOR = "floor"
# Paths that reach "NCCL" once per call: checked against the stand-in's own record.
CALLS_NCCL = [name for name, _ in PATHS
              if name.startswith(("floor", "ncclrt", "vLLM", "cupy", "NCCLLibrary"))]

XP, N, SP = 0x7F0000001000, 256, 0x5E01


def build_stand_in(out_dir, given):
    """The recording stand-in as out_dir/libnccl.so.2: the name a binding linked against NCCL
    (cupy's) finds on LD_LIBRARY_PATH, and the file ncclrt opens, so both call one copy."""
    path = os.path.join(out_dir, "libnccl.so.2")
    if given:
        shutil.copy(given, path)
        return path
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("python_instructions.py: no C compiler for the recording stand-in; pass "
                 "--stand-in PATH (e.g. build/ci/tests/librecording_nccl_22809.so)")
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-DFAKE_VERSION=22809", "-o", path,
                    os.path.join(ROOT, "tests", "stand_ins", "recording_nccl.c")], check=True)
    return path


def fake_torch():
    """Just enough of `torch` for ncclrt/torch.py to import where torch is not installed: the
    method measured (all_reduce with out given and op=SUM) touches none of it."""
    import types
    torch = types.ModuleType("torch")
    dist = types.ModuleType("torch.distributed")

    class ReduceOp:
        SUM, PRODUCT, MAX, MIN, AVG = (object() for _ in range(5))

    dist.ReduceOp = ReduceOp
    torch.distributed = dist
    sys.modules["torch"], sys.modules["torch.distributed"] = torch, dist


def child(a):
    """Runs under callgrind: every path, between the marks."""
    import ctypes

    try:
        import torch  # noqa: F401
    except ImportError:
        fake_torch()
    import _ncclrt_bench as bench
    import ncclrt
    from ncclrt.torch import PyNcclCommunicator
    sys.path.insert(0, os.path.join(HERE, "compare"))
    from vllm_ctypes import vllm_nccl_library

    so = ctypes.CDLL(a.stand_in)  # the same loaded copy ncclrt opens: the same record
    lib = ncclrt.Library.open(a.stand_in)
    comm = ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id())
    quiet = ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id(),
                                          ncclrt.Config(trace_entries=0))
    bench.set_target(ctypes.cast(so.ncclAllReduce, ctypes.c_void_p).value, comm.native)
    x = bench.Tensor(XP, N, comm.device)
    # The class as its __init__ leaves it (that needs torch and a GPU), on this communicator:
    # the attributes set one by one, as __init__ sets them (a __dict__.update would give the
    # instance a plain dict, slower to read than the attributes __init__ makes).
    vllm = PyNcclCommunicator.__new__(PyNcclCommunicator)
    for key, value in (("rank", 0), ("world_size", 1), ("group", None), ("lib", lib),
                       ("nccl_version", lib.version.code), ("available", True),
                       ("disabled", False), ("_groups", []), ("unique_id", None),
                       ("device", None), ("comm", comm)):
        setattr(vllm, key, value)

    buffer_type = cudaStream_t = ctypes.c_void_p
    try:
        from ncclrt.pynccl_wrapper import NCCLLibrary
        nccl = NCCLLibrary(a.stand_in)
        vcomm = nccl.ncclCommInitRank(1, nccl.ncclGetUniqueId(), 0)
        os.environ["NCCLRT_TRACE_ENTRIES"] = "0"  # read when a communicator is made
        vquiet = nccl.ncclCommInitRank(1, nccl.ncclGetUniqueId(), 0)
        del os.environ["NCCLRT_TRACE_ENTRIES"]
    except ImportError:  # a build before it
        nccl = vcomm = vquiet = None
    cnccl, _ = vllm_nccl_library(a.stand_in)
    ccomm = cnccl.ncclCommInitRank(1, cnccl.ncclGetUniqueId(), 0)

    def f():
        pass

    try:
        from cupy.cuda import nccl as cupy_nccl
        cupy_comm = cupy_nccl.NcclCommunicator(1, cupy_nccl.get_unique_id(), 0)
    except Exception:  # noqa: BLE001 (not installed, or no CUDA runtime for it to load)
        cupy_comm = None

    env = dict(comm=comm, quiet=quiet, x=x, vllm=vllm, f=f, floor=bench.floor,
               floor_kw=bench.floor_kw, floor_nogil=bench.floor_nogil, xp=XP, n=N, sp=SP, f32=ncclrt.DataType.FLOAT32,
               zero=bench.zero, dump=bench.dump, cupy_comm=cupy_comm, nccl=nccl, vcomm=vcomm, vquiet=vquiet,
               bt=buffer_type, cs=cudaStream_t, bxp=buffer_type(XP), csp=cudaStream_t(SP), cnccl=cnccl, ccomm=ccomm)
    so.fake_record.restype = ctypes.POINTER(ctypes.c_char * 32)
    done = []
    calls, warm = [None] * a.calls, [None] * 200
    for name, stmt in PATHS:
        if name in OPTIONAL and env[OPTIONAL[name]] is None:
            continue
        # The loop walks a list of one object: range() would make an int per iteration, whose
        # allocation costs differ with the state of the heap (and so between paths).
        code = (f"def run(calls):\n    for _ in calls:\n        {stmt}\n"
                f"def measured(calls):\n    zero()\n    run(calls)\n    dump()\n")
        scope = dict(env)
        exec(compile(code, f"<{name}>", "exec"), scope)
        scope["run"](warm)  # the interpreter specialises the loop's instructions
        so.fake_clear_records()
        before = so.fake_calls()
        scope["measured"](calls)
        reached = so.fake_calls() - before
        want = a.calls if name in CALLS_NCCL else 0
        if reached != want:
            sys.exit(f"python_instructions.py: {name}: {reached} calls reached the stand-in, "
                     f"expected {want}")
        if want and so.fake_record(0).contents.value != b"ncclAllReduce":
            sys.exit(f"python_instructions.py: {name}: the stand-in recorded "
                     f"{so.fake_record(0).contents.value!r}, not ncclAllReduce")
        done.append(name)
    with open(a.labels, "w") as fh:
        json.dump(done, fh)


def parse_dumps(prefix):
    """{part number: total instructions} of the dumps callgrind made at the dump mark."""
    parts = {}
    for path in glob.glob(prefix + ".*"):
        text = open(path).read()
        if "--dump-before=ncclrt_bench_dump" not in text.split("\n\n", 1)[0] and \
                "Trigger: --dump-before" not in text:
            continue
        part = re.search(r"^part:\s*(\d+)", text, re.M)
        total = re.search(r"^(?:totals|summary):\s*(\d+)", text, re.M)
        if part and total:
            parts[int(part.group(1))] = int(total.group(1))
    return [parts[k] for k in sorted(parts)]


def measure(a):
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("SKIPPED: valgrind is not installed (apt-get install valgrind); nothing measured")
        return None
    work = tempfile.mkdtemp(prefix="ncclrt-instructions-")
    try:
        stand_in = build_stand_in(work, a.stand_in)
        labels = os.path.join(work, "labels.json")
        prefix = os.path.join(work, "callgrind.out")
        cmd = [valgrind, "--tool=callgrind", f"--callgrind-out-file={prefix}",
               "--zero-before=ncclrt_bench_zero", "--dump-before=ncclrt_bench_dump",
               sys.executable, os.path.abspath(__file__), "--child", "--stand-in", stand_in,
               "--calls", str(a.calls), "--labels", labels]
        env = dict(os.environ, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (work, os.environ.get("LD_LIBRARY_PATH")) if p)
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode != 0 or not os.path.exists(labels):
            sys.stderr.write(r.stdout + r.stderr)
            sys.exit(f"python_instructions.py: the run under callgrind failed (exit "
                     f"{r.returncode})")
        names = json.load(open(labels))
        totals = parse_dumps(prefix)
        if len(totals) != len(names):
            sys.exit(f"python_instructions.py: {len(totals)} callgrind dumps for {len(names)} "
                     f"paths; was _ncclrt_bench built stripped of its marks?")
        if a.keep:
            os.makedirs(a.keep, exist_ok=True)
            for p in glob.glob(prefix + ".*"):
                shutil.copy(p, a.keep)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    raw = dict(zip(names[1:], totals[1:]))
    per_call = {k: (v - raw[EMPTY]) / a.calls for k, v in raw.items() if k != EMPTY}
    floor = per_call[FLOOR]
    result = {"python": sys.version.split()[0], "executable": sys.executable,
              "calls": a.calls, "stand_in": a.stand_in or "compiled from "
              "tests/stand_ins/recording_nccl.c", "empty_loop_per_call": raw[EMPTY] / a.calls,
              "paths": {k: {"instructions": round(v, 1), "above_floor": round(v - floor, 1)}
                        for k, v in per_call.items()}}
    return result


def report(result):
    lines = [f"instructions per call (callgrind, Python {result['python']}, "
             f"{result['calls']} calls a path, the empty loop's "
             f"{result['empty_loop_per_call']:.1f} taken off)", "",
             "| path | instructions | above the floor |", "|---|---|---|"]
    for name, v in result["paths"].items():
        lines.append(f"| {name} | {v['instructions']:.0f} | {v['above_floor']:+.0f} |")
    return lines


def check(result, budget_path):
    """Over-budget lines; empty when every path is within its budget plus the margin."""
    budget = json.load(open(budget_path))
    margin = budget["margin"]
    over = []
    for name, limit in budget["above_floor"].items():
        if name not in result["paths"]:
            over.append(f"{name}: in the budget but not measured")
            continue
        got = result["paths"][name]["above_floor"]
        allowed = limit * (1 + margin["fraction"]) + margin["instructions"]
        if got > allowed:
            over.append(f"{name}: {got:.0f} instructions above the floor; budget {limit} "
                        f"(+{margin['fraction']:.0%} +{margin['instructions']} = {allowed:.0f})")
    return over


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stand-in", help="the recording stand-in library (default: compile it)")
    p.add_argument("--calls", type=int, default=2000, help="calls per path (default 2000)")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--check", help="a budget file: exit 1 where a path is over it")
    p.add_argument("--keep", help="copy callgrind's dumps here (callgrind_annotate reads them)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--labels", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(a)
        return 0
    result = measure(a)
    if result is None:
        return 77  # valgrind missing: ctest reports the test skipped (SKIP_RETURN_CODE)
    print("\n".join(report(result)))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(result, fh, indent=2)
    if a.check:
        over = check(result, a.check)
        if over:
            print(f"\nover budget ({a.check}):\n  " + "\n  ".join(over))
            return 1
        print(f"\nevery path within its budget ({a.check})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
