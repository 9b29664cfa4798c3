#!/usr/bin/env bash
# Installs ncclrt from BUILD_DIR into a temporary prefix, then builds and runs a consumer with
# find_package, and another with add_subdirectory on the source tree.
set -euo pipefail
src=$1 build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/lib/cmake/ncclrt/ncclrtConfig.cmake"
cmake -S "$src/tests/package" -B "$work/installed" -G Ninja -DMODE=installed \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/installed" >/dev/null
"$work/installed/consumer"
cmake -S "$src/tests/package" -B "$work/subdir" -G Ninja -DMODE=subdirectory \
  -DNCCLRT_SOURCE="$src" >/dev/null
cmake --build "$work/subdir" >/dev/null
"$work/subdir/consumer"
# As a subproject, only the library is built: no command, tests or examples.
test ! -e "$work/subdir/ncclrt/tools"
echo "find_package and add_subdirectory consumers built and ran"
