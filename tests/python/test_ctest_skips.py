"""scripts/ctest_skips.py: the reasons of skipped tests, read from ctest's log, grouped."""
import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("ctest_skips", ROOT / "scripts" / "ctest_skips.py")
ctest_skips = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ctest_skips)

SEP = "\n----------------------------------------------------------\n\n"
GTEST = """1/3 Test: OneGpu.A
Output:
----------------------------------------------------------
[ RUN      ] OneGpu.A
/src/gpu_test.cpp:52: Skipped
needs 1 GPU(s), found 0; no NVIDIA driver on this machine (libcuda.so.1 not found)
[  SKIPPED ] OneGpu.A (0 ms)
<end of output>
Test Pass Reason:
Skip regular expression found in output. Regex=[\\[  SKIPPED \\]]"""
SCRIPT = """2/3 Test: MultiRank.N2.threads
Output:
----------------------------------------------------------
SKIPPED: needs a GPU, found none
<end of output>
Test Pass Reason:
Skip regular expression found in output. Regex=[SKIPPED:]"""
PASSED = """3/3 Test: Unit.Passes
Output:
----------------------------------------------------------
[  PASSED  ] 1 test.
<end of output>"""


def test_reasons_of_gtest_and_script_skips_and_not_of_passes():
    found = dict(ctest_skips.skips(SEP.join([GTEST, SCRIPT, PASSED])))
    assert found == {
        "OneGpu.A": "needs 1 GPU(s), found 0; no NVIDIA driver on this machine "
                    "(libcuda.so.1 not found)",
        "MultiRank.N2.threads": "needs a GPU, found none",
    }


def test_summary_groups_by_reason(tmp_path, capsys, monkeypatch):
    log = tmp_path / "Testing" / "Temporary" / "LastTest.log"
    log.parent.mkdir(parents=True)
    log.write_text(SEP.join([GTEST, GTEST.replace("OneGpu.A", "OneGpu.B"), SCRIPT]))
    monkeypatch.setattr("sys.argv", ["ctest_skips.py", str(tmp_path)])
    assert ctest_skips.main() == 0
    out = capsys.readouterr().out
    assert "Skipped: 3 test(s), by reason:" in out
    assert "   2  needs 1 GPU(s)" in out and "OneGpu.A, OneGpu.B" in out
    assert "   1  needs a GPU, found none" in out
