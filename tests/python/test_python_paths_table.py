"""bench/compare/table.py's judgement of the Python targets from python_paths.py's JSON: each
target on the median of the per-round differences of its two paths, the tensor target allowing
torch's own exchange-table calls of the same run plus 0.05 us."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "compare"))
import table  # noqa: E402


def result(rounds, exchange_ns):
    paths = {name: {"us_per_call": sorted(r)[len(r) // 2], "us_min": min(r),
                    "us_quartiles": [min(r), max(r)], "us_rounds": r}
             for name, r in rounds.items()}
    return {"exchange_ns": exchange_ns,
            "in_place": {"size_bytes": 1024, "calls": 2000, "rounds": 3, "paths": paths,
                         "skipped": {}}}


def rows(lines):
    return {line.split(" | ")[0].lstrip("| "): line for line in lines if line.startswith("| ")}


def test_each_target_on_its_per_round_differences():
    r = result({
        table.CUPY: [0.50, 0.40, 0.60],
        table.CUPY_KW: [0.56, 0.46, 0.66],
        table.LIBRARY: [0.49, 0.41, 0.59],  # per round: -0.01, +0.01, -0.01 -> met
        table.RAW: [0.57, 0.47, 0.69],      # vs cupy with keywords: +0.01 -> not met
        table.TENSORS: [0.64, 0.55, 0.75],  # vs cupy: +0.14/+0.15/+0.15; allowed 0.1 + 0.05
        table.VLLM: [0.90, 0.80, 1.00],
    }, {"dltensor_from_py_object_no_sync": 60.0, "current_work_stream": 40.0})
    got = rows(table.python_in_place(r))
    library = got["NCCLLibrary positional ints <= cupy positional"]
    assert "-0.010" in library and library.endswith("| yes |"), library
    raw = got["raw ints, keywords <= cupy called with keywords"]
    assert "+0.010" in raw and raw.endswith("| NO |"), raw
    tensors = next(v for k, v in got.items() if k.startswith("torch tensors <= cupy"))
    assert "exchange calls (0.100) + 0.05 us" in tensors and "+0.150" in tensors, tensors
    assert tensors.endswith("| yes |"), tensors
    assert got["vLLM class <= module (tensors) + 0.3 us"].endswith("| yes |")


def test_a_path_not_measured_is_said_so():
    r = result({table.CUPY: [0.5, 0.5, 0.5], table.TENSORS: [0.6, 0.6, 0.6]}, {})
    got = rows(table.python_in_place(r))
    assert "not measured" in got["NCCLLibrary positional ints <= cupy positional"]
