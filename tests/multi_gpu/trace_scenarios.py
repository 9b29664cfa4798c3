"""One rank of the flight recorder's hang scenarios from Python, through vLLM's class
(ncclrt.torch.PyNcclCommunicator over a gloo group), started with torchrun's variables by
scripts/launch_local.sh --as torchrun (scripts/trace_scenarios.sh runs it). NCCLRT_TRACE_DIR must
be set: the dumps go there.

    skip   a loop of all_reduces labelled "iter i"; rank 2 skips iteration 5
    graph  progress mode: 10 all_reduces captured with torch.cuda.graph, replayed; rank 3 stops
           replaying after replay 7
    graph_abort  the same, but rank 3 stops after 5 replays and the others detect it with
           synchronize(timeout=3, abort=False), then abort() as the docs advise: the dumps
           written after the abort come later than those written at the failure
"""
import os
import sys
import time

import torch
import torch.distributed as dist

import ncclrt
from ncclrt.torch import PyNcclCommunicator

DEADLINE = 3.0


def wait_out(p, rank, what):
    """The odd rank leaves through a finalize, which dumps if it gives up; NCCL 2.30.7's completes
    on a rank with no work of its own pending, and then the rank dumps on request, as an
    operator's SIGUSR1 to every rank would."""
    try:
        p.comm.finalize(timeout=8)
        files = ncclrt.dump_traces(os.environ["NCCLRT_TRACE_DIR"])
        print(f"rank {rank}: {what}; finalize completed; {len(files)} dump(s) written on request",
              flush=True)
        return 0
    except ncclrt.Error as e:
        print(f"rank {rank}: {what}; finalize gave up: {str(e)[:100]}", flush=True)
        return 0


def skip(p, rank, stream):
    x = torch.zeros(1 << 16, device="cuda")
    for i in range(20):
        if rank == 2 and i == 5:
            continue
        with p.trace_label(f"iter {i}"):
            p.all_reduce(x, x, stream=stream)
        try:
            p.comm.synchronize(stream, timeout=DEADLINE)
        except ncclrt.Error as e:
            print(f"rank {rank}: iteration {i} did not complete: {str(e)[:100]}", flush=True)
            return 0
    if rank == 2:
        return wait_out(p, rank, "finished its 19 all_reduces")
    # A rank whose collectives all completed although one rank skipped one (NCCL matched them
    # in order): no failure of its own, so it dumps on request, as SIGUSR1 would make it.
    files = ncclrt.dump_traces(os.environ["NCCLRT_TRACE_DIR"])
    print(f"rank {rank}: every iteration completed; {len(files)} dump(s) written on request",
          flush=True)
    return 0


def captured(p, stream):
    """One eager all_reduce, then a CUDA graph of 10 captured all_reduces."""
    x = torch.zeros(1 << 16, device="cuda")
    p.all_reduce(x, x, stream=stream)
    p.comm.synchronize(stream, timeout=DEADLINE)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g, stream=stream):
        for _ in range(10):
            p.all_reduce(x, x)
    return g


def graph(p, rank, stream):
    g = captured(p, stream)
    for replay in range(20):
        if rank == 3 and replay == 8:
            info = p.trace_info()
            print(f"rank {rank}: stops replaying after {replay} replays (GPU completed "
                  f"#{info['gpu_completed']})", flush=True)
            time.sleep(5)  # the others give up meanwhile
            files = ncclrt.dump_traces(os.environ["NCCLRT_TRACE_DIR"])  # as SIGUSR1 would
            print(f"rank {rank}: its GPU is idle; {len(files)} dump(s) written on request",
                  flush=True)
            return 0
        g.replay()
        try:
            p.comm.synchronize(stream, timeout=DEADLINE)
        except ncclrt.Error as e:
            info = p.trace_info()
            print(f"rank {rank}: replay {replay} did not complete (GPU started "
                  f"#{info['gpu_started']}, completed #{info['gpu_completed']}): {str(e)[:80]}",
                  flush=True)
            os._exit(0)  # the graph holds the aborted communicator's work: leave without teardown
    print(f"rank {rank}: every replay completed (unexpected)", flush=True)
    return 1


def graph_abort(p, rank, stream):
    g = captured(p, stream)
    for replay in range(20):
        if rank == 3 and replay == 5:
            print(f"rank {rank}: stops replaying after {replay} replays", flush=True)
            time.sleep(5)  # the others give up meanwhile
            files = ncclrt.dump_traces(os.environ["NCCLRT_TRACE_DIR"])  # as SIGUSR1 would
            print(f"rank {rank}: {len(files)} dump(s) written on request", flush=True)
            return 0
        g.replay()
        try:
            p.comm.synchronize(stream, timeout=DEADLINE, abort=False)
        except ncclrt.Error as e:
            print(f"rank {rank}: replay {replay} did not complete: {str(e)[:80]}", flush=True)
            p.comm.abort()  # as the docs advise after a failure that is not recovered
            print(f"rank {rank}: aborted", flush=True)
            os._exit(0)  # the graph holds the aborted communicator's work: leave without teardown
    print(f"rank {rank}: every replay completed (unexpected)", flush=True)
    return 1


MODES = {"skip": skip, "graph": graph, "graph_abort": graph_abort}


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in MODES or "NCCLRT_TRACE_DIR" not in os.environ:
        print("usage: NCCLRT_TRACE_DIR=DIR trace_scenarios.py skip|graph|graph_abort "
              "(torchrun's variables)", file=sys.stderr)
        return 2
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    device = int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count()
    torch.cuda.set_device(device)
    addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    dist.init_process_group("gloo", init_method=f"tcp://{addr}:{port}", rank=rank,
                            world_size=world)
    # Eager: nonblocking, so finalize has a deadline; the graph: blocking, as the GPU tests capture.
    config = (ncclrt.Config(trace_progress=True) if mode.startswith("graph")
              else ncclrt.Config(timeout=20.0))
    p = PyNcclCommunicator(dist.group.WORLD, device=device,
                           library_path=os.environ.get("NCCLRT_NCCL_LIB"), config=config)
    if rank == 0:
        info = p.trace_info()
        print(f"rank 0: {world} ranks through PyNcclCommunicator, comm {info['comm_id']}, "
              f"{info['capacity']} entries, progress {info['progress']}", flush=True)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        rc = MODES[mode](p, rank, stream)
    sys.stdout.flush()
    os._exit(rc)  # no orderly teardown: the job is failing by design


if __name__ == "__main__":
    sys.exit(main())
