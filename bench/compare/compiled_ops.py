#!/usr/bin/env python3
"""What ncclrt's op path (torch.ops.ncclrt.*) costs against the module's direct call and against
an op registered the way vLLM registers its own, side by side in one process on one GPU.

    python3 bench/compare/compiled_ops.py [--nccl-lib PATH] [--json OUT] [--markdown OUT]
    python3 bench/compare/compiled_ops.py --stand-in LIB     (no GPU: the host side only)

One rank (NCCL's one-rank all_reduce: in place it does no GPU work, out of place one copy), 1 KiB
float32. Host time per call; each path's call is the body of its own generated loop, batches of
all paths interleaved round by round, the median of --rounds batches reported (quartiles too),
with a synchronize after each batch, not timed.

- eager, in place: the direct call comm.all_reduce(x), the vLLM class, ncclrt's all_reduce_.
- eager, out of place (a new output each call, what a functional op does): the direct call with
  torch.empty_like, the vLLM class, ncclrt's op (through the packet and .default), an op
  registered as vLLM registers its own (Library.define from a schema, impl for CUDA,
  register_fake) with ncclrt's body, the same with vLLM's own body (a weak reference to the group
  looked up by name, then its method), and torch.library.custom_op with ncclrt's body; with
  autograd on and under torch.inference_mode (vLLM's serving mode).
- compiled: torch.compile(fullgraph=True) of K ops in a chain, per op; and the same run as a
  CUDA graph (mode="reduce-overhead") and captured by hand (torch.cuda.graph), replay time per op.

With --stand-in (a build of tests/stand_ins/recording_nccl.c) it runs on the CPU: CPU tensors,
passed to the stand-in's communicator as pointers by every path alike (the extension refuses host
memory as a buffer), so what differs between paths is the host side only: dispatch, registration,
allocation. No CUDA graphs there.
"""
import argparse
import json
import os
import statistics
import sys
import time
import weakref

import torch

K = 16  # ops per compiled function / graph
RAW = {}  # every batch's time by path, for paired differences
KEY = "CUDA"  # the dispatch key the vLLM-style ops are registered for ("CPU" with --stand-in)


class PointerComm:
    """A communicator of the recording stand-in taking CPU tensors as pointers (--stand-in)."""

    def __init__(self, comm):
        self.c, self.size, self.rank = comm, comm.size, comm.rank

    def all_reduce(self, send, recv=None, op=0, **kw):
        self.c.all_reduce(send.data_ptr(), None if recv is None else recv.data_ptr(), op,
                          count=send.numel(), dtype=send.dtype)
        return send if recv is None else recv


def setup(lib_path, stand_in):
    import ncclrt
    import ncclrt.ops as ops
    from ncclrt.torch import PyNcclCommunicator

    class OneRank:  # the group vLLM's class is given: one rank
        rank, world_size = 0, 1

        def broadcast_obj(self, obj, src):
            return obj

    if stand_in:  # the class as its __init__ leaves it, around the stand-in (no GPU)
        lib = ncclrt.Library.open(stand_in)
        comm = PointerComm(ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id()))
        pynccl = PyNcclCommunicator.__new__(PyNcclCommunicator)
        for k, v in dict(rank=0, world_size=1, disabled=False, comm=comm, lib=lib).items():
            setattr(pynccl, k, v)
    else:
        pynccl = PyNcclCommunicator(OneRank(), device=torch.cuda.current_device(),
                                    library_path=lib_path)
        comm = pynccl.comm
    ops.register_communicator("tp", comm)
    body = ops.OPS["all_reduce"][1]  # ncclrt's body for the op: the same work in every path

    from torch.library import Library
    vlib = Library("vllmstyle", "FRAGMENT")  # vLLM's direct_register_custom_op, by hand
    vlib.define("all_reduce(Tensor tensor, str group_name) -> Tensor")
    vlib.impl("all_reduce", body, KEY)
    torch.library.register_fake("vllmstyle::all_reduce", lambda t, g: torch.empty_like(t),
                                lib=vlib)

    class Group:  # vLLM's GroupCoordinator: the op finds it by name through a weak reference
        def __init__(self, pynccl):
            self.pynccl = pynccl

        def _all_reduce_out_place(self, t):
            return self.pynccl.all_reduce(t)

    group = Group(pynccl)
    groups = {"tp": weakref.ref(group)}

    def vllm_body(tensor, group_name):
        assert group_name in groups, f"Group {group_name} is not found."
        g = groups[group_name]()
        if g is None:
            raise ValueError(f"Group {group_name} is destroyed.")
        return g._all_reduce_out_place(tensor)

    vlib.define("all_reduce_vllm_body(Tensor tensor, str group_name) -> Tensor")
    vlib.impl("all_reduce_vllm_body", vllm_body, KEY)
    torch.library.register_fake("vllmstyle::all_reduce_vllm_body",
                                lambda t, g: torch.empty_like(t), lib=vlib)

    @torch.library.custom_op("ncclrt_bench::all_reduce", mutates_args=())
    def custom(input: torch.Tensor, comm: str) -> torch.Tensor:
        return body(input, comm)

    custom.register_fake(lambda input, comm: torch.empty_like(input))
    return dict(comm=comm, pynccl=pynccl, group=group, vlib=vlib, custom=custom, ncclrt=ncclrt)


