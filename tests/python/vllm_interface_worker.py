"""One rank of the vLLM-interface check on a GPU, started by test_vllm_interface_gpu.py with
torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), one process a rank.

vLLM-shaped calls of both classes, every method, with the numbers checked on this rank:
ncclrt.pynccl_wrapper.NCCLLibrary as vLLM's PyNcclCommunicator calls it (ctypes values, and plain
ints), then ncclrt.torch.PyNcclCommunicator; each eagerly and captured in a CUDA graph replayed
with new input; suspend/resume (NCCL >= 2.29.7, else UnsupportedError naming the release); the
device API (NCCL >= 2.29.2: the communicator's properties, a device communicator made with empty
requirements and destroyed, or what NCCL refuses and why); destroy() bounded while a captured
graph still holds the communicator. Rank r runs on GPU r % (GPUs visible). Prints one line per
step ("STEP name: ok ...") and "RANK r OK" or "RANK r FAILED: [...]" last."""
import os
import sys
import time
import traceback

import torch
import torch.distributed as dist

import ncclrt
from ncclrt.pynccl_wrapper import (NCCLLibrary, buffer_type, cudaStream_t, ncclDataTypeEnum,
                                   ncclRedOpTypeEnum)
from ncclrt.torch import PyNcclCommunicator

failures = []


def step(name):
    """Runs the decorated check now; an exception is a failure of this step only."""
    def run(fn):
        try:
            note = fn()
            print(f"STEP {name}: ok{' ' + note if note else ''}", flush=True)
        except Exception as e:  # noqa: BLE001 (reported, and the rank fails)
            failures.append(f"{name}: {type(e).__name__}: {e}")
            print(f"STEP {name}: FAILED {type(e).__name__}: {e}", flush=True)
            traceback.print_exc()
        return fn
    return run


