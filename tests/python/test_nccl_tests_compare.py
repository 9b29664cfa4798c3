"""bench/compare/nccl_tests.py without a GPU: reading both programs' JSON, the issue's thresholds,
the order of the interleaved runs, a whole `run` with stand-in programs, and `report`'s section of
the doc. The JSON shapes are those of `ncclrt bench -J` and nccl-tests 2.19.6's `-J`
(src/util.cu)."""
import importlib.util
import json
import os
import pathlib
import shutil
import stat
import sys
import tarfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("nccl_tests_cmp",
                                              ROOT / "bench" / "compare" / "nccl_tests.py")
cmp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cmp)

MiB = 1 << 20


def ours(times, method=None):
    return {"op": "all_reduce", "nranks": 1, "devices": [{"name": "NVIDIA H200"}],
            "nccl": {"version": "2.28.9", "path": "/x/libnccl.so.2"},
            "method": method or {"graph_warmup": 0, "memory": "ncclMemAlloc"},
            "results": [{"size": s, "out_of_place": {"time_us": t, "algbw": 1.0}}
                        for s, t in times.items()]}


def theirs(times):
    # nccl-tests: one object with its version, args, env, config and devices beside the results.
    return {"version": 3, "nccl_version": 22809, "args": ["-b", "8"], "config": {"ngpus": 1},
            "devices": [{"device_info": "NVIDIA H200"}], "results": [
        {"size": s, "count": s // 4, "type": "float", "redop": "sum", "root": "    -1",
         "out_of_place": {"time": t, "alg_bw": 1.0, "bus_bw": 0.0, "nwrong": 0},
         "in_place": {"time": t, "alg_bw": 1.0, "bus_bw": 0.0, "nwrong": 0}}
        for s, t in times.items()]}


def write(dir_, tool, op, mode, rep, doc):
    (dir_ / cmp.file_name(tool, op, mode, rep)).write_text(json.dumps(doc))


def test_times_reads_both_shapes():
    assert cmp.times(ours({8: 5.0, MiB: 9.0}), "ncclrt") == {8: 5.0, MiB: 9.0}
    assert cmp.times(ours({MiB: 9.0}), "ncclrt --cuda-malloc") == {MiB: 9.0}
    assert cmp.times(theirs({8: 6.0}), "nccl-tests") == {8: 6.0}
    assert cmp.times({"results": [{"size": 8, "out_of_place": None}]}, "nccl-tests") == {}
    # A size too small to split across the ranks: nccl-tests prints a row of size 0.
    assert cmp.times(theirs({0: 3.0, 64: 4.0}), "nccl-tests") == {64: 4.0}
    # Found wherever it sits, should a later nccl-tests nest it.
    assert cmp.times({"runs": [theirs({MiB: 2.0})]}, "nccl-tests") == {MiB: 2.0}


def test_thresholds_3_percent_from_1_mib_5_in_graph_below_eager_below_not_judged():
    assert cmp.tolerance("eager", MiB) == 0.03 and cmp.tolerance("graph", 8 * MiB) == 0.03
    assert cmp.tolerance("graph", MiB - 1) == 0.05
    assert cmp.tolerance("eager", 512 * 1024) is None
    r = cmp.row("all_reduce", "graph", MiB, [10.0, 10.4, 9.0], [10.0, 10.0, 10.0])
    assert r["ncclrt_median_us"] == 10.0 and r["ratio"] == 1.0 and r["within"] is True
    assert r["ratio_runs"] == pytest.approx([1.0, 1.04, 0.9])
    assert r["spread"]["ncclrt"] == pytest.approx(0.14) and r["spread"]["nccl_tests"] == 0
    assert cmp.row("all_reduce", "eager", MiB, [10.4], [10.0])["within"] is False  # 4% > 3%
    assert cmp.row("all_reduce", "graph", 64, [1.04], [1.0])["within"] is True  # 4% <= 5%
    assert cmp.row("all_reduce", "graph", 64, [1.06], [1.0])["within"] is False
    eager_small = cmp.row("all_reduce", "eager", 64, [7.0, 5.0, 6.0], [5.0, 7.0, 6.0])
    assert eager_small["within"] is None and eager_small["tolerance"] is None
    assert eager_small["ratio_runs"] == pytest.approx([1.4, 5 / 7, 1.0])


