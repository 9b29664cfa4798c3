#!/usr/bin/env bash
# vLLM's interface on the GPU machine: ncclrt.pynccl_wrapper.NCCLLibrary and
# ncclrt.torch.PyNcclCommunicator driven as vLLM drives them, every method eagerly and in a CUDA
# graph, with 1 rank on PyTorch's own NCCL and 1, 2 and 4 ranks on one GPU with NCCL 2.30.7;
# suspend/resume and the device API inside those runs; then the Python paths' speed
# (bench/compare/python_paths.py, with cupy and the NCCLLibrary paths) and its targets.
#
#   OUT=/some/dir NCCLRT_NCCL_LIB=/tmp/n230/libnccl.so.2 NCCL_MULTI_RANK_GPU_ENABLE=1 \
#     scripts/gpu/vllm_interface.sh
#
# Run from anywhere on the GPU machine, with the ncclrt wheel installed in PyTorch's environment
# (/opt/torch/.venv; built with -C cmake.define.NCCLRT_PYTHON_BENCH=ON so that the benchmark
# has its floor and times torch's exchange-table calls). Logs and JSON go under $OUT; a summary
# is printed. Exits non-zero if a check failed. About 3-4 minutes.
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?set OUT to the folder for the logs}"
: "${NCCLRT_NCCL_LIB:?point NCCLRT_NCCL_LIB at NCCL 2.30.7 (several ranks on one GPU)}"
mkdir -p "$OUT"
PY=${PYTHON:-/opt/torch/.venv/bin/python}
NCCL_NEW=$NCCLRT_NCCL_LIB
export NCCL_MULTI_RANK_GPU_ENABLE=1
start=$(date +%s)
status=0

TORCH_NCCL=$("$PY" - <<'EOF'
import importlib.util, os
try:
    spec = importlib.util.find_spec("nvidia.nccl")
except ImportError:
    spec = None
print(os.path.join(list(spec.submodule_search_locations)[0], "lib", "libnccl.so.2") if spec else "")
EOF
)

run() {  # run NAME TIMEOUT COMMAND...: one step, its log in $OUT/NAME.log
  local name=$1 limit=$2
  shift 2
  local t0=$(date +%s)
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc in $(( $(date +%s) - t0 )) s  ($OUT/$name.log)" | tee -a "$OUT/summary.txt"
  [ $rc -eq 0 ] || status=1
  return $rc
}

{
  echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short=12 HEAD 2>/dev/null) $(git status --porcelain --untracked-files=no 2>/dev/null | head -c1 | sed 's/./with local changes/')"
  nvidia-smi -L 2>&1 | head -4
  "$PY" -c "import sys, torch, ncclrt; print('Python', sys.version.split()[0], 'torch', torch.__version__, 'ncclrt', ncclrt.__version__, ncclrt.__file__)"
  for lib in "$TORCH_NCCL" "$NCCL_NEW"; do
    "$PY" -c "import ncclrt, sys; print(ncclrt.Library.open(sys.argv[1]))" "$lib"
  done
  "$PY" -c "import _ncclrt_bench" 2>/dev/null && echo "_ncclrt_bench: installed" \
    || echo "_ncclrt_bench: MISSING (build the wheel with -C cmake.define.NCCLRT_PYTHON_BENCH=ON): no floor, no exchange-call times, the tensor target is judged without them"
} 2>&1 | tee "$OUT/summary.txt"

PYTEST=("$PY" -m pytest -p no:cacheprovider -rs -s -q)
ran() {  # ran NAME: a GPU test that skipped (no GPU seen, NCCL refused several ranks) failed here
  grep -q " passed" "$OUT/$1.log" && ! grep -q " skipped" "$OUT/$1.log" && return 0
  echo "$1: did not run: $(grep -m1 SKIPPED "$OUT/$1.log")" | tee -a "$OUT/summary.txt"
  status=1
}
T=tests/python/test_vllm_interface_gpu.py::test_vllm_shaped_calls_on_every_rank

# The CPU checks of this work, with the real torch here (the dtype mapping runs only with it).
run cpu_checks 120 "${PYTEST[@]}" tests/python/test_pynccl_wrapper.py tests/python/test_vllm_class.py \
  tests/python/test_device_api.py tests/python/test_python_paths_table.py

# One rank, PyTorch's own NCCL: every method works; what it lacks is refused naming the release.
if [ -n "$TORCH_NCCL" ]; then
  NCCLRT_NCCL_LIB=$TORCH_NCCL run one_rank_torch_nccl 150 "${PYTEST[@]}" "$T[1]"
  ran one_rank_torch_nccl
else
  echo "one_rank_torch_nccl: PyTorch's environment has no nvidia.nccl" | tee -a "$OUT/summary.txt"
  status=1
fi
# NCCL 2.30.7: one rank (the device API where one GPU has it all), then 2 and 4 on one GPU.
NCCLRT_NCCL_LIB=$NCCL_NEW run one_rank_nccl_2_30 150 "${PYTEST[@]}" "$T[1]"
ran one_rank_nccl_2_30
NCCLRT_NCCL_LIB=$NCCL_NEW run two_ranks_nccl_2_30 200 "${PYTEST[@]}" "$T[2]"
ran two_ranks_nccl_2_30
NCCLRT_NCCL_LIB=$NCCL_NEW run four_ranks_nccl_2_30 250 "${PYTEST[@]}" "$T[4]"
ran four_ranks_nccl_2_30

# What each rank's steps said (suspend/resume, device API, destroy), for the summary.
grep -h "STEP \(NCCLLibrary suspend\|PyNcclCommunicator suspend\|device API\|PyNcclCommunicator.destroy\|NCCLLibrary windows\)\|RANK .* \(OK\|FAILED\)" \
  "$OUT"/one_rank_*.log "$OUT"/*_ranks_*.log 2>/dev/null | sort | uniq -c | sed 's/^/   /' \
  | tee -a "$OUT/summary.txt"

# Speed: every Python path in one process, interleaved rounds (PyTorch's NCCL, as the table in
# docs/performance.md). A second run if time allows, for the spread.
bench() {  # bench RUN
  run "python_paths_$1" 150 "$PY" bench/compare/python_paths.py --nccl-lib "$TORCH_NCCL" \
    --json "$OUT/python_paths_$1.json" --markdown "$OUT/python_paths_$1.md" \
    && "$PY" bench/compare/table.py python "$OUT/python_paths_$1.json" > "$OUT/python_targets_$1.md"
}
bench run1
[ $(( $(date +%s) - start )) -lt 190 ] && bench run2
for f in "$OUT"/python_targets_run*.md; do
  [ -f "$f" ] && { echo "== $f"; grep -A12 "^| target" "$f"; } | tee -a "$OUT/summary.txt"
done

echo "total $(( $(date +%s) - start )) s; $( [ $status -eq 0 ] && echo 'every step passed' || echo 'SOME STEP FAILED: see its log')" \
  | tee -a "$OUT/summary.txt"
exit $status
