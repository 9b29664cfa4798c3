"""scripts/nccl_matrix.py: the 'This run' facts name the commit, and say 'with local changes' only
when code differs from it (the doc being regenerated does not count)."""
import importlib.util
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load(repo):
    spec = importlib.util.spec_from_file_location("nccl_matrix_copy",
                                                  repo / "scripts" / "nccl_matrix.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git (a developer's tool) on PATH")
def test_local_changes_exclude_the_doc(tmp_path):
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "docs").mkdir()
    shutil.copy(ROOT / "scripts" / "nccl_matrix.py", repo / "scripts")
    doc = repo / "docs" / "compatibility.md"
    doc.write_text("old\n")
    (repo / "src.cpp").write_text("int x;\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    head = git(repo, "rev-parse", "--short=12", "HEAD")
    matrix = load(repo)

    when, machine, commit, command = matrix.run_facts("the command", str(doc))
    assert commit == head and command == "the command"
    assert "no GPU" in machine and when.endswith("UTC")

    doc.write_text("regenerated\n")  # the doc itself: still the commit's code
    assert matrix.run_facts("c", str(doc))[2] == head

    (repo / "src.cpp").write_text("int y;\n")  # code: said
    assert matrix.run_facts("c", str(doc))[2] == head + " with local changes"
