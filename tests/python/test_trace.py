"""The flight recorder from Python, on the recording stand-in: comm.trace() as dicts with the exact
arguments, labels, the ring's size from Config, dumps on request and when ncclrt gives up."""
import glob
import json
import os
import stat

import pytest

import ncclrt
from conftest import run_python

F32 = int(ncclrt.DataType.FLOAT32)


def test_trace_records_every_argument(newest):
    comm = newest.comm(4, 2)
    comm.all_reduce(0x1000, 0x2000, count=10, dtype="float32", stream=0x77)
    comm.broadcast(0x3000, 0x3000, root=1, count=5, dtype="int64")
    comm.send(0x4000, 3, count=6, dtype="float32")
    entries = comm.trace()
    assert [e["op"] for e in entries] == ["create", "all_reduce", "broadcast", "send"]
    ar = entries[1]
    assert (ar["seq"], ar["count"], ar["type"], ar["redop"], ar["peer"]) == (1, 10, "float32",
                                                                            "sum", -1)
    assert (ar["send"], ar["recv"], ar["stream"], ar["result"]) == (0x1000, 0x2000, 0x77, 0)
    assert ar["label"] is None and ar["captured"] is None and ar["group"] == 0
    assert entries[2]["peer"] == 1 and entries[2]["type"] == "int64" and entries[2]["seq"] == 2
    assert entries[3]["seq"] == 1 and entries[3]["peer"] == 3  # point-to-point: its own numbers
    info = comm.trace_info()
    assert (info["rank"], info["size"], info["collectives"], info["point_to_point"]) == (2, 4, 2, 1)
    assert info["capacity"] == 2048 and len(info["comm_id"]) == 16
    # What reached "NCCL" is what was recorded.
    calls = [r for r in newest.records() if r["fn"] == "ncclAllReduce"]
    assert calls[-1]["send"] == ar["send"] and calls[-1]["count"] == ar["count"]


def test_trace_label(recorder):
    comm = recorder.comm()
    with comm.trace_label("decode step 42") as label:
        assert label.text == "decode step 42"
        comm.all_reduce(0x1000, count=4, dtype="float32")
        with comm.trace_label("layer 3"):
            comm.all_reduce(0x1000, count=4, dtype="float32")
        comm.all_reduce(0x1000, count=4, dtype="float32")
    comm.all_reduce(0x1000, count=4, dtype="float32")
    labels = [e["label"] for e in comm.trace()[1:]]
    assert labels == ["decode step 42", "layer 3", "decode step 42", None]


def test_ring_size_from_config(recorder):
    comm = recorder.comm(config=ncclrt.Config(trace_entries=4))
    for i in range(10):
        comm.all_reduce(0x1000, count=i + 1, dtype="float32")
    entries = comm.trace()
    assert [e["count"] for e in entries] == [7, 8, 9, 10]
    assert comm.trace_info()["records"] == 11
    off = recorder.comm(config=ncclrt.Config(trace_entries=0))
    off.all_reduce(0x1000, count=1, dtype="float32")
    assert off.trace() == [] and off.trace_info()["capacity"] == 0
    assert ncclrt.Config(trace_entries=4, trace_progress=True).trace_progress is True
    assert "trace_entries" in ncclrt.Config.fields()


def test_children_share_ids_across_ranks(newest):
    uid = newest.lib.unique_id()
    r0 = ncclrt.Communicator.init_rank(newest.lib, 2, 0, uid)
    r1 = ncclrt.Communicator.init_rank(newest.lib, 2, 1, uid)
    assert r0.trace_info()["comm_id"] == r1.trace_info()["comm_id"]
    c0, c1 = r0.split(3, 0), r1.split(3, 1)
    assert c0.trace_info()["comm_id"] == c1.trace_info()["comm_id"]
    assert c0.trace_info()["comm_id"] != r0.trace_info()["comm_id"]
    split = r0.trace()[-1]
    assert split["op"] == "split" and split["args"][:2] == [3, 0]


def test_dump_traces(recorder, tmp_path):
    comm = recorder.comm()
    comm.all_reduce(0x1000, count=4, dtype="float32")
    files = ncclrt.dump_traces(str(tmp_path / "dumps"))
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600
    d = json.load(open(files[0]))
    assert d["schema"] == "ncclrt-trace" and d["version"] == 1
    assert d["comm"]["rank"] == 2 and d["comm"]["id"] == comm.trace_info()["comm_id"]
    assert d["entries"][-1]["op"] == "all_reduce" and d["entries"][-1]["count"] == 4
    with pytest.raises(ncclrt.Error, match="cannot make the directory"):
        ncclrt.dump_traces("/proc/ncclrt-no-such-place")


def test_automatic_dump_when_aborted(stand_ins, tmp_path):
    code = f"""
import ncclrt
lib = ncclrt.Library.open({stand_ins["recording_22809"]!r})
comm = ncclrt.Communicator.init_rank(lib, 4, 1, lib.unique_id())
with comm.trace_label("step 7"):
    comm.all_reduce(0x1000, count=8, dtype="float32")
comm.abort()
"""
    r = run_python(code, env={"NCCLRT_TRACE_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    files = glob.glob(str(tmp_path / "ncclrt-trace-*.json"))
    assert len(files) == 1
    d = json.load(open(files[0]))
    assert d["trigger"] == "abort" and d["reason"] == "abort() was called"
    assert [e["op"] for e in d["entries"]] == ["create", "all_reduce", "abort"]
    assert d["entries"][1]["label"] == "step 7"