def main():
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    device = int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count()
    torch.cuda.set_device(device)
    dist.init_process_group("gloo", init_method=f"tcp://{os.environ['MASTER_ADDR']}:"
                            f"{os.environ['MASTER_PORT']}", rank=rank, world_size=world)
    lib_path = os.environ.get("NCCLRT_NCCL_LIB")
    w, n = world, 1024
    total = w * (w + 1) // 2

    def full(shape, value, dtype=torch.float32):
        return torch.full(shape if isinstance(shape, tuple) else (shape,), float(value),
                          device="cuda", dtype=dtype)

    def expect(name, got, want):
        torch.cuda.synchronize()
        if not torch.equal(got, want):
            raise AssertionError(f"{name}: got {got.flatten()[:6].tolist()} want "
                                 f"{want.flatten()[:6].tolist()}")

    # ----- NCCLLibrary, as vLLM's PyNcclCommunicator drives it -----
    nccl = NCCLLibrary(lib_path)
    version = nccl.lib.version
    uid = nccl.ncclGetUniqueId() if rank == 0 else nccl.unique_id_from_bytes(bytes(128))
    raw = torch.ByteTensor(list(bytes(uid.internal)))
    dist.broadcast(raw, src=0)
    uid = nccl.unique_id_from_bytes(bytes(raw.tolist()))
    with torch.cuda.device(device):
        comm = nccl.ncclCommInitRank(w, uid, rank)
    f32 = ncclDataTypeEnum.from_torch(torch.float32)
    SUM = ncclRedOpTypeEnum.from_torch(dist.ReduceOp.SUM)

    def sp():
        return cudaStream_t(torch.cuda.current_stream().cuda_stream)

    def bp(t):
        return buffer_type(t.data_ptr())

    @step("NCCLLibrary versions and ids")
    def _():
        assert nccl.ncclGetRawVersion() == version.code
        assert nccl.ncclGetVersion() == str(version)
        assert comm.value == comm.communicator.native
        return f"NCCL {version} from {nccl.lib.path}"

    @step("NCCLLibrary collectives, ctypes arguments")
    def _():
        x, y = full(n, rank + 1), torch.empty(n, device="cuda")
        nccl.ncclAllReduce(bp(x), bp(y), n, f32, SUM, comm, sp())
        expect("ncclAllReduce", y, full(n, total))
        out = full(n, -1)
        nccl.ncclReduce(bp(x), bp(out), n, f32, ncclRedOpTypeEnum.ncclMax, w - 1, comm, sp())
        if rank == w - 1:
            expect("ncclReduce", out, full(n, w))
        blocks = torch.cat([full(n, rank + 1 + b) for b in range(w)])
        part = torch.empty(n, device="cuda")
        nccl.ncclReduceScatter(bp(blocks), bp(part), n, f32, SUM, comm, sp())
        expect("ncclReduceScatter", part, full(n, total + w * rank))
        gathered = torch.empty(w * n, device="cuda")
        nccl.ncclAllGather(bp(x), bp(gathered), n, f32, comm, sp())
        expect("ncclAllGather", gathered, torch.cat([full(n, r + 1) for r in range(w)]))
        for root in range(w):
            b = full(n, rank + 1)
            send = bp(b) if rank == root else buffer_type()  # vLLM's: no send buffer elsewhere
            nccl.ncclBroadcast(send, bp(b), n, f32, root, comm, sp())
            expect(f"ncclBroadcast root {root}", b, full(n, root + 1))
        got = torch.empty(n, device="cuda")
        nccl.ncclGroupStart()
        nccl.ncclSend(bp(x), n, f32, (rank + 1) % w, comm, sp())
        nccl.ncclRecv(bp(got), n, f32, (rank - 1) % w, comm, sp())
        nccl.ncclGroupEnd()
        expect("ncclSend/ncclRecv ring", got, full(n, (rank - 1) % w + 1))

    @step("NCCLLibrary collectives, plain ints")
    def _():
        x = full(n, rank + 1)
        stream = torch.cuda.current_stream().cuda_stream
        nccl.ncclAllReduce(x.data_ptr(), x.data_ptr(), n, 7, 0, comm.value, stream)
        expect("ncclAllReduce in place, ints", x, full(n, total))

    @step("NCCLLibrary in a CUDA graph")
    def _():
        src, dst = full(n, 0), torch.empty(n, device="cuda")
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):  # the capture stream is the current one
            nccl.ncclAllReduce(bp(src), bp(dst), n, f32, SUM, comm, sp())
        for value in (1, 2):
            src.fill_(rank + value)
            graph.replay()
            expect(f"graph replay {value}", dst, full(n, total + w * (value - 1)))
        del graph

    @step("NCCLLibrary windows")
    def _():
        if not nccl.has_symbol("ncclCommWindowRegister"):
            return f"ncclCommWindowRegister not in NCCL {version}: skipped"
        mem = ncclrt.NcclMemory.allocate(nccl.lib, 1 << 20)
        try:
            win = nccl.ncclCommWindowRegister(comm, buffer_type(mem.ptr), mem.nbytes, 1)
        except ncclrt.NcclError as e:
            return f"refused by NCCL (not a failure of ncclrt): {e}"
        nccl.ncclCommWindowDeregister(comm, win)
        return f"registered and deregistered 0x{win.value:x}"

    @step("NCCLLibrary suspend/resume")
    def _():
        if version < (2, 29, 7):
            try:
                nccl.ncclCommSuspend(comm, 1)
            except ncclrt.UnsupportedError as e:
                assert "2.29.7" in str(e), e
                return f"refused as it must be on {version}: {e}"
            raise AssertionError("suspend accepted on an NCCL before 2.29.7")
        nccl.ncclCommSuspend(comm, 1)
        assert comm.communicator.memory_stats().suspended
        nccl.ncclCommResume(comm)
        x = full(n, rank + 1)
        nccl.ncclAllReduce(bp(x), bp(x), n, f32, SUM, comm, sp())
        expect("all_reduce after resume", x, full(n, total))

    @step("device API")
    def _():
        c = comm.communicator
        if version < (2, 29, 2):
            try:
                c.properties()
            except ncclrt.UnsupportedError as e:
                return f"refused as it must be on {version}: {e}"
            raise AssertionError("properties accepted on an NCCL before 2.29.2")
        p = c.properties()
        props = nccl.ncclCommQueryProperties(comm)
        assert (p.rank, p.size) == (rank, w) and (props.rank, props.nRanks) == (rank, w)
        assert p.cuda_device == device
        if not p.device_api_support:
            try:
                c.create_dev_comm()
            except ncclrt.UnsupportedError as e:
                return f"{p!r}; create_dev_comm refused: {e}"
            raise AssertionError("create_dev_comm accepted without device-API support")
        dc = c.create_dev_comm()
        assert (dc.rank, dc.size) == (rank, w), dc
        assert 1 <= dc.lsa_size <= w and 0 <= dc.lsa_rank < dc.lsa_size, dc
        dc.destroy()
        x = full(n, rank + 1)
        c.all_reduce(x)
        expect("all_reduce after the device communicator", x, full(n, total))
        return f"{p!r}; {dc.bytes}-byte device communicator, layout {dc.layout}"

    @step("NCCLLibrary destroy")
    def _():
        nccl.ncclCommDestroy(comm)
        assert not comm.communicator.valid

    # ----- ncclrt.torch.PyNcclCommunicator -----
    p = PyNcclCommunicator(dist.group.WORLD, device=device, library_path=lib_path)

    @step("PyNcclCommunicator collectives")
    def _():
        x = full(n, rank + 1)
        expect("all_reduce", p.all_reduce(x), full(n, total))
        out = torch.empty(w * n, device="cuda")
        p.all_gather(out, x)
        expect("all_gather", out, torch.cat([full(n, r + 1) for r in range(w)]))
        blocks = torch.cat([full(n, rank + 1 + b) for b in range(w)])
        part = torch.empty(n, device="cuda")
        p.reduce_scatter(part, blocks)
        expect("reduce_scatter", part, full(n, total + w * rank))
        red = full(n, -1)
        p.reduce(red, x, root=0)
        if rank == 0:
            expect("reduce", red, full(n, total))
        sizes = [r + 1 for r in range(w)]  # uneven rows
        rows = torch.cat([full((s, 3), 10 + r) for r, s in enumerate(sizes)]) if rank == 0 \
            else None
        mine = torch.empty(sizes[rank], 3, device="cuda")
        p.scatter(mine, rows, sizes, root=0)
        expect("scatter", mine, full((sizes[rank], 3), 10 + rank))
        for root in range(w):
            b = full(n, rank + 1)
            p.broadcast(b, root)
            expect(f"broadcast root {root}", b, full(n, root + 1))
        got = torch.empty(n, device="cuda")
        p.batch_isend_irecv([dist.P2POp(dist.isend, x, (rank + 1) % w),
                             dist.P2POp(dist.irecv, got, (rank - 1) % w)])
        expect("batch_isend_irecv ring", got, full(n, (rank - 1) % w + 1))

    @step("PyNcclCommunicator in a CUDA graph")
    def _():
        src, dst = full(n, 0), torch.empty(n, device="cuda")
        gathered = torch.empty(w * n, device="cuda")
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            p.all_reduce(src, dst)
            p.all_gather(gathered, src)
        for value in (1, 2):
            src.fill_(rank + value)
            graph.replay()
            expect(f"graph all_reduce {value}", dst, full(n, total + w * (value - 1)))
            expect(f"graph all_gather {value}", gathered,
                   torch.cat([full(n, r + value) for r in range(w)]))
        del graph

    @step("PyNcclCommunicator suspend/resume")
    def _():
        if version < (2, 29, 7):
            for method in (p.suspend, p.resume):
                try:
                    method()
                    raise AssertionError(f"{method.__name__} accepted on {version}")
                except ncclrt.UnsupportedError as e:
                    assert "2.29.7" in str(e), e
            return f"refused as they must be on {version}"
        p.suspend()
        p.suspend()  # idempotent
        assert p.comm.suspended and p.comm.memory_stats().suspended
        p.resume()
        x = full(n, rank + 1)
        expect("all_reduce after resume", p.all_reduce(x), full(n, total))

    @step("PyNcclCommunicator.from_unique_id_bytes")
    def _():
        raw = torch.ByteTensor(list(bytes(nccl.ncclGetUniqueId().internal)) if rank == 0
                               else [0] * 128)
        dist.broadcast(raw, src=0)
        q = PyNcclCommunicator.from_unique_id_bytes(bytes(raw.tolist()), rank, w, device,
                                                    library_path=lib_path)
        assert q.group is None
        x = full(n, rank + 1)
        expect("from_unique_id_bytes all_reduce", q.all_reduce(x), full(n, total))
        q.destroy()

    @step("PyNcclCommunicator.destroy with a captured graph alive")
    def _():
        src = full(n, 1)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            p.all_reduce(src, src)
        torch.cuda.synchronize()
        t0 = time.monotonic()
        p.destroy()
        took = time.monotonic() - t0
        assert took < 5.5, f"destroy took {took:.1f} s"
        assert p.disabled and p.all_reduce(src) is None
        del graph
        return f"returned in {took:.2f} s"

    dist.barrier()
    print(f"RANK {rank} OK ({w} ranks, NCCL {version})" if not failures
          else f"RANK {rank} FAILED: {failures}", flush=True)
    dist.destroy_process_group()
    sys.stdout.flush()
    os._exit(1 if failures else 0)  # the aborts' helper threads may still be inside NCCL


if __name__ == "__main__":
    main()
