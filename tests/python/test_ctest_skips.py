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
    assert "Skipped: 3 ctest test(s), by reason:" in out
    assert "   2  needs 1 GPU(s)" in out and "OneGpu.A, OneGpu.B" in out
    assert "   1  needs a GPU, found none" in out


PYTEST = """4/4 Test: Python.pytest
Output:
----------------------------------------------------------
........ssss
=========================== short test summary info ============================
SKIPPED [12] ../../tests/python/test_gpu.py:40: no GPU: torch is not installed
SKIPPED [1] ../../tests/python/test_exchange.py:77: no GPU: torch is not installed
SKIPPED [2] ../../tests/python/test_nccl_matrix_facts.py:31: needs NCCL 2.30.4
300 passed, 15 skipped in 30.1s
<end of output>
Test time =  30.20 sec
----------------------------------------------------------
Test Passed."""


def test_pytests_skips_inside_a_passed_test_are_listed_with_their_reasons(tmp_path, capsys,
                                                                           monkeypatch):
    found = list(ctest_skips.pytest_skips(SEP.join([GTEST, PYTEST, PASSED])))
    assert found == [
        ("Python.pytest", "../../tests/python/test_gpu.py:40", 12, "no GPU: torch is not installed"),
        ("Python.pytest", "../../tests/python/test_exchange.py:77", 1,
         "no GPU: torch is not installed"),
        ("Python.pytest", "../../tests/python/test_nccl_matrix_facts.py:31", 2, "needs NCCL 2.30.4"),
    ]
    log = tmp_path / "Testing" / "Temporary" / "LastTest.log"
    log.parent.mkdir(parents=True)
    log.write_text(SEP.join([GTEST, PYTEST]))
    monkeypatch.setattr("sys.argv", ["ctest_skips.py", str(tmp_path)])
    assert ctest_skips.main() == 0
    out = capsys.readouterr().out
    assert "Skipped: 1 ctest test(s), by reason:" in out
    assert "Skipped inside Python.pytest (pytest): 15 test(s), by reason:" in out
    assert "    13  no GPU: torch is not installed" in out
    assert "test_gpu.py:40, ../../tests/python/test_exchange.py:77" in out
    assert "     2  needs NCCL 2.30.4" in out
