"""A training-style loop that survives lost ranks, through ncclrt's vLLM-shaped class.

Every step: an all_reduce and a ring of send/recv in one group, then a wait with a deadline that
leaves the communicator alive on failure. When a rank dies, every survivor notices (NCCL's error,
the deadline, or a wrong result) and calls recover(): revoke, agree on who failed (through
torch.distributed's store), shrink; then the step is done again on the survivors. Results are
checked after every step; a wrong one with nobody failed ends the program.

    torchrun --nproc-per-node 4 examples/fault_tolerant_loop.py --kill 2@5 --kill 1@12

(or scripts/launch_local.sh --as torchrun 4 python3 examples/fault_tolerant_loop.py ...). The
store must outlive the lost ranks: torchrun's agent store does; with launch_local.sh the store
lives in rank 0, so do not kill rank 0 there.
"""
import argparse
import os
import signal
import time

import torch
import torch.distributed as dist

import ncclrt
from ncclrt.torch import PyNcclCommunicator


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--kill", action="append", default=[], help="RANK@STEP: SIGKILL that rank")
    p.add_argument("--deadline", type=float, default=3.0, help="seconds")
    args = p.parse_args()
    kills = {tuple(int(x) for x in k.split("@")) for k in args.kill}

    dist.init_process_group("gloo")  # carries the unique id; its store carries the agreement
    me = dist.get_rank()
    local = int(os.environ.get("LOCAL_RANK", me)) % torch.cuda.device_count()
    torch.cuda.set_device(local)
    comm = PyNcclCommunicator(dist.group.WORLD, device=local, timeout=args.deadline)
    members = list(range(comm.world_size))  # the launch rank of each rank of the communicator
    n = 1 << 16
    buf = torch.empty(n, device="cuda")
    ring = torch.empty(2, device="cuda")
    stream = torch.cuda.Stream()
    s = 0
    while s < args.steps:
        if (me, s) in kills:
            print(f"rank {me}: SIGKILL at step {s}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        start = time.monotonic()
        try:
            with torch.cuda.stream(stream):
                buf.fill_((me + 1) * (s + 1))
                ring[0] = me
                comm.all_reduce(buf, buf)
                comm.group_start()
                comm.send(ring[0:1], (comm.rank + 1) % comm.world_size)
                comm.recv(ring[1:2], (comm.rank - 1) % comm.world_size)
                comm.group_end()
                comm.synchronize()  # detect: raises, leaving the communicator for recover()
        except (ncclrt.TimeoutError, ncclrt.NcclError):
            noticed = time.monotonic() - start
            old = comm.world_size
            t = time.monotonic()
            failed = comm.recover(window=2.0)
            gone = [members[r] for r in failed]
            members = [m for i, m in enumerate(members) if i not in failed]
            print(f"rank {me}: step {s}: noticed in {noticed * 1000:.0f} ms (deadline "
                  f"{args.deadline * 1000:.0f} ms), recovered in {(time.monotonic() - t) * 1000:.0f}"
                  f" ms: rank(s) {gone} failed, {old} -> {comm.world_size} ranks", flush=True)
            continue  # the same step again, on the survivors
        want = sum((m + 1) * (s + 1) for m in members)
        prev = members[(comm.rank - 1) % comm.world_size]
        wrong = buf[0].item() != want or buf[-1].item() != want or ring[1].item() != prev
        if wrong:
            # A peer that dies during a step can leave a survivor's results invalid while NCCL
            # reports no error on that survivor (over sockets, NCCL 2.30.7): a wrong result is a
            # failed step. Recover with the others; only if nobody failed is it really wrong.
            text = (f"all_reduce {buf[0].item()} (want {want}), ring {ring[1].item()} "
                    f"(want {prev})")
            failed = comm.recover(window=2.0)
            if not failed:
                print(f"rank {me}: step {s} WRONG: {text}", flush=True)
                return 1
            members = [m for i, m in enumerate(members) if i not in failed]
            print(f"rank {me}: step {s}: a wrong result ({text}); rank(s) {failed} failed, "
                  f"{comm.world_size} ranks now", flush=True)
            continue
        s += 1
    print(f"rank {me}: OK: {args.steps} steps correct, finished with {comm.world_size} ranks",
          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
