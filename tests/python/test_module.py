"""The module on the CPU: import, Library (real NCCL and stand-ins), UniqueId, Config, errors."""
import ctypes
import os
import pickle
import sys

import pytest

import ncclrt
from conftest import run_python


def test_import_needs_no_torch_cupy_or_cuda():
    r = run_python("import sys, ncclrt\n"
                   "print(ncclrt.__version__)\n"
                   "print(sorted(m for m in ('torch', 'cupy', 'jax', 'numpy') if m in sys.modules))")
    assert r.returncode == 0, r.stderr
    version, loaded = r.stdout.split("\n")[:2]
    # The one version: the VERSION file, read by CMake and by the wheel's metadata.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert version == open(os.path.join(root, "VERSION")).read().strip()
    assert loaded == "[]"


def test_exception_hierarchy():
    assert issubclass(ncclrt.Error, RuntimeError)
    for cls in (ncclrt.LoadError, ncclrt.NcclError, ncclrt.UsageError, ncclrt.TimeoutError,
                ncclrt.UnsupportedError):
        assert issubclass(cls, ncclrt.Error)
    assert issubclass(ncclrt.UsageError, ValueError)
    assert issubclass(ncclrt.TimeoutError, TimeoutError)
    assert issubclass(ncclrt.UnsupportedError, NotImplementedError)
    assert ncclrt.TimeoutError is not TimeoutError


def test_enums_have_nccls_values():
    assert [int(t) for t in ncclrt.DataType] == list(range(12))
    assert ncclrt.DataType.BFLOAT16 == 9 and ncclrt.DataType.FLOAT8_E5M2 == 11
    assert [int(o) for o in ncclrt.ReduceOp] == [0, 1, 2, 3, 4]
    assert ncclrt.size_of(ncclrt.DataType.BFLOAT16) == 2
    assert ncclrt.SPLIT_NOCOLOR == -1 and ncclrt.WIN_COLL_SYMMETRIC == 1


def test_version():
    v = ncclrt.Version.from_code(22000)
    assert str(v) == "2.20.0" and tuple(v) == (2, 20, 0)
    assert str(ncclrt.Version.from_code(2804)) == "2.8.4"
    assert ncclrt.Version(2, 19, 3).code == 21903
    assert v >= (2, 19) and v < (2, 21) and v == (2, 20, 0) and v != (2, 20, 1)


def test_real_nccl(real_nccl):
    path, version = real_nccl
    lib = ncclrt.Library.open(path)
    assert tuple(lib.version) == version
    assert lib.found_by in ("path", "environment") and os.path.isabs(lib.path)
    assert lib.has("ncclAllReduce") and lib.has("AllReduce") and lib.has("bfloat16")
    assert lib.has("ncclCommShrink") == (lib.version >= (2, 27))
    caps = {c.name: c for c in lib.capabilities()}
    assert caps["ncclAllReduce"].available and caps["ncclAllReduce"].required
    for c in caps.values():
        assert c.available == (c.since <= lib.version), c.name
        assert (c.why_not == "") == c.available
    a, b = lib.unique_id(), lib.unique_id()
    assert a != b and len(a.bytes) == 128
    assert lib.error_string(0) == "no error"
    assert "invalid usage" in lib.error_string(5)
    assert isinstance(lib.last_error(), str)
    assert ncclrt.Library.open(path) == lib  # the same file gives the same Library
    with pytest.warns(UserWarning, match="no NCCL function or feature"):
        assert lib.has("ncclFrobnicate") is False
    with pytest.raises(ncclrt.UsageError, match="no NCCL function or feature"):
        lib.require("ncclFrobnicate")


def test_a_function_the_release_lacks(real_nccl):
    lib = ncclrt.Library.open(real_nccl[0])
    newer = [c for c in lib.capabilities() if c.is_function and c.since > lib.version]
    if not newer:
        pytest.skip(f"NCCL {lib.version} has every function ncclrt knows")
    name = newer[0].name
    assert not lib.has(name)
    with pytest.raises(ncclrt.UnsupportedError) as e:
        lib.require(name)
    assert f"{name} needs NCCL >= {newer[0].since}; loaded {lib.version}" in str(e.value)
    assert isinstance(e.value, NotImplementedError)


