#!/usr/bin/env python3
"""Regenerates python/ncclrt/_ncclrt.pyi from the built extension with nanobind's stubgen, then
names the argument types the extension reads by hand (nanobind sees them as `object`).

    PYTHONPATH=<dir holding the built ncclrt package> python3 scripts/gen_stubs.py
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STUB = os.path.join(HERE, "..", "python", "ncclrt", "_ncclrt.pyi")

ALIASES = '''
from typing import Any, TypeAlias

# What an operation takes as a buffer: a torch tensor, a cupy array, anything with
# __cuda_array_interface__ or __dlpack__, NcclMemory, or a device pointer (int, with count= and dtype=).
Buffer: TypeAlias = Any
# torch.cuda.Stream, a cupy stream, anything with __cuda_stream__, an int handle, or None.
StreamLike: TypeAlias = Any
# An ncclrt.DataType (or its int), a torch or numpy dtype, or a name: "bfloat16", "float32", or
# NCCL's and nccl-tests' "float", "half", "double" (the names `ncclrt bench -d` takes).
DTypeLike: TypeAlias = Any
# Seconds (int or float) or a datetime.timedelta.
Seconds: TypeAlias = float | Any
'''

# (parameter name, annotation as stubgen writes it) -> annotation
PARAMS = [
    (r"(send|recv|buf): object \| None = None", r"\1: Buffer | None = None"),
    (r"(send|recv|buf): object \| None", r"\1: Buffer"),
    (r"stream: object \| None = None", "stream: StreamLike = None"),
    (r"count: object \| None = None", "count: int | None = None"),
    (r"dtype: object \| None = None", "dtype: DTypeLike | None = None"),
    (r"op: object \| None = ReduceOp.SUM", "op: ReduceOp | PreMulSum | int | str = ReduceOp.SUM"),
    (r"counts: object \| None", "counts: Sequence[int]"),
    (r"displs: object \| None = None", "displs: Sequence[int] | None = None"),
    (r"scalar: object \| None", "scalar: float | Buffer"),
    (r"nbytes: object \| None = None", "nbytes: int | None = None"),
    (r"(timeout|probe_timeout): object \| None = None", r"\1: Seconds | None = None"),
    (r"(timeout|poll|window): object = ", r"\1: Seconds = "),
    (r"lib: object \| None = None", "lib: Library | Communicator | None = None"),
    (r"lib: object", "lib: Library | None"),
    (r"sources: object \| None = None", "sources: Sequence[str] | None = None"),
]
RETURNS = {  # method name -> return annotation
    **{op: "Buffer" for op in ("all_reduce", "broadcast", "reduce", "all_gather",
                               "reduce_scatter", "all_to_all", "gather", "scatter",
                               "all_gatherv", "reduce_scatterv")},
    "send": "None", "recv": "None", "split": "Communicator | None",
    "init_all": "list[Communicator]",
}


def main():
    subprocess.run([sys.executable, "-m", "nanobind.stubgen", "-q", "-m", "ncclrt._ncclrt", "-o",
                    STUB], check=True)
    text = open(STUB).read()
    for pattern, repl in PARAMS:
        text = re.sub(pattern, repl, text)
    # scatter's send matters on the root only
    text = text.replace("def scatter(self, send: Buffer,", "def scatter(self, send: Buffer | None,")
    for name, ret in RETURNS.items():
        text = re.sub(rf"(def {name}\(.*\)) -> [^:]+:", rf"\1 -> {ret}:", text)
    # the aliases after the imports stubgen wrote
    head, sep, rest = text.partition("\n\n\n")
    open(STUB, "w").write(head + "\n" + ALIASES + sep + rest)
    print("wrote", os.path.normpath(STUB))


if __name__ == "__main__":
    main()
