"""The calls NCCL added from 2.28.7 on, through the Python module, against the recording
stand-in: what reaches NCCL, the state rules, and the release each needs."""
import pytest

import ncclrt

STREAM = 0x5700
DEV = 0x1000


def only(rec, fn, body):
    rec.clear()
    body()
    got = rec.records(extra=True)
    assert [r["fn"] for r in got] == [fn]
    return got[0]


def test_revoke_then_only_shrink_split_destroy(newest):
    c = newest.comm(4, 1)
    r = only(newest, "ncclCommRevoke", c.revoke)
    assert r["op"] == 0 and r["comm"] == c.native
    assert c.revoked and not c.valid
    before = newest.calls()
    with pytest.raises(ncclrt.UsageError, match="revoked"):
        c.all_reduce(DEV, DEV, count=4, dtype=ncclrt.DataType.FLOAT32)
    with pytest.raises(ncclrt.UsageError, match="revoked"):
        c.finalize()
    assert newest.calls() == before
    smaller = c.shrink([3])
    assert smaller.size == 3
    c.destroy()


def test_revoke_needs_2_28_7(stand_ins):
    lib = ncclrt.Library.open(stand_ins["recording_22605"])
    c = ncclrt.Communicator.init_rank(lib, 2, 0, lib.unique_id())
    with pytest.raises(ncclrt.UnsupportedError, match=r"ncclCommRevoke.*2\.28\.7"):
        c.revoke()
    assert c.valid


def test_grow_and_join(newest):
    c = newest.comm(2, 0)
    gid = c.grow_id()
    assert gid.bytes[0] == 0x47
    newest.clear()
    grown = c.grow(4, gid)
    r = newest.records(extra=True)[0]
    assert (r["fn"], r["extra"][0], r["extra"][1], r["extra"][2]) == ("ncclCommGrow", 4, -1, 0x47)
    assert (grown.rank, grown.size) == (0, 4)
    joined = ncclrt.Communicator.join(newest.lib, 4, 3, gid)
    assert (joined.rank, joined.size) == (3, 4)
    with pytest.raises(ncclrt.UsageError, match="more than the 2 ranks"):
        c.grow(2)


def test_suspend_resume_memory_stats(newest):
    c = newest.comm(4, 0)
    m = c.memory_stats()
    assert (m.suspendable_bytes, m.persistent_bytes, m.total_bytes, m.suspended) == \
        (2000, 1000, 3000, False)
    r = only(newest, "ncclCommSuspend", c.suspend)
    assert r["op"] == 1 and c.suspended
    assert c.memory_stats().suspended
    before = newest.calls()
    with pytest.raises(ncclrt.UsageError, match="suspended"):
        c.all_reduce(DEV, DEV, count=4, dtype=ncclrt.DataType.FLOAT32)
    assert newest.calls() == before
    only(newest, "ncclCommResume", c.resume)
    assert c.valid
    newest.clear()
    with c.suspension():
        assert c.suspended
    assert [x["fn"] for x in newest.records()] == ["ncclCommSuspend", "ncclCommResume"]
    r = only(newest, "ncclCommSuspend", lambda: c.suspend(ncclrt.SuspendFlags.NONE))
    assert r["op"] == 0


def test_signals_and_window_user_pointer(newest):
    c = newest.comm(4, 1)
    w = c.register_window(0x9000, 4096)
    r = only(newest, "ncclPutSignal",
             lambda: c.put_signal(DEV, 3, w, 256, 2, 1, count=16,
                                  dtype=ncclrt.DataType.FLOAT32, stream=STREAM))
    assert (r["send"], r["recv"], r["count"], r["root"]) == (DEV, w.native, 16, 3)
    assert r["extra"][:4] == [256, 2, 1, 0] and r["stream"] == STREAM
    r = only(newest, "ncclSignal", lambda: c.signal(0, 5, stream=STREAM))
    assert (r["root"], r["extra"][0]) == (0, 5)
    r = only(newest, "ncclWaitSignal",
             lambda: c.wait_signal([ncclrt.SignalWait(3, 2, 1), (0, 5, 4)], stream=STREAM))
    assert r["count"] == 2 and r["extra"][:3] == [1, 3, 2] and r["extra"][5] == 4
    only(newest, "ncclWaitSignal", lambda: c.wait_signal(ncclrt.SignalWait(peer=2)))
    assert w.user_pointer == 0x9000
    other = newest.comm(4, 2)
    theirs = other.register_window(0xa000, 4096)
    before = newest.calls()
    with pytest.raises(ncclrt.UsageError, match="peer 9"):
        c.wait_signal([(9, 0, 1, 0)])
    with pytest.raises(ncclrt.UsageError, match="SignalWait"):
        c.wait_signal(["x"])
    with pytest.raises(ncclrt.UsageError, match="window"):
        c.put_signal(DEV, 1, theirs, count=4, dtype=ncclrt.DataType.FLOAT32)
    assert newest.calls() == before


