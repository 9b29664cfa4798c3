"""ncclrt's ops in compiled models on GPUs: N ranks, one process each (N=1 with PyTorch's own NCCL;
N=2 and 4 on one GPU with NCCL >= 2.30.3 and NCCL_MULTI_RANK_GPU_ENABLE=1, or on N GPUs).

    python3 tests/python/compiled_model_worker.py --ranks N [--tasks a,b] [--out DIR]

starts N copies of itself with torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT) over a gloo group, each running the tasks and printing one PASS, FAIL or INFO line
per check; the launcher prints rank 0's lines (and every FAIL), writes each rank's log and JSON
under --out, and exits 1 if any rank failed or hung. Tasks:

  today    what a direct call does inside torch.compile (the graph break the ops remove)
  tp       a tensor-parallel block (column-parallel linear, GELU, row-parallel linear, then
           all_reduce; or all_gather / reduce_scatter along a dimension): no graph break, eager
           against a dense reference, compiled against eager forward and backward, and with
           mode="reduce-overhead" replayed with new inputs and recompiled for a new shape
  class    code written for vLLM's class (every collective method) compiled without a break
  opcheck  torch.library.opcheck on every op with this GPU's tensors
  alloc    NcclMemPool: allocation, registration (windows and buffers), a capture that grows
           the pool (registration deferred, never inside NCCL), MemPool lifetime
  flight   what the flight recorder keeps for ops in compiled graphs and CUDA graphs
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TASKS = ["today", "tp", "class", "opcheck", "alloc", "flight"]


# ---- the launcher ---------------------------------------------------------------------------

def launch(ranks, tasks, out, timeout):
    os.makedirs(out, exist_ok=True)
    port = random.randint(20000, 40000)
    procs = []
    for rank in range(ranks):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(ranks), LOCAL_RANK=str(rank),
                   LOCAL_WORLD_SIZE=str(ranks), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   NCCL_MULTI_RANK_GPU_ENABLE="1", PYTHONPATH=os.pathsep.join(sys.path),
                   NCCLRT_WORKER_OUT=out)
        log = open(os.path.join(out, f"rank{rank}.log"), "w")
        procs.append((subprocess.Popen([sys.executable, __file__, "--worker", "--tasks",
                                        ",".join(tasks)], env=env, stdout=log,
                                       stderr=subprocess.STDOUT), log))
    deadline = time.time() + timeout
    hung = False
    for p, log in procs:
        try:
            p.wait(timeout=max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            hung = True
    for p, log in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()
    ok = not hung
    for rank, (p, _) in enumerate(procs):
        text = open(os.path.join(out, f"rank{rank}.log")).read()
        lines = text.splitlines()
        for line in lines:
            if rank == 0 and line.startswith(("PASS", "FAIL", "INFO", "  (")) or \
                    line.startswith("FAIL"):
                print(line)
        if p.returncode != 0 or f"RANK {rank} DONE" not in text:
            ok = False
            print(f"FAIL [{ranks} ranks, rank {rank}] exit {p.returncode}"
                  f"{' (killed after the time limit)' if hung else ''}; last lines:\n  " +
                  "\n  ".join(lines[-25:]))
    print(f"{'PASS' if ok else 'FAIL'} compiled model, {ranks} rank(s): tasks {','.join(tasks)}"
          f" (logs in {out})")
    return ok


# ---- one rank -------------------------------------------------------------------------------

class Checks:
    def __init__(self, rank, world):
        self.rank, self.world, self.results = rank, world, []

    def __call__(self, name, ok, detail="", kind=None):
        kind = kind or ("PASS" if ok else "FAIL")
        print(f"{kind} [{self.world} ranks, rank {self.rank}] {name}: {detail}", flush=True)
        self.results.append(dict(check=name, result=kind, detail=str(detail)))
        return ok

    def failed(self):
        return any(r["result"] == "FAIL" for r in self.results)


def close(a, b, tol):
    import torch
    return torch.allclose(a.float(), b.float(), atol=tol, rtol=tol)


def worker(tasks):
    import torch
    import torch.distributed as dist

    import ncclrt
    import ncclrt.ops as ops
    from ncclrt.torch import PyNcclCommunicator

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    device = int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count()
    torch.cuda.set_device(device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dist.init_process_group("gloo", init_method=f"tcp://{os.environ['MASTER_ADDR']}:"
                            f"{os.environ['MASTER_PORT']}", rank=rank, world_size=world)
    check = Checks(rank, world)
    lib_path = os.environ.get("NCCLRT_NCCL_LIB")  # unset: PyTorch's own NCCL
    pynccl = PyNcclCommunicator(dist.group.WORLD, device=device, library_path=lib_path)
    lib = pynccl.lib
    check("setup", True, f"NCCL {lib.version} from {lib.path} ({lib.found_by}), torch "
          f"{torch.__version__}, {torch.cuda.get_device_name()}")
    ops.register_communicator("tp", pynccl)
    env = dict(torch=torch, dist=dist, ncclrt=ncclrt, ops=ops, pynccl=pynccl, rank=rank,
               world=world, check=check)
    for task in tasks:
        t0 = time.time()
        try:
            globals()[f"task_{task}"](**env)
        except Exception as e:  # noqa: BLE001 - reported, then the other tasks
            check(f"{task} raised", False, f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        torch.cuda.synchronize()
        dist.barrier()
        print(f"  ({task}: {time.time() - t0:.1f} s)", flush=True)
    out = os.environ.get("NCCLRT_WORKER_OUT")
    if out:
        with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
            json.dump(dict(rank=rank, world=world, nccl=str(lib.version), results=check.results),
                      f, indent=1)
    print(f"RANK {rank} DONE", flush=True)
    dist.destroy_process_group()
    sys.exit(1 if check.failed() else 0)


def task_today(torch, pynccl, check, **_):
    """The module's direct call inside torch.compile, without the op path: what users had."""
    comm = pynccl.comm
    x = torch.ones(8, device="cuda")

    def direct(t):
        y = t * 2
        comm.all_reduce(y)
        return y + 1

    try:
        torch._dynamo.reset()
        torch.compile(direct, fullgraph=True)(x)
        check("today: direct call, fullgraph=True", False, "compiled (a graph break expected)")
    except Exception as e:  # noqa: BLE001
        first = str(e).splitlines()[0:2]
        check("today: direct call, fullgraph=True", True, f"{type(e).__name__}: {first}",
              kind="INFO")
    torch._dynamo.reset()
    explained = torch._dynamo.explain(direct)(x)
    reasons = [str(b.reason).splitlines()[0] for b in explained.break_reasons]
    check("today: direct call, explain", True,
          f"{explained.graph_count} graphs, {explained.graph_break_count} graph break(s): "
          f"{reasons[:1]}", kind="INFO")


