"""Every call of the Python module on a nonblocking communicator (Config(timeout=...)): the
recording stand-in answers ncclInProgress to every call NCCL may answer so (ncclGroupEnd
included) and keeps reporting it through ncclCommGetAsyncError for a while, then success or an
error. Each call completes only once the stand-in says the work is enqueued, raises the real
error, or raises TimeoutError at its deadline (+10%); none raises NcclError(ncclInProgress).
Groups wait for every nonblocking communicator used inside them, release the GIL while they do,
and never replace an exception raised inside the block."""
import gc
import os
import stat
import threading
import time
import weakref

import pytest

import ncclrt
from arrays import CAI

INTERNAL_ERROR = 3


class Busy:
    """NCCL enqueuing: calls answer ncclInProgress, then `polls`-1 more polls, then `final`."""

    def __init__(self, polls, final=0):
        self.polls, self.final = polls, final

    def __enter__(self):
        os.environ["FAKE_OP_IN_PROGRESS"] = str(self.polls)
        os.environ["FAKE_OP_FAILS"] = str(self.final)
        return self

    def __exit__(self, *exc):
        os.environ.pop("FAKE_OP_IN_PROGRESS", None)
        os.environ.pop("FAKE_OP_FAILS", None)
        return False


def live(recorder):
    """Live communicators of the stand-in, once earlier tests' garbage is gone."""
    gc.collect()
    return recorder.live()


def pending(recorder):
    return recorder.so.fake_pending()


def f(shape=(8,)):
    return CAI(0x1000, shape)


def g(shape=(8,)):
    return CAI(0x9000, shape)


def _window_then(call):
    def prepare(c, keep):
        keep["w"] = c.register_window(g((16,)))
    return prepare, call


def _handle(make):
    def prepare(c, keep):
        keep["h"] = make(c)
    return prepare, lambda c, keep: keep["h"].close()


CC = dict(max_ctas=4)
# name -> (stand-in, prepare(comm, keep) or None, call(comm, keep), makes a child, logs only)
CASES = {
    "all_reduce": ("newest", None, lambda c, k: c.all_reduce(f(), g())),
    "broadcast": ("newest", None, lambda c, k: c.broadcast(f(), g(), root=1)),
    "reduce": ("newest", None, lambda c, k: c.reduce(f(), g(), root=0)),
    "all_gather": ("newest", None, lambda c, k: c.all_gather(f((2,)), g())),
    "reduce_scatter": ("newest", None, lambda c, k: c.reduce_scatter(f(), g((2,)))),
    "all_to_all": ("newest", None, lambda c, k: c.all_to_all(f(), g())),
    "gather": ("newest", None, lambda c, k: c.gather(f((2,)), g(), root=2)),
    "scatter": ("newest", None, lambda c, k: c.scatter(f(), g((2,)), root=2)),
    "all_to_all grouped": ("old", None, lambda c, k: c.all_to_all(f(), g())),
    "gather grouped": ("old", None, lambda c, k: c.gather(f((2,)), g(), root=2)),
    "scatter grouped": ("old", None, lambda c, k: c.scatter(f(), g((2,)), root=2)),
    "all_gatherv": ("newest", None, lambda c, k: c.all_gatherv(f((2,)), g(), [1, 1, 2, 1])),
    "reduce_scatterv": ("newest", None, lambda c, k: c.reduce_scatterv(f(), g((2,)), [1, 1, 2, 1])),
    "send": ("newest", None, lambda c, k: c.send(f(), 3)),
    "recv": ("newest", None, lambda c, k: c.recv(g(), 3)),
    "all_reduce config=": ("newest", None,
                           lambda c, k: c.all_reduce(f(), g(), config=ncclrt.CollConfig(**CC))),
    "all_to_all config=": ("newest", None,
                           lambda c, k: c.all_to_all(f(), g(), config=ncclrt.CollConfig(**CC))),
    "signal": ("newest", None, lambda c, k: c.signal(1)),
    "wait_signal": ("newest", None,
                    lambda c, k: c.wait_signal([ncclrt.SignalWait(peer=1, count=1)])),
    "put_signal": ("newest",
                   *_window_then(lambda c, k: c.put_signal(f((4,)), 1, k["w"], 0))),
    "create_pre_mul_sum": ("newest", None, lambda c, k: c.create_pre_mul_sum(0.5, "float32")),
    "register_buffer": ("newest", None, lambda c, k: c.register_buffer(g(), 32)),
    "register_window": ("newest", None, lambda c, k: c.register_window(g(), 32)),
    "Window.user_pointer": ("newest", *_window_then(lambda c, k: k["w"].user_pointer)),
    "memory_stats": ("newest", None, lambda c, k: c.memory_stats()),
    "grow_id": ("newest", None, lambda c, k: c.grow_id()),
    "suspend": ("newest", None, lambda c, k: c.suspend()),
    "resume": ("newest", lambda c, k: c.suspend(), lambda c, k: c.resume()),
    "revoke": ("recorder", None, lambda c, k: c.revoke()),
    "finalize": ("newest", None, lambda c, k: c.finalize()),
    "destroy": ("newest", None, lambda c, k: c.destroy()),
    "split": ("newest", None, lambda c, k: c.split(1, 0), True),
    "shrink": ("newest", None, lambda c, k: c.shrink([3]), True),
    "grow": ("newest", None, lambda c, k: c.grow(6), True),
    "PreMulSum.close": ("newest", *_handle(lambda c: c.create_pre_mul_sum(0.5, "float32")),
                        False, True),
    "Registration.close": ("newest", *_handle(lambda c: c.register_buffer(g(), 32)), False, True),
    "Window.close": ("newest", *_handle(lambda c: c.register_window(g(), 32)), False, True),
}


