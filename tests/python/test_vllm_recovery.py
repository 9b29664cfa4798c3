"""The vLLM class's host-side logic on the CPU: creation with config= and timeout= (nonblocking),
group_start/send/recv/group_end on a nonblocking communicator (which raised
NcclError(ncclInProgress) before), and recovery: every survivor's recover() agrees on the same
failed ranks and shrinks them away, with rank and world_size following, for blocking and
nonblocking communicators. torch is played by tests/python/fake_torch (fake device pointers) and
NCCL by the recording stand-in, in a fresh interpreter; the real torch and NCCL run the same
class on the GPU machine (test_multi_rank.py, examples/fault_tolerant_loop.py). TorchStore is
tested against torch.distributed's own stores where torch is installed (skipped here, saying
why), and the fallback store against a directory another local user made first."""
import os
import textwrap
import threading

import pytest

import ncclrt
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


def test_a_communicator_nccl_will_not_revoke_is_rebuilt_from_a_new_id(stand_ins, tmp_path):
    """NCCL that saw a peer go itself (its socket closed: ncclRemoteError) refuses to revoke, and
    then to shrink: recover() then aborts the old communicator and makes a new one of the
    survivors from a unique id passed through the store; a revoked one is shrunk as before."""
    out = run(stand_ins, f'''
        os.environ["FAKE_REVOKE_RESULT"] = "6"
        store = ncclrt.DirectoryStore({str(tmp_path)!r})
        c = PyNcclCommunicator(Stateless(0, 1), device=0, library_path=LIB, timeout=10.0,
                               store=store)
        try:
            c.comm.revoke()
            raise SystemExit("revoke did not raise")
        except ncclrt.NcclError as e:
            assert "ncclCommRevoke failed" in str(e) and "[6]" in str(e), str(e)
            assert "a peer failed or went away" in str(e), str(e)
        old = c.comm
        assert c.recover(window=0.2) == [] and c.world_size == 1  # nobody failed: a new one
        assert not old.valid and c.comm.valid
        Stateless.uid = None
        os.environ.pop("FAKE_REVOKE_RESULT")
        c = PyNcclCommunicator(Stateless(0, 2), device=0, library_path=LIB, timeout=10.0,
                               store=store)
        os.environ["FAKE_REVOKE_RESULT"] = "6"
        shrinks = so.fake_shrinks()
        print("failed", c.recover(window=0.2), c.world_size, "shrinks", so.fake_shrinks() - shrinks)
        os.environ.pop("FAKE_REVOKE_RESULT")
        Stateless.uid = None
        d = PyNcclCommunicator(Stateless(0, 2), device=0, library_path=LIB, timeout=10.0,
                               store=store)
        print("revoked:", d.recover(window=0.2), "flags", so.fake_last_shrink_flags(),
              "shrinks", so.fake_shrinks() - shrinks)
        comm, failed, revoked, rebuilt = ncclrt.recover(
            d.comm, store, "by-hand", 0.2, ncclrt.Config(timeout=5.0))
        print("by hand:", comm.size, failed, revoked, rebuilt)
    ''')
    # rank 1 never posted: excluded, by a new communicator (no shrink reached NCCL)
    assert "failed [1] 1 shrinks 0" in out, out
    assert "revoked: [1] flags 0 shrinks 1" in out, out  # a revoked communicator: the default shrink
    assert "by hand: 1 [] True False" in out, out  # nobody failed: a split


def test_the_fallback_store_is_a_directory_of_this_user_alone(tmp_path):
    """Without a torch.distributed store, survivors on one machine agree in the temporary
    directory, at a name another local user can guess: one that user made first is refused."""
    code = (f"import os, sys, tempfile\nsys.path.insert(0, {os.path.join(HERE, 'fake_torch')!r})\n"
            f"tempfile.tempdir = {str(tmp_path)!r}\n") + textwrap.dedent('''
        import ncclrt
        from ncclrt.torch import _default_store

        class Stateless:  # vLLM's StatelessProcessGroup without a store
            rank, world_size = 0, 1

        s = _default_store(Stateless(), "made")
        path = os.path.join(tempfile.tempdir, "ncclrt-recovery-made")
        assert s.directory == path and s.private, repr(s)
        assert os.stat(path).st_mode & 0o777 == 0o700
        assert _default_store(Stateless(), "made").directory == path  # the other ranks

        os.makedirs(os.path.join(tempfile.tempdir, "elsewhere"), mode=0o700)
        os.symlink(os.path.join(tempfile.tempdir, "elsewhere"),
                   os.path.join(tempfile.tempdir, "ncclrt-recovery-linked"))
        os.mkdir(os.path.join(tempfile.tempdir, "ncclrt-recovery-open"))
        os.chmod(os.path.join(tempfile.tempdir, "ncclrt-recovery-open"), 0o777)
        for scope, why in (("linked", "is a symbolic link"), ("open", "mode 0777")):
            try:
                _default_store(Stateless(), scope)
                raise SystemExit(f"{scope}: no error")
            except ncclrt.UsageError as e:
                for words in ("ncclrt-recovery-" + scope, why, "store="):
                    assert words in str(e), str(e)
        print("ok")
    ''')
    r = run_python(code)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr


def _torch_distributed():
    """The real torch.distributed, else a skip that says why."""
    dist = pytest.importorskip(
        "torch.distributed",
        reason="TorchStore is tested against torch's own stores, and PyTorch is not installed "
               "here; run it where it is (e.g. /opt/torch/.venv/bin/python -m pytest "
               "tests/python/test_vllm_recovery.py -k real_torch)")
    if not hasattr(dist, "HashStore"):
        pytest.skip("this torch has no torch.distributed stores (built without distributed)")
    return dist


def test_torch_store_over_real_torch_stores():
    dist = _torch_distributed()
    from ncclrt.torch import TorchStore
    master = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    for name, raw in (("HashStore", dist.HashStore()), ("TCPStore", master),
                      ("PrefixStore", dist.PrefixStore("job", dist.HashStore()))):
        s = TorchStore(raw)
        assert s.get("k") is None, name
        assert s.create("k", "a") is True, name
        assert s.create("k", "b") is False, name
        assert s.get("k") == "a", name
        # compare_set cannot tell "I wrote it" from "it already held this": the agreement
        # writes marks unique to each call for that reason.
        assert s.create("k", "a") is True, name


def test_real_torch_survivors_agree_over_a_tcp_store():
    dist = _torch_distributed()
    from ncclrt.torch import TorchStore
    master = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    out = {}

    def rank(r):  # each rank its own client, as separate processes have
        client = dist.TCPStore("127.0.0.1", master.port, is_master=False)
        out[r] = ncclrt.agree_on_failed_ranks(TorchStore(client), "job/0", r, 4, window=0.5)
    threads = [threading.Thread(target=rank, args=(r,)) for r in (0, 1, 3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert out == {0: [2], 1: [2], 3: [2]}
    assert master.get("job/0/failed") == b"failed:2"
    with pytest.raises(ncclrt.Error, match="rank 2 of 4.*must leave"):
        ncclrt.agree_on_failed_ranks(TorchStore(master), "job/0", 2, 4, window=0.5)
    # The marks of this agreement are not counted again: the scope must be new.
    with pytest.raises(ncclrt.UsageError, match="scope 'job/0' was used before"):
        ncclrt.agree_on_failed_ranks(TorchStore(master), "job/0", 0, 4, window=0.5)