H, FL, TOKENS = 64, 32, 8  # hidden, features per rank, tokens


def tp_model(torch, variant, world, rank):
    """The block on this rank and its dense reference (every rank's shard, made from seeds)."""
    def shard(r):
        g = torch.Generator().manual_seed(1000 + r)
        return (torch.randn(FL, H, generator=g) / H ** 0.5, torch.randn(FL, generator=g) * 0.1,
                torch.randn(H, FL, generator=g) / FL ** 0.5)

    shards = [shard(r) for r in range(world)]
    g = torch.Generator().manual_seed(7)
    down_full = torch.randn(H, FL * world, generator=g) / (FL * world) ** 0.5  # replicated

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            up_w, up_b, down_w = shards[rank]
            self.up = torch.nn.Linear(H, FL)
            self.up.weight.data.copy_(up_w)
            self.up.bias.data.copy_(up_b)
            self.down = torch.nn.Linear(FL * world if variant == "all_gather" else FL, H,
                                        bias=False)
            self.down.weight.data.copy_(down_full if variant == "all_gather" else down_w)

        def forward(self, x):
            h = torch.nn.functional.gelu(self.up(x))
            if variant == "all_gather":
                return self.down(torch.ops.ncclrt.all_gather(h, -1, world, "tp"))
            y = self.down(h)
            if variant == "reduce_scatter":
                return torch.ops.ncclrt.reduce_scatter(y, 0, world, "tp")
            return torch.ops.ncclrt.all_reduce(y, "tp")

    def dense(x):
        up_w = torch.cat([s[0] for s in shards]).to(x.device)
        up_b = torch.cat([s[1] for s in shards]).to(x.device)
        h = torch.nn.functional.gelu(x @ up_w.T + up_b)
        if variant == "all_gather":
            return h @ down_full.to(x.device).T
        y = h @ torch.cat([s[2] for s in shards], 1).to(x.device).T
        if variant == "reduce_scatter":
            n = y.shape[0] // world
            return y[rank * n:(rank + 1) * n]
        return y

    return Block().cuda(), dense


