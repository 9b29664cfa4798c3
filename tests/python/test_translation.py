"""Argument translation, through the recording stand-in: the exact pointer, count, NCCL type, op,
root and stream that reach NCCL for every operation and every way of passing a buffer or a
stream; and bad input refused with UsageError before anything reaches NCCL."""
import pytest

import ncclrt
from arrays import CAI, DL, CupyLikeStream, Stream, TorchLikeStream

# NCCL's ncclDataType_t and ncclRedOp_t values.
INT8, UINT8, INT32, UINT32, INT64, UINT64, F16, F32, F64, BF16, E4M3, E5M2 = range(12)
SUM, PROD, MAX, MIN, AVG = range(5)


def only(recorder):
    recs = recorder.records()
    assert len(recs) == 1, recs
    return recs[0]


def test_all_reduce_through_cai(recorder):
    comm = recorder.comm()
    x, y = CAI(0x1000, (4, 8)), CAI(0x2000, (32,))
    assert comm.all_reduce(x, y, ncclrt.ReduceOp.MAX, stream=0x77) is y
    r = only(recorder)
    assert r == dict(fn="ncclAllReduce", send=0x1000, recv=0x2000, count=32, type=F32, op=MAX,
                     root=-1, comm=comm.native, stream=0x77)


def test_all_reduce_in_place_and_default_stream(recorder):
    comm = recorder.comm()
    x = CAI(0x1000, (10,), "<f2")
    assert comm.all_reduce(x) is x
    r = only(recorder)
    assert (r["send"], r["recv"], r["count"], r["type"], r["op"], r["stream"]) == (
        0x1000, 0x1000, 10, F16, SUM, 0)


@pytest.mark.parametrize("typestr,nccl", [("<f2", F16), ("<f4", F32), ("<f8", F64),
                                          ("|i1", INT8), ("|u1", UINT8), ("<i4", INT32),
                                          ("<u4", UINT32), ("<i8", INT64), ("<u8", UINT64)])
def test_cai_types(recorder, typestr, nccl):
    recorder.comm().all_reduce(CAI(0x1000, (3,), typestr))
    assert only(recorder)["type"] == nccl


@pytest.mark.parametrize("dtype,nccl", [("int8", INT8), ("uint8", UINT8), ("int32", INT32),
                                        ("uint32", UINT32), ("int64", INT64), ("uint64", UINT64),
                                        ("float16", F16), ("float32", F32), ("float64", F64),
                                        ("bfloat16", BF16), ("float8_e4m3fn", E4M3),
                                        ("float8_e5m2", E5M2)])
def test_dlpack_types(recorder, dtype, nccl):
    recorder.comm().all_reduce(DL(0x1000, (2, 3), dtype))
    r = only(recorder)
    assert (r["type"], r["count"], r["send"]) == (nccl, 6, 0x1000)


def test_dlpack_offset_strides_and_no_sync_request(recorder):
    comm = recorder.comm()
    x = DL(0x1000, (4, 1, 5), strides=(5, 99, 1), byte_offset=64)  # a size-1 dim's stride is free
    comm.all_reduce(x)
    r = only(recorder)
    assert (r["send"], r["count"]) == (0x1000 + 64, 20)
    # Asked without synchronization (ordering is the caller's) and for the versioned capsule.
    assert x.requests == [{"stream": -1, "max_version": (1, 0)}]


def test_dlpack_unversioned_capsule(recorder):
    recorder.comm().all_reduce(DL(0x3000, (7,), "float64", versioned=False))
    r = only(recorder)
    assert (r["send"], r["count"], r["type"]) == (0x3000, 7, F64)


def test_dlpack_device_must_match_communicator(recorder):
    comm = recorder.comm()  # the stand-in puts rank 2 on GPU 2
    comm.all_reduce(DL(0x1000, (2,), device=(2, 2)))
    assert only(recorder)["send"] == 0x1000


def test_raw_pointers(recorder):
    comm = recorder.comm()
    comm.all_reduce(0x5000, 0x6000, ncclrt.ReduceOp.AVG, count=12, dtype=ncclrt.DataType.BFLOAT16,
                    stream=3)
    r = only(recorder)
    assert (r["send"], r["recv"], r["count"], r["type"], r["op"], r["stream"]) == (
        0x5000, 0x6000, 12, BF16, AVG, 3)