def _case(name):
    lib, prepare, call, *rest = CASES[name]
    makes_child = rest[0] if rest else False
    logs_only = rest[1] if len(rest) > 1 else False
    return lib, prepare, call, makes_child, logs_only


@pytest.fixture
def stand(stand_ins):
    from conftest import Recorder
    made = {}

    def get(which):
        key = {"newest": "recording_23203", "old": "recording_22605",
               "recorder": "recording_22809"}[which]
        if key not in made:
            made[key] = Recorder(stand_ins[key])
        return made[key]
    return get


def _comm(r, timeout):
    return r.comm(config=ncclrt.Config(timeout=timeout))


@pytest.mark.parametrize("name", sorted(CASES))
def test_completes_once_enqueued(stand, name):
    which, prepare, call, _, _ = _case(name)
    r = stand(which)
    c, keep = _comm(r, 5.0), {}
    if prepare:
        prepare(c, keep)
    with Busy(4):
        call(c, keep)
        assert pending(r) == 0, f"{name} returned before NCCL said its work was enqueued"


@pytest.mark.parametrize("name", sorted(CASES))
def test_reports_the_error_not_in_progress(stand, name, capfd):
    which, prepare, call, _, logs_only = _case(name)
    r = stand(which)
    c, keep = _comm(r, 5.0), {}
    if prepare:
        prepare(c, keep)
    ncclrt.set_log_level("error")
    try:
        with Busy(3, INTERNAL_ERROR):
            if logs_only:
                call(c, keep)
                assert "failed with NCCL result 3" in capfd.readouterr().err
                return
            with pytest.raises(ncclrt.NcclError) as e:
                call(c, keep)
        assert e.value.result == INTERNAL_ERROR, str(e.value)
    finally:
        ncclrt.set_log_level("off")


@pytest.mark.parametrize("name", sorted(CASES))
def test_honours_the_deadline(stand, name, capfd):
    which, prepare, call, makes_child, logs_only = _case(name)
    r = stand(which)
    deadline = 0.5
    c, keep = _comm(r, deadline), {}
    if prepare:
        prepare(c, keep)
    live_before = live(r)
    ncclrt.set_log_level("error")
    try:
        with Busy(10 ** 9):
            start = time.monotonic()
            if logs_only:
                call(c, keep)
                assert "did not complete within" in capfd.readouterr().err
            else:
                with pytest.raises(ncclrt.TimeoutError, match="500 ms"):
                    call(c, keep)
            took = time.monotonic() - start
    finally:
        ncclrt.set_log_level("off")
    assert deadline <= took <= deadline * 1.1, f"{name}: {took:.3f} s"
    if makes_child:  # the new communicator was aborted; the parent goes on
        assert live(r) == live_before
        c.check()
    else:  # the communicator was aborted; its next call says why
        assert live(r) == live_before - 1
        with pytest.raises(ncclrt.TimeoutError, match="500 ms"):
            c.check()


def test_the_table_covers_the_module():
    names = " ".join(CASES)
    for call in ("all_reduce", "broadcast", "reduce", "all_gather", "reduce_scatter",
                 "all_to_all", "gather", "scatter", "grouped", "all_gatherv", "reduce_scatterv",
                 "send", "recv", "config=", "put_signal", "signal", "wait_signal",
                 "create_pre_mul_sum", "register_buffer", "register_window", "user_pointer",
                 "memory_stats", "grow_id", "suspend", "resume", "revoke", "finalize", "destroy",
                 "split", "shrink", "grow", "PreMulSum.close", "Registration.close",
                 "Window.close"):
        assert call in names, call