def test_medians_ratios_and_the_verdict(tmp_path):
    # Three repetitions each: at 1 MiB medians 10 and 10 (within), at 8 MiB 12 vs 10 (a miss),
    # at 8 B eager not judged.
    for rep, (a, b, c) in enumerate([(10.0, 12.0, 3.0), (11.0, 12.5, 3.1), (9.0, 11.0, 2.9)], 1):
        write(tmp_path, "ncclrt", "all_reduce", "eager", rep, ours({8: c, MiB: a, 8 * MiB: b}))
        write(tmp_path, "nccl-tests", "all_reduce", "eager", rep,
              theirs({8: 6.0, MiB: 10.0, 8 * MiB: 10.0}))
    rows = cmp.compare(str(tmp_path))
    by_size = {r["size"]: r for r in rows}
    assert set(by_size) == {8, MiB, 8 * MiB}
    assert (by_size[MiB]["ncclrt_median_us"], by_size[MiB]["nccl_tests_median_us"]) == (10.0, 10.0)
    assert by_size[MiB]["within"] is True
    assert abs(by_size[8 * MiB]["ratio"] - 1.2) < 1e-9 and by_size[8 * MiB]["within"] is False
    assert by_size[8]["within"] is None
    v = cmp.verdict(rows)
    assert (v["judged"], v["within"], v["met"]) == (2, 1, False)
    assert v["missed"] == ["all_reduce eager 8 MiB (1.200)"]
    text = cmp.markdown({"rows": rows, "verdict": v})
    assert "**1 of 2 judged rows within**. Missed: all_reduce eager 8 MiB (1.200)." in text
    assert "| all_reduce | eager | 1 MiB | 10.00 | 10.00 | 1.000 | 1.000, 1.100, 0.900 |" in text
    # The compact table: a miss in bold; eager below 1 MiB as the range of per-run ratios.
    assert "| 8 MiB | **1.200** |" in text
    assert "| 8 B | (0.48-0.52) |" in text
    assert "moved by a median" in text


def test_an_operation_run_by_one_program_only_is_left_out(tmp_path):
    write(tmp_path, "ncclrt", "gather", "graph", 1, ours({MiB: 1.0}))
    assert cmp.compare(str(tmp_path)) == []


def test_a_failed_repetition_is_left_out_and_the_others_are_paired(tmp_path):
    for rep in (1, 2, 3):
        write(tmp_path, "nccl-tests", "all_reduce", "graph", rep, theirs({MiB: 10.0 * rep}))
    write(tmp_path, "ncclrt", "all_reduce", "graph", 1, ours({MiB: 10.0}))
    (tmp_path / (cmp.file_name("ncclrt", "all_reduce", "graph", 2) + ".failed")).write_text("{}")
    write(tmp_path, "ncclrt", "all_reduce", "graph", 3, ours({MiB: 30.0}))
    (r,) = cmp.compare(str(tmp_path))
    assert r["ncclrt_us"] == [10.0, 30.0] and r["nccl_tests_us"] == [10.0, 30.0]
    assert r["ratio_runs"] == [1.0, 1.0]


def test_the_runs_interleave_and_the_variants_follow_their_operation():
    groups = cmp.schedule(3)
    assert len(groups) == 3 * len(cmp.PROGRAMS) * 2
    assert groups[0] == [("nccl-tests", "all_reduce", "eager", 1),
                         ("ncclrt", "all_reduce", "eager", 1)]
    first_of_rep2 = next(g for g in groups if g[0][3] == 2)
    assert [t for t, *_ in first_of_rep2[:2]] == ["ncclrt", "nccl-tests"]  # order alternates
    all_reduce_graph = [g for g in groups if g[0][1:3] == ("all_reduce", "graph")]
    assert [t for t, *_ in all_reduce_graph[0][2:]] == ["ncclrt --graph-warmup 1"]
    other = [g for g in groups if g[0][1] != "all_reduce"]
    assert all(len(g) == 2 for g in other)


