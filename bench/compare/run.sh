#!/usr/bin/env bash
# The same one-GPU all_reduce through the ways users call NCCL today, side by side:
# ncclrt and a direct C++ call of the same NCCL function pointer (`ncclrt bench overhead`), Python
# ctypes (the pynccl way) and torch.distributed.all_reduce. All use the NCCL file given (default:
# the one inside the python3 environment's nvidia/nccl/lib, i.e. PyTorch's).
#   bench/compare/run.sh [NCRRT_BINARY] [OUTDIR]
set -euo pipefail
bin=${1:-build/release/tools/ncclrt/ncclrt}
out=${2:-bench-out}
mkdir -p "$out"
lib=${NCCLRT_NCCL_LIB:-$(python3 -c 'import nvidia.nccl, os; print(os.path.join(nvidia.nccl.__path__[0], "lib", "libnccl.so.2"))')}
here=$(dirname "$0")
"$bin" bench overhead --nccl-lib "$lib" -n 200 --rounds 30 -J "$out/overhead.json"
python3 "$here/pynccl_ctypes.py" --nccl-lib "$lib" --json "$out/ctypes.json"
python3 "$here/torch_distributed.py" --json "$out/torch.json"
python3 "$here/table.py" "$out/overhead.json" "$out/ctypes.json" "$out/torch.json" | tee "$out/compare.md"
