#!/usr/bin/env bash
# ctest driver of TwoNodes.torchrun: two nodes on one machine. Two torchrun agents on this host
# (--nnodes 2, c10d rendezvous), two processes each, with NCCL's network transport forced
# (NCCL_P2P_DISABLE=1 NCCL_SHM_DISABLE=1 NCCL_IB_DISABLE=1: sockets) and a host id of its own per
# agent (NCCL_HOSTID), so that NCCL sees two nodes. Four ranks on however many GPUs there are
# (rank r on GPU r % GPUs; NCCL >= 2.30.3 with NCCL_MULTI_RANK_GPU_ENABLE=1, which this script sets
# unless told otherwise). This is the inter-node path: from_environment, NCCL's bootstrap, the
# socket transport. Steps, each with a PASS, SKIP or FAIL line:
#   every_op      every operation, type and size, eager and graph-captured, on every rank
#                 (ncclrt_multi_process_check every_op);
#   bench         `ncclrt bench` across the four processes, rank 0's table for the job;
#   doctor        `ncclrt doctor` on every rank (skipped, saying so, where this build has none);
#   recovery      examples/fault_tolerant_loop (C++, then Python where torch and ncclrt import)
#                 with a rank of the agent that does not host the rendezvous store killed at step
#                 5; torchrun's agent then stops its other process too, and the two ranks of the
#                 other node must recover and finish every step, correct, with 2 ranks.
#   two_nodes.sh NCCLRT_COMMAND CHECK_BINARY FAULT_TOLERANT_LOOP|none SOURCE_DIR
# NCCLRT_TWO_NODES_STEPS="recovery" (or any of every_op bench doctor recovery) runs only those;
# NCCLRT_TWO_NODES_LOGS=DIR keeps every process's output there.
set -uo pipefail
tool=$1 check=$2 example=$3 src=$4
n=4
torchrun=${TORCHRUN:-$(command -v torchrun || echo /opt/torch/.venv/bin/torchrun)}
if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "SKIPPED: needs a GPU, found none"
  exit 0
fi
if [ ! -x "$torchrun" ]; then
  echo "SKIPPED: needs torchrun (on PATH, or TORCHRUN=/path/to/torchrun); found none"
  exit 0
fi
export NCCL_MULTI_RANK_GPU_ENABLE=${NCCL_MULTI_RANK_GPU_ENABLE:-1}
export NCCL_P2P_DISABLE=1 NCCL_SHM_DISABLE=1 NCCL_IB_DISABLE=1
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}
# shellcheck source=can_run.sh
source "$(dirname "$0")/can_run.sh"
python=$(dirname "$torchrun")/python
if [ -n "${NCCLRT_TWO_NODES_LOGS:-}" ]; then  # every process's output kept there
  work=$NCCLRT_TWO_NODES_LOGS
  mkdir -p "$work"
