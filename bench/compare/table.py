#!/usr/bin/env python3
"""Turns the JSON of bench/compare/run.sh into one Markdown table (host us per call)."""
import json
import sys


def main():
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
