"""ncclrt.torch.PyNcclCommunicator's methods that vLLM 0.33 added (from_unique_id_bytes, destroy,
reduce, scatter, suspend / resume, batch_isend_irecv) on the CPU: torch is played by
tests/python/fake_torch (fake device pointers) and NCCL by the recording stand-in, in a fresh
interpreter; the exact calls that reach NCCL are checked. The real torch and NCCL run them on the
GPU machine (test_vllm_interface_gpu.py, scripts/gpu/vllm_interface.sh)."""
import os
import textwrap

from conftest import run_python

HERE = os.path.dirname(os.path.abspath(__file__))

PRELUDE = textwrap.dedent('''
    import ctypes, sys, threading, time
    sys.path.insert(0, FAKE_TORCH)
    import torch, torch.distributed as dist
    assert torch.__file__.startswith(FAKE_TORCH), torch.__file__
    import ncclrt
    from ncclrt.torch import PyNcclCommunicator

    class Rec(ctypes.Structure):
        _fields_ = [("fn", ctypes.c_char * 32), ("send", ctypes.c_void_p),
                    ("recv", ctypes.c_void_p), ("count", ctypes.c_size_t), ("type", ctypes.c_int),
                    ("op", ctypes.c_int), ("root", ctypes.c_int), ("comm", ctypes.c_void_p),
                    ("stream", ctypes.c_void_p), ("extra", ctypes.c_longlong * 6)]
    so = ctypes.CDLL(LIB)
    so.fake_record.restype = ctypes.POINTER(Rec)

    def records():
        out = []
        for i in range(so.fake_records()):
            r = so.fake_record(i).contents
            out.append((r.fn.decode(), r.send or 0, r.recv or 0, r.count, r.root))
        so.fake_clear_records()
        return out

    class Stateless:  # vLLM's StatelessProcessGroup, as far as the class uses it
        def __init__(self, rank, world_size):
            self.rank, self.world_size = rank, world_size
        def broadcast_obj(self, obj, src):  # one process plays one rank: any id will do
            return obj if obj is not None else ncclrt.UniqueId(bytes(range(128)))
''')