@pytest.mark.parametrize("dtype", [ncclrt.DataType.FLOAT16, int(ncclrt.DataType.FLOAT16),
                                   "float16"])
def test_raw_pointer_dtype_forms(recorder, dtype):
    recorder.comm().send(0x5000, 1, count=4, dtype=dtype)
    assert only(recorder)["type"] == F16


@pytest.mark.parametrize("stream,handle", [(None, 0), (0, 0), (0xabc, 0xabc),
                                           (Stream(0xdef), 0xdef),
                                           (TorchLikeStream(0x123), 0x123),
                                           (CupyLikeStream(0x456), 0x456)])
def test_stream_forms(recorder, stream, handle):
    recorder.comm().all_reduce(CAI(0x1000, (1,)), stream=stream)
    assert only(recorder)["stream"] == handle


def test_broadcast(recorder):
    comm = recorder.comm()
    x, y = CAI(0x1000, (9,), "<i4"), CAI(0x2000, (9,), "<i4")
    comm.broadcast(x, y, 3, stream=5)
    comm.broadcast(y, root=1)
    a, b = recorder.records()
    assert a == dict(fn="ncclBroadcast", send=0x1000, recv=0x2000, count=9, type=INT32, op=0,
                     root=3, comm=comm.native, stream=5)
    assert (b["send"], b["recv"], b["root"]) == (0x2000, 0x2000, 1)


def test_reduce(recorder):
    comm = recorder.comm()
    comm.reduce(CAI(0x1000, (6,)), CAI(0x2000, (6,)), ncclrt.ReduceOp.MIN, 2)
    r = only(recorder)
    assert (r["fn"], r["send"], r["recv"], r["count"], r["op"], r["root"]) == (
        "ncclReduce", 0x1000, 0x2000, 6, MIN, 2)


def test_all_gather_and_reduce_scatter_counts(recorder):
    comm = recorder.comm()  # 4 ranks
    comm.all_gather(CAI(0x1000, (5,)), CAI(0x2000, (4, 5)))
    comm.reduce_scatter(CAI(0x2000, (20,)), CAI(0x1000, (5,)), ncclrt.ReduceOp.PROD)
    a, b = recorder.records()
    assert (a["fn"], a["send"], a["recv"], a["count"]) == ("ncclAllGather", 0x1000, 0x2000, 5)
    assert (b["fn"], b["send"], b["recv"], b["count"], b["op"]) == (
        "ncclReduceScatter", 0x2000, 0x1000, 5, PROD)


def test_all_to_all_count_is_per_peer(recorder):
    comm = recorder.comm()
    comm.all_to_all(CAI(0x1000, (12,)), CAI(0x2000, (12,)))
    r = only(recorder)
    assert (r["fn"], r["count"]) == ("ncclAlltoAll", 3)


def test_gather_and_scatter(recorder):
    comm = recorder.comm()  # rank 2 of 4
    comm.gather(CAI(0x1000, (3,)), CAI(0x2000, (12,)), root=2)
    comm.gather(CAI(0x1000, (3,)), None, root=0)  # recv matters on the root only
    comm.scatter(CAI(0x2000, (12,)), CAI(0x1000, (3,)), root=2)
    comm.scatter(None, CAI(0x1000, (3,)), root=1)
    g1, g2, s1, s2 = recorder.records()
    assert (g1["fn"], g1["recv"], g1["count"], g1["root"]) == ("ncclGather", 0x2000, 3, 2)
    assert (g2["recv"], g2["root"]) == (0, 0)
    assert (s1["fn"], s1["send"], s1["count"], s1["root"]) == ("ncclScatter", 0x2000, 3, 2)
    assert (s2["send"], s2["recv"], s2["root"]) == (0, 0x1000, 1)


def test_send_recv(recorder):
    comm = recorder.comm()
    comm.send(CAI(0x1000, (8,), "<i8"), 3, stream=9)
    comm.recv(CAI(0x2000, (8,), "<i8"), 0, stream=9)
    s, r = recorder.records()
    assert (s["fn"], s["send"], s["count"], s["type"], s["root"], s["stream"]) == (
        "ncclSend", 0x1000, 8, INT64, 3, 9)
    assert (r["fn"], r["recv"], r["count"], r["root"]) == ("ncclRecv", 0x2000, 8, 0)


