"""ncclrt.pynccl_wrapper, vLLM's NCCLLibrary over ncclrt, on the CPU through the recording
stand-in: every method with plain ints and with the ctypes values vLLM passes (the exact
arguments that reach NCCL), errors in NCCL_CHECK's words, methods newer than the loaded NCCL, the
communicator handed to ncclrt's own API, and vLLM's module path aliased to this one."""
import ctypes
import os
import textwrap

import pytest

import ncclrt
from conftest import run_python
from ncclrt import pynccl_wrapper as pw
from ncclrt.pynccl_wrapper import (NCCLLibrary, buffer_type, cudaStream_t, ncclComm_t,
                                   ncclDataTypeEnum, ncclRedOpTypeEnum, ncclUniqueId,
                                   ncclWindow_t)

P, Q, S = 0x7F0000001000, 0x7F0000009000, 0x5E01  # fake device addresses and a stream


@pytest.fixture
def nccl(newest):
    return NCCLLibrary(newest.path)


@pytest.fixture
def comm(nccl, newest):
    c = nccl.ncclCommInitRank(4, nccl.ncclGetUniqueId(), 2)
    newest.clear()
    yield c
    if c.communicator.valid:
        nccl.ncclCommAbort(c)


def one(rec, fn):
    got = rec.records()
    assert [r["fn"] for r in got] == [fn], got
    return got[0]


def test_the_same_file_gives_the_same_library_and_none_is_ncclrts_discovery(newest, monkeypatch):
    a, b = NCCLLibrary(newest.path), NCCLLibrary(newest.path)
    assert a.lib is b.lib and a.lib == newest.lib
    assert NCCLLibrary.path_to_library_cache[newest.path] is a.lib
    monkeypatch.setattr(NCCLLibrary, "path_to_library_cache", {})
    monkeypatch.setenv("NCCLRT_NCCL_LIB", newest.path)
    d = NCCLLibrary()
    assert d.lib == newest.lib  # the one already opened from that file
    assert d.so_file == newest.path
    with pytest.raises(ncclrt.LoadError, match="no-such-libnccl"):
        NCCLLibrary("/no-such-libnccl.so.2")


def test_versions_ids_strings_and_symbols(nccl):
    assert nccl.ncclGetRawVersion() == 23203
    assert nccl.ncclGetVersion() == "2.32.3"
    uid = nccl.ncclGetUniqueId()
    assert isinstance(uid, ncclUniqueId) and uid.internal[0] == ord("r")
    raw = bytes(range(128))
    assert bytes(nccl.unique_id_from_bytes(raw).internal) == raw
    with pytest.raises(ValueError, match="128 bytes; got 127"):
        nccl.unique_id_from_bytes(raw[:127])
    assert nccl.ncclGetErrorString(0) == "no error"
    assert nccl.ncclGetErrorString(ctypes.c_int(4)) == "fake error"
    assert nccl.ncclGetLastError() is None  # the stand-in's text is empty
    assert nccl.has_symbol("ncclCommSuspend") and nccl.has_symbol("ncclAllReduce")
    assert nccl.has_symbol("ncclCommQueryProperties")
    assert not nccl.has_symbol("ncclNoSuchThing")
    nccl.NCCL_CHECK(0)
    with pytest.raises(ncclrt.NcclError) as e:
        nccl.NCCL_CHECK(ctypes.c_int(4))
    assert isinstance(e.value, RuntimeError)
    assert str(e.value) == "NCCL error: fake error"
    assert (e.value.result, e.value.result_name, e.value.version) == (4, "ncclInvalidArgument",
                                                                      "2.32.3")


def test_the_communicator_is_an_ncclcomm_t_and_ncclrts_own(nccl, newest):
    live = newest.live()
    c = nccl.ncclCommInitRank(4, nccl.ncclGetUniqueId(), 1)
    assert newest.live() == live + 1
    assert isinstance(c, ncclComm_t) and isinstance(c, ctypes.c_void_p)
    assert isinstance(c.communicator, ncclrt.Communicator)
    assert c.value == c.communicator.native
    assert (c.communicator.rank, c.communicator.size) == (1, 4)
    assert pw.communicator_of(c) is c.communicator
    assert pw.communicator_of(c.value) is c.communicator
    assert pw.communicator_of(ncclComm_t(c.value)) is c.communicator
    # ncclrt's own API on it, and NCCLLibrary's calls on ncclrt's Communicator.
    newest.clear()
    c.communicator.all_reduce(P, count=8, dtype=ncclrt.DataType.FLOAT32, stream=S)
    nccl.ncclAllReduce(P, Q, 8, 7, 0, c.communicator, S)
    assert [r["comm"] for r in newest.records()] == [c.value, c.value]
    # The flight recorder saw both, as for any communicator.
    ops = [e["op"] for e in c.communicator.trace()]
    assert ops[-2:] == ["all_reduce", "all_reduce"]
    nccl.ncclCommDestroy(c)
    assert newest.live() == live
    assert c.value not in pw._communicators


