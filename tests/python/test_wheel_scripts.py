"""The wheel as the README names it, and scripts/check_wheel.sh choosing an interpreter the wheel
installs on."""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
VERSION = (ROOT / "VERSION").read_text().strip()


def test_the_docs_name_the_wheel_build_wheels_makes():
    # auditwheel names a manylinux_2_17 wheel for both its tags: the legacy manylinux2014 first.
    want = f"ncclrt-{VERSION}-cp312-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    for doc in ("README.md", "docs/python.md"):
        text = (ROOT / doc).read_text()
        named = set(re.findall(r"ncclrt-[\w.-]+\.whl", text))
        assert named == {want}, f"{doc} names {sorted(named)}, not {want}"
    assert "cp312-abi3`, 1.1 MiB" in (ROOT / "README.md").read_text()


def check_wheel(wheel, tmp_path, python=None):
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    if python:
        env["PYTHON"] = python
    return subprocess.run(["bash", str(ROOT / "scripts" / "check_wheel.sh"), str(wheel),
                           str(tmp_path / "work")], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.skipif(not (ROOT / "scripts" / "check_wheel.sh").exists(), reason="no source tree")
@pytest.mark.skipif(shutil.which("bash") is None,
                    reason="no bash on PATH (the installed wheel's check runs with a bare PATH)")
def test_check_wheel_says_which_python_the_wheel_needs(tmp_path):
    # No interpreter takes this tag: said before anything is built, with what to set.
    nowhere = tmp_path / f"ncclrt-{VERSION}-cp399-abi3-manylinux2014_x86_64.whl"
    nowhere.write_bytes(b"")
    r = check_wheel(nowhere, tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "needs CPython 3.99 or newer" in r.stderr and "Try: PYTHON=" in r.stderr, r.stderr
    # $PYTHON that the tag does not take: refused, naming both.
    other = f"cp3{sys.version_info[1] + 1}"
    wrong = tmp_path / f"ncclrt-{VERSION}-{other}-{other}-manylinux2014_x86_64.whl"
    wrong.write_bytes(b"")
    r = check_wheel(wrong, tmp_path, python=sys.executable)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"needs CPython 3.{sys.version_info[1] + 1}; PYTHON={sys.executable} is not one" \
        in r.stderr, r.stderr
    assert not (tmp_path / "work").exists()  # nothing made
