#!/usr/bin/env bash
# Shows the effect of nccl-tests' data check (-c 1, its default) on its later graph-mode timings:
# all_reduce through nccl-tests and ncclrt bench, with and without the check, from the first size
# and from a later one, and one size alone. Prints the out-of-place time per op of each size.
#   nccl_tests_check.sh NCCL_HOME NCCL_TESTS_ARCHIVE NCCLRT_TOOL
# (the archive: `bench/compare/nccl_tests.py build`'s; NCCL_HOME holds lib/libnccl.so.2)
set -u
nh=$1 archive=$2 tool=$3
export LD_LIBRARY_PATH=$nh/lib:${LD_LIBRARY_PATH:-} NCCLRT_NCCL_LIB=$nh/lib/libnccl.so.2
t=$(mktemp -d)
tar xJf "$archive" -C "$t"
nt=$t/nccl-tests/all_reduce_perf
rows() { grep -E "^ +[0-9]+ " | awk '{printf "%s:%s ", $1, $6}'; echo; }
for f in "-b 8 -e 256M -f 4" "-b 32 -e 256M -f 4" "-b 512 -e 512 -f 4" "-b 8 -e 8M -f 4"; do
  for c in 1 0; do
    # shellcheck disable=SC2086
    echo "nccl-tests $f -c $c: $($nt $f -g 1 -n 50 -w 10 -G 50 -c $c 2>&1 | rows)"
    # shellcheck disable=SC2086
    echo "ncclrt     $f -c $c: $($tool bench all_reduce $f -g 1 -n 50 -w 10 -G 50 -c $c 2>&1 | rows)"
  done
done
rm -rf "$t"
