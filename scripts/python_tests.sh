#!/usr/bin/env bash
# The Python module's tests, as a user would meet the module: a fresh virtual environment,
# `pip install ".[test]"` from this source tree (scikit-build-core and nanobind come from PyPI),
# then pytest on tests/python from outside the source tree. No torch is installed, so the GPU
# tests report themselves skipped with the reason; on a GPU machine with torch, run pytest there.
# The module is built by pip here, not taken from a CMake build: what is tested is the package as
# `pip install` makes it (Release, the stable ABI, the command inside it). WORK_DIR/build is kept
# between runs.
#   scripts/python_tests.sh [WORK_DIR] [pytest args...]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$src/build/python-tests}
shift || true
python=${PYTHON:-python3}
rm -rf "$work/venv"
mkdir -p "$work"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip
# Warnings are errors here, as in every CI build of the C++ code. The benchmarks' module
# (_ncclrt_bench) comes along for Python.instructions (bench/python_instructions.py).
"$work/venv/bin/python" -m pip install -q "$src[test]" \
  -C cmake.define.NCCLRT_WARNINGS_AS_ERRORS=ON -C cmake.define.NCCLRT_PYTHON_BENCH=ON \
  -C build-dir="$work/build"
cd "$work"
"$work/venv/bin/python" -c "import ncclrt, sys; print('ncclrt', ncclrt.__version__, 'from', ncclrt.__file__, 'on Python', sys.version.split()[0])"
exec "$work/venv/bin/python" -m pytest "$src/tests/python" -rs -q -p no:cacheprovider "$@"
