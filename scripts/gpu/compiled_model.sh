#!/usr/bin/env bash
# ncclrt's collectives in compiled models, on a GPU machine, with a PASS or FAIL line per step:
#   1. the CPU-side tests of the ops and the allocator (tests/python/test_ops.py,
#      test_mempool.py) with this machine's torch;
#   2. one rank with PyTorch's own NCCL ($NCCLRT_NCCL_LIB unset for it): what a direct call does
#      inside torch.compile today, the vLLM class compiled, opcheck on every op with CUDA
#      tensors, the allocator as a torch MemPool (windows, buffers, a capture that grows it), the
#      flight recorder with compiled graphs and CUDA graphs;
#   3. 2 and 4 ranks, processes on the one GPU (NCCL >= 2.30.3 at $NCCLRT_NCCL_LIB, with
#      NCCL_MULTI_RANK_GPU_ENABLE=1): the same, and the tensor-parallel block in every variant
#      (no graph break, eager = dense reference, compiled forward and backward = eager,
#      mode="reduce-overhead" replayed with new inputs and recompiled for a new shape);
#   4. examples/compiled_model.py on 2 ranks (docs/python.md shows it);
#   5. the op path's cost against the direct call and a vLLM-style op
#      (bench/compare/compiled_ops.py).
# Logs and JSON go under $OUT (default ./compiled-model-out). Run from the repository root with
# the ncclrt wheel installed in $PYTHON's environment:
#   NCCLRT_NCCL_LIB=/path/nccl-2.30.7/lib/libnccl.so.2 OUT=/tmp/out scripts/gpu/compiled_model.sh
set -uo pipefail
out=${OUT:-compiled-model-out}
py=${PYTHON:-/opt/torch/.venv/bin/python}
lib=${NCCLRT_NCCL_LIB:?set NCCLRT_NCCL_LIB to an NCCL >= 2.30.3 (several ranks on one GPU)}
mkdir -p "$out"
export NCCL_MULTI_RANK_GPU_ENABLE=1
# One compile cache for every rank and run: the kernels of one run serve the next.
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-/tmp/ncclrt-compiled-model-cache/inductor}
export TRITON_CACHE_DIR=${TRITON_CACHE_DIR:-/tmp/ncclrt-compiled-model-cache/triton}
export TORCHINDUCTOR_COMPILE_THREADS=1  # a few small kernels: no pool of compile workers
status=0
t_all=$(date +%s)

step() {  # step NAME COMMAND...: the command's own PASS/FAIL/INFO lines, then the step's verdict
  local name=$1 t0
  shift
  t0=$(date +%s)
  echo "== $name"
  if "$@" > "$out/$name.log" 2>&1; then
    grep -E '^(PASS|FAIL|INFO|  \(|rank [0-9]+: )' "$out/$name.log"
    echo "PASS $name ($(( $(date +%s) - t0 )) s)"
  else
    grep -E '^(PASS|FAIL|INFO|  \(|rank [0-9]+: )' "$out/$name.log"
    tail -n 40 "$out/$name.log" | sed 's/^/    /'
    echo "FAIL $name ($(( $(date +%s) - t0 )) s; log $out/$name.log)"
    status=1
  fi
}

"$py" -c "import torch, ncclrt, ncclrt.ops
print('torch', torch.__version__, 'ncclrt', ncclrt.__version__, torch.cuda.get_device_name())" \
  || { echo "FAIL setup: torch with ncclrt.ops does not import"; exit 1; }

step cpu-tests "$py" -m pytest tests/python/test_ops.py tests/python/test_mempool.py -q -rs \
  -p no:cacheprovider
step one-rank-pytorch-nccl env -u NCCLRT_NCCL_LIB "$py" tests/python/compiled_model_worker.py \
  --ranks 1 --tasks today,class,opcheck,alloc,flight --out "$out/ranks1" --timeout 150
step two-ranks "$py" tests/python/compiled_model_worker.py --ranks 2 \
  --tasks today,tp,class,opcheck,alloc,flight --out "$out/ranks2" --timeout 200
step four-ranks "$py" tests/python/compiled_model_worker.py --ranks 4 \
  --tasks tp,class,opcheck,alloc,flight --out "$out/ranks4" --timeout 200
step example scripts/launch_local.sh --as torchrun 2 "$py" examples/compiled_model.py
step cost "$py" bench/compare/compiled_ops.py --nccl-lib "$lib" --json "$out/cost.json" \
  --markdown "$out/cost.md"
[ -f "$out/cost.md" ] && cat "$out/cost.md"
echo "total $(( $(date +%s) - t_all )) s"
if [ $status -eq 0 ]; then echo "PASS compiled_model.sh"; else echo "FAIL compiled_model.sh"; fi
exit $status
