"""What the flight recorder costs a call in the Python module, on a GPU, one rank, in place (NCCL
launches nothing, so the host time is the binding's, ncclrt's and NCCL's entry): raw ints,
torch tensors and NCCLLibrary's positional call, each on a communicator recording (2048
entries, the default), one recording into a 64-entry ring, and one not recording; cupy's
positional call beside them where cupy is installed. 2000 calls a batch, the batches of every
path interleaved with the order rotating, measured on one CPU; prints one JSON line: medians and per-batch
differences (median, quartiles) in ns.

    python bench/compare/recorder_cost.py LIBNCCL [BATCHES]
"""
import ctypes, json, os, statistics, sys, time
import torch
import ncclrt
from ncclrt.pynccl_wrapper import NCCLLibrary
lib_path = sys.argv[1]
batches = int(sys.argv[2]) if len(sys.argv) > 2 else 101
torch.cuda.set_device(0)
s = torch.cuda.Stream()
torch.cuda.set_stream(s)
x = torch.ones(256, device="cuda")
xp, sp, n = x.data_ptr(), s.cuda_stream, 256
lib = ncclrt.Library.open(lib_path)


def mk(entries):
    return ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id(),
                                         ncclrt.Config(trace_entries=entries))


on, off, small = mk(2048), mk(0), mk(64)
w = NCCLLibrary(lib_path)
von = w.ncclCommInitRank(1, w.ncclGetUniqueId(), 0)
os.environ["NCCLRT_TRACE_ENTRIES"] = "0"
voff = w.ncclCommInitRank(1, w.ncclGetUniqueId(), 0)
del os.environ["NCCLRT_TRACE_ENTRIES"]
env = dict(x=x, xp=xp, sp=sp, n=n, on=on, off=off, small=small, w=w, von=von, voff=voff, f32=ncclrt.DataType.FLOAT32)
paths = {
  "raw on": "on.all_reduce(xp, xp, count=n, dtype=f32, stream=sp)",
  "raw off": "off.all_reduce(xp, xp, count=n, dtype=f32, stream=sp)",
  "raw 64": "small.all_reduce(xp, xp, count=n, dtype=f32, stream=sp)",
  "tensor on": "on.all_reduce(x, x)",
  "tensor off": "off.all_reduce(x, x)",
  "tensor 64": "small.all_reduce(x, x)",
  "pos on": "w.ncclAllReduce(xp, xp, n, 7, 0, von, sp)",
  "pos off": "w.ncclAllReduce(xp, xp, n, 7, 0, voff, sp)",
}
try:
    from cupy.cuda import nccl as cn
    env["cc"] = cn.NcclCommunicator(1, cn.get_unique_id(), 0)
    paths["cupy pos"] = "cc.allReduce(xp, xp, n, 7, 0, sp)"
except Exception as e:
    print("no cupy", e)
fns = {}
for k, st in paths.items():
    sc = dict(env)
    exec(f"def run(c):\n    for _ in c:\n        {st}\n", sc)
    fns[k] = sc["run"]
calls = [None] * 2000
for fn in fns.values(): fn(calls)
torch.cuda.synchronize()
# The measuring thread stays on one CPU (as in python_paths.py), so that a migration does not
# decide a comparison; NCCL's threads, started before, keep their own CPUs.
allowed = os.sched_getaffinity(0)
os.sched_setaffinity(0, {max(allowed)})
res = {k: [] for k in fns}
keys = list(fns)
for b in range(batches):
    order = keys[b % len(keys):] + keys[:b % len(keys)]
    for k in order:
        t = time.perf_counter_ns()
        fns[k](calls)
        res[k].append((time.perf_counter_ns() - t) / len(calls))
    torch.cuda.synchronize()
def diff(a, b):
    d = [p - q for p, q in zip(res[a], res[b])]
    q = statistics.quantiles(d, n=4)
    return round(statistics.median(d), 1), round(q[0], 1), round(q[2], 1)
out = {"median_ns": {k: round(statistics.median(v), 1) for k, v in res.items()},
       "diff_ns (median, q1, q3)": {f"{a} - {b}": diff(a, b) for a, b in [("raw on", "raw off"), ("raw 64", "raw off"), ("tensor on", "tensor off"), ("tensor 64", "tensor off"), ("pos on", "pos off")] + ([("pos on", "cupy pos"), ("pos off", "cupy pos")] if "cupy pos" in res else [])}}
print(json.dumps(out))
