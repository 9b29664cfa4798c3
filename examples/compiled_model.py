"""A tensor-parallel block compiled whole, with its all_reduce inside the graph and the graph
replayed as a CUDA graph; then NCCL's own memory for a buffer the communicator reads.

    torchrun --nproc-per-node 2 examples/compiled_model.py

(or scripts/launch_local.sh --as torchrun 2 python3 examples/compiled_model.py; ranks may share
a GPU with NCCL >= 2.30.3, NCCL_MULTI_RANK_GPU_ENABLE=1 and $NCCLRT_NCCL_LIB pointing at it).
Every rank checks its result against a dense computation of the whole block and prints OK.
"""
import os

import torch
import torch.distributed as dist

import ncclrt.ops
from ncclrt.mempool import NcclMemPool
from ncclrt.torch import PyNcclCommunicator

HIDDEN, FFN = 256, 1024


class Block(torch.nn.Module):
    """Column-parallel linear, GELU, row-parallel linear, then the all_reduce."""

    def __init__(self, world):
        super().__init__()
        self.up = torch.nn.Linear(HIDDEN, FFN // world)
        self.down = torch.nn.Linear(FFN // world, HIDDEN, bias=False)

    def forward(self, x):
        y = self.down(torch.nn.functional.gelu(self.up(x)))
        return torch.ops.ncclrt.all_reduce(y, "tp")


def main():
    dist.init_process_group("gloo")  # carries the unique id
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
    torch.backends.cuda.matmul.allow_tf32 = False
    pynccl = PyNcclCommunicator(dist.group.WORLD, device=torch.cuda.current_device())
    ncclrt.ops.register_communicator("tp", pynccl)  # the same name on every rank

    torch.manual_seed(rank)  # each rank its own shard of the weights
    block = Block(world).cuda()
    compiled = torch.compile(block, fullgraph=True, mode="reduce-overhead")

    shards = [None] * world  # the whole block, to check against
    dist.all_gather_object(shards, {k: v.cpu() for k, v in block.state_dict().items()})
    up_w = torch.cat([s["up.weight"] for s in shards]).cuda()
    up_b = torch.cat([s["up.bias"] for s in shards]).cuda()
    down_w = torch.cat([s["down.weight"] for s in shards], 1).cuda()

    with torch.no_grad():
        for step in range(5):  # warm-up, capture, then replays with new inputs
            torch.manual_seed(100 + step)  # the same input on every rank
            x = torch.randn(16, HIDDEN, device="cuda")
            out = compiled(x)
            dense = torch.nn.functional.gelu(x @ up_w.T + up_b) @ down_w.T
            assert torch.allclose(out, dense, atol=1e-4), (step, (out - dense).abs().max())

    pool = NcclMemPool(pynccl)  # ncclMemAlloc memory, registered with the communicator
    with pool:
        buf = torch.full((1 << 16,), float(rank + 1), device="cuda")
    pynccl.all_reduce(buf, buf)  # NCCL's registered (symmetric, NCCL >= 2.27) path
    torch.cuda.synchronize()
    assert buf[0].item() == world * (world + 1) / 2
    print(f"rank {rank}: OK ({world} ranks, NCCL {pynccl.lib.version}, "
          f"{len(pool.segments())} NCCL memory segment(s), "
          f"{'windows' if pool.window else 'registered buffers'})", flush=True)
    del buf, pool
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
