"""Shared fixtures for the Python module's tests.

CPU tests use the real NCCL where one can be opened, and the C++ suite's stand-in libraries
(compiled here from tests/stand_ins/ with the system C compiler) for what a real NCCL cannot show
without a GPU: a recording NCCL that makes communicators without one and records every argument
of every call, an old release, a damaged file, a constructor that crashes, hangs or exits.
"""
import ctypes
import glob
import os
import re
import subprocess
import sys

import pytest

import ncclrt

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import stand_in_libs  # noqa: E402


@pytest.fixture(scope="session")
def stand_ins(tmp_path_factory):
    """Paths of the stand-in libraries: ready-made in $NCCLRT_TEST_STAND_INS, else built once
    per session with the system C compiler."""
    if os.environ.get("NCCLRT_TEST_STAND_INS"):
        return stand_in_libs.ready_made(os.environ["NCCLRT_TEST_STAND_INS"])
    cc = stand_in_libs.compiler()
    if cc is None or not os.path.isdir(stand_in_libs.STAND_INS):
        pytest.skip("stand-in libraries need a C compiler and tests/stand_ins/ (the source tree), "
                    "or $NCCLRT_TEST_STAND_INS naming a folder of them built beforehand")
    return stand_in_libs.build(str(tmp_path_factory.mktemp("stand_ins")), cc)


class Recorder:
    """The recording stand-in's own view of what reached "NCCL"."""

    class Record(ctypes.Structure):
        _fields_ = [("fn", ctypes.c_char * 32), ("send", ctypes.c_void_p),
                    ("recv", ctypes.c_void_p), ("count", ctypes.c_size_t),
                    ("type", ctypes.c_int), ("op", ctypes.c_int), ("root", ctypes.c_int),
                    ("comm", ctypes.c_void_p), ("stream", ctypes.c_void_p),
                    ("extra", ctypes.c_longlong * 6)]

    def __init__(self, path):
        self.path = path
        self.lib = ncclrt.Library.open(path)
        # The same file, so the same loaded copy and the same counters as ncclrt's.
        self.so = ctypes.CDLL(path)
        self.so.fake_record.restype = ctypes.POINTER(self.Record)
        self.so.fake_config_size.restype = ctypes.c_size_t
        self.so.fake_config_version.restype = ctypes.c_uint

    def clear(self):
        self.so.fake_clear_records()

    def calls(self):
        return self.so.fake_calls()

    def live(self):
        return self.so.fake_live_comms()

    def records(self, extra=False):
        """What reached "NCCL"; with extra=True also each call's further arguments (see the
        stand-in: grow's ids, put_signal's offset, a CollConfig's fields, ...)."""
        out = []
        for i in range(self.so.fake_records()):
            r = self.so.fake_record(i).contents
            out.append(dict(fn=r.fn.decode(), send=r.send or 0, recv=r.recv or 0, count=r.count,
                            type=r.type, op=r.op, root=r.root, comm=r.comm or 0,
                            stream=r.stream or 0))
            if extra:
                out[-1]["extra"] = list(r.extra)
        return out

    def comm(self, nranks=4, rank=2, config=None):
        return ncclrt.Communicator.init_rank(self.lib, nranks, rank, self.lib.unique_id(), config)


@pytest.fixture
def newest(stand_ins):
    """The recording stand-in playing NCCL 2.32.3, which has every call ncclrt wraps."""
    r = Recorder(stand_ins["recording_23203"])
    r.clear()
    return r


@pytest.fixture
def recorder(stand_ins):
    r = Recorder(stand_ins["recording_22809"])
    r.clear()
    return r


@pytest.fixture
def old_recorder(stand_ins):
    r = Recorder(stand_ins["recording_21203"])
    r.clear()
    return r


def _header_version(header):
    text = open(header).read()
    parts = [re.search(rf"#define NCCL_{k}\s+(\d+)", text) for k in ("MAJOR", "MINOR", "PATCH")]
    return tuple(int(p.group(1)) for p in parts) if all(parts) else None


@pytest.fixture(scope="session")
def real_nccl():
    """(path, version from its nccl.h) of a real NCCL: $NCCLRT_TEST_REAL_NCCL or $NCCLRT_NCCL_LIB
    (with ../include/nccl.h), else the newest release the matrix cached from PyPI, else
    /usr/local/cuda's; skipped when there is none."""
    candidates = []
    for var in ("NCCLRT_TEST_REAL_NCCL", "NCCLRT_NCCL_LIB"):
        if os.environ.get(var):  # a release's lib/ with include/nccl.h beside it (PyPI layout)
            path = os.environ[var]
            header = os.path.join(os.path.dirname(path), "..", "include", "nccl.h")
            candidates.append((path, header))
    cache = os.environ.get("NCCLRT_MATRIX_CACHE", os.path.expanduser("~/.cache/ncclrt-matrix"))
    cached = sorted(glob.glob(os.path.join(cache, "*", "libnccl.so.2")),
                    key=lambda p: tuple(int(x) for x in os.path.basename(os.path.dirname(p))
                                        .split(".")), reverse=True)
    candidates += [(p, os.path.join(os.path.dirname(p), "nccl.h")) for p in cached]
    for lib in ("lib64", "lib"):
        candidates.append((f"/usr/local/cuda/{lib}/libnccl.so.2", "/usr/local/cuda/include/nccl.h"))
    for path, header in candidates:
        if os.path.exists(path) and os.path.exists(header):
            return path, _header_version(header)
    pytest.skip("no real libnccl with its nccl.h found (set NCCLRT_TEST_REAL_NCCL, or run "
                "scripts/nccl_matrix.py fetch)")


def gpu_available():
    """(True, "") or (False, why) for the GPU tests: torch with a visible CUDA device."""
    try:
        import torch
    except ImportError:
        return False, "needs torch with CUDA: torch is not installed"
    if not torch.cuda.is_available():
        return False, "needs a GPU: torch.cuda.is_available() is False (no GPU or no driver)"
    return True, ""


def run_python(code, env=None, timeout=60):
    """Runs `code` in a fresh interpreter (same sys.path) and returns the CompletedProcess."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    for k, v in (env or {}).items():
        if v is None:
            full_env.pop(k, None)
        else:
            full_env[k] = v
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, timeout=timeout)
