"""bench/compare/nccl_tests.py: reading both programs' JSON and judging the 5% target, without a GPU.
The JSON shapes are those of `ncclrt bench -J` and nccl-tests 2.19.6's `-J` (src/util.cu)."""
import importlib.util
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("nccl_tests_cmp",
                                              ROOT / "bench" / "compare" / "nccl_tests.py")
cmp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cmp)

MiB = 1 << 20


def ours(times):
    return {"op": "all_reduce", "results": [
        {"size": s, "out_of_place": {"time_us": t, "algbw": 1.0}} for s, t in times.items()]}


def theirs(times):
    # nccl-tests: one object with its version, args, env, config and devices beside the results.
    return {"version": 1, "args": ["-b", "8"], "config": {"ngpus": 1}, "devices": [], "results": [
        {"size": s, "count": s // 4, "type": "float", "redop": "sum", "root": "    -1",
         "out_of_place": {"time": t, "alg_bw": 1.0, "bus_bw": 0.0, "nwrong": 0},
         "in_place": {"time": t, "alg_bw": 1.0, "bus_bw": 0.0, "nwrong": 0}}
        for s, t in times.items()]}


def write(dir_, tool, op, mode, rep, doc):
    (dir_ / cmp.file_name(tool, op, mode, rep)).write_text(json.dumps(doc))


def test_times_reads_both_shapes():
    assert cmp.times(ours({8: 5.0, MiB: 9.0}), "ncclrt") == {8: 5.0, MiB: 9.0}
    assert cmp.times(theirs({8: 6.0}), "nccl-tests") == {8: 6.0}
    assert cmp.times({"results": [{"size": 8, "out_of_place": None}]}, "nccl-tests") == {}
    # Found wherever it sits, should a later nccl-tests nest it.
    assert cmp.times({"runs": [theirs({MiB: 2.0})]}, "nccl-tests") == {MiB: 2.0}


def test_medians_ratios_and_the_5_percent_judgement(tmp_path):
    # Three repetitions each; the medians are 10 (ours) and 10 (theirs) at 1 MiB, 12 vs 10 at
    # 8 MiB (a miss), and the small size is not judged.
    for rep, (a, b, c) in enumerate([(10.0, 12.0, 3.0), (11.0, 12.5, 3.1), (9.0, 11.0, 2.9)], 1):
        write(tmp_path, "ncclrt", "all_reduce", "eager", rep, ours({8: c, MiB: a, 8 * MiB: b}))
        write(tmp_path, "nccl-tests", "all_reduce", "eager", rep,
              theirs({8: 6.0, MiB: 10.0, 8 * MiB: 10.0}))
    rows = cmp.compare(str(tmp_path))
    by_size = {r[2]: r for r in rows}
    assert set(by_size) == {8, MiB, 8 * MiB}
    assert by_size[MiB][3:5] == (10.0, 10.0) and by_size[MiB][6] is True
    assert abs(by_size[8 * MiB][5] - 1.2) < 1e-9 and by_size[8 * MiB][6] is False
    assert by_size[8][6] is None
    text = cmp.markdown(rows)
    assert "From 1 MiB up: 1 of 2 sizes within 5%: missed at all_reduce eager 8388608 B (1.200)" in text
    assert "| all_reduce | eager | 1048576 | 10.00 | 10.00 | 1.000 | yes |" in text


def test_an_operation_run_by_one_program_only_is_left_out(tmp_path):
    write(tmp_path, "ncclrt", "gather", "graph", 1, ours({MiB: 1.0}))
    assert cmp.compare(str(tmp_path)) == []