def inputs(torch, rows, seed):
    g = torch.Generator().manual_seed(seed)  # the same on every rank: the input is replicated
    return torch.randn(rows, H, generator=g).cuda()


def task_tp(torch, rank, world, check, **_):
    tol = 1e-4
    for variant in ("all_reduce", "all_gather", "reduce_scatter"):
        name = f"tp {variant}"
        m, dense = tp_model(torch, variant, world, rank)
        x = inputs(torch, TOKENS, 1).requires_grad_()
        eager = m(x)
        check(f"{name}: eager = dense reference", close(eager, dense(x.detach()), tol),
              f"max diff {(eager - dense(x.detach())).abs().max().item():.2e}")
        torch._dynamo.reset()
        explained = torch._dynamo.explain(m)(x)
        check(f"{name}: graph breaks", explained.graph_break_count == 0 and
              explained.graph_count == 1,
              f"{explained.graph_count} graph(s), {explained.graph_break_count} break(s) "
              f"{[str(b.reason)[:200] for b in explained.break_reasons]}")
        torch._dynamo.reset()
        compiled = torch.compile(m, fullgraph=True)
        got = compiled(x)
        check(f"{name}: compiled forward = eager", close(got, eager, tol),
              f"max diff {(got - eager).abs().max().item():.2e}")
        params = [x] + list(m.parameters())
        ge = torch.autograd.grad(eager.square().sum(), params)
        gc = torch.autograd.grad(got.square().sum(), params)
        diff = max((a - b).abs().max().item() for a, b in zip(ge, gc))
        check(f"{name}: compiled backward = eager", all(close(a, b, tol) for a, b in zip(ge, gc)),
              f"max grad diff {diff:.2e} over {len(params)} tensors")
        torch._dynamo.reset()
        graphed = torch.compile(m, fullgraph=True, mode="reduce-overhead")
        with torch.no_grad():
            worst = 0.0
            ok = True
            for step in range(4):  # warm-up, record, then replays with new inputs
                xi = inputs(torch, TOKENS, 10 + step)
                got = graphed(xi).clone()
                want = m(xi)
                worst = max(worst, (got - want).abs().max().item())
                ok = ok and close(got, want, tol)
            check(f"{name}: reduce-overhead, replayed with new inputs = eager", ok,
                  f"4 calls, max diff {worst:.2e}")
            xn = inputs(torch, 2 * TOKENS, 20)
            got, want = graphed(xn).clone(), m(xn)
            check(f"{name}: reduce-overhead, new shape ({2 * TOKENS} tokens) = eager",
                  close(got, want, tol), f"max diff {(got - want).abs().max().item():.2e}")
        xg = inputs(torch, TOKENS, 30).requires_grad_()
        got = graphed(xg)
        gg = torch.autograd.grad(got.square().sum(), [xg] + list(m.parameters()))
        want = m(xg)
        gw = torch.autograd.grad(want.square().sum(), [xg] + list(m.parameters()))
        check(f"{name}: reduce-overhead backward = eager",
              all(close(a, b, tol) for a, b in zip(gg, gw)),
              f"max grad diff {max((a - b).abs().max().item() for a, b in zip(gg, gw)):.2e}")