# (method, arguments with ints, with ctypes values, the record NCCL must see)
def calls(comm):
    bt, cs = buffer_type, cudaStream_t
    return [
        ("ncclAllReduce", (P, Q, 16, 7, 2, comm, S),
         (bt(P), bt(Q), 16, ctypes.c_int(7), ctypes.c_int(2), comm, cs(S)),
         dict(fn="ncclAllReduce", send=P, recv=Q, count=16, type=7, op=2, root=-1, stream=S)),
        ("ncclReduce", (P, Q, 16, 9, 0, 3, comm, S),
         (bt(P), bt(Q), 16, 9, 0, 3, comm, cs(S)),
         dict(fn="ncclReduce", send=P, recv=Q, count=16, type=9, op=0, root=3, stream=S)),
        ("ncclReduceScatter", (P, Q, 4, 6, 1, comm, S),
         (bt(P), bt(Q), ctypes.c_size_t(4), 6, 1, comm, cs(S)),
         dict(fn="ncclReduceScatter", send=P, recv=Q, count=4, type=6, op=1, root=-1, stream=S)),
        ("ncclAllGather", (P, Q, 4, 4, comm, S), (bt(P), bt(Q), 4, 4, comm, cs(S)),
         dict(fn="ncclAllGather", send=P, recv=Q, count=4, type=4, root=-1, stream=S)),
        ("ncclBroadcast", (P, Q, 32, 1, 2, comm, S), (bt(P), bt(Q), 32, 1, 2, comm, cs(S)),
         dict(fn="ncclBroadcast", send=P, recv=Q, count=32, type=1, root=2, stream=S)),
        # vLLM's broadcast from another rank: a null send buffer (buffer_type()).
        ("ncclBroadcast", (0, Q, 32, 7, 0, comm, S), (bt(), bt(Q), 32, 7, 0, comm, cs(S)),
         dict(fn="ncclBroadcast", send=0, recv=Q, count=32, type=7, root=0, stream=S)),
        ("ncclSend", (P, 8, 7, 3, comm, S), (bt(P), 8, 7, 3, comm, cs(S)),
         dict(fn="ncclSend", send=P, recv=0, count=8, type=7, root=3, stream=S)),
        ("ncclRecv", (Q, 8, 7, 1, comm, S), (bt(Q), 8, 7, 1, comm, cs(S)),
         dict(fn="ncclRecv", send=0, recv=Q, count=8, type=7, root=1, stream=S)),
    ]


@pytest.mark.parametrize("form", ["ints", "ctypes", "comm as int", "keywords"])
def test_every_collective_passes_exactly_its_arguments(nccl, comm, newest, form):
    for name, ints, ctypes_args, want in calls(comm):
        newest.clear()
        method = getattr(nccl, name)
        if form == "ints":
            assert method(*ints) is None
        elif form == "ctypes":
            method(*ctypes_args)
        elif form == "comm as int":
            method(*[comm.value if a is comm else a for a in ints])
        else:  # by name, as a Python caller may
            params = list(__import__("inspect").signature(method).parameters)
            method(**dict(zip(params, ints)))
        got = one(newest, want["fn"])
        want = dict(want, comm=comm.value)
        assert {k: got[k] for k in want} == want, (name, form)