FAKE = """#!{python}
# A stand-in for nccl-tests' *_perf or for `ncclrt bench`: the JSON of one run, times from the
# environment (FAKE_US: nccl-tests' us per row; FAKE_RATIO_<TOOL>: ncclrt's factor on it).
import json, os, sys
args = sys.argv[1:]
tool = "nccl-tests" if "{kind}" == "perf" else "ncclrt"
out = args[args.index("-J") + 1]
with open(os.path.join(os.environ["FAKE_LOG"]), "a") as f:
    f.write(os.path.basename(sys.argv[0]) + " " + " ".join(args) + "\\n")
us = float(os.environ.get("FAKE_US", "10"))
if tool == "ncclrt":
    kind = "WARMUP" if "--graph-warmup" in args else "PLAIN"
    us *= float(os.environ.get("FAKE_RATIO_" + kind, "1"))
    if "all_gather" in args and os.environ.get("FAKE_FAIL") or os.environ.get("FAKE_FAIL_ALL"):
        print("ncclrt bench: something went wrong")
        sys.exit(1)
sizes = [64, 1 << 20, 1 << 24]
if tool == "nccl-tests":
    doc = {{"version": 3, "nccl_version": 22809, "devices": [{{"device_info": "H200"}}],
           "results": [{{"size": s, "out_of_place": {{"time": us}}}} for s in sizes]}}
else:
    doc = {{"op": args[1], "nranks": 1, "devices": [{{"name": "NVIDIA H200"}}],
           "nccl": {{"version": "2.28.9", "path": "/lib/libnccl.so.2"}},
           "method": {{"graph_warmup": 1 if "--graph-warmup" in args else 0}},
           "results": [{{"size": s, "out_of_place": {{"time_us": us}}}} for s in sizes]}}
json.dump(doc, open(out, "w"))
"""


def fake_programs(tmp_path):
    bindir = tmp_path / "nccl-tests"
    bindir.mkdir()
    for program in cmp.PROGRAMS.values():
        p = bindir / program
        p.write_text(FAKE.format(python=sys.executable, kind="perf"))
        p.chmod(p.stat().st_mode | stat.S_IEXEC)
    tool = tmp_path / "ncclrt"
    tool.write_text(FAKE.format(python=sys.executable, kind="tool"))
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    home = tmp_path / "nccl"
    (home / "lib").mkdir(parents=True)
    return bindir, tool, home


def test_a_whole_run_with_stand_in_programs(tmp_path, monkeypatch, capsys):
    bindir, tool, home = fake_programs(tmp_path)
    log = tmp_path / "calls.txt"
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_RATIO_PLAIN", "1.01")
    monkeypatch.setenv("FAKE_RATIO_WARMUP", "0.8")
    monkeypatch.setenv("FAKE_FAIL", "1")
    out = tmp_path / "out"
    rc = cmp.main(["run", "--tool", str(tool), "--nccl-home", str(home), "--nccl-tests",
                   str(bindir), "--out", str(out), "--reps", "2", "--ops", "all_reduce,all_gather"])
    assert rc == 1  # ncclrt's all_gather failed, and says so
    calls = log.read_text().splitlines()
    # First a short run of each, eager and graph.
    pre = " ".join(cmp.PREFLIGHT)
    assert calls[0].startswith(f"all_reduce_perf {pre} -J ")
    assert calls[1].startswith(f"ncclrt bench all_reduce {pre} --nccl-lib ")
    assert calls[3].startswith(f"ncclrt bench all_reduce {pre} -G 2 --nccl-lib ")
    calls = calls[4:]
    # Both programs, the same flags; ncclrt with the NCCL file of --nccl-home.
    assert calls[0].startswith("all_reduce_perf " + " ".join(cmp.FLAGS) + " -J ")
    assert calls[1].startswith("ncclrt bench all_reduce " + " ".join(cmp.FLAGS) + " --nccl-lib "
                               + str(home / "lib" / "libnccl.so.2"))
    assert any(c.startswith("ncclrt bench all_reduce") and "-G 50 --graph-warmup 1" in c
               for c in calls)
    # 2 reps x (all_reduce: eager 2, graph 2 + 1 variant; all_gather 2 + 2).
    assert len(calls) == 2 * (2 + 3 + 4)
    s = json.loads((out / "summary.json").read_text())
    assert s["machine"]["gpu"] == "NVIDIA H200" and s["machine"]["nccl_tests_nccl_code"] == 22809
    assert s["machine"]["same_nccl"] is True  # 22809 is 2.28.9, what ncclrt reports
    assert [r["ratio"] for r in s["rows"]] == pytest.approx([1.01] * 6)  # all_reduce only
    # eager: 1 MiB and 16 MiB judged, 64 B not; graph: all three.
    assert s["verdict"] == {"judged": 5, "within": 5, "missed": [], "met": True}
    assert len(s["failed"]) == 4 and s["failed"][0] == (
        "ncclrt all_gather eager rep 1: exit 1 (see raw/ncclrt_all_gather_eager_1.txt in "
        "raw.tar.gz)")
    warm = [r for r in s["variants"] if r["tool"] == "ncclrt --graph-warmup 1"]
    assert [r["ratio"] for r in warm] == pytest.approx([0.8] * 3)
    assert s["stopped_early"] is None and len(s["runs"]) == len(calls)
    # Three files come back: the summary, the tables, the programs' files packed.
    assert sorted(os.listdir(out)) == ["raw.tar.gz", "summary.json", "table.md"]
    with tarfile.open(out / "raw.tar.gz") as t:
        names = t.getnames()
    assert "raw/ncclrt_all_reduce_graph_2.txt" in names
    assert "raw/ncclrt_all_gather_eager_1.json.failed" not in names  # it wrote none
    assert "raw/preflight_nccl-tests_graph.json" in names
    assert "5 of 5 judged rows within" in (out / "table.md").read_text()
    assert "18 runs, 4 failed" in capsys.readouterr().out
    # table: the same summary again from the packed files, what only the run knew kept.
    cmp.main(["table", str(out)])
    again = json.loads((out / "summary.json").read_text())
    assert again["rows"] == s["rows"] and again["runs"] == s["runs"]


