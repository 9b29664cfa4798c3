"""The vLLM class's host-side logic on the CPU: creation with config= and timeout= (nonblocking),
group_start/send/recv/group_end on a nonblocking communicator (which raised
NcclError(ncclInProgress) before), and recovery: every survivor's recover() agrees on the same
failed ranks and shrinks them away, with rank and world_size following, for blocking and
nonblocking communicators. torch is played by tests/python/fake_torch (fake device pointers) and
NCCL by the recording stand-in, in a fresh interpreter; the real torch and NCCL run the same
class on the GPU machine (test_multi_rank.py, examples/fault_tolerant_loop.py)."""
import inspect
import os
import textwrap

import pytest

from conftest import run_python

HERE = os.path.dirname(os.path.abspath(__file__))

PRELUDE = textwrap.dedent('''
    import ctypes, os, sys, threading, time
    sys.path.insert(0, FAKE_TORCH)
    import torch
    assert torch.__file__.startswith(FAKE_TORCH), torch.__file__
    import ncclrt
    from ncclrt.torch import PyNcclCommunicator, TorchStore
    so = ctypes.CDLL(LIB)

    class Stateless:  # vLLM's StatelessProcessGroup, as far as the class uses it
        uid = None
        def __init__(self, rank, world_size):
            self.rank, self.world_size = rank, world_size
        def broadcast_obj(self, obj, src):
            if self.rank == src:
                Stateless.uid = obj
            while Stateless.uid is None:
                time.sleep(0.001)
            return Stateless.uid

    class Busy:
        def __init__(self, polls):
            self.polls = polls
        def __enter__(self):
            os.environ["FAKE_OP_IN_PROGRESS"] = str(self.polls)
        def __exit__(self, *a):
            os.environ.pop("FAKE_OP_IN_PROGRESS")
''')


def run(stand_ins, body, version="recording_22809"):
    code = (f"FAKE_TORCH = {os.path.join(HERE, 'fake_torch')!r}\n"
            f"LIB = {stand_ins[version]!r}\n" + PRELUDE + textwrap.dedent(body))
    r = run_python(code, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_config_and_timeout_make_a_nonblocking_communicator_whose_groups_work(stand_ins):
    out = run(stand_ins, '''
        g = Stateless(0, 1)
        c = PyNcclCommunicator(g, device=0, library_path=LIB, config=ncclrt.Config(timeout=30.0))
        assert so.fake_config_blocking() == 0
        x = torch.zeros(16)
        with Busy(5):
            c.group_start()
            c.send(x, 0)
            c.recv(x, 0)
            c.group_end()          # was NcclError(ncclInProgress)
            assert so.fake_pending() == 0
            c.all_reduce(x)
            assert so.fake_pending() == 0
        Stateless.uid = None
        t = PyNcclCommunicator(Stateless(0, 1), device=0, library_path=LIB, timeout=7.5)
        assert so.fake_config_blocking() == 0 and t.timeout == 7.5
        Stateless.uid = None
        b = PyNcclCommunicator(Stateless(0, 1), device=0, library_path=LIB)
        assert b.timeout is None  # blocking, as vLLM's (ncclCommInitRank, no config)
        print("ok")
    ''')
    assert "ok" in out


@pytest.mark.parametrize("timeout", [None, 10.0], ids=["blocking", "nonblocking"])
def test_survivors_recover_to_the_same_smaller_communicator(stand_ins, tmp_path, timeout):
    out = run(stand_ins, f'''
        store = ncclrt.DirectoryStore({str(tmp_path)!r})
        results = {{}}
        def survivor(rank):
            c = PyNcclCommunicator(Stateless(rank, 4), device=0, library_path=LIB,
                                   timeout={timeout!r}, store=store)
            failed = c.recover(window=0.5)
            results[rank] = (failed, c.rank, c.world_size, c.comm.revoked, c.comm.valid)
            # a second failure: rank 1 of the three is lost too
            if c.rank != 1:
                results[rank] += (c.recover(window=0.5), c.rank, c.world_size)
        threads = [threading.Thread(target=survivor, args=(r,)) for r in (0, 1, 3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(sorted(results.items()))
    ''')
    # rank 2 never came: everyone excluded it; ranks renumber 0, 1, 2; then 1 of those is lost
    assert "(0, ([2], 0, 3, False, True, [1], 0, 2))" in out, out
    assert "(1, ([2], 1, 3, False, True))" in out, out
    assert "(3, ([2], 2, 3, False, True, [1], 1, 2))" in out, out


def test_torch_store_adapter_writes_once():
    class Store:  # torch.distributed.Store's compare_set/check/get semantics
        def __init__(self):
            self.d = {}

        def compare_set(self, key, expected, desired):
            cur = self.d.get(key)
            if (cur is None and expected == "") or cur == expected.encode():
                self.d[key] = desired.encode()
            return self.d[key]

        def check(self, keys):
            return all(k in self.d for k in keys)

        def get(self, key):
            return self.d[key]
    code = (f"import sys\nsys.path.insert(0, {os.path.join(HERE, 'fake_torch')!r})\n"
            "import ncclrt\nfrom ncclrt.torch import TorchStore\n")
    code += textwrap.dedent(inspect.getsource(Store)) + textwrap.dedent('''
        s = TorchStore(Store())
        assert s.create("k", "a") and not s.create("k", "b") and s.get("k") == "a"
        assert s.get("missing") is None
        assert ncclrt.agree_on_failed_ranks(s, "j", 0, 1, window=1.0) == []
        print("ok")
    ''')
    r = run_python(code)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr
