#!/usr/bin/env bash
# Installs the build and test dependencies from Debian's packages, only those that are missing.
set -euo pipefail
need=()
for pkg in cmake ninja-build g++ libgtest-dev libcli11-dev nlohmann-json3-dev clang-format clang \
  libclang-rt-14-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
