#!/usr/bin/env python3
"""`ncclrt bench` side by side with NVIDIA's nccl-tests, on the same GPU, NCCL and flags.

On a GPU machine (about a minute to build nccl-tests, then a few minutes of runs):

    python3 bench/compare/nccl_tests.py run --tool build-gpu/tools/ncclrt/ncclrt \\
        --nccl-home DIR --nccl-tests-src nccl-tests-2.19.6.tar.xz --out OUT [--reps 3]

DIR holds NCCL's include/ and lib/ (PyTorch's `site-packages/nvidia/nccl` works: a lib/libnccl.so
link to libnccl.so.2 is made when missing). For each operation both programs have, eager and with
`-G 50`, it runs both with `-b 8 -e 256M -f 8 -g 1 -n 50 -w 10` --reps times, interleaved
(nccl-tests, ncclrt, nccl-tests, ...), keeps every JSON file in OUT/, and writes OUT/table.md: the
median time of each size for each program, their ratio, and whether sizes from 1 MiB up are
within 5%.

    python3 bench/compare/nccl_tests.py table OUT     # the table again from OUT's JSON files
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile

# ncclrt bench's operation -> nccl-tests' program.
PROGRAMS = {
    "all_reduce": "all_reduce_perf",
    "all_gather": "all_gather_perf",
    "reduce_scatter": "reduce_scatter_perf",
    "broadcast": "broadcast_perf",
    "reduce": "reduce_perf",
    "all_to_all": "alltoall_perf",
    "gather": "gather_perf",
    "scatter": "scatter_perf",
    "send_recv": "sendrecv_perf",
}
FLAGS = ["-b", "8", "-e", "256M", "-f", "8", "-g", "1", "-n", "50", "-w", "10"]
MODES = {"eager": [], "graph": ["-G", "50"]}
FROM_BYTES = 1 << 20  # the sizes the 5% target applies to
TOLERANCE = 0.05


def find_results(doc):
    """The list under "results" wherever it sits in a JSON document (top level in nccl-tests 2.19.6
    and in ncclrt bench; searched so that a later layout still reads)."""
    if isinstance(doc, dict):
        if isinstance(doc.get("results"), list):
            return doc["results"]
        for v in doc.values():
            found = find_results(v)
            if found is not None:
                return found
    elif isinstance(doc, list):
        for v in doc:
            found = find_results(v)
            if found is not None:
                return found
    return None


def times(doc, tool):
    """{size in bytes: out-of-place time in us} of one run of `tool` ('ncclrt' or 'nccl-tests')."""
    key = "time_us" if tool == "ncclrt" else "time"
    out = {}
    for r in find_results(doc) or []:
        oop = r.get("out_of_place")
        if isinstance(oop, dict) and oop.get(key) is not None:
            out[int(r["size"])] = float(oop[key])
    return out


def file_name(tool, op, mode, rep):
    return f"{tool}_{op}_{mode}_{rep}.json"


def compare(out_dir):
    """Rows (op, mode, size, ncclrt us, nccl-tests us, ratio, within) from OUT's JSON files:
    medians over the repetitions found."""
    rows = []
    for op in PROGRAMS:
        for mode in MODES:
            per_tool = {}
            for tool in ("ncclrt", "nccl-tests"):
                runs = []
                rep = 1
                while os.path.exists(os.path.join(out_dir, file_name(tool, op, mode, rep))):
                    with open(os.path.join(out_dir, file_name(tool, op, mode, rep))) as f:
                        runs.append(times(json.load(f), tool))
                    rep += 1
                per_tool[tool] = runs
            if not per_tool["ncclrt"] or not per_tool["nccl-tests"]:
                continue
            sizes = sorted(set.intersection(*(set(r) for r in
                                              per_tool["ncclrt"] + per_tool["nccl-tests"])))
            for size in sizes:
                ours = statistics.median(r[size] for r in per_tool["ncclrt"])
                theirs = statistics.median(r[size] for r in per_tool["nccl-tests"])
                ratio = ours / theirs if theirs > 0 else float("nan")
                within = None if size < FROM_BYTES else abs(ratio - 1) <= TOLERANCE
                rows.append((op, mode, size, ours, theirs, ratio, within))
    return rows


def markdown(rows):
    lines = ["| op | mode | size (B) | ncclrt us | nccl-tests us | ncclrt / nccl-tests | within 5% |",
             "|---|---|---|---|---|---|---|"]
    for op, mode, size, ours, theirs, ratio, within in rows:
        mark = "" if within is None else ("yes" if within else "**no**")
        lines.append(f"| {op} | {mode} | {size} | {ours:.2f} | {theirs:.2f} | {ratio:.3f} | {mark} |")
    judged = [r for r in rows if r[6] is not None]
    missed = [r for r in judged if not r[6]]
    lines.append("")
    lines.append(f"From 1 MiB up: {len(judged) - len(missed)} of {len(judged)} sizes within 5%"
                 + (": missed at " + ", ".join(f"{r[0]} {r[1]} {r[2]} B ({r[5]:.3f})"
                                                for r in missed) if missed else "."))
    return "\n".join(lines) + "\n"


def build_nccl_tests(src, nccl_home, work):
    """Builds nccl-tests from its tarball (or source directory) into `work`; returns its bin dir."""
    lib = os.path.join(nccl_home, "lib")
    if not os.path.exists(os.path.join(lib, "libnccl.so")):
        os.symlink("libnccl.so.2", os.path.join(lib, "libnccl.so"))
    if os.path.isdir(src):
        tree = src
    else:
        with tarfile.open(src) as t:
            t.extractall(work)
        # The tree at the top of the tarball (2.19.6's), or in its one folder (GitHub's archives).
        tree = work
        if not os.path.exists(os.path.join(work, "Makefile")):
            (only,) = os.listdir(work)
            tree = os.path.join(work, only)
    subprocess.run(["make", f"-j{os.cpu_count() or 4}", f"NCCL_HOME={nccl_home}",
                    "NVCC_GENCODE=-gencode=arch=compute_90,code=sm_90"], cwd=tree, check=True)
    return os.path.join(tree, "build")


def run(args):
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="nccl-tests-")
    bindir = build_nccl_tests(args.nccl_tests_src, args.nccl_home, work)
    libnccl = os.path.join(args.nccl_home, "lib", "libnccl.so.2")
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(args.nccl_home, "lib") + ":" +
               os.environ.get("LD_LIBRARY_PATH", ""))
    for rep in range(1, args.reps + 1):
        for op, program in PROGRAMS.items():
            for mode, extra in MODES.items():
                theirs = os.path.join(args.out, file_name("nccl-tests", op, mode, rep))
                ours = os.path.join(args.out, file_name("ncclrt", op, mode, rep))
                subprocess.run([os.path.join(bindir, program), *FLAGS, *extra, "-J", theirs],
                               env=env, check=True, stdout=subprocess.DEVNULL)
                subprocess.run([args.tool, "bench", op, *FLAGS, *extra, "--nccl-lib", libnccl,
                                "-J", ours], env=env, check=True, stdout=subprocess.DEVNULL)
                print(f"rep {rep} {op} {mode}: done", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    table(args)


def table(args):
    text = markdown(compare(args.out))
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(text)
    print(text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="build nccl-tests, run both programs, write the table")
    r.add_argument("--tool", required=True, help="the ncclrt command")
    r.add_argument("--nccl-home", required=True, help="NCCL's directory with include/ and lib/")
    r.add_argument("--nccl-tests-src", required=True, help="nccl-tests' tarball or source tree")
    r.add_argument("--out", required=True)
    r.add_argument("--reps", type=int, default=3)
    t = sub.add_parser("table", help="the table from a run's JSON files")
    t.add_argument("out")
    args = p.parse_args(argv)
    (run if args.command == "run" else table)(args)


if __name__ == "__main__":
    sys.exit(main())