EAGER_IN_PLACE = {
    "direct: comm.all_reduce(x)": "comm.all_reduce(x)",
    "vLLM class: pynccl.all_reduce(x, x)": "pynccl.all_reduce(x, x)",
    "ncclrt op: torch.ops.ncclrt.all_reduce_(x, 'tp')": "nc.all_reduce_(x, 'tp')",
}
EAGER_OUT = {
    "direct: comm.all_reduce(x, torch.empty_like(x))": "comm.all_reduce(x, empty_like(x))",
    "vLLM class: pynccl.all_reduce(x)": "pynccl.all_reduce(x)",
    "ncclrt op: torch.ops.ncclrt.all_reduce(x, 'tp')": "nc.all_reduce(x, 'tp')",
    "ncclrt op: torch.ops.ncclrt.all_reduce.default(x, 'tp')": "nc_ar(x, 'tp')",
    "vLLM-style op (vLLM's schema), ncclrt's body": "vs.all_reduce(x, 'tp')",
    "vLLM-style op, vLLM's body (weakref group, method)": "vs.all_reduce_vllm_body(x, 'tp')",
    "torch.library.custom_op, ncclrt's body": "cu.all_reduce(x, 'tp')",
}
INFERENCE = ["ncclrt op: torch.ops.ncclrt.all_reduce(x, 'tp')",
             "vLLM-style op (vLLM's schema), ncclrt's body",
             "direct: comm.all_reduce(x, torch.empty_like(x))"]


def loops(paths, names, calls):
    """{name: function running `calls` calls of the path's statement, returning us per call}."""
    out = {}
    for i, (name, stmt) in enumerate(paths.items()):
        src = (f"def run_{i}():\n    t0 = perf()\n    for _ in range({calls}):\n        {stmt}\n"
               f"    return (perf() - t0) / {calls} * 1e6\n")
        scope = dict(names, perf=time.perf_counter)
        exec(src, scope)
        out[name] = scope[f"run_{i}"]
    return out


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def interleave(runs, rounds, inference=()):
    names = list(runs)
    for name in names:  # warm up
        runs[name]()
    sync()
    times = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            if name in inference:
                with torch.inference_mode():
                    times[name].append(runs[name]())
            else:
                times[name].append(runs[name]())
            sync()
    RAW.update(times)
    return {n: summary(t) for n, t in times.items()}


def summary(t):
    q = statistics.quantiles(t, n=4)
    return {"us": round(statistics.median(t), 3), "q1": round(q[0], 3), "q3": round(q[2], 3),
            "n": len(t)}


def chain(op):
    def f(x):
        for _ in range(K):
            x = op(x, "tp")
        return x
    return f


