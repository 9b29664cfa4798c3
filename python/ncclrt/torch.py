"""A drop-in for vLLM's ``PyNcclCommunicator``, over ncclrt.

    from ncclrt.torch import PyNcclCommunicator
    comm = PyNcclCommunicator(group, device=local_rank, library_path=None)
    out = comm.all_reduce(x)            # vLLM's names, arguments and return values

Differences from vLLM's class, on purpose: `library_path` is honoured (else $NCCLRT_NCCL_LIB,
else discovery); a world of one makes a working communicator; bad arguments raise
``ncclrt.UsageError`` (a ValueError) instead of failing an assert or reaching NCCL; a failed NCCL
call raises ``ncclrt.NcclError`` with NCCL's text and last error.

`group` is a torch.distributed ProcessGroup whose backend is not NCCL (gloo: the unique id
travels over it), or any object with ``rank``, ``world_size`` and ``broadcast_obj(obj, src)``
(vLLM's StatelessProcessGroup).
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch.distributed import ReduceOp

from . import _ncclrt as _nc

__all__ = ["PyNcclCommunicator"]

_TORCH_SUM = ReduceOp.SUM
_OPS = (
    (ReduceOp.SUM, _nc.ReduceOp.SUM),
    (ReduceOp.PRODUCT, _nc.ReduceOp.PROD),
    (ReduceOp.MAX, _nc.ReduceOp.MAX),
    (ReduceOp.MIN, _nc.ReduceOp.MIN),
    (ReduceOp.AVG, _nc.ReduceOp.AVG),
)


def _nccl_op(op):
    if op is _TORCH_SUM:
        return _nc.ReduceOp.SUM
    if isinstance(op, (int, _nc.PreMulSum)):  # ncclrt.ReduceOp is an int
        return op
    for torch_op, nccl_op in _OPS:
        if op == torch_op:
            return nccl_op
    raise _nc.UsageError(f"ncclrt.torch: no NCCL op for {op!r}; use SUM, PRODUCT, MAX, MIN or AVG")


def _rows(t: torch.Tensor) -> int:
    """Elements per index of dim 0 (what vLLM's v-variants count in)."""
    if t.dim() == 0:
        raise _nc.UsageError("ncclrt.torch: the v-variants need a tensor of at least one dimension")
    return t.numel() // t.shape[0] if t.shape[0] else 0


class PyNcclCommunicator:
    """vLLM's PyNcclCommunicator interface on an ncclrt Communicator."""

    def __init__(self, group, device, library_path: str | None = None, config=None):
        if hasattr(group, "broadcast_obj") and hasattr(group, "world_size"):
            self.rank, self.world_size, stateless = group.rank, group.world_size, True
        else:
            if not dist.is_initialized():
                raise _nc.UsageError("ncclrt.torch: torch.distributed is not initialized; call "
                                     "init_process_group (gloo) first or pass a stateless group")
            if dist.get_backend(group) == dist.Backend.NCCL:
                raise _nc.UsageError("ncclrt.torch: attach PyNcclCommunicator to a non-NCCL group "
                                     "(gloo); the unique id travels over it")
            self.rank, self.world_size = dist.get_rank(group), dist.get_world_size(group)
            stateless = False
        self.group = group
        self.lib = _nc.Library.open(library_path)
        self.nccl_version = self.lib.version.code
        self.available = True
        self.disabled = False
        self._groups = []

        uid = self.lib.unique_id() if self.rank == 0 else None
        if stateless:
            uid = group.broadcast_obj(uid, src=0)
        else:
            raw = (torch.frombuffer(bytearray(uid.bytes), dtype=torch.uint8) if uid is not None
                   else torch.zeros(128, dtype=torch.uint8))
            dist.broadcast(raw, src=dist.get_process_group_ranks(group)[0], group=group)
            uid = _nc.UniqueId(bytes(raw.tolist()))
        self.unique_id = uid

        if isinstance(device, int):
            device = torch.device(f"cuda:{device}")
        elif isinstance(device, str):
            device = torch.device(device)
        if not isinstance(device, torch.device) or device.type != "cuda":
            raise _nc.UsageError(f"ncclrt.torch: device must be a CUDA device; got {device!r}")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        self.device = device
        with torch.cuda.device(device):
            self.comm = _nc.Communicator.init_rank(self.lib, self.world_size, self.rank, uid,
                                                   config)
            # As vLLM does: one small all-reduce, so that a broken setup fails here.
            data = torch.zeros(1, device=device)
            self.comm.all_reduce(data)
            torch.cuda.current_stream().synchronize()
            del data

    def all_reduce(self, in_tensor: torch.Tensor, out_tensor: torch.Tensor | None = None,
                   op=ReduceOp.SUM, stream=None) -> torch.Tensor | None:
        if self.disabled:
            return None
        if out_tensor is None:
            out_tensor = torch.empty_like(in_tensor)
        return self.comm.all_reduce(in_tensor, out_tensor, _nccl_op(op), stream=stream)

    def all_gather(self, output_tensor: torch.Tensor, input_tensor: torch.Tensor, stream=None):
        if self.disabled:
            return
        self.comm.all_gather(input_tensor, output_tensor, stream=stream)

    def all_gatherv(self, output_tensor: torch.Tensor, input_tensor: torch.Tensor,
                    sizes: list[int], stream=None):
        if self.disabled:
            return
        if output_tensor.shape[0] != sum(sizes):
            raise _nc.UsageError(f"all_gatherv: output has {output_tensor.shape[0]} rows but sizes "
                                 f"add up to {sum(sizes)}")
        row = _rows(output_tensor)
        self.comm.all_gatherv(input_tensor, output_tensor, [s * row for s in sizes], stream=stream)

    def reduce_scatter(self, output_tensor: torch.Tensor, input_tensor: torch.Tensor,
                       op=ReduceOp.SUM, stream=None):
        if self.disabled:
            return
        self.comm.reduce_scatter(input_tensor, output_tensor, _nccl_op(op), stream=stream)

    def reduce_scatterv(self, output_tensor: torch.Tensor, input_tensor: torch.Tensor,
                        sizes: list[int], op=ReduceOp.SUM, stream=None):
        if self.disabled:
            return
        if input_tensor.shape[0] != sum(sizes):
            raise _nc.UsageError(f"reduce_scatterv: input has {input_tensor.shape[0]} rows but "
                                 f"sizes add up to {sum(sizes)}")
        row = _rows(input_tensor)
        self.comm.reduce_scatterv(input_tensor, output_tensor, [s * row for s in sizes],
                                  op=_nccl_op(op), stream=stream)

    def send(self, tensor: torch.Tensor, dst: int, stream=None):
        if self.disabled:
            return
        self.comm.send(tensor, dst, stream=stream)

    def recv(self, tensor: torch.Tensor, src: int, stream=None):
        if self.disabled:
            return
        self.comm.recv(tensor, src, stream=stream)

    def broadcast(self, tensor: torch.Tensor, src: int, stream=None):
        if self.disabled:
            return
        self.comm.broadcast(tensor, None, src, stream=stream)

    def group_start(self):
        g = _nc.Group(self.lib)
        g.__enter__()
        self._groups.append(g)

    def group_end(self):
        if not self._groups:
            raise _nc.UsageError("group_end without group_start")
        self._groups.pop().__exit__(None, None, None)

    def register_comm_window(self, tensor: torch.Tensor):
        return self.comm.register_window(tensor, flags=_nc.WIN_COLL_SYMMETRIC)

    def register_comm_window_raw(self, ptr: int, size: int):
        return self.comm.register_window(ptr, size, flags=_nc.WIN_COLL_SYMMETRIC)

    def deregister_comm_window(self, window):
        window.close()

    # The flight recorder (every call above is recorded by the Communicator underneath).
    def trace(self):
        """The flight recorder's entries, oldest first, as dicts."""
        return self.comm.trace()

    def trace_info(self):
        return self.comm.trace_info()

    def trace_label(self, text: str):
        """``with pynccl.trace_label("decode step 42"):`` labels the calls inside."""
        return self.comm.trace_label(text)
