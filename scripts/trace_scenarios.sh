#!/usr/bin/env bash
# The flight recorder's hang scenarios on a GPU machine, 4 ranks (processes) on however many GPUs
# there are (several ranks per GPU need NCCL >= 2.30.3: point NCCLRT_NCCL_LIB at one). For each:
# the ranks run with NCCLRT_TRACE_DIR set, then `ncclrt trace analyze` (text and JSON), `ncclrt
# trace export` and PyTorch's analyzer (torchfrtrace, where torch is installed) read the dumps.
#   skip     (a) rank 2 skips one all_reduce of a loop: analyze must name rank 2
#   desync   (b) rank 1 issues one all_reduce with another count: a desync of rank 1
#   graph    (c) a CUDA graph of 10 all_reduces replayed, progress mode; rank 3 stops replaying
#   kill     (d) rank 3 is SIGKILLed: no dump from it
#   py_skip, py_graph  (e) (a) and (c) through ncclrt.torch.PyNcclCommunicator (needs torch and
#            the ncclrt module importable by python3)
#   py_graph_abort  (f) as py_graph, but rank 3 stops after 5 replays and the others abort() after
#            detecting it (synchronize with abort=False): analyze must read the dumps written at
#            the failure, not the later ones of the abort, and name rank 3 by its replays
# Everything lands in OUTDIR/<scenario>/ (ranks.log, dumps/, analyze.txt, analyze.json, torch/,
# torchfrtrace.txt); OUTDIR/summary.txt says PASS or FAIL per scenario. Exit 0 when all passed.
#   scripts/trace_scenarios.sh OUTDIR [BUILD_DIR (default build-gpu)] [SCENARIO...]
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: trace_scenarios.sh OUTDIR [BUILD_DIR] [SCENARIO...]}
build=${2:-$src/build-gpu}
shift $(($# >= 2 ? 2 : 1))
scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && scenarios=(skip desync graph kill py_skip py_graph py_graph_abort)
tool=$build/tools/ncclrt/ncclrt
prog=$build/tests/ncclrt_trace_scenarios
launch=$src/scripts/launch_local.sh
export NCCL_MULTI_RANK_GPU_ENABLE=${NCCL_MULTI_RANK_GPU_ENABLE:-1}
for f in "$tool" "$prog"; do
  [ -x "$f" ] || { echo "missing $f: build with cmake --preset gpu first" >&2; exit 2; }
done
mkdir -p "$out"
summary=$out/summary.txt
: >"$summary"
worst=0
have_torch=0
python3 -c "import torch.distributed.flight_recorder.fr_trace" 2>/dev/null && have_torch=1
have_module=0
python3 -c "import ncclrt.torch" 2>/dev/null && have_module=1

# scenario, what analyze must print (a grep -E pattern), launcher arguments...
run() {
  local name=$1 want=$2
  shift 2
  local d=$out/$name
  rm -rf "$d"
  mkdir -p "$d"
  local start=$SECONDS
  NCCLRT_TRACE_DIR=$d/dumps timeout 120 "$launch" "$@" >"$d/ranks.log" 2>&1
  local rc=$?
  echo "== launcher exit $rc after $((SECONDS - start)) s" >>"$d/ranks.log"
  "$tool" trace analyze "$d/dumps" >"$d/analyze.txt" 2>&1
  local arc=$?
  "$tool" trace analyze --json "$d/dumps" >"$d/analyze.json" 2>&1
  "$tool" trace export "$d/dumps" "$d/torch" >"$d/export.txt" 2>&1
  if [ $have_torch -eq 1 ]; then
    python3 -m torch.distributed.flight_recorder.fr_trace "$d/torch" -p ncclrt_fr_rank_ \
      >"$d/torchfrtrace.txt" 2>&1 ||
      {
        echo "== exit $?; again with --allow-incomplete-ranks:"
        python3 -m torch.distributed.flight_recorder.fr_trace "$d/torch" -p ncclrt_fr_rank_ \
          --allow-incomplete-ranks
      } >>"$d/torchfrtrace.txt" 2>&1
  else
    echo "torch is not installed: torchfrtrace not run" >"$d/torchfrtrace.txt"
  fi
  local verdict=PASS
  # analyze exits 1 when it finds a problem, which every scenario is.
  if [ $arc -ne 1 ] || ! grep -Eq "$want" "$d/analyze.txt"; then
    verdict=FAIL
    worst=1
  fi
  echo "$verdict $name ($((SECONDS - start)) s): analyze exit $arc; want /$want/" >>"$summary"
  sed 's/^/    /' "$d/analyze.txt" >>"$summary"
  echo "$verdict $name"
}

for s in "${scenarios[@]}"; do
  case $s in
    skip) run skip "likely culprit: rank 2 - collective #20 " 4 "$prog" skip ;;
    desync) run desync "desync: rank 1 issued all_reduce 32768 x float32 sum" 4 "$prog" desync ;;
    graph) run graph "likely culprit: rank 3 - collective #2 " 4 "$prog" graph ;;
    kill) run kill "likely culprit: rank 3 - no dump" 4 "$prog" kill ;;
    py_skip | py_graph | py_graph_abort)
      if [ $have_module -eq 0 ]; then
        echo "SKIPPED $s: python3 cannot import ncclrt.torch (pip install the wheel first)" |
          tee -a "$summary"
        continue
      fi
      if [ "$s" = py_skip ]; then
        # vLLM's class makes one all_reduce at construction: the loop starts at #2.
        run py_skip "likely culprit: rank 2 - collective #21 " --as torchrun 4 \
          python3 "$src/tests/multi_gpu/trace_scenarios.py" skip
      elif [ "$s" = py_graph ]; then
        run py_graph "likely culprit: rank 3 - collective #3 " --as torchrun 4 \
          python3 "$src/tests/multi_gpu/trace_scenarios.py" graph
      else
        run py_graph_abort "rank 3 stopped after replay 5 of the graph holding collectives #3-#12" \
          --as torchrun 4 python3 "$src/tests/multi_gpu/trace_scenarios.py" graph_abort
      fi
      ;;
    *)
      echo "unknown scenario $s (skip desync graph kill py_skip py_graph py_graph_abort)" >&2
      exit 2
      ;;
  esac
done
cat "$summary"
exit $worst
