"""The C++ suite's stand-in libraries (tests/stand_ins/), built for the Python tests.

The tests build them with the system C compiler (conftest.py's `stand_ins` fixture), or take them
ready-made from the folder named by $NCCLRT_TEST_STAND_INS, as the wheel check does: it builds
them first and then runs the tests where no compiler is on PATH.

    python3 tests/python/stand_in_libs.py DIR     builds every stand-in into DIR
"""
import os
import shutil
import subprocess
import sys

STAND_INS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "stand_ins")

# name -> (source, defines)
BUILDS = {
    "recording_22809": ("recording_nccl.c", ["FAKE_VERSION=22809"]),
    "recording_22907": ("recording_nccl.c", ["FAKE_VERSION=22907"]),
    "recording_23102": ("recording_nccl.c", ["FAKE_VERSION=23102"]),
    "recording_23203": ("recording_nccl.c", ["FAKE_VERSION=23203"]),
    "recording_22605": ("recording_nccl.c", ["FAKE_VERSION=22605"]),
    "recording_21203": ("recording_nccl.c", ["FAKE_VERSION=21203"]),
    "old_21203": ("fake_nccl.c", ["FAKE_VERSION=21203"]),
    "no_required": ("fake_nccl.c", ["FAKE_VERSION=22809", "FAKE_OMIT_REQUIRED"]),
    "claims": ("fake_nccl.c", ["FAKE_VERSION=22809", "FAKE_OMIT_CLAIMED"]),
    "crash": ("hostile_nccl.c", ["HOSTILE_CRASH"]),
    "hang": ("hostile_nccl.c", ["HOSTILE_HANG"]),
    "exit": ("hostile_nccl.c", ["HOSTILE_EXIT"]),
}


def compiler():
    """The C compiler to build them with, or None."""
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def path_in(folder, name):
    return os.path.join(folder, f"lib{name}.so")


def build(folder, cc):
    """Builds every stand-in into `folder`; returns {name: path}."""
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for name, (source, defines) in BUILDS.items():
        path = path_in(folder, name)
        cmd = [cc, "-shared", "-fPIC", "-O1", "-o", path, os.path.join(STAND_INS, source)]
        cmd += [f"-D{d}" for d in defines]
        subprocess.run(cmd, check=True)
        paths[name] = path
    return paths


def ready_made(folder):
    """{name: path} of the stand-ins already built in `folder`; raises if one is missing."""
    paths = {name: path_in(folder, name) for name in BUILDS}
    missing = [p for p in paths.values() if not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(
            f"$NCCLRT_TEST_STAND_INS={folder} lacks {', '.join(missing)}; build them with "
            f"`python3 tests/python/stand_in_libs.py {folder}`")
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    cc = compiler()
    if cc is None:
        sys.exit("stand_in_libs.py: no C compiler (cc, gcc or $CC)")
    built = build(sys.argv[1], cc)
    print(f"{len(built)} stand-in libraries in {sys.argv[1]}")