def test_a_program_failing_the_preflight_stops_the_run(tmp_path, monkeypatch, capsys):
    bindir, tool, home = fake_programs(tmp_path)
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.txt"))
    monkeypatch.setenv("FAKE_FAIL_ALL", "1")
    rc = cmp.main(["run", "--tool", str(tool), "--nccl-home", str(home), "--nccl-tests",
                   str(bindir), "--out", str(tmp_path / "out")])
    assert rc == 2
    assert len((tmp_path / "calls.txt").read_text().splitlines()) == 4  # the preflight only
    out = capsys.readouterr().out
    assert "preflight failed; nothing else was run" in out
    assert "ncclrt bench: something went wrong" in out  # the program's own words
    with tarfile.open(tmp_path / "out" / "raw.tar.gz") as t:  # the logs come back
        assert "raw/preflight_ncclrt_eager.txt" in t.getnames()


def test_the_deadline_stops_before_a_pair_that_would_pass_it(tmp_path, monkeypatch):
    bindir, tool, home = fake_programs(tmp_path)
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.txt"))
    # The programs as `build --dest X.tar.xz` packs them: unpacked by `run`.
    archive = tmp_path / "nccl-tests.tar.xz"
    with tarfile.open(archive, "w:xz") as t:
        t.add(bindir, arcname="nccl-tests")
    assert cmp.prebuilt_archive(str(archive))
    out = tmp_path / "out"
    cmp.main(["run", "--tool", str(tool), "--nccl-home", str(home), "--nccl-tests", str(archive),
              "--out", str(out), "--reps", "3", "--deadline-s", "0"])
    s = json.loads((out / "summary.json").read_text())
    assert len(s["runs"]) == 2  # the first group only: all_reduce eager
    assert [r["rc"] for r in s["runs"]] == [0, 0]
    assert "all_reduce_perf " in (tmp_path / "calls.txt").read_text()
    assert "stopped after" in s["stopped_early"] and "repetition 1" in s["stopped_early"]