def test_coll_config(stand_ins, newest):
    cc = ncclrt.CollConfig(min_ctas=4, alg_selection="ring", user_profiler_tag=77)
    assert "min_ctas=4" in repr(cc) and not cc.empty()
    assert "launch_completion_event" in ncclrt.CollConfig.fields()
    with pytest.raises(TypeError, match="min_cta"):
        ncclrt.CollConfig(min_cta=4)
    rec = newest
    c = rec.comm(4, 2)
    f32 = ncclrt.DataType.FLOAT32
    calls = {
        "ncclAllReduceConfig": lambda: c.all_reduce(DEV, 0x2000, count=7, dtype=f32, config=cc),
        "ncclBroadcastConfig": lambda: c.broadcast(DEV, 0x2000, root=3, count=7, dtype=f32,
                                                   config=cc),
        "ncclReduceConfig": lambda: c.reduce(DEV, 0x2000, root=1, count=7, dtype=f32, config=cc),
        "ncclAllGatherConfig": lambda: c.all_gather(DEV, 0x2000, count=7, dtype=f32, config=cc),
        "ncclReduceScatterConfig": lambda: c.reduce_scatter(DEV, 0x2000, count=7, dtype=f32,
                                                            config=cc),
        "ncclAlltoAllConfig": lambda: c.all_to_all(DEV, 0x2000, count=7, dtype=f32, config=cc),
        "ncclGatherConfig": lambda: c.gather(DEV, 0x2000, root=2, count=7, dtype=f32, config=cc),
        "ncclScatterConfig": lambda: c.scatter(DEV, 0x2000, root=0, count=7, dtype=f32,
                                               config=cc),
    }
    for fn, call in calls.items():
        r = only(rec, fn, call)
        assert r["count"] == 7 and r["extra"][1:5] == [4, 1, ord("r"), 77], fn
        assert r["extra"][0] == 72  # 2.32.3's layout
    only(rec, "ncclAllReduce",
         lambda: c.all_reduce(DEV, 0x2000, count=7, dtype=f32, config=ncclrt.CollConfig()))
    ev = ncclrt.CollConfig(launch_completion_event=0xE7E7)
    r = only(rec, "ncclAllReduceConfig",
             lambda: c.all_reduce(DEV, 0x2000, count=7, dtype=f32, config=ev))
    assert r["extra"][5] == 0xE7E7
    with pytest.raises(ncclrt.UsageError, match="config must be"):
        c.all_reduce(DEV, 0x2000, count=7, dtype=f32, config={"min_ctas": 4})
    old = ncclrt.Library.open(stand_ins["recording_23102"])
    o = ncclrt.Communicator.init_rank(old, 2, 0, old.unique_id())
    with pytest.raises(ncclrt.UnsupportedError, match=r"launch_completion_event.*2\.32\.3"):
        o.all_reduce(DEV, 0x2000, count=7, dtype=f32, config=ev)


def test_coll_config_on_an_older_release(recorder):
    c = recorder.comm(4, 2)
    before = recorder.calls()
    with pytest.raises(ncclrt.UnsupportedError, match=r"ncclAllReduceConfig.*2\.31\.2"):
        c.all_reduce(DEV, 0x2000, count=7, dtype=ncclrt.DataType.FLOAT32,
                     config=ncclrt.CollConfig(max_ctas=8))
    assert recorder.calls() == before


def test_parameters_and_encryption(newest, recorder):
    assert newest.lib.parameters() == {"NCCL_DEBUG": "WARN", "NCCL_SOCKET_IFNAME": "eth0",
                                       "NCCL_NVLS_ENABLE": "1"}
    assert newest.lib.parameter("NCCL_SOCKET_IFNAME") == "eth0"
    assert newest.lib.parameter("NCCL_SOCKET_IFNAM") is None
    with pytest.raises(ncclrt.UnsupportedError, match=r"2\.30\.4"):
        recorder.lib.parameters()
    r = only(newest, "ncclSetEncryption", lambda: newest.lib.set_encryption("secret"))
    assert r["extra"][1:3] == [1, ord("s")]
    with pytest.raises(ncclrt.UnsupportedError, match=r"ncclSetEncryption.*2\.32\.3"):
        recorder.lib.set_encryption("secret")


def test_unknown_environment(real_nccl, monkeypatch):
    monkeypatch.setenv("NCCL_SOCKET_IFNAM", "eth0")
    monkeypatch.setenv("NCCL_DEBUG", "WARN")
    lib = ncclrt.Library.open(real_nccl[0])
    unknown = lib.unknown_environment()
    assert unknown["NCCL_SOCKET_IFNAM"][0] == "NCCL_SOCKET_IFNAME"
    assert "NCCL_DEBUG" not in unknown
    assert "NCCL_SOCKET_IFNAME" in lib.environment_names()


def test_ranks_per_gpu(stand_ins, monkeypatch):
    monkeypatch.delenv("NCCL_MULTI_RANK_GPU_ENABLE", raising=False)
    old = ncclrt.Library.open(stand_ins["recording_22809"])
    ok, why = old.ranks_per_gpu()
    assert not ok and "need NCCL >= 2.30.3; loaded 2.28.9" in why
    new = ncclrt.Library.open(stand_ins["recording_23102"])
    assert new.ranks_per_gpu()[0] is False
    monkeypatch.setenv("NCCL_MULTI_RANK_GPU_ENABLE", "1")
    assert new.ranks_per_gpu() == (True, "")

