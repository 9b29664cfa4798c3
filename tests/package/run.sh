#!/usr/bin/env bash
# Installs ncclrt from BUILD_DIR into a temporary prefix, then builds and runs a consumer with
# find_package, and another with add_subdirectory on the source tree.
set -euo pipefail
src=$1 build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/lib/cmake/ncclrt/ncclrtConfig.cmake"
# The license travels with the package, and the version header generated from VERSION.
test -f "$work/prefix/share/doc/ncclrt/LICENSE" || { echo "no LICENSE installed"; exit 1; }
grep -q "NCCLRT_VERSION_STRING \"$(head -1 "$src/VERSION")\"" \
  "$work/prefix/include/ncclrt/detail/release.hpp" || { echo "no release.hpp from VERSION"; exit 1; }
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
# Shared (BUILD_SHARED_LIBS=ON): libncclrt.so with a SONAME, exporting the API and no internals;
# the installed consumer links and runs against it.
cmake -S "$src" -B "$work/shared" -G Ninja -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=Release \
  -DNCCLRT_BUILD_TESTS=OFF -DNCCLRT_BUILD_TOOLS=OFF -DNCCLRT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$work/shared" >/dev/null
cmake --install "$work/shared" --prefix "$work/shared-prefix" >/dev/null
so=$(ls "$work"/shared-prefix/lib*/libncclrt.so)
# (grep -q on a here-string, not a pipe: with pipefail, grep -q leaving early can fail the writer)
grep -q "SONAME.*\[libncclrt.so.0.1\]" <<<"$(readelf -d "$so")" || { echo "no SONAME libncclrt.so.0.1"; exit 1; }
exported=$(nm -D --defined-only -C "$so")
for api in "ncclrt::Library::open(" "ncclrt::Communicator::init_rank(" "typeinfo for ncclrt::LoadError"; do
  grep -qF "$api" <<<"$exported" || { echo "not exported: $api"; exit 1; }
done
if grep -E "ncclrt_probe_helper|ncclrt::detail::make_config|ncclrt::detail::cuda_set_device|nlohmann" <<<"$exported"; then
  echo "internal symbols exported (above)"
  exit 1
fi
cmake -S "$src/tests/package" -B "$work/shared-consumer" -G Ninja -DMODE=installed \
  -DCMAKE_PREFIX_PATH="$work/shared-prefix" >/dev/null
cmake --build "$work/shared-consumer" >/dev/null
linked=$(ldd "$work/shared-consumer/consumer")
grep -qF "libncclrt.so.0.1 => $work/shared-prefix" <<<"$linked" ||
  { echo "the consumer does not use the shared library; ldd says:"; echo "$linked"; exit 1; }
"$work/shared-consumer/consumer"
echo "find_package and add_subdirectory consumers built and ran (static and shared)"
