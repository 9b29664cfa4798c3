#!/usr/bin/env bash
# ctest driver of MultiRank.N<n>.bench: `ncclrt bench` across N processes started the way a
# launcher starts them (scripts/launch_local.sh), rank r on GPU r % GPUs (more ranks than GPUs
# needs NCCL >= 2.30.3 with NCCL_MULTI_RANK_GPU_ENABLE=1):
#   1. the single-process form, -t N, for comparison;
#   2. N processes (torchrun's variables): rank 0 alone prints the table, no wrong element, the
#      JSON holds every rank's host, pid and device and its time in every row, and -a 0 / 3
#      report rank 0's time and the most of every rank's;
#   3. N / 2 processes of -t 2 (ncclrt's variables): two ranks in each process;
#   4. a rank SIGKILLed mid-sweep: every survivor exits non-zero long before -T, naming it
#      ("exited");
#   5. a rank SIGSTOPped mid-sweep: every survivor exits non-zero after -T, naming it ("stopped
#      responding").
# The numbers of 1 and 2 are printed side by side; they are held to each other only where every
# rank has a GPU of its own (ranks sharing one GPU time-slice it across processes).
#   bench_processes.sh NCCLRT_COMMAND N SOURCE_DIR CHECK_BINARY
set -uo pipefail
tool=$1 n=$2 src=$3 check=$4
launch=$src/scripts/launch_local.sh
# shellcheck source=can_run.sh
source "$(dirname "$0")/can_run.sh"
work=$(mktemp -d /tmp/ncclrt-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
worst=0
pass() { echo "PASS: $*"; }
fail() {
  echo "FAIL: $*"
  worst=1
}
sizes=(-b 1M -e 64M -f 4 -n 20 -w 5 -T 60)
"$tool" version | sed -n 2p

# A rank's pid, for the kill and stop steps: each process writes it, then becomes the bench.
mkdir -p "$work/pids"
cat >"$work/rank.sh" <<'EOF'
#!/usr/bin/env bash
echo $$ >"$PIDS/${NCCLRT_RANK:-${RANK:-${OMPI_COMM_WORLD_RANK:-${SLURM_PROCID:-x}}}}"
exec "$@"
EOF
chmod +x "$work/rank.sh"

# 1. One process, N threads.
out=$(timeout 300 "$tool" bench all_reduce "${sizes[@]}" -t "$n" -J "$work/threads.json" 2>&1)
rc=$?
echo "$out" | grep -vE "^#  Rank"
if [ $rc -eq 0 ] && grep -q "Out of bounds values : 0 OK" <<<"$out"; then
  pass "one process, -t $n"
else
  fail "one process, -t $n (rc=$rc)"
fi

# 2. N processes.
for a in 1 0 3; do
  out=$(timeout 300 "$launch" --as torchrun "$n" "$tool" bench all_reduce "${sizes[@]}" -a $a \
    -J "$work/procs_a$a.json" 2>&1)
  rc=$?
  [ $a -eq 1 ] && echo "$out"
  tables=$(grep -c "Out of bounds values : 0 OK" <<<"$out")
  if [ $rc -eq 0 ] && [ "$tables" -eq 1 ] && grep -q "nProcs $n from torchrun" <<<"$out" &&
    grep -q "Slowest rank" <<<"$out"; then
    pass "$n processes, -a $a: one table (rank 0's), no wrong element"
  else
    fail "$n processes, -a $a (rc=$rc, $tables tables)"
  fi
done
python3 - "$work" "$n" "$gpus" <<'EOF' || worst=1
import json, sys
work, n, gpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bad = []
def load(name):
    with open(f"{work}/{name}.json") as f:
        return json.load(f)
procs = load("procs_a1")
ranks = procs["ranks"]
if procs["nranks"] != n or len(ranks) != n:
    bad.append(f"nranks {procs['nranks']}, {len(ranks)} ranks in the JSON, want {n}")
if len({r["pid"] for r in ranks}) != n:
    bad.append("the ranks' pids are not all different")
for r in ranks:
    if not r["host"] or not r["device"]["name"] or "pci_bus_id" not in r["device"]:
        bad.append(f"rank {r['rank']}: host or device missing: {r}")
    if len(r["rows"]) != len(procs["results"]):
        bad.append(f"rank {r['rank']}: {len(r['rows'])} rows, want {len(procs['results'])}")
# -a 0 prints rank 0's time, -a 3 the most of every rank's.
for a, pick in ((0, lambda t: t[0]), (3, max)):
    j = load(f"procs_a{a}")
    for i, row in enumerate(j["results"]):
        times = [r["rows"][i]["out_of_place_us"] for r in j["ranks"]]
        if abs(row["out_of_place"]["time_us"] - pick(times)) > 1e-6 * max(1.0, pick(times)):
            bad.append(f"-a {a}, {row['size']} B: {row['out_of_place']['time_us']} is not "
                       f"{pick(times)} of {times}")
        if times.index(max(times)) != row["out_of_place"]["slowest_rank"]:
            bad.append(f"-a {a}, {row['size']} B: slowest rank {row['out_of_place']['slowest_rank']}"
                       f" is not the one with the most time in {times}")
threads = load("threads")
print(f"{'size':>10} {'-t busbw':>9} {'procs busbw':>11} {'ratio':>6}")
ratios = []
for t, p in zip(threads["results"], procs["results"]):
    tb, pb = t["out_of_place"]["busbw"], p["out_of_place"]["busbw"]
    ratios.append(pb / tb if tb else 0)
    print(f"{t['size']:>10} {tb:9.2f} {pb:11.2f} {ratios[-1]:6.2f}")
ratios.sort()
median = ratios[len(ratios) // 2] if ratios else 0
if gpus >= n and not 0.8 <= median <= 1.25:
    bad.append(f"processes against threads: median busbw ratio {median:.2f}, want 0.8-1.25")
elif gpus < n:
    print(f"(not held to each other: {n} ranks share {gpus} GPU(s))")
for b in bad:
    print("FAIL:", b)
if not bad:
    print("PASS: the JSON holds every rank; -a 0 and -a 3 combine every rank's time")
sys.exit(1 if bad else 0)
EOF

# 3. Two ranks in each process.
if [ $((n % 2)) -eq 0 ]; then
  out=$(timeout 300 "$launch" $((n / 2)) "$tool" bench all_reduce "${sizes[@]}" -t 2 \
    -J "$work/t2.json" 2>&1)
  rc=$?
  if [ $rc -eq 0 ] && grep -q "Out of bounds values : 0 OK" <<<"$out" &&
    python3 -c "import json,sys; j=json.load(open('$work/t2.json')); \
sys.exit(not (j['nranks']==$n and sorted({r['process'] for r in j['ranks']})==list(range($n//2))))"; then
    pass "$((n / 2)) processes of -t 2: $n ranks"
  else
    echo "$out" | tail -5
    fail "$((n / 2)) processes of -t 2 (rc=$rc)"
  fi
fi

# 4 and 5. A rank lost in the middle of the sweep: once rank 0 has printed a row, the victim is
# sent `signal`. Every survivor must exit non-zero within `within` seconds, naming the victim.
lose() {  # signal victim words within deadline
  local sig=$1 victim=$2 words=$3 within=$4 deadline=$5
  rm -f "$work/pids/"*
  PIDS=$work/pids timeout 300 "$launch" "$n" "$work/rank.sh" "$tool" bench all_reduce \
    -b 1M -e 512M -f 2 -n 100 -w 5 -T "$deadline" >"$work/lose.out" 2>&1 &
  local launcher=$!
  local i
  for ((i = 0; i < 1200; i++)); do
    grep -qE "^ +[0-9]+ +[0-9]+ +float" "$work/lose.out" && break
    sleep 0.1
  done
  local victim_pid
  victim_pid=$(cat "$work/pids/$victim" 2>/dev/null)
  local s=$SECONDS
  kill -"$sig" "$victim_pid" 2>/dev/null
  # The survivors' exits, not the victim's (a stopped one stays until killed).
  for ((i = 0; i < 10 * (within + 5); i++)); do
    [ "$(grep -c "^ncclrt bench: " "$work/lose.out")" -ge $((n - 1)) ] && break
    sleep 0.1
  done
  local took=$((SECONDS - s))
  kill -9 "$victim_pid" 2>/dev/null
  wait "$launcher"
  local rc=$?
  local named
  named=$(grep -cE "^ncclrt bench: .*rank $victim \(.*$words" "$work/lose.out")
  echo "== rank $victim sent SIG$sig (launcher rc=$rc, survivors done in $took s)"
  grep "^ncclrt bench: " "$work/lose.out" | sort
  if [ "$rc" -ne 0 ] && [ "$named" -eq $((n - 1)) ] && [ "$took" -le "$within" ]; then
    pass "rank $victim SIG$sig: every survivor exited non-zero within $within s naming it"
  else
    tail -5 "$work/lose.out"
    fail "rank $victim SIG$sig: $named of $((n - 1)) survivors named it ($words), in $took s"
  fi
}
# A killed rank closes its link to the board: the others hear of it at once, well before -T 60.
lose KILL $((n - 1)) "exited" 15 60
# A stopped one falls silent: the others wait out -T 5, then the board names it (aborts bounded).
lose STOP 1 "stopped responding" 30 5

[ "$worst" -eq 0 ] && echo "ALL OK: bench across $n processes on $gpus GPU(s)"
exit "$worst"