# ---- groups ----

def test_group_waits_for_every_communicator_used_inside(stand):
    r = stand("newest")
    c1, c2 = _comm(r, 5.0), _comm(r, 5.0)
    r.clear()
    with Busy(5):
        with ncclrt.group(c1):
            with ncclrt.group(c1):  # nested: NCCL acts at the outermost end
                c1.all_reduce(f(), g())
            c2.send(f(), 3)
            c2.recv(g(), 3)
            c1.all_to_all(f(), g())
        assert pending(r) == 0, "the group ended before its work was enqueued"
    assert [x["fn"] for x in r.records()] == [
        "ncclGroupStart", "ncclGroupStart", "ncclAllReduce", "ncclGroupEnd", "ncclSend",
        "ncclRecv", "ncclAlltoAll", "ncclGroupEnd"]


def test_group_expiry_aborts_the_groups_communicators(stand):
    r = stand("newest")
    c1, c2, other = _comm(r, 60.0), _comm(r, 60.0), _comm(r, 60.0)
    live_before = live(r)
    with Busy(10 ** 9):
        start = time.monotonic()
        with pytest.raises(ncclrt.TimeoutError, match="ncclGroupEnd.*200 ms.*aborted") as e:
            with ncclrt.group(c1, timeout=0.2):
                c1.all_reduce(f(), g())
                c2.broadcast(f(), g(), root=0)
        took = time.monotonic() - start
    assert 0.2 <= took <= 0.22
    assert "give group() a longer timeout" in str(e.value)  # Python's parameter, not C++'s
    assert live(r) == live_before - 2
    other.all_reduce(f(), g())  # not in the group: untouched
    # What to do instead, in Python's words: synchronize's timeout and abort=False.
    with pytest.raises(ncclrt.UsageError,
                       match=r"already aborted.*synchronize\(stream, timeout, abort=False\)"):
        c1.revoke()


def test_group_async_error_is_an_nccl_error(stand):
    r = stand("newest")
    c = _comm(r, 5.0)
    with Busy(3, INTERNAL_ERROR):
        with pytest.raises(ncclrt.NcclError, match="ncclGroupEnd") as e:
            with ncclrt.group(c):
                c.all_reduce(f(), g())
    assert e.value.result == INTERNAL_ERROR


def test_an_exception_inside_the_group_wins_and_the_group_still_ends(stand, capfd):
    r = stand("newest")
    c = _comm(r, 0.2)
    live_before = live(r)
    ncclrt.set_log_level("error")
    try:
        with Busy(10 ** 9):
            with pytest.raises(KeyError, match="mine"):
                with ncclrt.group(c):
                    c.all_reduce(f(), g())
                    raise KeyError("mine")
    finally:
        ncclrt.set_log_level("off")
    assert "~Group" in capfd.readouterr().err  # what ending the group said went to the log
    assert live(r) == live_before - 1  # ended, waited for, and aborted at the deadline


def test_the_group_end_releases_the_gil(stand):
    r = stand("newest")
    c = _comm(r, 0.3)
    ticks, stop = [0], threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.001)
    t = threading.Thread(target=spin)
    t.start()
    try:
        with Busy(10 ** 9), pytest.raises(ncclrt.TimeoutError):
            with ncclrt.group(c):
                c.all_reduce(f(), g())
                before = ticks[0]
    finally:
        stop.set()
        t.join()
    assert ticks[0] - before > 50, "another thread could not run while the group ended"


def test_calls_that_cannot_complete_inside_a_group_are_refused(stand):
    r = stand("newest")
    c = _comm(r, 5.0)
    with ncclrt.group(c):
        for name, call in [("register_window", lambda: c.register_window(g(), 32)),
                           ("ncclCommSplit", lambda: c.split(0, 0)),
                           ("ncclCommShrink", lambda: c.shrink([1])),
                           ("finalize", lambda: c.finalize()),
                           ("suspend", lambda: c.suspend())]:
            before = r.calls()
            with pytest.raises(ncclrt.UsageError, match=f"{name}.*inside a group"):
                call()
            assert r.calls() == before, name
    assert c.valid


def test_a_nonblocking_communicator_without_a_timeout_has_the_default(stand, monkeypatch):
    r = stand("newest")
    c = r.comm(config=ncclrt.Config(blocking=False))
    monkeypatch.setenv("NCCLRT_TIMEOUT_MS", "250")
    with Busy(10 ** 9):
        start = time.monotonic()
        with pytest.raises(ncclrt.TimeoutError, match="250 ms"):
            c.all_reduce(f(), g())
    assert time.monotonic() - start < 0.4


