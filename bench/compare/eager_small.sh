#!/usr/bin/env bash
# Eager timings below 1 MiB, ncclrt bench against nccl-tests, repeated and interleaved: the spread
# of each program against itself next to their ratio, and ncclrt with its flight recorder off, to
# tell a per-call cost of ncclrt from noise.
#   eager_small.sh NCCL_HOME NCCL_TESTS_ARCHIVE NCCLRT_TOOL OUT_DIR [REPS] [CPUS]
# (the archive: `bench/compare/nccl_tests.py build`'s; NCCL_HOME holds lib/libnccl.so.2). Each
# run is pinned to CPUS (default 2-5) and writes its table into OUT_DIR; summary.txt has, for each
# operation and size, the median and range of each program's out-of-place time over REPS
# (default 6) repetitions and the ratio of the medians.
set -euo pipefail
nh=$1 archive=$2 tool=$3 out=$4 reps=${5:-6} cpus=${6:-2-5}
export LD_LIBRARY_PATH=$nh/lib:${LD_LIBRARY_PATH:-} NCCLRT_NCCL_LIB=$nh/lib/libnccl.so.2
mkdir -p "$out"
t=$(mktemp -d)
tar xJf "$archive" -C "$t"
flags=(-b 8 -e 512K -f 4 -g 1 -n 500 -w 50 -c 0)
for op in all_reduce all_gather; do
  for r in $(seq 1 "$reps"); do
    # Which program goes first alternates between repetitions.
    order=(nccl ncclrt ncclrt_off)
    ((r % 2 == 0)) && order=(ncclrt_off ncclrt nccl)
    for who in "${order[@]}"; do
      f="$out/$op.$who.$r.txt"
      case $who in
        nccl) taskset -c "$cpus" "$t/nccl-tests/${op}_perf" "${flags[@]}" >"$f" 2>&1 ;;
        ncclrt) taskset -c "$cpus" "$tool" bench "$op" "${flags[@]}" >"$f" 2>&1 ;;
        ncclrt_off) NCCLRT_TRACE_ENTRIES=0 taskset -c "$cpus" "$tool" bench "$op" "${flags[@]}" \
          >"$f" 2>&1 ;;
      esac
    done
  done
done
rm -rf "$t"
python3 - "$out" "$reps" >"$out/summary.txt" <<'PY'
import glob, re, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
def rows(path):
    t = {}
    for line in open(path):
        m = re.match(r"^\s+(\d+)\s+\d+\s+\S+\s+\S+\s+-?\d+\s+([\d.]+)\s", line)
        if m: t[int(m.group(1))] = float(m.group(2))
    return t
for op in ("all_reduce", "all_gather"):
    runs = {w: [rows(p) for p in sorted(glob.glob(f"{out}/{op}.{w}.*.txt"))]
            for w in ("nccl", "ncclrt", "ncclrt_off")}
    print(f"{op}: out-of-place time (us), median [min-max] of {reps} runs; ratio of medians")
    # Only the sizes every program printed (nccl-tests starts all_gather at 0 bytes for one rank).
    sizes = set.intersection(*(set(r) for rs in runs.values() for r in rs))
    for size in sorted(s for s in sizes if s > 0):
        cell = {}
        for w, rs in runs.items():
            v = [r[size] for r in rs if size in r]
            cell[w] = (statistics.median(v), min(v), max(v))
        n, k, o = cell["nccl"], cell["ncclrt"], cell["ncclrt_off"]
        print(f"  {size:>8} B  nccl-tests {n[0]:7.2f} [{n[1]:.2f}-{n[2]:.2f}]  "
              f"ncclrt {k[0]:7.2f} [{k[1]:.2f}-{k[2]:.2f}]  recorder off {o[0]:7.2f}  "
              f"ratio {k[0]/n[0]:.3f}  off/nccl {o[0]/n[0]:.3f}")
PY
cat "$out/summary.txt"
