"""The device API's host side from Python (NCCL >= 2.29.2) on the recording stand-in:
Communicator.properties(), create_dev_comm() and DevComm, a window's device addresses; the
layout each release is asked with, and the refusals (an older NCCL, no device-API support, an
unknown requirement, an empty window)."""
import pytest

import ncclrt

P = 0x7F0000090000


def last(rec, fn):
    got = [r for r in rec.records(extra=True) if r["fn"] == fn]
    assert got, rec.records()
    return got[-1]


def test_properties_and_a_device_communicator(newest):
    c = newest.comm(4, 3)
    p = c.properties()
    assert (p.rank, p.size, p.cuda_device, p.nvml_device) == (3, 4, 3, 13)
    assert p.device_api_support and not p.multimem_support
    assert (p.gin_type, p.lsa_teams, p.host_rma_support, p.railed_gin_type) == (3, 1, True, 2)
    assert str(p.layout) == "2.30.7"
    assert last(newest, "ncclCommQueryProperties")["extra"][:2] == [56, 23007]
    newest.clear()
    with c.create_dev_comm(barrier_count=2, gin_traffic_class=5) as dc:
        assert (dc.rank, dc.size, dc.lsa_rank, dc.lsa_size) == (3, 4, 3, 4)
        assert dc.bytes == 240 and str(dc.layout) == "2.30.7" and dc.valid
        raw = dc.raw()
        assert len(raw) == 240 and int.from_bytes(raw[:4], "little") == 0xCAFEBEEF
        made = last(newest, "ncclDevCommCreate")
        assert made["recv"] == dc.data
        assert made["extra"][:5] == [96, 23007, 4, 2, 5]
    gone = last(newest, "ncclDevCommDestroy")
    assert gone["send"] == made["recv"]
    assert not dc.valid and repr(dc) == "DevComm(destroyed)"
    with pytest.raises(ncclrt.UsageError, match="DevComm.destroy on an empty"):
        dc.destroy()
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        c.create_dev_comm(colour=1)
    with pytest.raises(ncclrt.UsageError, match="negative"):
        c.create_dev_comm(lsa_barrier_count=-1)


def test_older_layout_and_refusals(stand_ins, monkeypatch):
    from conftest import Recorder
    r = Recorder(stand_ins["recording_22907"])
    c = r.comm(2, 1)
    p = c.properties()
    assert str(p.layout) == "2.29.2" and p.gin_type == 3 and p.lsa_teams is None
    with c.create_dev_comm() as dc:
        assert (dc.rank, dc.size, dc.bytes, str(dc.layout)) == (1, 2, 200, "2.29.2")
    with pytest.raises(ncclrt.UnsupportedError, match=r"2\.30\.7.*loaded 2\.29\.7"):
        c.create_dev_comm(gin_queue_depth=8)
    monkeypatch.setenv("FAKE_NO_DEVICE_API", "1")
    with pytest.raises(ncclrt.UnsupportedError, match="deviceApiSupport = 0"):
        c.create_dev_comm()
    old = Recorder(stand_ins["recording_22809"]).comm(2, 0)
    with pytest.raises(ncclrt.UnsupportedError, match=r"ncclCommQueryProperties needs NCCL >= "
                                                      r"2\.29\.2; loaded 2\.28\.9"):
        old.properties()


def test_window_addresses(newest):
    c = newest.comm(4, 0)
    w = c.register_window(P, 1 << 20, flags=ncclrt.WIN_COLL_SYMMETRIC)
    assert w.lsa_pointer(64, 2) == P + 64 + 2 * 0x100000
    assert w.peer_pointer(8, 3) == P + 8 + 3 * 0x100000
    assert w.lsa_multimem_pointer(16) == P + 16 + 0x40000000
    assert w.multimem_pointer(16, 0x1000) == P + 16 + 0x1000 + 0x40000000
    with pytest.raises(ncclrt.NcclError) as e:
        w.lsa_pointer(0, -1)
    assert e.value.result == 4 and e.value.call == "ncclGetLsaDevicePointer"
    with pytest.raises(ncclrt.UsageError, match="multimem_base"):
        w.multimem_pointer(0, 0)
    w.close()
    with pytest.raises(ncclrt.UsageError, match="Window.peer_pointer on an empty window"):
        w.peer_pointer(0, 0)
