#!/usr/bin/python3
"""Plots `ncclrt bench ... -J file.json` results: bus bandwidth and time against size, one line
per mode (out-of-place, in-place, direct) and per input file.

Needs matplotlib from Debian's packages:
    apt-get install -y python3-matplotlib
    /usr/bin/python3 scripts/plot_bench.py OUT.png eager.json [graph.json ...]
A label may be given as LABEL=FILE (e.g. graph=all_reduce_graph.json).
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


def main():
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
