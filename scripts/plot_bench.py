#!/usr/bin/python3
"""Plots `ncclrt bench ... -J file.json` results: bus bandwidth and time against size, one line
per mode (out-of-place, in-place, direct) and per input file.

Needs matplotlib (Debian's python3-matplotlib, or pip install matplotlib):
    /usr/bin/python3 scripts/plot_bench.py OUT.png eager.json [graph.json ...]
A label may be given as LABEL=FILE (e.g. graph=all_reduce_graph.json).

The comparison with nccl-tests (bench/compare/nccl_tests.py's summary.json), one PNG per
operation: time per size of both programs, eager and graph, and their ratio with the thresholds:
    python3 scripts/plot_bench.py --nccl-tests summary.json OUTDIR [PREFIX]
"""
import json
import sys


def title(runs):
    """The plot's title: every operation plotted (in order, once each), then ranks, GPUs and NCCL
    versions, each named once, or all of them where the inputs differ."""
    def once(values):
        seen = []
        for v in values:
            if v not in seen:
                seen.append(v)
        return ", ".join(str(v) for v in seen)

    ops = once(d.get("op", "?") for d in runs)
    ranks = once(d.get("nranks", "?") for d in runs)
    devs = once(d["devices"][0]["name"] if d.get("devices") else "unknown GPU" for d in runs)
    nccl = once(d.get("nccl", {}).get("version", "?") for d in runs)
    return f"ncclrt bench: {ops} - {ranks} rank(s), {devs}, NCCL {nccl}"


def comparison_lines(summary, op):
    """{(program, mode): (sizes, medians, fastest, slowest)} and {mode: (sizes, ratios)} of one
    operation in a nccl-tests comparison summary."""
    times, ratios = {}, {}
    for mode in ("eager", "graph"):
        rows = sorted((r for r in summary["rows"] if r["op"] == op and r["mode"] == mode),
                      key=lambda r: r["size"])
        if not rows:
            continue
        sizes = [r["size"] for r in rows]
        for program, key in (("ncclrt", "ncclrt"), ("nccl-tests", "nccl_tests")):
            times[(program, mode)] = (sizes, [r[key + "_median_us"] for r in rows],
                                      [min(r[key + "_us"]) for r in rows],
                                      [max(r[key + "_us"]) for r in rows])
        ratios[mode] = (sizes, [r["ratio"] for r in rows])
    return times, ratios


def plot_nccl_tests(summary, out_dir, prefix="nccl_tests_"):
    """One PNG per operation of the summary in out_dir; returns their paths."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    m = summary.get("machine", {})
    th = summary["thresholds"]
    ops = []
    for r in summary["rows"]:
        if r["op"] not in ops:
            ops.append(r["op"])
    paths = []
    for op in ops:
        times, ratios = comparison_lines(summary, op)
        variants = {}
        fig, (tm, rt) = plt.subplots(1, 2, figsize=(12, 4.5))
        style = {"ncclrt": "-", "nccl-tests": "--"}
        color = {"eager": "tab:blue", "graph": "tab:orange"}
        for (program, mode), (sizes, med, lo, hi) in times.items():
            tm.errorbar(sizes, med, yerr=[[a - b for a, b in zip(med, lo)],
                                          [b - a for a, b in zip(med, hi)]],
                        linestyle=style[program], color=color[mode], marker="." if
                        program == "ncclrt" else "x", capsize=2, label=f"{program} {mode}")
        tm.set_yscale("log")
        tm.set_ylabel("time per operation (us)")
        for mode, (sizes, ratio) in ratios.items():
            if mode == "eager":  # below 1 MiB not judged: its points faint
                below = [i for i, size in enumerate(sizes) if size <= th["from_bytes"]]
                rt.plot([sizes[i] for i in below], [ratio[i] for i in below], marker=".",
                        linestyle=":", color=color[mode], alpha=0.4)
                above = [i for i, size in enumerate(sizes) if size >= th["from_bytes"]]
                sizes, ratio = [sizes[i] for i in above], [ratio[i] for i in above]
            rt.plot(sizes, ratio, marker=".", color=color[mode], label=f"{mode}")
        for r in summary.get("variants", []):
            if r["op"] == op:
                label = f"{r['tool']} ({r['mode']})"
                if label not in variants:
                    variants[label] = ([], [])
                variants[label][0].append(r["size"])
                variants[label][1].append(r["ratio"])
        for i, (label, (sizes, ratio)) in enumerate(variants.items()):
            rt.plot(sizes, ratio, marker="+", linestyle="--", color=f"C{i + 4}", alpha=0.8,
                    label=label)
        lo_x = min(s for sizes, _ in ratios.values() for s in sizes)
        hi_x = max(s for sizes, _ in ratios.values() for s in sizes)
        big, small = th["large"], th["small_graph"]
        rt.axhline(1.0, color="black", linewidth=0.8)
        rt.fill_between([th["from_bytes"], max(hi_x, th["from_bytes"])], 1 - big, 1 + big,
                        color="green", alpha=0.15, label=f"from 1 MiB: +-{100 * big:.0f}%")
        rt.fill_between([min(lo_x, th["from_bytes"]), th["from_bytes"]], 1 - small, 1 + small,
                        color="orange", alpha=0.15,
                        label=f"below 1 MiB, graph: +-{100 * small:.0f}% (eager not judged)")
        rt.set_ylabel("ncclrt / nccl-tests (time)")
        for ax in (tm, rt):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("size (bytes)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle(f"{op}: ncclrt bench vs nccl-tests 2.19.6 - {m.get('nranks', '?')} rank(s), "
                     f"{m.get('gpu', '?')}, NCCL {m.get('nccl', '?')}, median of "
                     f"{summary.get('reps', '?')} runs")
        fig.tight_layout()
        path = os.path.join(out_dir, f"{prefix}{op}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "--nccl-tests":
        summary = json.load(open(sys.argv[2]))
        for path in plot_nccl_tests(summary, sys.argv[3], *sys.argv[4:5]):
            print(f"wrote {path}")
        return
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out, inputs = sys.argv[1], sys.argv[2:]
    fig, (bw, tm) = plt.subplots(1, 2, figsize=(12, 4.5))
    runs = []
    for arg in inputs:
        label, _, path = arg.rpartition("=")
        data = json.load(open(path))
        runs.append(data)
        label = label or data.get("op", path)
        results = data["results"]
        sizes = [r["size"] for r in results]
        for mode in ("out_of_place", "in_place", "direct"):
            if not all(mode in r for r in results):
                continue
            if mode == "in_place" and data.get("nranks", 1) == 1:
                continue  # NCCL skips an in-place collective on one rank: nothing to plot
            name = f"{label} {mode.replace('_', '-')}"
            metric = "busbw" if data.get("nranks", 1) > 1 else "algbw"
            bw.plot(sizes, [r[mode][metric] for r in results], marker=".", label=name)
            tm.plot(sizes, [r[mode]["time_us"] for r in results], marker=".", label=name)
        bw.set_ylabel(("bus" if data.get("nranks", 1) > 1 else "algorithm") + " bandwidth (GB/s)")
    for ax in (bw, tm):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("size (bytes)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    tm.set_yscale("log")
    bw.set_yscale("log")
    tm.set_ylabel("time per operation (us)")
    fig.suptitle(title(runs))
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
