"""scripts/plot_bench.py: a plot's title names every operation it shows (matplotlib not needed)."""
import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("plot_bench", ROOT / "scripts" / "plot_bench.py")
plot_bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plot_bench)


def run(op, version="2.28.9", nranks=1, gpu="NVIDIA H100 80GB HBM3"):
    return {"op": op, "nranks": nranks, "devices": [{"name": gpu}], "nccl": {"version": version}}


def test_one_operation():
    assert plot_bench.title([run("all_reduce"), run("all_reduce")]) == (
        "ncclrt bench: all_reduce - 1 rank(s), NVIDIA H100 80GB HBM3, NCCL 2.28.9")


def test_every_operation_is_named_once_in_order():
    t = plot_bench.title([run("all_reduce"), run("broadcast"), run("all_reduce"), run("scatter")])
    assert t.startswith("ncclrt bench: all_reduce, broadcast, scatter - ")


def test_differing_versions_and_missing_devices_are_said():
    t = plot_bench.title([run("all_reduce"), {"op": "all_reduce", "nranks": 1,
                                              "nccl": {"version": "2.30.7"}}])
    assert "NCCL 2.28.9, 2.30.7" in t
    assert "unknown GPU" in t
