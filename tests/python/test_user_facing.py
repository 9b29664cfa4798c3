"""What a Python user reads: errors in Python's spelling, readable reprs, the same names as the
command's --json, and the ncclrt command that comes with the package."""
import json
import os
import re
import subprocess
import sys

import pytest

import ncclrt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CPP_NAME = re.compile(r"\b\w+::\w+|\bOnFailure\b|\bk[A-Z]\w+")


def no_cpp_names(text):
    assert not CPP_NAME.search(text), f"a C++ name reached Python: {text}"


# --- errors name Python's spelling --------------------------------------------------------------

def test_a_file_that_is_not_a_library_names_library_open_path():
    with pytest.raises(ncclrt.LoadError) as e:
        ncclrt.Library.open("/etc/passwd")
    text = str(e.value)
    assert "cannot load NCCL from Library.open(path)" in text
    assert "or call Library.open() without a path so that ncclrt searches" in text
    no_cpp_names(text)


def test_load_errors_name_what_was_given_in_python(stand_ins):
    # probe_timeout= given: that is what to raise, not the variable it overrode.
    with pytest.raises(ncclrt.LoadError) as e:
        ncclrt.Library.open(stand_ins["hang"], probe_timeout=0.3)
    assert "Raise Library.open(probe_timeout=...)" in str(e.value), str(e.value)
    assert "NCCLRT_PROBE_TIMEOUT_MS" not in str(e.value)
    no_cpp_names(str(e.value))
    # A library that crashes loading: another NCCL is what to try, not "the path of libnccl".
    with pytest.raises(ncclrt.LoadError) as e:
        ncclrt.Library.open(stand_ins["crash"])
    assert "Try: another NCCL file" in str(e.value), str(e.value)
    assert "give the path of libnccl.so.2 itself" not in str(e.value)
    # A bad timeout is written as Python writes the value.
    with pytest.raises(ncclrt.UsageError) as e:
        ncclrt.Config(timeout=-1)
    assert str(e.value).startswith("Config(timeout=...): the timeout must be") and \
        str(e.value).endswith("; got -1"), str(e.value)
    with pytest.raises(ncclrt.UsageError, match=r"got -0\.5$"):
        ncclrt.Library.open(stand_ins["recording_22809"], probe_timeout=-0.5)


def test_a_deadline_on_a_blocking_creation_names_config_keywords(recorder):
    with pytest.raises(ncclrt.UsageError) as e:
        recorder.comm(config=ncclrt.Config(timeout=1.0, blocking=True))
    text = str(e.value)
    assert "Config(timeout=...) needs a nonblocking creation" in text
    assert "leave Config(blocking=...) unset" in text
    no_cpp_names(text)


def test_split_names_split_nocolor(recorder):
    comm = recorder.comm()
    with pytest.raises(ncclrt.UsageError) as e:
        comm.split(-5, 0)
    assert "ncclrt.SPLIT_NOCOLOR" in str(e.value)
    no_cpp_names(str(e.value))
    comm.abort()


def test_a_bad_hex_id_names_unique_id_hex():
    with pytest.raises(ncclrt.UsageError) as e:
        ncclrt.UniqueId.from_hex("zz")
    assert "UniqueId.hex()" in str(e.value)
    no_cpp_names(str(e.value))


def test_disabled_functions_named_as_the_keyword(stand_ins):
    with pytest.raises(ncclrt.LoadError) as e:
        ncclrt.Library.open(stand_ins["recording_22809"], disabled_functions=["ncclAllToAll"])
    assert "Library.open(disabled_functions=...)" in str(e.value)
    no_cpp_names(str(e.value))


# --- readable reprs ------------------------------------------------------------------------------

def test_reprs_say_what_the_object_is(stand_ins, recorder):
    lib = recorder.lib
    assert re.fullmatch(r"Library\(NCCL 2\.28\.9 from '.*librecording_22809\.so', "
                        r"found_by='path'\)", repr(lib)), repr(lib)
    assert repr(ncclrt.Version(2, 28, 9)) == "Version(2, 28, 9)"
    assert eval(repr(ncclrt.Version(2, 28, 9)), {"Version": ncclrt.Version}) == (2, 28, 9)
    assert repr(ncclrt.Config(timeout=2.0, max_ctas=8)) == "Config(max_ctas=8, timeout=2.0)"
    assert repr(ncclrt.UniqueId(bytes(128))) == "UniqueId('0000000000000000...')"

    good = ncclrt.probe(stand_ins["recording_22809"])
    assert re.fullmatch(r"ProbeResult\(usable=True, verdict='ok', file='.*', version=2\.28\.9, "
                        r"took [0-9.]+ ms( \(cached\))?\)", repr(good)), repr(good)
    crash = ncclrt.probe(stand_ins["crash"])
    assert repr(crash).startswith("ProbeResult(usable=False, verdict='crashed', file=")
    assert "signal=11" in repr(crash)
    missing = ncclrt.probe("/nonexistent/libnccl.so.2")
    assert repr(missing) == ("ProbeResult(usable=False, verdict='not found', "
                             "file='/nonexistent/libnccl.so.2')")

    step = lib.search_log[0]
    assert repr(step).startswith("SearchStep(source='path', path=") and "loaded=True" in repr(step)
    cap = next(c for c in lib.capabilities() if c.name == "ncclCommShrink")
    assert repr(cap) == "Capability('ncclCommShrink', available)"

    comm = recorder.comm(nranks=4, rank=2)
    assert re.fullmatch(r"Communicator\(rank 2 of 4 on GPU \d+, NCCL 2\.28\.9\)", repr(comm))
    reg = comm.register_buffer(0x1000, 256)
    assert re.fullmatch(r"Registration\(handle=0x[0-9a-f]+\)", repr(reg)), repr(reg)
    reg.close()
    assert repr(reg) == "Registration(closed)"
    op = comm.create_pre_mul_sum(2.0, dtype=ncclrt.DataType.FLOAT32)
    assert re.fullmatch(r"PreMulSum\(op=\d+\)", repr(op)) and op.op >= 5
    op.close()
    assert repr(op) == "PreMulSum(closed)"
    win = comm.register_window(0x2000, 256)
    assert re.fullmatch(r"Window\(native=0x[0-9a-f]+\)", repr(win)), repr(win)
    win.close()
    g = ncclrt.group(lib)
    assert repr(g) == "Group(NCCL 2.28.9, not entered)"
    with g:
        assert repr(g) == "Group(NCCL 2.28.9, open)"
    comm.abort()
    assert repr(comm) == "Communicator(not live: empty, finalized, destroyed or aborted)"


