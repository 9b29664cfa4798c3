#!/usr/bin/env bash
# Installs a wheel as a user without a compiler would, and checks it: a fresh virtual environment
# whose PATH holds nothing but that environment's own bin/ (its python, pip and, once installed,
# the ncclrt command; no cc, gcc, g++, c++ or clang), `pip install WHEEL`, then from there:
# `import ncclrt`, `ncclrt --version` and `python -m ncclrt --version` against the VERSION file,
# `ncclrt info`, and the CPU Python tests (tests/python; GPU tests skip, saying why).
#
#   scripts/check_wheel.sh WHEEL [WORK_DIR]
#
# The interpreter is $PYTHON, else the first of python3, python3.N, ... on PATH that the wheel's tag
# takes (cp312-abi3: CPython 3.12 or newer; cp311-cp311: 3.11). The tests' stand-in libraries are
# built first, before PATH is emptied: they are the tests' fixtures, not the wheel's.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
wheel=$(cd "$(dirname "${1:?usage: check_wheel.sh WHEEL [WORK_DIR]}")" && pwd)/$(basename "$1")
work=${2:-$src/build/wheel-check}
[ -f "$wheel" ] || { echo "check_wheel.sh: no such wheel: $wheel" >&2; exit 2; }

# The CPython versions the wheel's tag takes: "cp312-abi3" -> 3.12 and newer, "cp311-cp311" -> 3.11.
tag=$(basename "$wheel" .whl | cut -d- -f3-4)
case $tag in
  cp3*-abi3) min=${tag%%-*}; min=${min#cp3}; exact= ;;
  cp3*-cp3*) min=${tag%%-*}; min=${min#cp3}; exact=$min ;;
  *) echo "check_wheel.sh: cannot read the Python tag of $(basename "$wheel") ($tag)" >&2; exit 2 ;;
esac
takes() {  # takes PYTHON: whether that interpreter is a CPython the wheel installs on
  "$1" -c "import sys, platform
m = sys.version_info[1]
ok = platform.python_implementation() == 'CPython' and sys.version_info[0] == 3 and m >= $min
sys.exit(0 if ok and ('$exact' == '' or m == int('${exact:-0}')) else 1)" 2>/dev/null
}
if [ -n "$exact" ]; then wants="CPython 3.$min"; else wants="CPython 3.$min or newer"; fi
if [ -n "${PYTHON:-}" ]; then
  python=$PYTHON
  takes "$python" || {
    echo "check_wheel.sh: $(basename "$wheel") needs $wants; PYTHON=$python is not one" >&2
    exit 2
  }
else
  python=
  # python3, then python3.N on PATH, then pyenv's installed versions (its shims run only the
  # versions it has selected).
  for p in python3 $(for m in $(seq "$min" 20); do echo "python3.$m"; done) \
    $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.*/bin/python3 2>/dev/null | sort -V); do
    if command -v "$p" >/dev/null && takes "$p"; then python=$(command -v "$p"); break; fi
  done
  [ -n "$python" ] || {
    echo "check_wheel.sh: $(basename "$wheel") needs $wants, and neither python3 ($(python3 -V \
      2>&1)) nor a python3.N on PATH or in pyenv is one. Try: PYTHON=/path/to/python3.$min" \
      "$0 $*" >&2
    exit 2
  }
fi
echo "== $(basename "$wheel") ($wants) with $python ($("$python" -V 2>&1))"
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)

python3 "$src/tests/python/stand_in_libs.py" "$work/stand_ins"
"$python" -m venv "$work/venv"
bin=$work/venv/bin
# What a user's shell would see: only the environment's bin/, no compiler variables.
in_venv() { env -u CC -u CXX -u CPATH -u LIBRARY_PATH PATH="$bin" "$@"; }

for c in cc gcc g++ c++ clang clang++; do
  if found=$(in_venv /bin/bash -c "command -v $c"); then
    echo "check_wheel.sh: a compiler is on the check's PATH: $found" >&2
    exit 1
  fi
done
echo "== no compiler on PATH ($bin): cc, gcc, g++, c++, clang, clang++ not found"

in_venv python -m pip install -q --upgrade pip
in_venv python -m pip install -q "$wheel" "pytest>=7" numpy
cd "$work"  # away from the source tree: ncclrt is the installed one

want=$(head -1 "$src/VERSION")
[ "$(in_venv /bin/bash -c 'command -v ncclrt')" = "$bin/ncclrt" ] ||
  { echo "check_wheel.sh: ncclrt is not the environment's command" >&2; exit 1; }
got_py=$(in_venv python -c 'import ncclrt; print(ncclrt.__version__)')
got_cmd=$(in_venv ncclrt --version | head -1)
got_m=$(in_venv python -m ncclrt --version | head -1)
echo "== import ncclrt: $got_py; ncclrt --version: $got_cmd; python -m ncclrt --version: $got_m"
[ "$got_py" = "$want" ] && [ "${got_cmd%% (*}" = "ncclrt $want" ] && [ "$got_m" = "$got_cmd" ] ||
  { echo "check_wheel.sh: versions differ from VERSION ($want)" >&2; exit 1; }

# The license travels with the wheel: named in its metadata, its text in the dist-info.
in_venv python - <<'PY'
import importlib.metadata as md
meta = md.metadata("ncclrt")
files = [str(f) for f in md.files("ncclrt")]
assert meta["License-Expression"] == "BSD-3-Clause", meta["License-Expression"]
assert any(f.endswith("licenses/LICENSE") for f in files), files
assert any(f.endswith("licenses/THIRD_PARTY_NOTICES") for f in files), files
print("== license: BSD-3-Clause, LICENSE and THIRD_PARTY_NOTICES in the dist-info")
PY

echo "== ncclrt info"
rc=0
in_venv ncclrt info || rc=$?
# Exit 1 is the answer "no usable NCCL here", fine on a machine without one; a real NCCL here
# (the CI machine has one in /usr/local/cuda) must be found.
if [ $rc -ne 0 ] && { [ $rc -ne 1 ] || ls /usr/local/cuda/lib*/libnccl.so.2 >/dev/null 2>&1; }; then
  echo "check_wheel.sh: ncclrt info exited $rc" >&2
  exit 1
fi

echo "== CPU Python tests from the installed wheel"
NCCLRT_TEST_STAND_INS=$work/stand_ins in_venv python -m pytest "$src/tests/python" -rs -q \
  -p no:cacheprovider