def test_all_gatherv_is_grouped_broadcasts_at_displacements(recorder):
    comm = recorder.comm()  # rank 2 of 4; float32 is 4 bytes
    counts = [1, 0, 3, 2]
    comm.all_gatherv(CAI(0x1000, (3,)), CAI(0x2000, (6,)), counts)
    recs = recorder.records()
    assert [r["fn"] for r in recs] == ["ncclGroupStart"] + ["ncclBroadcast"] * 4 + ["ncclGroupEnd"]
    b = recs[1:5]
    assert [r["root"] for r in b] == [0, 1, 2, 3]
    assert [r["count"] for r in b] == counts
    assert [r["recv"] for r in b] == [0x2000, 0x2004, 0x2004, 0x2010]
    assert all(r["send"] == 0x1000 for r in b)


def test_reduce_scatterv_with_displacements(recorder):
    comm = recorder.comm()  # rank 2 of 4
    comm.reduce_scatterv(CAI(0x1000, (10,)), CAI(0x2000, (2,)), [1, 1, 2, 3], [0, 2, 4, 7],
                         op=ncclrt.ReduceOp.MAX)
    recs = recorder.records()[1:-1]
    assert [r["fn"] for r in recs] == ["ncclReduce"] * 4
    assert [r["send"] for r in recs] == [0x1000, 0x1008, 0x1010, 0x101c]
    assert [r["recv"] for r in recs] == [0, 0, 0x2000, 0]
    assert [(r["count"], r["root"], r["op"]) for r in recs] == [(1, 0, MAX), (1, 1, MAX),
                                                                 (2, 2, MAX), (3, 3, MAX)]


def test_grouped_fallbacks_on_a_release_without_alltoall(stand_ins):
    from conftest import Recorder
    rec = Recorder(stand_ins["recording_22605"])  # 2.26.5: no ncclAlltoAll/Gather/Scatter
    rec.clear()
    comm = rec.comm(nranks=2, rank=1)
    comm.all_to_all(CAI(0x1000, (4,)), CAI(0x2000, (4,)))
    fns = [(r["fn"], r["send"], r["recv"], r["count"], r["root"]) for r in rec.records()]
    assert fns == [("ncclGroupStart", 0, 0, 0, -1), ("ncclSend", 0x1000, 0, 2, 0),
                   ("ncclRecv", 0, 0x2000, 2, 0), ("ncclSend", 0x1008, 0, 2, 1),
                   ("ncclRecv", 0, 0x2008, 2, 1), ("ncclGroupEnd", 0, 0, 0, -1)]


def test_disabled_native_alltoall_uses_the_grouped_form(recorder):
    lib = ncclrt.Library.open(recorder.path, disabled_functions=["ncclAlltoAll"])
    assert lib.disabled_functions == ["ncclAlltoAll"] and not lib.has("ncclAlltoAll")
    assert recorder.lib.has("ncclAlltoAll")  # the ordinary Library of the file is untouched
    comm = ncclrt.Communicator.init_rank(lib, 2, 1, lib.unique_id())
    recorder.clear()
    comm.all_to_all(CAI(0x1000, (4,)), CAI(0x2000, (4,)))
    assert [r["fn"] for r in recorder.records()] == [
        "ncclGroupStart", "ncclSend", "ncclRecv", "ncclSend", "ncclRecv", "ncclGroupEnd"]
    with pytest.raises(ncclrt.UnsupportedError, match="ncclAlltoAll is turned off"):
        lib.require("ncclAlltoAll")
    with pytest.raises(ncclrt.LoadError, match="cannot be turned off"):
        ncclrt.Library.open(recorder.path, disabled_functions=["ncclAllReduce"])


def test_pre_mul_sum_as_op(recorder):
    comm = recorder.comm()
    with comm.create_pre_mul_sum(0.5, dtype="float32") as pms:
        op = pms.op
        comm.all_reduce(CAI(0x1000, (2,)), op=pms)
    create, reduce_, destroy = recorder.records()
    assert create["fn"] == "ncclRedOpCreatePreMulSum"
    assert create["type"] == F32 and create["root"] == int(ncclrt.ScalarResidence.HOST_IMMEDIATE)
    assert reduce_["op"] == op == create["op"] and op >= 5
    assert destroy == dict(fn="ncclRedOpDestroy", send=0, recv=0, count=0, type=0, op=op,
                           root=-1, comm=comm.native, stream=0)
    # Gone with its handle: the op value is refused from now on, before NCCL.
    before = recorder.calls()
    with pytest.raises(ncclrt.UsageError, match="not a reduce op of this communicator"):
        comm.all_reduce(CAI(0x1000, (2,)), op=op)
    assert recorder.calls() == before


