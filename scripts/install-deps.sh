#!/usr/bin/env bash
# Installs from Debian's or Ubuntu's packages what a command of this project needs, only what is
# missing, and says what it could not install.
#   install-deps.sh          the main job and the tests: compiler, CMake, Ninja, CLI11, nlohmann
#                            json (the ncclrt command), GoogleTest, valgrind (Python.instructions),
#                            a python3 >= 3.10 with venv
#   install-deps.sh --main   the main job only (`cmake --preset release`, `ncclrt info`)
#   install-deps.sh --ci     the tests, plus what .ci/run adds: clang-format, clang and its
#                            sanitizer/fuzzer runtime (the package of the clang installed)
set -uo pipefail
mode=${1:-tests}
case $mode in
  --main) mode=main ;;
  --ci) mode=ci ;;
  tests | --tests) mode=tests ;;
  *)
    echo "usage: install-deps.sh [--main | --ci]" >&2
    exit 2
    ;;
esac
want=(cmake ninja-build g++ libcli11-dev nlohmann-json3-dev)
[ "$mode" != main ] && want+=(libgtest-dev valgrind)
[ "$mode" = ci ] && want+=(clang clang-format)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
updated=0
missing() { ! dpkg -s "$1" >/dev/null 2>&1; }
install() {  # installs the missing ones among "$@"; prints those it could not install
  local need=() failed=()
  for p in "$@"; do missing "$p" && need+=("$p"); done
  ((${#need[@]})) || return 0
  echo "installing: ${need[*]}" >&2
  if ((!updated)); then
    $SUDO apt-get update -qq >&2 || true
    updated=1
  fi
  if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >&2; then
    for p in "${need[@]}"; do  # one at a time, to name the ones that fail
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$p" >/dev/null 2>&1 ||
        failed+=("$p")
    done
  fi
  echo "${failed[@]}"
}
failed=$(install "${want[@]}")
if [ "$mode" = ci ] && command -v clang >/dev/null; then
  # The sanitizer and libFuzzer runtime of the clang that is installed (libclang-rt-14-dev on
  # Debian 12, -18- on Ubuntu 24.04); older releases ship it inside the clang package.
  major=$(clang -dumpversion | cut -d. -f1)
  if apt-cache show "libclang-rt-$major-dev" >/dev/null 2>&1; then
    failed="$failed $(install "libclang-rt-$major-dev")"
  fi
fi
if [ "$mode" != main ] &&
  ! python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  failed="$failed $(install python3 python3-venv python3-pip)"
fi
failed=$(echo $failed)
if [ -n "$failed" ]; then
  echo "install-deps.sh: could not install: $failed" >&2
  echo "Try: install them by hand (or their equivalents on this system); what needs them:" \
    "libgtest-dev the tests, valgrind Python.instructions," \
    "libcli11-dev/nlohmann-json3-dev the ncclrt command," \
    "python3-venv the Python tests, clang/clang-format/libclang-rt-*-dev the CI steps" >&2
  exit 1
fi
echo "install-deps.sh: everything for '$mode' is installed"