def test_suspension_and_memory_reprs(newest):
    comm = newest.comm()
    s = comm.suspension()
    assert repr(s) == "Suspension(SuspendFlags.MEMORY, not suspended)"
    with s:
        assert repr(s) == "Suspension(SuspendFlags.MEMORY, suspended)"
        assert repr(comm).endswith(", NCCL 2.32.3, suspended)")
    mem = ncclrt.NcclMemory.allocate(newest.lib, 64)
    assert re.fullmatch(r"NcclMemory\(ptr=0x[0-9a-f]+, nbytes=64\)", repr(mem)), repr(mem)
    mem.close()
    assert repr(mem) == "NcclMemory(freed)"
    comm.abort()


# --- the command comes with the package, with the same names -------------------------------------

def ncclrt_command(*args, env=None):
    """`python -m ncclrt ARGS`: the command this package ships, as the console script starts it."""
    return subprocess.run([sys.executable, "-m", "ncclrt", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def packaged_command():
    from ncclrt.__main__ import command_path
    path = command_path()
    if not os.access(path, os.X_OK):
        pytest.skip(f"this ncclrt has no command ({path}): a build tree, not an installed package")
    return path


def test_python_m_ncclrt_runs_the_packaged_command_with_its_exit_codes():
    packaged_command()
    version = open(os.path.join(ROOT, "VERSION")).read().strip()
    r = ncclrt_command("--help")
    assert r.returncode == 0 and "info" in r.stdout and "probe" in r.stdout, r.stderr
    r = ncclrt_command("version", "--json", env=dict(os.environ, NCCLRT_NCCL_LIB="/etc/passwd"))
    assert r.returncode == 1 and json.loads(r.stdout)["ncclrt"] == version == ncclrt.__version__
    r = ncclrt_command("inf")
    assert r.returncode == 2 and "did you mean 'info'?" in r.stderr
    # Everything is passed on, so a subcommand added later needs nothing here.
    r = ncclrt_command("probe", "/nonexistent/libnccl.so.2", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["verdict"] == "not found"


def test_the_console_script_is_installed_beside_python():
    packaged_command()
    script = os.path.join(os.path.dirname(sys.executable), "ncclrt")
    if not os.path.exists(script):
        pytest.skip(f"no console script beside {sys.executable} (not a pip-installed package)")
    r = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert r.stdout.startswith(f"ncclrt {ncclrt.__version__} (commit "), r.stdout + r.stderr


def test_probe_json_and_probe_result_use_the_same_names(stand_ins):
    packaged_command()
    path = stand_ins["recording_22809"]
    r = ncclrt_command("probe", path, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    p = ncclrt.probe(path)
    for key in ("usable", "verdict", "file", "seconds", "cached", "resolved"):
        assert hasattr(p, key), key
    assert out["usable"] is p.usable is True and out["verdict"] == p.verdict
    assert out["version"] == str(p.version) and out["file"] == p.file


def test_info_json_and_library_use_the_same_names(stand_ins):
    packaged_command()
    path = stand_ins["recording_22809"]
    r = ncclrt_command("info", "--json", "--nccl-lib", path)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    lib = ncclrt.Library.open(path)
    library = out["library"]
    for key in ("path", "version", "found_by", "found_by_text", "search_log", "probe_seconds",
                "disabled_functions", "capabilities"):
        assert key in library and hasattr(lib, key), key
    assert library["found_by"] == lib.found_by and library["version"] == str(lib.version)
    step = library["search_log"][0]
    assert set(step) == {"source", "source_text", "path", "outcome", "loaded"}
    assert all(hasattr(lib.search_log[0], k) for k in step)
    cap = library["capabilities"][0]
    assert set(cap) - {"why_not_id"} <= {"name", "is_function", "since", "required", "available",
                                        "why_not"}
    assert all(hasattr(lib.capabilities()[0], k) for k in set(cap) - {"why_not_id"})
    assert "unknown_environment" in out and hasattr(lib, "unknown_environment")
    assert set(out["ranks_per_gpu"]) <= {"allowed", "why_not"}
