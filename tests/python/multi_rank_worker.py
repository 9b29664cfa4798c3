"""One rank of a multi-process check, started by test_multi_rank.py with torchrun's variables
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT): the vLLM class over a real gloo group
and Communicator.from_environment, every operation, with the numbers checked on this rank.
Rank r maps to GPU r % (GPUs visible), so N ranks can share one GPU where NCCL allows it
(NCCL >= 2.30.3 with NCCL_MULTI_RANK_GPU_ENABLE=1)."""
import os
import sys

import torch
import torch.distributed as dist

import ncclrt
from ncclrt.torch import PyNcclCommunicator


def main():
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    device = int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count()
    torch.cuda.set_device(device)
    addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    dist.init_process_group("gloo", init_method=f"tcp://{addr}:{port}", rank=rank,
                            world_size=world)
    lib_path = os.environ.get("NCCLRT_NCCL_LIB")
    failures = []

    def check(name, got, want):
        torch.cuda.synchronize()
        if not torch.equal(got, want):
            failures.append(f"{name}: got {got.flatten()[:6].tolist()} want "
                            f"{want.flatten()[:6].tolist()}")

    def full(shape, value, dtype=torch.float32):
        return torch.full(shape if isinstance(shape, tuple) else (shape,), float(value),
                          device="cuda", dtype=dtype)

    p = PyNcclCommunicator(dist.group.WORLD, device=device, library_path=lib_path)
    assert (p.rank, p.world_size) == (rank, world)
    n, w = 1000, world
    total = w * (w + 1) // 2
    x = full(n, rank + 1)

    # vLLM's methods
    check("all_reduce", p.all_reduce(x), full(n, total))
    check("all_reduce max", p.all_reduce(x, op=torch.distributed.ReduceOp.MAX), full(n, w))
    out = torch.empty(w * n, device="cuda")
    p.all_gather(out, x)
    check("all_gather", out, torch.cat([full(n, r + 1) for r in range(w)]))
    sizes = list(range(w))  # rank 0 contributes zero rows
    rows = full((sizes[rank], 4), rank + 1)
    out = torch.empty(sum(sizes), 4, device="cuda")
    p.all_gatherv(out, rows, sizes)
    check("all_gatherv", out, torch.cat([full((s, 4), r + 1) for r, s in enumerate(sizes)]))
    blocks = torch.cat([full(n, rank + 1 + b) for b in range(w)])
    out = torch.empty(n, device="cuda")
    p.reduce_scatter(out, blocks)
    check("reduce_scatter", out, full(n, total + w * rank))
    vs = [r + 1 for r in range(w)]
    inp = torch.cat([full((s, 3), rank + 1 + r) for r, s in enumerate(vs)])
    out = torch.empty(vs[rank], 3, device="cuda")
    p.reduce_scatterv(out, inp, vs)
    check("reduce_scatterv", out, full((vs[rank], 3), total + w * rank))
    for root in range(w):
        b = full(n, rank + 1)
        p.broadcast(b, root)
        check(f"broadcast root {root}", b, full(n, root + 1))
    got = torch.empty(n, device="cuda")
    p.group_start()
    p.send(x, (rank + 1) % w)
    p.recv(got, (rank - 1) % w)
    p.group_end()
    check("send/recv ring", got, full(n, (rank - 1) % w + 1))
    src, dst = full(n, 0), torch.empty(n, device="cuda")
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        p.all_reduce(src, dst)
    for step in (1, 2):
        src.fill_(rank + step)
        graph.replay()
        check(f"graph replay {step}", dst, full(n, total + w * (step - 1)))

    # The core API on the same communicator.
    c = p.comm
    a2a = torch.cat([full(n, rank * w + b) for b in range(w)])
    out = torch.empty_like(a2a)
    c.all_to_all(a2a, out)
    check("all_to_all", out, torch.cat([full(n, b * w + rank) for b in range(w)]))
    root = w - 1
    gathered = torch.empty(w * n, device="cuda") if rank == root else None
    c.gather(x, gathered, root)
    if rank == root:
        check("gather", gathered, torch.cat([full(n, r + 1) for r in range(w)]))
    scattered = torch.empty(n, device="cuda")
    c.scatter(torch.cat([full(n, 10 + r) for r in range(w)]) if rank == 0 else None, scattered, 0)
    check("scatter", scattered, full(n, 10 + rank))
    red = full(n, -1)
    c.reduce(x, red, ncclrt.ReduceOp.SUM, 0)
    if rank == 0:
        check("reduce", red, full(n, total))
    half = c.split(rank % 2, rank)
    hx = full(n, rank + 1)
    half.all_reduce(hx)
    check("split", hx, full(n, sum(r + 1 for r in range(w) if r % 2 == rank % 2)))
    half.destroy()

    # Communicator.from_environment: the same torchrun variables, NCCL's own rendezvous.
    lib = ncclrt.Library.open(lib_path)
    with ncclrt.Communicator.from_environment(lib, ncclrt.Config(timeout=120.0)) as env_comm:
        assert (env_comm.rank, env_comm.size, env_comm.device) == (rank, w, device)
        y = full(n, rank + 1)
        env_comm.all_reduce(y)
        check("from_environment all_reduce", y, full(n, total))
        env_comm.synchronize(torch.cuda.current_stream().cuda_stream, timeout=60)

    dist.barrier()
    print(f"RANK {rank} OK ({w} ranks, NCCL {lib.version})" if not failures
          else f"RANK {rank} FAILED: {failures}", flush=True)
    dist.destroy_process_group()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