# ---- agreement ----

def test_agree_on_failed_ranks_over_a_directory(tmp_path):
    store = ncclrt.DirectoryStore(str(tmp_path))
    out = {}

    def rank(r):
        out[r] = ncclrt.agree_on_failed_ranks(store, "job/0", r, 4, window=0.3)
    threads = [threading.Thread(target=rank, args=(r,)) for r in (0, 1, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {0: [2], 1: [2], 3: [2]}
    with pytest.raises(ncclrt.Error, match="rank 2 of 4.*must leave"):
        ncclrt.agree_on_failed_ranks(store, "job/0", 2, 4, window=0.3)
    assert "DirectoryStore" in repr(store)


def test_agree_on_failed_ranks_over_a_python_store():
    class Memory(ncclrt.AgreementStore):
        def __init__(self):
            super().__init__()
            self.data = {}

        def create(self, key, value):
            return self.data.setdefault(key, value) == value and self.data[key] is value

        def get(self, key):
            return self.data.get(key)
    store = Memory()
    assert ncclrt.agree_on_failed_ranks(store, "s", 0, 1, window=1.0) == []
    assert store.data["s/failed"] == "failed:"


class _Memory(ncclrt.AgreementStore):
    """A store in a dict; `stall(key)` runs before each get (a slow or stuck store)."""

    def __init__(self, stall=None):
        super().__init__()
        self.data, self.stall = {}, stall

    def create(self, key, value):
        if key in self.data:
            return False
        self.data[key] = value
        return True

    def get(self, key):
        if self.stall:
            self.stall(key)
        return self.data.get(key)


def test_a_store_that_never_answers_raises_timeout_error_in_time():
    gone = threading.Event()  # a TCPStore whose host died: set only to end the test

    def stall(key):
        if key == "s/alive/1":
            gone.wait()
    store = _Memory(stall)
    start = time.monotonic()
    try:
        with pytest.raises(ncclrt.TimeoutError) as e:
            ncclrt.agree_on_failed_ranks(store, "s", 0, 2, window=0.2)
        took = time.monotonic() - start
    finally:
        gone.set()
    assert isinstance(e.value, TimeoutError)  # the builtin too
    for words in ("get('s/alive/1') did not return within 1200 ms", "rank 0 of 2", "scope 's'",
                  "window (200 ms)", "left running"):
        assert words in str(e.value)
    assert 1.2 <= took < 1.7
    # The call left running still has its store: it is kept, though the test lets go of it.
    kept = weakref.ref(store)
    del store
    gc.collect()
    assert kept() is not None


def test_a_python_store_that_raises_ends_the_agreement_with_its_exception():
    def stall(key):
        raise KeyError(f"store lost {key}")
    with pytest.raises(KeyError, match="store lost s/failed"):
        ncclrt.agree_on_failed_ranks(_Memory(stall), "s", 0, 2, window=0.2)


def test_a_scope_used_before_is_refused(tmp_path):
    for store in (_Memory(), ncclrt.DirectoryStore(str(tmp_path))):
        assert ncclrt.agree_on_failed_ranks(store, "job/0", 0, 1, window=0.2) == []
        with pytest.raises(ncclrt.UsageError, match=r"scope 'job/0' was used before.*"
                           r"'job/0/alive/0'.*must be new"):
            ncclrt.agree_on_failed_ranks(store, "job/0", 0, 1, window=0.2)
        assert ncclrt.agree_on_failed_ranks(store, "job/1", 0, 1, window=0.2) == []


def test_a_private_directory_store(tmp_path):
    made = tmp_path / "mine"
    store = ncclrt.DirectoryStore(str(made), private=True)
    assert store.private and stat.S_IMODE(os.lstat(made).st_mode) == 0o700
    assert repr(store) == f"ncclrt.DirectoryStore('{made}', private=True)"
    assert not ncclrt.DirectoryStore(str(tmp_path / "shared")).private

    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(ncclrt.UsageError, match="is a symbolic link.*mode 0700"):
        ncclrt.DirectoryStore(str(tmp_path / "link"), private=True)
    opened = tmp_path / "open"
    opened.mkdir()
    os.chmod(opened, 0o777)
    with pytest.raises(ncclrt.UsageError, match=r"other users may use it \(mode 0777\)"):
        ncclrt.DirectoryStore(str(opened), private=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to give a directory to another user")
def test_a_private_directory_store_refuses_another_users_directory(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    with pytest.raises(ncclrt.UsageError, match=r"belongs to uid 65534, not to this user"):
        ncclrt.DirectoryStore(str(theirs), private=True)
