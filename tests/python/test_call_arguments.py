"""How an operation's arguments are matched: the operations are CPython fastcall methods with
their own matching (python/src/fastcall.*), which must behave as a Python method of the same
parameters would, on every call, also when one call site's keyword match is remembered."""
import inspect

import pytest

import ncclrt

A, B = 0x7F00_0000_1000, 0x7F00_0000_2000
F32 = ncclrt.DataType.FLOAT32


def last(recorder):
    r = recorder.records()[-1]
    return r["fn"], r["send"], r["recv"], r["count"], r["type"], r["op"], r["stream"]


def test_positional_keyword_and_built_names_reach_nccl_alike(recorder):
    c = recorder.comm(1, 0)
    want = ("ncclAllReduce", A, B, 4, 7, 0, 5)
    c.all_reduce(A, B, count=4, dtype=F32, stream=5)
    assert last(recorder) == want
    c.all_reduce(send=A, recv=B, stream=5, dtype=F32, count=4)
    assert last(recorder) == want
    names = {"".join(("cou", "nt")): 4, "".join(("dt", "ype")): F32}  # not interned
    c.all_reduce(A, B, stream=5, **names)
    assert last(recorder) == want
    c.all_reduce(A, B, ncclrt.ReduceOp.MAX, count=4, dtype=F32)
    assert last(recorder)[5] == int(ncclrt.ReduceOp.MAX) and last(recorder)[6] == 0


def test_bad_arguments_are_type_errors_and_reach_nothing(recorder):
    c = recorder.comm(1, 0)
    calls = recorder.calls()
    with pytest.raises(TypeError, match="unexpected keyword argument 'cnt'"):
        c.all_reduce(A, cnt=4, dtype=F32)
    with pytest.raises(TypeError, match="missing required argument 'send'"):
        c.all_reduce(count=4, dtype=F32)
    with pytest.raises(TypeError, match="at most 3 positional arguments"):
        c.all_reduce(A, B, 0, 5)
    with pytest.raises(TypeError, match="multiple values for argument 'send'"):
        c.all_reduce(A, send=B, count=4, dtype=F32)
    with pytest.raises(TypeError, match="root must be an int"):
        c.broadcast(A, root="0", count=4, dtype=F32)
    with pytest.raises(TypeError, match="window must be"):
        c.put_signal(A, 0, None, count=4, dtype=F32)
    with pytest.raises(ncclrt.UsageError, match="needs count= and dtype="):
        c.all_reduce(A, count=4)
    with pytest.raises(TypeError, match="never initialised"):
        ncclrt.Communicator.__new__(ncclrt.Communicator).all_reduce(A, count=4, dtype=F32)
    assert recorder.calls() == calls


def test_a_call_site_remembered_match_stays_right(recorder):
    c = recorder.comm(1, 0)

    def call(*args, **kwargs):  # one call site: its keyword tuple is one object
        return c.all_reduce(*args, recv=B, count=4, dtype=F32, **kwargs)

    for _ in range(3):
        assert call(A) == B
        assert last(recorder)[:4] == ("ncclAllReduce", A, B, 4)
    calls = recorder.calls()
    with pytest.raises(TypeError, match="multiple values for argument 'recv'"):
        call(A, A)  # the same keywords, now also given by position
    assert recorder.calls() == calls
    assert call(A) == B  # and the remembered match still holds
    assert recorder.calls() == calls + 1


def test_signature_is_the_parameters():
    sig = inspect.signature(ncclrt.Communicator.all_reduce)
    assert list(sig.parameters) == ["self", "send", "recv", "op", "stream", "count", "dtype",
                                    "config"]
    p = sig.parameters
    assert p["send"].default is inspect.Parameter.empty
    assert p["recv"].default is None and p["op"].default == ncclrt.ReduceOp.SUM
    assert p["stream"].kind is inspect.Parameter.KEYWORD_ONLY
    assert p["recv"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert "reduces in place" in ncclrt.Communicator.all_reduce.__doc__
    assert list(inspect.signature(ncclrt.Communicator.send).parameters) == [
        "self", "buf", "peer", "stream", "count", "dtype"]


def test_type_and_op_names_are_the_commands_too(recorder):
    # `ncclrt bench -d float -o sum` and Python take the same names: ncclrt's, torch's, NCCL's.
    c = recorder.comm(1, 0)
    for name, code in [("float32", 7), ("float", 7), ("torch.float32", 7), ("half", 6),
                       ("float16", 6), ("double", 8), ("int", 2), ("char", 0),
                       ("bfloat16", 9), ("fp8_e4m3", 10), ("float8_e4m3fn", 10)]:
        c.all_reduce(A, B, count=4, dtype=name)
        assert last(recorder)[4] == code, name
    for name, op in [("sum", ncclrt.ReduceOp.SUM), ("max", ncclrt.ReduceOp.MAX),
                     ("AVG", ncclrt.ReduceOp.AVG), ("prod", ncclrt.ReduceOp.PROD)]:
        c.all_reduce(A, B, name, count=4, dtype="float")
        assert last(recorder)[5] == int(op), name
        c.reduce(A, B, op=name, root=0, count=4, dtype="float")
        assert last(recorder)[5] == int(op), name
    before = recorder.calls()
    with pytest.raises(ncclrt.UsageError, match=r"'sum', 'prod', 'max', 'min', 'avg'"):
        c.all_reduce(A, B, "xor", count=4, dtype="float")
    with pytest.raises(ncclrt.UsageError, match=r"float32 \(float\)"):
        c.all_reduce(A, B, count=4, dtype="quad")
    assert recorder.calls() == before