def test_pre_mul_sum_device_scalar(recorder):
    comm = recorder.comm()
    pms = comm.create_pre_mul_sum(CAI(0x9000, (1,), "<f8"), residence=ncclrt.ScalarResidence.DEVICE)
    r = recorder.records()[0]
    assert (r["send"], r["type"], r["root"]) == (0x9000, F64, int(ncclrt.ScalarResidence.DEVICE))
    pms.close()


def test_registration_and_window(recorder):
    comm = recorder.comm()
    with comm.register_buffer(CAI(0x1000, (256,))) as reg:
        assert reg.handle == 0x1001
    win = comm.register_window(0x2000, 4096, ncclrt.WIN_COLL_SYMMETRIC)
    win.close()
    recs = recorder.records()
    assert [(r["fn"], r["send"], r["count"], r["op"]) for r in recs] == [
        ("ncclCommRegister", 0x1000, 1024, 0), ("ncclCommDeregister", 0x1001, 0, 0),
        ("ncclCommWindowRegister", 0x2000, 4096, ncclrt.WIN_COLL_SYMMETRIC),
        ("ncclCommWindowDeregister", 0x2002, 0, 0)]


def test_nccl_memory_is_an_array(recorder):
    mem = ncclrt.NcclMemory.allocate(recorder.lib, 4096)
    comm = recorder.comm()
    comm.all_reduce(mem)
    alloc, reduce_ = recorder.records()
    assert alloc["fn"] == "ncclMemAlloc" and alloc["count"] == 4096
    assert (reduce_["send"], reduce_["count"], reduce_["type"]) == (mem.ptr, 4096, UINT8)
    mem.close()
    assert recorder.records()[-1] == dict(fn="ncclMemFree", send=alloc["recv"], recv=0, count=0,
                                          type=0, op=0, root=-1, comm=0, stream=0)


def test_group_context_manager(recorder):
    comm = recorder.comm()
    with ncclrt.group(comm):
        comm.send(CAI(0x1000, (1,)), 0)
        comm.recv(CAI(0x2000, (1,)), 0)
    assert [r["fn"] for r in recorder.records()] == ["ncclGroupStart", "ncclSend", "ncclRecv",
                                                     "ncclGroupEnd"]


# ---- bad input: UsageError with the key words, and nothing reaches NCCL ----