def test_groups_windows_suspend_resume_properties(nccl, comm, newest):
    nccl.ncclGroupStart()
    nccl.ncclSend(P, 8, 7, 3, comm, S)
    nccl.ncclRecv(Q, 8, 7, 1, comm, S)
    nccl.ncclGroupEnd()
    assert [r["fn"] for r in newest.records()] == ["ncclGroupStart", "ncclSend", "ncclRecv",
                                                  "ncclGroupEnd"]
    with pytest.raises(ncclrt.UsageError, match="NCCL error: ncclGroupEnd without"):
        nccl.ncclGroupEnd()
    newest.clear()
    win = nccl.ncclCommWindowRegister(comm, buffer_type(Q), 4096, 1)
    assert isinstance(win, ncclWindow_t) and win.value == Q + 2  # the stand-in's handle
    assert win.window.native == win.value
    r = one(newest, "ncclCommWindowRegister")
    assert (r["send"], r["count"], r["op"], r["comm"]) == (Q, 4096, 1, comm.value)
    newest.clear()
    nccl.ncclCommWindowDeregister(comm, win)
    assert one(newest, "ncclCommWindowDeregister")["send"] == Q + 2
    with pytest.raises(ncclrt.UsageError, match="NCCL error: window .* no window"):
        nccl.ncclCommWindowDeregister(comm, win)
    newest.clear()
    nccl.ncclCommSuspend(comm, 1)
    assert one(newest, "ncclCommSuspend")["op"] == 1
    with pytest.raises(ncclrt.UsageError, match="NCCL error: .*suspend"):
        nccl.ncclAllReduce(P, P, 4, 7, 0, comm, S)  # refused until resumed
    newest.clear()
    nccl.ncclCommResume(comm)
    one(newest, "ncclCommResume")
    props = nccl.ncclCommQueryProperties(comm)
    assert isinstance(props, pw.ncclCommProperties)
    assert (props.rank, props.nRanks, props.deviceApiSupport, props.ginType) == (2, 4, True, 3)
    assert props.version == 23007 and props.magic == 0xCAFEBEEF


def test_destroy_and_abort_free_the_communicator_once(nccl, newest):
    for end in ("ncclCommDestroy", "ncclCommAbort"):
        live = newest.live()
        c = nccl.ncclCommInitRank(2, nccl.ncclGetUniqueId(), 0)
        getattr(nccl, end)(c)
        assert newest.live() == live
        calls = newest.calls()
        with pytest.raises(ncclrt.UsageError, match="NCCL error: .*(destroyed|aborted)"):
            nccl.ncclAllReduce(P, P, 4, 7, 0, c, S)
        with pytest.raises(ncclrt.UsageError, match="NCCL error: .*(destroyed|aborted)"):
            nccl.ncclAllReduce(P, P, 4, 7, 0, c.value, S)
        assert newest.calls() == calls


def test_bad_arguments_raise_in_nccl_words_and_never_reach_nccl(nccl, comm, newest):
    bad = [
        ((P, Q, 16, 7, 0, 12345, S), ncclrt.UsageError, "no communicator NCCLLibrary made|"
                                                        "no communicator this NCCLLibrary made"),
        ((0, Q, 16, 7, 0, comm, S), ncclrt.UsageError, "send buffer is null"),
        ((P, Q, -1, 7, 0, comm, S), ncclrt.UsageError, "count"),
        ((P, Q, 16, 99, 0, comm, S), ncclrt.UsageError, "type"),
        ((P, Q, 16, 7, -3, comm, S), ncclrt.UsageError, "op"),
        (("p", Q, 16, 7, 0, comm, S), ncclrt.UsageError, "sendbuff must be"),
        ((P, Q, 16, 7.0, 0, comm, S), ncclrt.UsageError, "datatype must be"),
        ((-5, Q, 16, 7, 0, comm, S), ncclrt.UsageError, "sendbuff must be an address"),
        ((P, Q, 16, 7, 0, comm, "stream"), ncclrt.UsageError, "stream must be"),
    ]
    calls = newest.calls()
    for args, error, words in bad:
        with pytest.raises(error) as e:
            nccl.ncclAllReduce(*args)
        assert isinstance(e.value, RuntimeError)
        assert str(e.value).startswith("NCCL error: "), str(e.value)
        assert __import__("re").search(words, str(e.value)), (args, str(e.value))
    with pytest.raises(TypeError, match="ncclAllReduce"):
        nccl.ncclAllReduce(P, Q, 16)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        nccl.ncclAllReduce(P, Q, 16, 7, 0, comm, S, bogus=1)
    assert newest.calls() == calls


def test_an_nccl_failure_is_nccl_checks_text_with_ncclrts_fields(nccl, comm, newest, monkeypatch):
    monkeypatch.setenv("FAKE_OP_IN_PROGRESS", "1")  # a blocking call answering ncclInProgress
    with pytest.raises(ncclrt.NcclError) as e:
        nccl.ncclAllReduce(P, Q, 16, 7, 0, comm, S)
    assert str(e.value) == "NCCL error: fake error"
    assert e.value.result == 7 and e.value.result_name == "ncclInProgress"
    assert e.value.call == "ncclAllReduce" and e.value.version == "2.32.3"
    assert isinstance(e.value, RuntimeError)


