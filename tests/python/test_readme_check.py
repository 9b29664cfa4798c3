"""tests/readme/check_readme.py finds what rots: missing scripts and presets, unknown names."""
import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("check_readme",
                                              ROOT / "tests" / "readme" / "check_readme.py")
check_readme = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_readme)


def test_blocks_are_found_with_their_language_and_line():
    text = "intro\n```sh\nls\n```\n```\nbare\n```\n"
    assert check_readme.blocks(text) == [("sh", 3, "ls"), ("", 6, "bare")]


def test_shell_lines_must_name_existing_scripts_and_presets():
    ok = "bash scripts/install-deps.sh --main && cmake --preset release"
    assert check_readme.check_shell(ok, ROOT, tool="/bin/false") is None
    bad = "VAR=1 bash scripts/nope.sh && cmake --workflow --preset nosuch"
    why = check_readme.check_shell(bad, ROOT, tool="/bin/false")
    assert "no such script: scripts/nope.sh" in why and "no CMake preset 'nosuch'" in why


def test_python_blocks_must_use_names_the_module_has():
    assert check_readme.check_python("import ncclrt\nncclrt.Library.open()", ROOT) is None
    assert "ncclrt.Library.opne" in check_readme.check_python("ncclrt.Library.opne()", ROOT)
    assert "does not parse" in check_readme.check_python("def (:", ROOT)


def test_an_excerpt_must_match_the_example_it_names():
    ok = "// from examples/fault_tolerant_loop.cpp\nncclrt::Config config;\n...\ncomm = std::move(r.comm);"
    assert check_readme.is_excerpt(ok) and check_readme.check_excerpt(ok, ROOT) is None
    drifted = "// from examples/fault_tolerant_loop.cpp\ncomm = std::move(r.comm);\nncclrt::Config config;"
    assert "not in examples/fault_tolerant_loop.cpp" in check_readme.check_excerpt(drifted, ROOT)
    gone = "# from examples/nope.py\nx = 1"
    assert "no such file: examples/nope.py" in check_readme.check_excerpt(gone, ROOT)


def test_docs_speak_of_the_software_not_of_how_it_was_made():
    # What a user reads says what was verified and on what; never how the work was organised.
    words = ["was lent", "lent machine", "device time", "issue 22", "the issue's", "(issue"]
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        for w in words:
            assert w not in text, f"{doc.name} says {w!r}"
    python_md = (ROOT / "docs" / "python.md").read_text()
    assert "(`ncclrt info`, `probe`, `bench`, `doctor`, `trace`, `version`)" in python_md