def _cases():
    f = lambda shape=(8,), **kw: CAI(0x1000, shape, **kw)  # noqa: E731
    g = lambda shape=(8,), **kw: CAI(0x2000, shape, **kw)  # noqa: E731
    R = ncclrt.ReduceOp
    return [
        ("list", lambda c: c.all_reduce([1.0, 2.0]), ["not a GPU array", "builtins.list"]),
        ("none", lambda c: c.all_gather(None, g()), ["None"]),
        ("str", lambda c: c.broadcast("x"), ["not a GPU array"]),
        ("bool typestr", lambda c: c.all_reduce(f(typestr="|b1")), ["'|b1'", "NCCL has not got"]),
        ("complex typestr", lambda c: c.all_reduce(f(typestr="<c8")), ["'<c8'"]),
        ("int16 typestr", lambda c: c.all_reduce(f(typestr="<i2")), ["'<i2'"]),
        ("big-endian", lambda c: c.all_reduce(f(typestr=">f4")), ["'>f4'"]),
        ("dlpack bool", lambda c: c.all_reduce(DL(0x1000, (4,), "bool")), ["bool8"]),
        ("dlpack complex", lambda c: c.all_reduce(DL(0x1000, (4,), "complex64")), ["complex64"]),
        ("dlpack int16", lambda c: c.all_reduce(DL(0x1000, (4,), "int16")), ["int16"]),
        ("dlpack lanes", lambda c: c.all_reduce(DL(0x1000, (4,), lanes=4)), ["float32x4"]),
        ("host dlpack", lambda c: c.all_reduce(DL(0x1000, (4,), device=(1, 0))), ["host (CPU)"]),
        ("pinned host", lambda c: c.all_reduce(DL(0x1000, (4,), device=(3, 0))), ["host (CPU)"]),
        ("other device type", lambda c: c.all_reduce(DL(0x1000, (4,), device=(10, 0))),
         ["device type 10"]),
        ("other gpu", lambda c: c.all_reduce(DL(0x1000, (4,), device=(2, 1))),
         ["on GPU 1", "communicator is on GPU 2"]),
        ("non-contiguous cai", lambda c: c.all_reduce(f((4, 4), strides=(4, 16))),
         ["not C-contiguous"]),
        ("non-contiguous dlpack", lambda c: c.all_reduce(DL(0x1000, (4, 4), strides=(1, 4))),
         ["not C-contiguous"]),
        ("masked", lambda c: c.all_reduce(f(mask=object())), ["masked"]),
        ("read-only recv", lambda c: c.all_reduce(f(), g(readonly=True)), ["read-only"]),
        ("read-only in place", lambda c: c.all_reduce(f(readonly=True)), ["read-only"]),
        ("read-only dlpack recv", lambda c: c.all_gather(f((2,)), DL(0x2000, (8,), readonly=True)),
         ["read-only"]),
        ("type mismatch", lambda c: c.all_reduce(f(), g(typestr="<f2")),
         ["float16", "float32", "one type"]),
        ("count mismatch", lambda c: c.all_reduce(f(), g((9,))), ["8 elements", "9"]),
        ("broadcast sizes", lambda c: c.broadcast(f(), g((7,))), ["8 elements", "7"]),
        ("all_gather sizes", lambda c: c.all_gather(f((2,)), g((7,))), ["4 x 2 = 8", "has 7"]),
        ("reduce_scatter sizes", lambda c: c.reduce_scatter(f((9,)), g((2,))),
         ["4 x 2 = 8", "has 9"]),
        ("all_to_all not multiple", lambda c: c.all_to_all(f((6,)), g((6,))), ["multiple of size"]),
        ("all_to_all unequal", lambda c: c.all_to_all(f((8,)), g((4,))), ["same number"]),
        ("gather root recv", lambda c: c.gather(f((2,)), g((7,)), root=2), ["4 x 2 = 8"]),
        ("scatter root send", lambda c: c.scatter(f((7,)), g((2,)), root=2), ["4 x 2 = 8"]),
        ("gather root without recv", lambda c: c.gather(f((2,)), None, root=2),
         ["is the root", "needs a recv"]),
        ("scatter root without send", lambda c: c.scatter(None, f((2,)), root=2),
         ["is the root", "needs a send"]),
        ("gatherv counts length", lambda c: c.all_gatherv(f((2,)), g(), [2, 2]),
         ["one entry per rank"]),
        ("gatherv my count", lambda c: c.all_gatherv(f((3,)), g(), [2, 2, 2, 2]),
         ["counts[2] is 2"]),
        ("gatherv outside", lambda c: c.all_gatherv(f((2,)), g((7,)), [2, 2, 2, 2]),
         ["block 3", "outside recv"]),
        ("gatherv negative", lambda c: c.all_gatherv(f((2,)), g(), [2, -1, 2, 2]), ["negative"]),
        ("gatherv not ints", lambda c: c.all_gatherv(f((2,)), g(), ["a", 1, 1, 1]),
         ["sequence of ints"]),
        ("scatterv outside", lambda c: c.reduce_scatterv(f((4,)), g((2,)), [1, 1, 2, 1]),
         ["block 3", "outside send"]),
        ("scatterv displs", lambda c: c.reduce_scatterv(f((4,)), g((2,)), [1, 1, 2, 1],
                                                         [0, 1, 2, 9]), ["block 3", "at 9"]),
        ("made-up op", lambda c: c.all_reduce(f(), op=17), ["17", "not a reduce op"]),
        ("op name", lambda c: c.all_reduce(f(), op="xor"), ["op must be", "'sum', 'prod'"]),
        ("negative op", lambda c: c.all_reduce(f(), op=-1), ["op must be"]),
        ("bad root", lambda c: c.broadcast(f(), root=4), ["root 4", "outside 0..3"]),
        ("bad peer", lambda c: c.send(f(), -1), ["peer -1"]),
        ("pointer without count", lambda c: c.all_reduce(0x1000, 0x2000), ["count=", "dtype="]),
        ("pointer without dtype", lambda c: c.all_reduce(0x1000, count=4), ["dtype="]),
        ("count with array", lambda c: c.all_reduce(f(), count=4), ["for device pointers"]),
        ("mixed pointer and array", lambda c: c.all_reduce(0x1000, g(), count=8, dtype="float32"),
         ["do not mix"]),
        ("mixed array and pointer", lambda c: c.all_reduce(f(), 0x2000), ["do not mix"]),
        ("bad dtype name", lambda c: c.all_reduce(0x1000, count=1, dtype="float128"),
         ["float128"]),
        ("bad dtype value", lambda c: c.all_reduce(0x1000, count=1, dtype=99), ["99"]),
        ("negative count", lambda c: c.all_reduce(0x1000, count=-1, dtype="float32"),
         ["non-negative"]),
        ("null pointer", lambda c: c.all_reduce(0, count=4, dtype="float32"), ["null"]),
        ("bad stream", lambda c: c.all_reduce(f(), stream="s"), ["not a stream"]),
        ("negative stream", lambda c: c.all_reduce(f(), stream=-5), ["not a CUDA stream handle"]),
        ("malformed cai", lambda c: c.all_reduce(type("X", (), {"__cuda_array_interface__": {
            "shape": (1,)}})()), ["without data"]),
        ("register without nbytes", lambda c: c.register_buffer(0x1000), ["nbytes="]),
        ("register too many bytes", lambda c: c.register_buffer(f(), 64), ["more than"]),
        ("device scalar of two", lambda c: c.create_pre_mul_sum(
            f((2,)), residence=ncclrt.ScalarResidence.DEVICE), ["one element"]),
        ("host scalar without dtype", lambda c: c.create_pre_mul_sum(1.0), ["dtype="]),
        ("stream object", lambda c: c.all_reduce(f(), op=R.AVG, stream=object()),
         ["not a stream"]),
    ]