def _cuda_driver_loads():
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


def test_init_without_a_gpu_gives_nccls_error(real_nccl):
    lib = ncclrt.Library.open(real_nccl[0])
    try:
        comm = ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id())
    except ncclrt.NcclError as e:
        assert e.call == "ncclCommInitRank" and e.version == str(lib.version)
        assert e.result == 1 and e.result_name == "ncclUnhandledCudaError"
        assert "unhandled cuda error" in e.result_string
        assert e.last_error != ""
        assert "rank 0 of 1" in str(e) and "Try:" in str(e)
        if not _cuda_driver_loads():
            # What to try names what ncclrt knows, not NCCL's "driver version is insufficient".
            assert "Try: run on a machine with an NVIDIA GPU and its driver; here: no CUDA " \
                   "driver (libcuda.so.1 could not be loaded)" in str(e), str(e)
        # The process goes on: the library still works.
        assert lib.unique_id() != lib.unique_id()
    else:  # a machine with a GPU: then it is a working communicator
        assert comm.rank == 0 and comm.size == 1
        comm.destroy()


def test_open_through_the_environment_variable(stand_ins):
    path = stand_ins["recording_22809"]
    r = run_python("import ncclrt; l = ncclrt.Library.open(); print(l.path, l.found_by, l.version)",
                   env={"NCCLRT_NCCL_LIB": path})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [os.path.realpath(path), "environment", "2.28.9"]


@pytest.mark.parametrize("name,words", [
    ("crash", ["signal 11"]),
    ("hang", ["did not finish", "killed"]),
    ("exit", ["exit with status 3", "called exit"]),
    ("no_required", ["ncclAllReduce", "ncclBcast"]),
    ("claims", ["claims", "lacks"]),
])
def test_damaged_files_give_load_error(stand_ins, name, words):
    kwargs = {"probe_timeout": 1.0} if name == "hang" else {}
    with pytest.raises(ncclrt.LoadError) as e:
        ncclrt.Library.open(stand_ins[name], **kwargs)
    for w in words:
        assert w in str(e.value), f"{w!r} missing in: {e.value}"


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ncclrt.LoadError, match="no such file"):
        ncclrt.Library.open(str(tmp_path / "libnccl.so.2"))
    with pytest.raises(ncclrt.LoadError, match="directory|not a regular file"):
        ncclrt.Library.open(str(tmp_path))


