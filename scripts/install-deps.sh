#!/usr/bin/env bash
# Installs the build and test dependencies from Debian's packages, only those that are missing.
set -euo pipefail
need=()
for pkg in cmake ninja-build g++ libgtest-dev libcli11-dev nlohmann-json3-dev clang-format clang \
  libclang-rt-14-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# The Python module's tests need a python3 (>= 3.10) that can make virtual environments.
if ! python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  need+=(python3 python3-venv python3-pip)
fi
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