CASES = _cases()


@pytest.mark.parametrize("name,call,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_nccl(recorder, name, call, words):
    comm = recorder.comm()
    before = recorder.calls()
    with pytest.raises(ncclrt.UsageError) as err:
        call(comm)
    for w in words:
        assert w in str(err.value), f"{w!r} missing in: {err.value}"
    assert recorder.calls() == before, "a refused call reached NCCL"
    assert isinstance(err.value, ValueError)
    # The communicator is still usable afterwards.
    comm.all_reduce(CAI(0x1000, (1,)))
    assert recorder.calls() == before + 1


def test_at_least_thirty_bad_input_cases():
    assert len(CASES) >= 30


def test_state_rules(recorder):
    comm = recorder.comm()
    comm.abort()
    before = recorder.calls()
    with pytest.raises(ncclrt.UsageError, match="aborted"):
        comm.all_reduce(CAI(0x1000, (1,)))
    assert recorder.calls() == before
    assert not comm.valid and not comm


def test_with_destroys_on_exit_and_aborts_on_exception(recorder):
    live = recorder.live()
    with recorder.comm() as comm:
        assert recorder.live() == live + 1
    assert recorder.live() == live and not comm.valid
    with pytest.raises(RuntimeError):
        with recorder.comm() as comm2:
            raise RuntimeError("boom")
    assert recorder.live() == live and not comm2.valid


def test_split_with_no_color_is_none(recorder):
    comm = recorder.comm()
    assert comm.split(ncclrt.SPLIT_NOCOLOR, 0) is None
    sub = comm.split(1, 0)
    assert sub.valid and sub.size == 4


def test_init_all(recorder):
    comms = ncclrt.Communicator.init_all(recorder.lib, [0, 1, 2])
    assert [(c.rank, c.size) for c in comms] == [(0, 3), (1, 3), (2, 3)]


def test_init_all_with_a_gpu_twice_says_why_not(recorder, monkeypatch):
    monkeypatch.delenv("NCCL_MULTI_RANK_GPU_ENABLE", raising=False)
    before = recorder.calls()
    with pytest.raises(ncclrt.UsageError, match=r"GPU 0 is listed 3 times.*2\.30\.3"):
        ncclrt.Communicator.init_all(recorder.lib, [0, 0, 0])
    assert recorder.calls() == before
    with pytest.raises(ncclrt.UsageError, match="ranks must be >= 1"):
        ncclrt.max_ctas_for_shared_gpu(0, 0)