def test_discovery_lists_every_place_tried(tmp_path):
    r = run_python(
        "import ncclrt\n"
        "try:\n"
        "    ncclrt.Library.open(sources=['cuda_home'])\n"
        "except ncclrt.LoadError as e:\n"
        "    print('LoadError', e)\n",
        env={"CUDA_HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert "LoadError" in r.stdout and str(tmp_path) in r.stdout
    with pytest.raises(ncclrt.UsageError, match="unknown source 'nowhere'"):
        ncclrt.Library.open(sources=["nowhere"])


def test_discovery_reads_this_pythons_environment_first(stand_ins, tmp_path):
    # pip's NCCL in a directory on sys.path (as nvidia-nccl-cu12 in site-packages): found right
    # after an NCCL already loaded, before the loader's search, as PyTorch's would be; nothing
    # but the probe is started to find it (no python3 on PATH here to ask).
    site = tmp_path / "site-packages"
    nccl = site / "nvidia" / "nccl" / "lib"
    nccl.mkdir(parents=True)
    (nccl / "libnccl.so.2").write_bytes(open(stand_ins["recording_22809"], "rb").read())
    r = run_python(
        "import ncclrt\n"
        "l = ncclrt.Library.open()\n"
        "print(l.found_by, l.path, l.version)\n"
        "print([s.source for s in l.search_log])\n",
        env={"NCCLRT_NCCL_LIB": None, "PATH": str(tmp_path),
             "PYTHONPATH": os.pathsep.join([str(site)] + [p for p in sys.path if p])})
    assert r.returncode == 0, r.stderr
    found, tried = r.stdout.split("\n")[:2]
    assert found.split() == ["python", os.path.realpath(nccl / "libnccl.so.2"), "2.28.9"]
    assert "loader_search" not in tried, tried


def test_probe(stand_ins):
    ok = ncclrt.probe(stand_ins["recording_22809"])
    assert ok.usable and ok.verdict == "ok" and str(ok.version) == "2.28.9"
    bad = ncclrt.probe(stand_ins["crash"])
    assert not bad.usable and bad.signal == 11 and "signal 11" in bad.message()
    # `ok` was its name before `usable` (the name `ncclrt probe --json` uses): it still answers,
    # with a DeprecationWarning.
    with pytest.warns(DeprecationWarning, match="ProbeResult.usable"):
        assert ok.ok is True


def test_old_release_features_off(stand_ins):
    lib = ncclrt.Library.open(stand_ins["old_21203"])
    assert str(lib.version) == "2.12.3"
    assert not lib.has("ncclCommSplit") and not lib.has("ncclGetLastError")
    with pytest.raises(ncclrt.UnsupportedError, match="2.13"):
        lib.last_error()


def test_unique_id_round_trips():
    raw = bytes(range(128))
    uid = ncclrt.UniqueId(raw)
    assert uid.bytes == raw and bytes(uid) == raw
    assert ncclrt.UniqueId.from_hex(uid.hex()) == uid
    assert pickle.loads(pickle.dumps(uid)) == uid
    assert hash(ncclrt.UniqueId(raw)) == hash(uid)
    assert uid != ncclrt.UniqueId() and uid != raw
    with pytest.raises(ncclrt.UsageError, match="128 bytes; got 3"):
        ncclrt.UniqueId(b"abc")
    with pytest.raises(ncclrt.UsageError):
        ncclrt.UniqueId.from_hex("zz")


def test_config_keywords():
    c = ncclrt.Config(blocking=False, comm_name="tp", cta_policy=1, timeout=2.5)
    assert (c.blocking, c.comm_name, c.cta_policy, c.timeout) == (False, "tp", 1, 2.5)
    assert c.max_ctas is None and not c.empty() and ncclrt.Config().empty()
    c.max_ctas = 8
    assert c.max_ctas == 8 and "max_ctas=8" in repr(c)
    assert "nvls_host_mode" in ncclrt.Config.fields()
    with pytest.raises(TypeError, match="'blockin'"):
        ncclrt.Config(blockin=False)
    with pytest.raises(ncclrt.UsageError, match="non-negative"):
        ncclrt.Config(timeout=-1)
    with pytest.raises(ncclrt.UsageError, match="number of seconds"):
        ncclrt.Config(timeout="soon")


def test_config_field_the_release_lacks(stand_ins):
    from conftest import Recorder
    rec = Recorder(stand_ins["recording_22605"])  # has ncclCommInitRankConfig, not comm_name
    live, calls = rec.live(), rec.calls()
    # Python's spelling of the field (the C++ message says Config::comm_name).
    with pytest.raises(ncclrt.UnsupportedError,
                       match=r"Config\(comm_name=\.\.\.\) needs NCCL >= 2.27.0; loaded 2.26.5"):
        rec.comm(config=ncclrt.Config(comm_name="tp"))
    assert (rec.live(), rec.calls()) == (live, calls)  # nothing made, nothing called


def test_config_reaches_nccl_sized_for_the_release(recorder):
    live = recorder.live()
    comm = recorder.comm(config=ncclrt.Config(blocking=False, comm_name="x"))
    assert recorder.so.fake_config_version() == 22809
    assert recorder.so.fake_config_blocking() == 0
    assert recorder.so.fake_config_size() > 0
    assert recorder.live() == live + 1
    comm.abort()
    assert recorder.live() == live


def test_creation_timeout_is_timeout_error(recorder):
    r = run_python(
        "import ncclrt, time\n"
        f"lib = ncclrt.Library.open({recorder.path!r})\n"
        "t = time.monotonic()\n"
        "try:\n"
        "    ncclrt.Communicator.init_rank(lib, 2, 0, lib.unique_id(), ncclrt.Config(timeout=0.3))\n"
        "except TimeoutError as e:\n"
        "    print(type(e).__name__, round(time.monotonic() - t, 1), e)\n",
        env={"FAKE_INIT_IN_PROGRESS": "1"})
    assert r.returncode == 0, r.stderr
    name, seconds, message = r.stdout.split(" ", 2)
    assert name == "TimeoutError" and 0.3 <= float(seconds) < 2.0
    assert "did not complete within 300 ms" in message and "rank 0 of 2" in message


def test_rank_arguments(recorder):
    lib = recorder.lib
    with pytest.raises(ncclrt.UsageError, match="outside 0..1"):
        ncclrt.Communicator.init_rank(lib, 2, 2, lib.unique_id())
    with pytest.raises(ncclrt.UsageError, match="all zeros"):
        ncclrt.Communicator.init_rank(lib, 2, 0, ncclrt.UniqueId())
    with pytest.raises(TypeError):
        ncclrt.Communicator.init_rank(lib, 2, 0, "id")


def test_watchdog_and_log_level():
    assert not ncclrt.Watchdog.enabled()
    ncclrt.Watchdog.enable(0.05)
    assert ncclrt.Watchdog.enabled()
    ncclrt.Watchdog.disable()
    assert not ncclrt.Watchdog.enabled()
    ncclrt.set_log_level("off")
    with pytest.raises(ncclrt.UsageError, match="'loud'"):
        ncclrt.set_log_level("loud")


def test_type_stubs_name_every_public_attribute():
    import ast
    import ncclrt._ncclrt as ext
    stub = os.path.join(os.path.dirname(ncclrt.__file__), "_ncclrt.pyi")
    tree = ast.parse(open(stub).read())
    named = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    named |= {t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
              for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
              if isinstance(t, ast.Name)}
    named |= {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom)
              for a in n.names}
    public = {k for k in dir(ext) if not k.startswith("_")}
    assert public <= named, f"missing from _ncclrt.pyi: {sorted(public - named)}"
    comm = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Communicator")
    methods = {n.name for n in comm.body if isinstance(n, ast.FunctionDef)}
    assert {k for k in dir(ext.Communicator) if not k.startswith("_")} <= methods


def test_has_an_unknown_name_answers_false_and_names_the_nearest(stand_ins):
    lib = ncclrt.Library.open(stand_ins["recording_22809"])
    with pytest.warns(UserWarning, match=r"'ncclCommGrw' is no NCCL function .*did you mean "
                                         r"ncclCommGrow\?"):
        assert lib.has("ncclCommGrw") is False
    with pytest.warns(UserWarning, match=r"did you mean ncclAllReduce\?"):
        assert lib.has("AllReduse") is False
    with pytest.raises(ncclrt.UsageError, match=r"did you mean ncclCommShrink\?"):
        lib.require("ncclCommShrnk")
    assert lib.has("CommShrink") is True  # the short name still works, without a warning


def test_help_shows_static_methods_signatures_and_what_each_property_is():
    import pydoc
    import inspect
    text = pydoc.render_doc(ncclrt.Library, renderer=pydoc.plaintext)
    statics = text[text.index("Static methods defined here"):]
    assert "open(path: str | None = None, *, sources: collections.abc.Sequence[str] | None = " \
           "None, probe: bool | None = None, probe_timeout: float | datetime.timedelta | None = " \
           "None" in statics, statics[:800]
    assert "Finds and opens NCCL" in statics
    assert "nb_func object" not in text
    sig = inspect.signature(ncclrt.Communicator.init_rank)
    assert str(sig).startswith("(lib: Library, nranks: int, rank: int"), sig
    assert ncclrt.Library.open.__doc__.startswith("Finds and opens NCCL")
    assert "nb_func object" not in pydoc.render_doc(ncclrt.Communicator, renderer=pydoc.plaintext)
    assert "nb_func object" not in pydoc.render_doc(ncclrt, renderer=pydoc.plaintext)
    # Every property says what it is, not only its type.
    bare = [f"{cls.__name__}.{name}" for cls in vars(ncclrt._ncclrt).values()
            if isinstance(cls, type) for name, p in vars(cls).items()
            if isinstance(p, property) and (p.__doc__ or "").startswith("(self)")]
    assert bare == [], bare
    # Still called as before: keywords, defaults and errors are the binding's.
    with pytest.raises(ncclrt.UsageError, match="unknown source 'nowhere'"):
        ncclrt.Library.open(sources=["nowhere"])
    with pytest.raises(TypeError):
        ncclrt.Library.open(sources="python")