else
  work=$(mktemp -d /tmp/ncclrt-two-nodes-XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi
worst=0
pass() { echo "PASS: $*"; }
skip() { echo "SKIP: $*"; }
fail() {
  echo "FAIL: $*"
  worst=1
}
echo "== two nodes on $(hostname): torchrun $("$python" -c 'import torch; print(torch.__version__)' \
  2>/dev/null), $("$tool" version | sed -n 2p), $gpus GPU(s)"

# The processes of the agent that does not host the store (node 1) know it from NCCLRT_NODE.
# A process of that node with local rank 1 adds --kill RANK@5 when KILL_ON_NODE_1 is set.
cat >"$work/rank.sh" <<'EOF'
#!/usr/bin/env bash
extra=()
if [ -n "${KILL_ON_NODE_1:-}" ] && [ "${NCCLRT_NODE:-}" = 1 ] && [ "${LOCAL_RANK:-}" = 1 ]; then
  extra=(--kill "$RANK@5")
fi
exec "$@" "${extra[@]}"
EOF
chmod +x "$work/rank.sh"

# Runs `command` as the two nodes; their output in $work/NAME.out, their statuses in rc0 rc1.
# With $until_re set, once $until_count lines match it (or both agents are gone) the agents still
# running are stopped: an agent whose workers finished waits at torchrun's exit barrier for the
# other agent (300 s), which never comes when that one failed.
two_nodes() {  # name command...
  local name=$1
  shift
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  local pids=() k
  for k in 0 1; do
    NCCLRT_NODE=$k NCCL_HOSTID=ncclrt-node$k timeout 300 "$torchrun" --nnodes 2 --node-rank $k \
      --nproc-per-node 2 --rdzv-backend c10d --rdzv-endpoint "127.0.0.1:$port" \
      --rdzv-id "ncclrt-$name-$$" --rdzv-conf "is_host=$((k == 0 ? 1 : 0))" --max-restarts 0 \
      --no-python "$work/rank.sh" "$@" >"$work/$name.node$k" 2>&1 &
    pids+=($!)
    [ $k -eq 0 ] && sleep 1  # the store's host first
  done
  if [ -n "${until_re:-}" ]; then
    local i
    for ((i = 0; i < 2400; i++)); do
      if ! kill -0 "${pids[0]}" 2>/dev/null && ! kill -0 "${pids[1]}" 2>/dev/null; then break; fi
      [ "$(cat "$work/$name.node0" "$work/$name.node1" | grep -cE "$until_re")" -ge "${until_count:-1}" ] &&
        break
      sleep 0.1
    done
    sleep 1
    kill -TERM "${pids[@]}" 2>/dev/null  # timeout passes it on to torchrun
    # An agent waiting at torchrun's exit barrier acts on SIGTERM only when the barrier's own
    # 300 s are over (the wait is in C++): what is left after 5 s is killed.
    for ((i = 0; i < 50; i++)); do
      kill -0 "${pids[0]}" 2>/dev/null || kill -0 "${pids[1]}" 2>/dev/null || break
      sleep 0.1
    done
    for k in "${pids[@]}"; do
      if kill -0 "$k" 2>/dev/null; then
        pkill -KILL -P "$k" 2>/dev/null
        kill -KILL "$k" 2>/dev/null
      fi
    done
  fi
  wait "${pids[0]}"
  rc0=$?
  wait "${pids[1]}"
  rc1=$?
  cat "$work/$name.node0" "$work/$name.node1" >"$work/$name.out"
}

steps=${NCCLRT_TWO_NODES_STEPS:-every_op bench doctor recovery}
want() {  # step: whether to run it
  if [[ " $steps " == *" $1 "* ]]; then return 0; fi
  skip "$1: not among NCCLRT_TWO_NODES_STEPS ($steps)"
  return 1
}

show() {  # name pattern: the lines that matter, then the end of the rest on failure
  grep -E "$2" "$work/$1.out" | sort | head -20
}

# every_op
if want every_op; then
  s=$SECONDS
  two_nodes every_op "$check" every_op
  ok=$(grep -cE "^rank [0-9] of 4: [0-9]+ cases, 0 failures" "$work/every_op.out")
  show every_op "^rank [0-9]"
  if [ "$rc0$rc1" = 00 ] && [ "$ok" -eq 4 ]; then
    pass "every_op: every operation on 4 ranks over two nodes ($((SECONDS - s)) s)"
  else
    tail -20 "$work/every_op.out"
    fail "every_op: $ok of 4 ranks without failures (agents rc=$rc0,$rc1)"
  fi
fi

# bench
want bench && for op in all_reduce all_gather send_recv; do
  two_nodes "bench_$op" "$tool" bench $op -b 1M -e 16M -f 4 -n 10 -w 2 -T 60
  out=$work/bench_$op.out
  grep -E "^#  Rank|^ +[0-9]+ +[0-9]+|nProcs|Slowest" "$out"
  if [ "$rc0$rc1" = 00 ] && [ "$(grep -c "Out of bounds values : 0 OK" "$out")" -eq 1 ] &&
    grep -q "nProcs 4 from torchrun" "$out"; then
    pass "bench $op across the 4 processes of two nodes: one table, no wrong element"
  else
    tail -20 "$out"
    fail "bench $op (agents rc=$rc0,$rc1)"
  fi
done

# doctor
if ! want doctor; then
  :
elif help=$("$tool" doctor --help 2>&1); then
  two_nodes doctor "$tool" doctor
  if [ "$rc0$rc1" = 00 ]; then
    pass "ncclrt doctor on every rank of two nodes"
  else
    tail -30 "$work/doctor.out"
    fail "ncclrt doctor (agents rc=$rc0,$rc1)"
  fi
else
  skip "ncclrt doctor: this build has no doctor command ($(head -1 <<<"$help"))"
fi

# recovery
recovery() {  # name command...
  local name=$1
  shift
  local s=$SECONDS
  local finished="^rank [0-9]+: OK: 20 steps correct, finished with 2 ranks"
  until_re=$finished until_count=2 KILL_ON_NODE_1=1 two_nodes "$name" "$@"
  show "$name" "^rank [0-9]+:|^error"
  local ok
  ok=$(grep -cE "$finished" "$work/$name.out")
  local killed
  killed=$(grep -oE "^rank [0-9]+: SIGKILL at step 5" "$work/$name.out" | head -1)
  # The agents' statuses do not count: the one of the killed rank fails, the other is stopped.
  if [ -n "$killed" ] && [ "$ok" -eq 2 ]; then
    pass "$name: ${killed%%:*} killed on node 1; the other node's 2 ranks recovered and finished ($((SECONDS - s)) s)"
  else
    tail -20 "$work/$name.out"
    fail "$name: $ok of 2 survivors finished correctly with 2 ranks (agents rc=$rc0,$rc1)"
  fi
}
if ! want recovery; then
  :
elif [ "$example" != none ] && [ -x "$example" ]; then
  recovery "recovery_cpp" "$example" --deadline-ms 3000 --store "$work/store"
else
  skip "recovery (C++): examples/fault_tolerant_loop not built"
fi
if ! [[ " $steps " == *" recovery "* ]]; then
  :
elif "$python" -c "import torch, ncclrt" 2>/dev/null; then
  recovery "recovery_py" "$python" -u "$src/examples/fault_tolerant_loop.py" --deadline 3
else
  skip "recovery (Python): needs torch and the ncclrt module in $python (pip install .)"
fi

[ "$worst" -eq 0 ] && echo "ALL OK: two nodes on one machine, 4 ranks on $gpus GPU(s)"
exit "$worst"