def test_build_packs_the_nine_programs_linked_with_the_static_cuda_runtime(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("needs make (the installed wheel's check runs with no build tools on PATH)")
    # A stand-in source tree whose Makefile makes the programs and notes its variables.
    src = tmp_path / "src"
    src.mkdir()
    programs = " ".join(cmp.PROGRAMS.values())
    (src / "Makefile").write_text(
        "all:\n\tmkdir -p build && for p in " + programs + "; do echo $$p > build/$$p; done\n"
        "\techo $(NCCL_HOME) $(CUDARTLIB) $(NVCC_GENCODE) > build/vars\n")
    home = tmp_path / "nccl"
    (home / "lib").mkdir(parents=True)
    archive = tmp_path / "bin" / "nccl-tests.tar.xz"
    cmp.main(["build", "--nccl-home", str(home), "--src", str(src), "--dest", str(archive),
              "--jobs", "1"])
    with tarfile.open(archive) as t:
        names = sorted(t.getnames())
    assert names == sorted(["nccl-tests"] + [f"nccl-tests/{p}" for p in cmp.PROGRAMS.values()])
    assert (src / "build" / "vars").read_text().split() == [
        str(home), "cudart_static", "-gencode=arch=compute_90,code=sm_90"]
    assert os.readlink(home / "lib" / "libnccl.so") == "libnccl.so.2"
    assert cmp.prebuilt_archive(str(archive))
    source = tmp_path / "src.tar.xz"
    with tarfile.open(source, "w:xz") as t:
        t.add(src / "Makefile", arcname="Makefile")
    assert not cmp.prebuilt_archive(str(source))  # source: built by `run`, not unpacked


def test_report_fills_the_docs_section_and_copies_the_data(tmp_path):
    raw = tmp_path / "out" / "raw"
    raw.mkdir(parents=True)
    for rep in (1, 2, 3):
        for mode in cmp.MODES:
            write(raw, "ncclrt", "broadcast", mode, rep, ours({64: 1.02, MiB: 2.0}))
            write(raw, "nccl-tests", "broadcast", mode, rep, theirs({64: 1.0, MiB: 2.1}))
    summary = cmp.write_summary(str(tmp_path / "out"), str(raw),
                                {"started": "2026-12-02 10:00 UTC", "reps": 3})
    doc = tmp_path / "docs" / "performance.md"
    doc.parent.mkdir()
    doc.write_text(f"# Performance\n\nbefore\n\n{cmp.BEGIN}\nTO MEASURE\n{cmp.END}\n\nafter\n")
    data = tmp_path / "docs" / "data" / "nccl_tests_h200.json"
    cmp.main(["report", str(tmp_path / "out" / "summary.json"), "--doc", str(doc),
              "--data", str(data)])
    text = doc.read_text()
    assert "TO MEASURE" not in text and text.startswith("# Performance\n\nbefore\n\n" + cmp.BEGIN)
    assert text.endswith(cmp.END + "\n\nafter\n")
    assert "Measured 2026-12-02 10:00 UTC: NVIDIA H200, 1 rank(s), NCCL 2.28.9" in text
    assert "not the same NCCL" not in text
    assert "[nccl_tests_h200.json](data/nccl_tests_h200.json)" in text
    assert "| 1 MiB | 0.952 |" in text.replace("**", "")  # 2.0 / 2.1: a miss from 1 MiB
    assert json.loads(data.read_text())["rows"] == summary["rows"]
    # Again: the section is replaced, not added.
    cmp.main(["report", str(data), "--doc", str(doc), "--data", str(data)])
    assert doc.read_text().count(cmp.BEGIN) == 1


def test_report_refuses_a_doc_without_the_markers(tmp_path):
    with pytest.raises(SystemExit, match="generated-section markers"):
        cmp.replace_section("# no markers\n", "x")


def test_plots_one_per_operation(tmp_path):
    pytest.importorskip("matplotlib")
    raw = tmp_path / "out" / "raw"
    raw.mkdir(parents=True)
    for op in ("all_reduce", "scatter"):
        for mode in cmp.MODES:
            for rep in (1, 2):
                write(raw, "ncclrt", op, mode, rep, ours({64: 1.0 + rep / 10, MiB: 2.0}))
                write(raw, "nccl-tests", op, mode, rep, theirs({64: 1.0, MiB: 2.0}))
    cmp.write_summary(str(tmp_path / "out"), str(raw), {"reps": 2})
    doc = tmp_path / "perf.md"
    doc.write_text(f"{cmp.BEGIN}\n{cmp.END}\n")
    cmp.main(["report", str(tmp_path / "out" / "summary.json"), "--doc", str(doc), "--data",
              str(tmp_path / "d.json"), "--img", str(tmp_path / "img"), "--prefix", "x_"])
    pngs = sorted(os.listdir(tmp_path / "img"))
    assert pngs == ["x_all_reduce.png", "x_scatter.png"]
    assert (tmp_path / "img" / "x_all_reduce.png").read_bytes()[:4] == b"\x89PNG"
    assert "![x_scatter.png](img/x_scatter.png)" in doc.read_text()
