#!/usr/bin/env python3
"""Host time per call of torch.distributed.all_reduce on one GPU (world size 1, NCCL backend).

Run on a GPU machine with torch:
    python3 bench/compare/torch_distributed.py --json out.json
"""
import argparse
import json
import statistics
import time

import torch
import torch.distributed as dist


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--json")
    a = p.parse_args()
    torch.cuda.set_device(0)
    dist.init_process_group("nccl", store=dist.HashStore(), rank=0, world_size=1,
                            device_id=torch.device("cuda", 0))
    rows = []
    for size in (1024, 1 << 20):
        x = torch.ones(size // 4, device="cuda", dtype=torch.float32)
        for _ in range(3 * a.calls):
            dist.all_reduce(x)
        torch.cuda.synchronize()
        per_call = []
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            for _ in range(a.calls):
                dist.all_reduce(x)
            per_call.append((time.perf_counter() - t0) / a.calls * 1e6)
            torch.cuda.synchronize()
        rows.append({"size": size, "host_us_per_call": statistics.median(per_call),
                     "host_us_min": min(per_call)})
        print(f"torch.distributed {size:>8} B: median {statistics.median(per_call):.3f} us/call, "
              f"min {min(per_call):.3f}")
    version = ".".join(str(v) for v in torch.cuda.nccl.version())
    dist.destroy_process_group()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"path": "torch.distributed.all_reduce", "nccl_version": version,
                       "torch": torch.__version__, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