def every_method(p, x):
    """Every collective method of vLLM's class, as vLLM's code calls them."""
    import torch
    from torch.distributed import ReduceOp
    w = p.world_size
    y = p.all_reduce(x * 2)
    z = torch.empty_like(x)
    p.all_reduce(y, z, op=ReduceOp.MAX)
    p.all_reduce(z, z)
    g = torch.empty(w * x.shape[0], x.shape[1], device=x.device)
    p.all_gather(g, z)
    r = torch.empty(x.shape[0] // w, x.shape[1], device=x.device)
    p.reduce_scatter(r, x)
    b = x.clone()
    p.broadcast(b, w - 1)
    gv = torch.empty_like(g)
    p.all_gatherv(gv, z, [x.shape[0]] * w)
    rv = torch.empty_like(x)
    p.reduce_scatterv(rv, g, [x.shape[0]] * w)
    return y, z, g, r, b, gv, rv


def exchange(p, b, peer, sends_first):
    """A pipeline's send/recv between neighbours, in the rank's own order: a graph of its own,
    since its order differs between ranks (in one graph with collectives, a compiler may move a
    collective across the rank-dependent send/recv differently on each rank; see docs/python.md,
    'In a compiled model')."""
    import torch
    q = torch.zeros_like(b)
    if sends_first:
        p.send(b + 1, peer)
        p.recv(q, peer)
    else:
        p.recv(q, peer)
        p.send(b + 1, peer)
    return q


def task_class(torch, pynccl, rank, world, check, **_):
    x = inputs(torch, TOKENS, 3)[:, :16].contiguous() + rank
    peer = rank ^ 1 if world % 2 == 0 else None  # pairs 0-1, 2-3: a pipeline's neighbours
    even = rank % 2 == 0
    eager = every_method(pynccl, x)
    if peer is not None:
        eager = eager + (exchange(pynccl, eager[4], peer, even),)
    torch._dynamo.reset()
    explained = [torch._dynamo.explain(every_method)(pynccl, x)]
    if peer is not None:
        explained.append(torch._dynamo.explain(exchange)(pynccl, eager[4], peer, even))
    check("vLLM class: graph breaks", all(e.graph_break_count == 0 for e in explained),
          "; ".join(f"{e.graph_count} graph(s), {e.graph_break_count} break(s) "
                    f"{[str(b.reason)[:200] for b in e.break_reasons]}" for e in explained))
    torch._dynamo.reset()
    got = torch.compile(every_method, fullgraph=True)(pynccl, x)
    if peer is not None:
        got = got + (torch.compile(exchange, fullgraph=True)(pynccl, got[4], peer, even),)
    bad = [i for i, (a, b) in enumerate(zip(got, eager)) if not close(a, b, 1e-5)]
    check("vLLM class: compiled = eager (all_reduce x3, all_gather(v), reduce_scatter(v), "
          f"broadcast{'; send/recv in their own graph' if peer is not None else ''})", not bad,
          f"outputs differing: {bad}")


def task_opcheck(torch, ops, world, check, **_):
    from op_doubles import SimComm
    ops.register_communicator("sim", SimComm(world, 0))
    g = torch.Generator().manual_seed(5)
    x = torch.randn(8, 12, generator=g).cuda()  # the same on every rank
    cases = [
        ("all_reduce", (x, "tp")), ("all_reduce.redop", (x, "tp", "max")),
        ("all_reduce_", (x.clone(), "tp")), ("all_reduce_into", (torch.empty_like(x), x, "tp")),
        ("all_gather", (x, 0, world, "tp")), ("all_gather", (x, 1, world, "tp")),
        ("all_gather_into", (torch.empty(8 * world, 12, device="cuda"), x, "tp")),
        ("all_gatherv_into", (torch.empty(8 * world, 12, device="cuda"), x, [8] * world, "tp")),
        ("reduce_scatter", (x, 0, world, "tp")),
        ("reduce_scatter.redop", (x, 1, world, "tp", "avg")),
        ("reduce_scatter_into", (torch.empty(8 // world, 12, device="cuda"), x, "tp")),
        ("reduce_scatterv_into", (torch.empty(8 // world, 12, device="cuda"), x,
                                  [8 // world] * world, "tp")),
        ("broadcast", (x, 0, "tp")), ("broadcast_", (x.clone(), world - 1, "tp")),
        ("all_to_all", (x, "tp")),
        # point-to-point needs a peer doing the opposite: opcheck's repeated calls on SimComm
        ("send", (x, 0, "sim")), ("recv", (x, 0, "sim")), ("recv_", (x.clone(), 0, "sim")),
        ("all_reduce", (x.clone().requires_grad_(), "tp")),
        ("all_gather", (x.clone().requires_grad_(), 1, world, "tp")),
        ("reduce_scatter", (x.clone().requires_grad_(), 0, world, "tp")),
    ]
    failed = []
    for name, args in cases:
        try:
            torch.library.opcheck(ops.overload(name), args)
        except Exception as e:  # noqa: BLE001
            failed.append(f"{name}: {type(e).__name__}: {str(e)[:300]}")
    check(f"opcheck on every op ({len(ops.OPS)} ops, {len(cases)} cases, CUDA tensors)",
          not failed, "; ".join(failed) or "all passed")
    ops.unregister_communicator("sim")


def task_alloc(torch, ncclrt, pynccl, rank, world, check, **_):
    import ncclrt.mempool as mp
    from ncclrt import _ncclrt
    lib = pynccl.lib
    n = 16 * 1024  # 64 KiB of float32
    for window in ((True, False) if lib.has("ncclCommWindowRegister") else (False,)):
        kind = "symmetric windows" if window else "ncclCommRegister"
        try:
            pool = mp.NcclMemPool(pynccl, window=window)
            with pool:
                a = torch.full((n,), float(rank + 1), device="cuda")
                b = torch.empty(n, device="cuda")
            segs = pool.segments()
            pending = pool.pending()
        except ncclrt.NcclError as e:
            check(f"alloc: {kind}", True, f"refused by NCCL {lib.version} with {world} rank(s) "
                  f"on this GPU: {e}", kind="INFO")
            continue
        pynccl.all_reduce(a, b)
        torch.cuda.synchronize()
        want = world * (world + 1) / 2
        check(f"alloc: MemPool of ncclMemAlloc, {kind}", bool(segs) and not pending and
              bool((b == want).all()), f"{len(segs)} segment(s) {[s for _, s in segs]} bytes, "
              f"registered; all_reduce on them = {b[0].item()} (want {want})")
        # the registered path against ordinary memory, eager, 64 KiB (informational)
        times = {}
        for label, (src, dst) in (("pool", (a, b)), ("ordinary", (torch.ones(n, device="cuda"),
                                                                  torch.empty(n, device="cuda")))):
            for _ in range(20):
                pynccl.all_reduce(src, dst)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(200):
                pynccl.all_reduce(src, dst)
            torch.cuda.synchronize()
            times[label] = (time.perf_counter() - t0) / 200 * 1e6
        check(f"alloc: 64 KiB all_reduce, {kind} vs ordinary memory", True,
              f"{times['pool']:.2f} us vs {times['ordinary']:.2f} us a call (eager, "
              "issue + completion)", kind="INFO")
        del a, b, pool

    # A capture that grows a fresh pool: ncclMemAlloc during the capture, registration deferred
    pool = mp.NcclMemPool(pynccl)
    x = torch.full((n,), float(rank + 1), device="cuda")
    pynccl.all_reduce(x, torch.empty_like(x))  # warm (as torch recommends before capture)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    refused = None
    try:
        # the graph's pool made first and named to both, as vLLM does (graph.pool() exists only
        # once the capture has ended)
        pool.graph_pool = torch.cuda.graph_pool_handle()
        with torch.cuda.graph(graph, pool=pool.graph_pool):
            with pool:
                y = torch.empty(n, device="cuda")  # a new segment, allocated under capture
            try:
                pool.register()
            except ncclrt.UsageError as e:
                refused = str(e)
            y.copy_(x)
            pynccl.all_reduce(y, y)
        deferred = pool.pending()
        with pool:  # outside the capture: registers what the capture allocated
            pass
        after = pool.pending()
        for step in (1, 2):
            x.fill_(rank + step)
            graph.replay()
        torch.cuda.synchronize()
        want = sum(r + 2 for r in range(world))
        check("alloc: a capture that grows the pool", refused is not None and bool(deferred)
              and not after and bool((y == want).all()),
              f"register() refused during the capture ({(refused or '')[:60]}...); "
              f"{len(deferred)} segment(s) deferred, then registered after it; replay = "
              f"{y[0].item()} (want {want})")
    except ncclrt.NcclError as e:
        check("alloc: a capture that grows the pool", True, f"NCCL refused: {e}", kind="INFO")
    del graph, y, pool
    before = len(_ncclrt._nccl_allocator_segments())
    import gc
    gc.collect()
    torch.cuda.synchronize()
    # torch frees a pool's segments when the pool and its tensors go: deregistered, then freed
    check("alloc: segments freed with their pools", True,
          f"{before} -> {len(_ncclrt._nccl_allocator_segments())} live segment(s); last "
          f"allocator note: {_ncclrt._nccl_allocator_error() or 'none'}", kind="INFO")


def task_flight(torch, ncclrt, ops, pynccl, rank, world, check, **_):
    comm = pynccl.comm

    def step(x):
        return torch.ops.ncclrt.all_reduce(torch.ops.ncclrt.all_reduce(x * 2, "tp") + 1, "tp")

    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True)
    x = torch.ones(64, device="cuda")
    compiled(x)
    before = comm.trace_info()["collectives"]
    for i in range(3):
        with comm.trace_label(f"step {i}"):
            compiled(x)
    entries = comm.trace()[-6:]
    ok = (comm.trace_info()["collectives"] - before == 6 and
          [e["label"] for e in entries] == [f"step {i}" for i in range(3) for _ in range(2)])
    check("flight: a compiled graph's ops are recorded each run, with the caller's label", ok,
          f"{comm.trace_info()['collectives'] - before} entries for 3 runs of 2 ops")

    # CUDA graphs: recorded when captured, not per replay; progress mode follows the replays
    prog = comm.split(0, rank, ncclrt.Config(trace_progress=True))
    ops.register_communicator("prog", prog)
    y = torch.ones(64, device="cuda")
    prog.all_reduce(y)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        torch.ops.ncclrt.all_reduce_(y, "prog")
        torch.ops.ncclrt.all_reduce_(y, "prog")
    info0 = prog.trace_info()
    captured = prog.trace()[-2:]
    for _ in range(3):
        g.replay()
    torch.cuda.synchronize()
    info1 = prog.trace_info()
    ok = (info1["collectives"] == info0["collectives"] and
          all(e["captured"] is True for e in captured) and
          info1["gpu_completed"] == captured[-1]["seq"])
    check("flight: CUDA graph: entries at capture (captured=true), none per replay; progress "
          "shows the replays", ok,
          f"entries {info0['collectives']} -> {info1['collectives']} over 3 replays; captured "
          f"{[e['captured'] for e in captured]} ids {[e['capture_id'] for e in captured]}; "
          f"gpu completed {info0['gpu_completed']} -> {info1['gpu_completed']} "
          f"(captured seqs {[e['seq'] for e in captured]})")
    ops.unregister_communicator("prog")
    del g
    prog.destroy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, default=1)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--out", default="compiled-model-out")
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    tasks = [t for t in a.tasks.split(",") if t]
    unknown = set(tasks) - set(TASKS)
    if unknown:
        sys.exit(f"unknown task(s) {sorted(unknown)}; known: {TASKS}")
    if a.worker:
        sys.path.insert(0, HERE)
        worker(tasks)
    sys.exit(0 if launch(a.ranks, tasks, a.out, a.timeout) else 1)


if __name__ == "__main__":
    main()