def compiled_and_graphs(env, rounds, calls, device):
    x = torch.ones(256, device=device)
    ops = {"ncclrt op": torch.ops.ncclrt.all_reduce.default,
           "vLLM-style op (vLLM's schema)": torch.ops.vllmstyle.all_reduce.default,
           "torch.library.custom_op": torch.ops.ncclrt_bench.all_reduce.default}
    comm = env["comm"]

    def direct_chain(x):
        for _ in range(K):
            y = torch.empty_like(x)
            comm.all_reduce(x, y)
            x = y
        return x

    fns = {"direct (eager), K calls": direct_chain}
    for name, op in ops.items():
        fns[f"{name}, eager, K calls"] = chain(op)
        torch._dynamo.reset()
        fns[f"{name}, torch.compile (inductor)"] = torch.compile(chain(op), fullgraph=True)
        fns[f"{name}, torch.compile mode=reduce-overhead"] = torch.compile(
            chain(op), fullgraph=True, mode="reduce-overhead")
    checks = {}
    if device == "cpu":  # no CUDA graphs; the stand-in computes nothing
        fns = {n: f for n, f in fns.items() if "reduce-overhead" not in n}
    for name, f in fns.items():  # compile, warm up, check: 1 rank, sum = x
        for _ in range(3):
            got = f(x)
        sync()
        checks[name] = device == "cpu" or bool(torch.equal(got, x))
    # CUDA graphs captured by hand: the direct call and the op
    graphs = {}
    for name, f in (("direct, captured", direct_chain),
                    ("ncclrt op, captured", chain(ops["ncclrt op"]))):
        if device == "cpu":
            break
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            f(x)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            out = f(x)
        g.replay()
        torch.cuda.synchronize()
        checks[name] = bool(torch.equal(out, x))
        graphs[f"{name}, replay"] = g.replay
    names = dict(fns=fns, graphs=graphs, x=x)
    paths = {n: f"fns[{n!r}](x)" for n in fns}
    paths.update({n: f"graphs[{n!r}]()" for n in graphs})
    res = interleave(loops(paths, names, calls), rounds)
    per_op = {n: {k: (round(v / K, 3) if k in ("us", "q1", "q3") else v) for k, v in r.items()}
              for n, r in res.items()}
    return per_op, checks


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nccl-lib", default=os.environ.get("NCCLRT_NCCL_LIB"))
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--graph-calls", type=int, default=200)
    ap.add_argument("--graph-rounds", type=int, default=11)
    ap.add_argument("--stand-in", help="the recording stand-in NCCL: CPU tensors, no GPU")
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    a = ap.parse_args()
    global KEY
    device = "cpu" if a.stand_in else "cuda"
    if a.stand_in:
        KEY = "CPU"
    else:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.cuda.set_stream(torch.cuda.Stream())  # not the legacy default stream
    env = setup(a.nccl_lib, a.stand_in)
    x = torch.ones(256, device=device)  # 1 KiB
    names = dict(comm=env["comm"], pynccl=env["pynccl"], x=x, empty_like=torch.empty_like,
                 nc=torch.ops.ncclrt, nc_ar=torch.ops.ncclrt.all_reduce.default,
                 vs=torch.ops.vllmstyle, cu=torch.ops.ncclrt_bench)
    lib = env["pynccl"].lib if a.stand_in else env["comm"].library
    result = {"device": ("CPU, recording stand-in" if a.stand_in
                         else torch.cuda.get_device_name()), "torch": torch.__version__,
              "nccl": str(lib.version), "nccl_path": lib.path,
              "python": sys.version.split()[0], "bytes": 1024, "K": K}
    result["eager_in_place"] = interleave(loops(EAGER_IN_PLACE, names, a.calls), a.rounds)
    out_paths = dict(EAGER_OUT)
    out_paths.update({f"{n} [inference_mode]": EAGER_OUT[n] for n in INFERENCE})
    result["eager_out_of_place"] = interleave(
        loops(out_paths, names, a.calls), a.rounds,
        inference={f"{n} [inference_mode]" for n in INFERENCE})
    result["compiled_per_op"], result["checks"] = compiled_and_graphs(env, a.graph_rounds,
                                                                      a.graph_calls, device)
    # The target: the op path costs no more than a vLLM-style op. Differences of batches run one
    # after the other in the same round (the machine's drift cancels), their median and quartiles.
    result["ncclrt_op_minus_vllm_style_us"] = {}
    for mode in ("", " [inference_mode]"):
        ours = RAW[f"ncclrt op: torch.ops.ncclrt.all_reduce(x, 'tp'){mode}"]
        theirs = RAW[f"vLLM-style op (vLLM's schema), ncclrt's body{mode}"]
        result["ncclrt_op_minus_vllm_style_us"][mode.strip(" []") or "autograd on"] = summary(
            [a - b for a, b in zip(ours, theirs)])
    lines = [f"# ncclrt's op path, {result['device']}, torch {result['torch']}, NCCL "
             f"{result['nccl']}, 1 rank, 1 KiB float32", ""]
    for section in ("eager_in_place", "eager_out_of_place", "compiled_per_op"):
        lines += [f"## {section} (host us per call; compiled/graphs: per op of {K})", "",
                  "| path | median | q1 | q3 |", "|---|---|---|---|"]
        lines += [f"| {n} | {r['us']} | {r['q1']} | {r['q3']} |"
                  for n, r in result[section].items()]
        lines.append("")
    lines.append("ncclrt op minus vLLM-style op, per round (us): " +
                 json.dumps(result["ncclrt_op_minus_vllm_style_us"]))
    lines.append(f"checks (values right): {result['checks']}")
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        open(a.markdown, "w").write(text + "\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    if not all(result["checks"].values()):
        sys.exit("compiled_ops.py: a path gave a wrong value: " + str(result["checks"]))


if __name__ == "__main__":
    main()
