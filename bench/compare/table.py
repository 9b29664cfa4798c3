#!/usr/bin/env python3
"""Markdown tables from the benchmarks' JSON.

    table.py OVERHEAD.json CTYPES.json TORCH.json   bench/compare/run.sh's files: host us per call
    table.py python PYTHON_PATHS.json               python_paths.py's in-place table, with the
                                                    issue's targets checked
"""
import json
import statistics
import sys

# The in-place paths the targets name (python_paths.py's keys).
TENSORS = "ncclrt: torch tensors all_reduce(x, x)"
RAW = "ncclrt: raw ints all_reduce(p, p, count=, dtype=, stream=int)"
VLLM = "ncclrt.torch.PyNcclCommunicator.all_reduce(x, x) (vLLM class)"
CUPY = "cupy.cuda.nccl allReduce (raw ints)"
CUPY_KW = "cupy.cuda.nccl allReduce (raw ints, keywords)"
LIBRARY = "NCCLLibrary (ncclrt.pynccl_wrapper) positional ints"


def python_in_place(result):
    """The in-place table of python_paths.py's JSON, and the targets: the positional NCCLLibrary
    path <= cupy's positional call; raw ints with keywords <= cupy called with keywords; torch
    tensors <= cupy + torch's own exchange-table calls (timed in C in the same run) + 0.05 us;
    the vLLM class <= the module's tensors + 0.3 us."""
    ip = result["in_place"]
    paths = ip["paths"]
    lines = [f"In place, one rank, {ip['size_bytes']} B float32 ({ip['calls']} calls a batch, "
             f"median of {ip['rounds']} interleaved batches; the loop around each call is in "
             "every figure: see 'empty loop')", "",
             "| path | us per call (median) | quartiles | min |", "|---|---|---|---|"]

    def quartiles(v):
        q = v.get("us_quartiles")
        return f"{q[0]:.3f} - {q[1]:.3f}" if q else ""

    lines += [f"| {name} | {v['us_per_call']:.3f} | {quartiles(v)} | {v['us_min']:.3f} |"
              for name, v in sorted(paths.items(), key=lambda kv: kv[1]["us_per_call"])]
    lines += [f"| {name} | not measured: {why} | |" for name, why in ip["skipped"].items()]
    us = {k: v["us_per_call"] for k, v in paths.items()}
    if CUPY in us:
        exchange = sum(result.get("exchange_ns", {}).values()) / 1000  # us, 0 if not measured
        # Each target two ways: the medians of the two paths, and the median of their per-round
        # differences (the batches of one round ran next to each other), with its quartiles.
        lines += ["", f"torch's two exchange-table calls, timed in C in this run: "
                      f"{exchange:.3f} us", "",
                  "| target | medians | met | per-round difference: median (quartiles) | met |",
                  "|---|---|---|---|---|"]
        checks = [("NCCLLibrary positional ints <= cupy positional", LIBRARY, CUPY, 0.0),
                  ("raw ints, keywords <= cupy called with keywords", RAW, CUPY_KW, 0.0),
                  (f"torch tensors <= cupy + torch's exchange calls ({exchange:.3f}) + 0.05 us",
                   TENSORS, CUPY, exchange + 0.05),
                  ("vLLM class <= module (tensors) + 0.3 us", VLLM, TENSORS, 0.3),
                  ("(not a target) raw ints <= cupy positional", RAW, CUPY, 0.0)]
        for what, path, base, allowed in checks:
            if path not in us or base not in us:
                lines.append(f"| {what} | not measured | | | |")
                continue
            got, limit = us[path], us[base] + allowed
            row = f"| {what} | {got:.3f} vs {limit:.3f} | {'yes' if got <= limit else 'NO'} |"
            a, b = paths[path].get("us_rounds"), paths[base].get("us_rounds")
            if a and b:
                d = [x - y for x, y in zip(a, b)]
                q = statistics.quantiles(d, n=4)
                med = statistics.median(d)
                row += (f" {med:+.3f} ({q[0]:+.3f} to {q[2]:+.3f}) vs {allowed:+.3f} | "
                        f"{'yes' if med <= allowed else 'NO'} |")
            else:
                row += " | |"
            lines.append(row)
    return lines


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "python":
        print("\n".join(python_in_place(json.load(open(sys.argv[2])))))
        return
    overhead, ctypes_, torch_ = (json.load(open(p)) for p in sys.argv[1:4])
    rows = {r["size"]: r for r in overhead["rows"]}
    print(f"NCCL {overhead['nccl']['version']} ({overhead['nccl']['path']}), "
          f"{overhead['devices'][0]['name']}\n")
    print("| path | 1 KiB host us/call | 1 MiB host us/call | vs direct (1 KiB) |")
    print("|---|---|---|---|")
    direct = {s: rows[s]["direct"]["host_us_per_call"] for s in rows}

    def line(name, by_size):
        k, m = by_size[1024], by_size[1 << 20]
        print(f"| {name} | {k:.2f} | {m:.2f} | {k / direct[1024]:.3f}x |")

    line("C++ direct call of NCCL's function pointer", direct)
    line("ncclrt `Communicator::all_reduce`", {s: rows[s]["ncclrt"]["host_us_per_call"] for s in rows})
    line("Python ctypes (pynccl way)", {r["size"]: r["host_us_per_call"] for r in ctypes_["rows"]})
    line("`torch.distributed.all_reduce`", {r["size"]: r["host_us_per_call"] for r in torch_["rows"]})
    print()
    print("| size | ncclrt graph us/op | direct graph us/op | ratio |")
    print("|---|---|---|---|")
    for s, r in sorted(rows.items()):
        g, d = r["ncclrt"]["graph_us_per_op"], r["direct"]["graph_us_per_op"]
        print(f"| {s} B | {g:.3f} | {d:.3f} | {g / d:.4f} |")


if __name__ == "__main__":
    main()