def run(stand_ins, body, version="recording_23203"):
    code = (f"FAKE_TORCH = {os.path.join(HERE, 'fake_torch')!r}\n"
            f"LIB = {stand_ins[version]!r}\n" + PRELUDE + textwrap.dedent(body))
    r = run_python(code, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_from_unique_id_bytes_needs_no_process_group(stand_ins):
    out = run(stand_ins, '''
        raw = bytes(range(128))
        c = PyNcclCommunicator.from_unique_id_bytes(raw, 1, 2, 0, library_path=LIB)
        assert c.group is None and (c.rank, c.world_size) == (1, 2)
        assert bytes(c.unique_id.bytes) == raw
        assert (c.comm.rank, c.comm.size) == (1, 2)
        assert [r[0] for r in records()][-1] == "ncclAllReduce"  # the warm-up, as vLLM's
        for bad, words in (((raw[:10], 0, 2, 0), "128 bytes; got 10"),
                           ((raw, 2, 2, 0), "rank 2 is out of range")):
            try:
                PyNcclCommunicator.from_unique_id_bytes(*bad, library_path=LIB)
                raise SystemExit("accepted")
            except ValueError as e:
                assert words in str(e), e
        t = PyNcclCommunicator.from_unique_id_bytes(raw, 0, 1, 0, library_path=LIB, timeout=5.0)
        assert t.timeout == 5.0 and so.fake_config_blocking() == 0
        print("ok")
    ''')
    assert "ok" in out


def test_reduce_scatter_and_batch_isend_irecv_reach_nccl_as_vllms(stand_ins):
    out = run(stand_ins, '''
        c = PyNcclCommunicator(Stateless(1, 3), device=0, library_path=LIB)
        records()
        x, y = torch.zeros(8), torch.zeros(8)
        c.reduce(y, x, root=2, op=dist.ReduceOp.MAX)
        assert records() == [("ncclReduce", x.address, y.address, 8, 2)]

        # scatter: rows [2, 3, 1] from the root (rank 1 here) to ranks 0, 1, 2
        inp, mine = torch.zeros(6), torch.zeros(3)
        c.scatter(mine, inp, [2, 3, 1], root=1)
        got = records()
        assert got == [("ncclGroupStart", 0, 0, 0, -1), ("ncclSend", inp.address, 0, 2, 0),
                       ("ncclSend", inp.address + 20, 0, 1, 2), ("ncclGroupEnd", 0, 0, 0, -1)], got
        assert mine.copied_from == inp.address + 8  # the root's own rows, copied
        other = torch.zeros(2)
        c.rank = 0  # as rank 0 (a receiver) would run it
        c.scatter(other, None, [2, 3, 1], root=1)
        assert records()[1] == ("ncclRecv", 0, other.address, 2, 1)
        c.rank = 1
        for bad in (lambda: c.scatter(mine, inp, [2, 3]), lambda: c.scatter(mine, inp, [2, 2, 1]),
                    lambda: c.scatter(torch.zeros(2), inp, [2, 3, 1])):
            try:
                bad()
                raise SystemExit("accepted")
            except ncclrt.UsageError as e:
                assert "scatter:" in str(e)
        assert records() == []

        a, b = torch.zeros(4), torch.zeros(4)
        ops = [dist.P2POp(dist.isend, a, group_peer=2), dist.P2POp(dist.irecv, b, group_peer=0),
               dist.P2POp(dist.isend, a, peer=0)]
        c.batch_isend_irecv(ops)
        assert records() == [("ncclGroupStart", 0, 0, 0, -1), ("ncclSend", a.address, 0, 4, 2),
                             ("ncclRecv", 0, b.address, 4, 0), ("ncclSend", a.address, 0, 4, 0),
                             ("ncclGroupEnd", 0, 0, 0, -1)]
        try:
            c.batch_isend_irecv([dist.P2POp("broadcast", a, group_peer=0)])
            raise SystemExit("accepted")
        except ncclrt.UsageError as e:
            assert "neither" in str(e)
        assert [r[0] for r in records()] == ["ncclGroupStart", "ncclGroupEnd"]  # closed anyway
        print("ok")
    ''')
    assert "ok" in out


def test_suspend_resume_are_idempotent_and_name_the_release_where_missing(stand_ins):
    out = run(stand_ins, '''
        c = PyNcclCommunicator(Stateless(0, 2), device=0, library_path=LIB)
        records()
        c.resume()          # not suspended: nothing
        c.suspend(); c.suspend()
        assert c.comm.suspended
        c.resume(); c.resume()
        assert [r[0] for r in records()] == ["ncclCommSuspend", "ncclCommResume"]
        print("ok")
    ''')
    assert "ok" in out
    out = run(stand_ins, '''
        c = PyNcclCommunicator(Stateless(0, 2), device=0, library_path=LIB)
        for method in (c.suspend, c.resume):
            try:
                method()
                raise SystemExit("accepted")
            except ncclrt.UnsupportedError as e:
                assert "needs NCCL >= 2.29.7; loaded 2.28.9" in str(e), e
        print("ok")
    ''', version="recording_22809")
    assert "ok" in out


def test_destroy_is_bounded_by_5_s_and_leaves_the_class_disabled(stand_ins):
    out = run(stand_ins, '''
        import os
        c = PyNcclCommunicator(Stateless(0, 2), device=0, library_path=LIB)
        os.environ["FAKE_ABORT_SLEEP_MS"] = "60000"   # ncclCommAbort that does not return
        os.environ["NCCLRT_ABORT_TIMEOUT_MS"] = "30000"
        t0 = time.monotonic()
        c.destroy()
        took = time.monotonic() - t0
        assert 4.9 < took < 6.0, took
        assert c.disabled and not c.available
        assert c.all_reduce(torch.zeros(4)) is None and c.reduce(None, None, 0) is None
        c.destroy()  # again: nothing
        print("ok", round(took, 1))
        os._exit(0)  # the abort is still inside "NCCL"
    ''')
    assert "ok 5" in out
    out = run(stand_ins, '''
        c = PyNcclCommunicator(Stateless(0, 2), device=0, library_path=LIB)
        live = so.fake_live_comms()
        t0 = time.monotonic()
        c.destroy()
        assert time.monotonic() - t0 < 1 and so.fake_live_comms() == live - 1
        print("ok")
    ''')
    assert "ok" in out