def test_a_method_newer_than_the_loaded_nccl_names_the_release(recorder):
    nccl = NCCLLibrary(recorder.path)  # 2.28.9
    c = nccl.ncclCommInitRank(2, nccl.ncclGetUniqueId(), 0)
    assert not nccl.has_symbol("ncclCommSuspend")
    assert not nccl.has_symbol("ncclCommQueryProperties")
    calls = recorder.calls()
    with pytest.raises(ncclrt.UnsupportedError, match=r"NCCL error: ncclCommSuspend needs NCCL "
                                                      r">= 2\.29\.7; loaded 2\.28\.9"):
        nccl.ncclCommSuspend(c, 1)
    with pytest.raises(ncclrt.UnsupportedError, match=r"ncclCommResume needs NCCL >= 2\.29\.7"):
        nccl.ncclCommResume(c)
    with pytest.raises(ncclrt.UnsupportedError, match=r"ncclCommQueryProperties needs NCCL >= "
                                                      r"2\.29\.2"):
        nccl.ncclCommQueryProperties(c)
    assert recorder.calls() == calls
    nccl.ncclAllReduce(P, P, 4, 7, 0, c, S)  # what 2.28.9 has still works
    nccl.ncclCommDestroy(c)


def test_enums_are_nccls_values():
    assert (ncclDataTypeEnum.ncclFloat32, ncclDataTypeEnum.ncclBfloat16,
            ncclDataTypeEnum.ncclFloat8e4m3, ncclDataTypeEnum.ncclFloat8e5m2,
            ncclDataTypeEnum.ncclNumTypes) == (7, 9, 10, 11, 12)
    assert [int(t) for t in (ncclrt.DataType.FLOAT32, ncclrt.DataType.BFLOAT16)] == [7, 9]
    assert (ncclRedOpTypeEnum.ncclSum, ncclRedOpTypeEnum.ncclAvg,
            ncclRedOpTypeEnum.ncclNumOps) == (0, 4, 5)
    assert ctypes.sizeof(pw.ncclCommProperties) == 144  # NCCL 2.31.2's, as vLLM declares it
    assert pw.NCCL_UNIQUE_ID_BYTES == 128


def test_torch_dtypes_and_ops_map_to_nccls():
    torch = pytest.importorskip("torch")
    if not hasattr(torch, "bfloat16"):
        pytest.skip("needs the real torch (this is tests/python/fake_torch)")
    from torch.distributed import ReduceOp
    assert ncclDataTypeEnum.from_torch(torch.float32) == 7
    assert ncclDataTypeEnum.from_torch(torch.bfloat16) == 9
    assert ncclDataTypeEnum.from_torch(torch.float8_e4m3fn) == 10
    assert ncclDataTypeEnum.try_from_torch(torch.complex64) is None
    assert ncclDataTypeEnum.supports_torch_dtype(torch.int64)
    with pytest.raises(ValueError, match="no data type for torch's torch.complex64"):
        ncclDataTypeEnum.from_torch(torch.complex64)
    assert ncclRedOpTypeEnum.from_torch(ReduceOp.MAX) == 2
    assert ncclRedOpTypeEnum.from_torch(ReduceOp.AVG) == 4
    with pytest.raises(ValueError, match="no reduce op"):
        ncclRedOpTypeEnum.from_torch(ReduceOp.BAND)


def test_vllms_module_path_aliased_to_this_one(newest):
    """What vLLM's pynccl.py imports from its wrapper, through sys.modules, is ncclrt's."""
    code = textwrap.dedent(f'''
        import sys
        import ncclrt.pynccl_wrapper as ours
        sys.modules["vllm.distributed.device_communicators.pynccl_wrapper"] = ours
        from vllm.distributed.device_communicators.pynccl_wrapper import (
            NCCL_UNIQUE_ID_BYTES, NCCLLibrary, buffer_type, cudaStream_t, ncclComm_t,
            ncclDataTypeEnum, ncclRedOpTypeEnum, ncclUniqueId)
        assert NCCLLibrary is ours.NCCLLibrary
        nccl = NCCLLibrary({newest.path!r})
        comm = nccl.ncclCommInitRank(1, nccl.ncclGetUniqueId(), 0)
        nccl.ncclAllReduce(buffer_type({P}), buffer_type({P}), 4, ncclDataTypeEnum.ncclFloat32,
                           ncclRedOpTypeEnum.ncclSum, comm, cudaStream_t({S}))
        print("traced", comm.communicator.trace()[-1]["op"])
    ''')
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert "traced all_reduce" in r.stdout
