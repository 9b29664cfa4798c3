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

Recovery from a failed rank, which vLLM's class lacks: make it with ``timeout=`` (seconds; the
communicator is then nonblocking and every wait has that deadline), detect a failure with
``synchronize()`` (raises TimeoutError or NcclError and leaves the communicator for recovery),
then ``recover()`` on every survivor: revoke, agree on the failed ranks through a store every
rank reaches (``store=``; by default torch.distributed's default store, or vLLM's stateless
group's ``store``), shrink them away. ``rank`` and ``world_size`` follow the shrink.

    comm = PyNcclCommunicator(group, device=local_rank, timeout=30.0)
    try:
        comm.all_reduce(x)
        comm.synchronize()
    except (ncclrt.TimeoutError, ncclrt.NcclError):
        failed = comm.recover()          # the same list on every survivor
"""
from __future__ import annotations

import hashlib
import os
import tempfile

import torch
import torch.distributed as dist
from torch.distributed import ReduceOp

from . import _ncclrt as _nc

try:  # the collectives as torch custom ops (torch.compile); registered on import
    from . import ops as _ops
    _OPS_ERROR = None
except _nc.UnsupportedError as e:  # a torch too old for them: everything else still works
    _ops, _OPS_ERROR = None, e
# While Dynamo traces a method it reads True here and takes the op path (no graph break). Of
# torch's such flags this one costs an eager call least (one Python call: about 30 ns;
# is_compiling makes two, about 110 ns on the build machine).
_compiling = (getattr(getattr(torch, "compiler", None), "is_dynamo_compiling", None) or
              (lambda: False))


def _op_path():
    if _ops is None:
        raise _OPS_ERROR
    return _ops


__all__ = ["PyNcclCommunicator", "TorchStore"]

_TORCH_SUM = ReduceOp.SUM
_SUM = _nc.ReduceOp.SUM
_OPS = (
    (ReduceOp.SUM, _nc.ReduceOp.SUM),
    (ReduceOp.PRODUCT, _nc.ReduceOp.PROD),
    (ReduceOp.MAX, _nc.ReduceOp.MAX),
    (ReduceOp.MIN, _nc.ReduceOp.MIN),
    (ReduceOp.AVG, _nc.ReduceOp.AVG),
)


def _nccl_op(op):
    if op is _TORCH_SUM:
        return _SUM
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


class TorchStore(_nc.AgreementStore):
    """An ncclrt.AgreementStore over a torch.distributed Store (TCPStore, FileStore, HashStore,
    PrefixStore, ...), for ``ncclrt.agree_on_failed_ranks``. The store must outlive the failed
    ranks: torchrun's agent store does; a TCPStore hosted by a rank that dies does not (its calls
    then block, and the agreement raises TimeoutError after its window and 1 s)."""

    def __init__(self, store):
        super().__init__()
        self.store = store

    def create(self, key: str, value: str) -> bool:
        # compare_set with an empty expected value writes only a key that does not exist yet,
        # and returns what the key holds afterwards: so True also when the key already held
        # exactly `value` (agree_on_failed_ranks writes marks unique to each call).
        got = self.store.compare_set(key, "", value)
        return (got.decode() if isinstance(got, bytes) else got) == value

    def get(self, key: str):
        if not self.store.check([key]):
            return None
        got = self.store.get(key)
        return got.decode() if isinstance(got, bytes) else got


def _default_store(group, scope: str):
    """Where survivors agree: the group's store, torch.distributed's default store, or (one
    machine only) a directory of this user alone under the temporary directory."""
    store = getattr(group, "store", None)
    if store is None and dist.is_initialized():
        getter = getattr(dist.distributed_c10d, "_get_default_store", None)
        store = getter() if getter else None
    if store is not None:
        return TorchStore(store)
    # Private: at a name anyone can guess in a directory anyone can write, another local user
    # could otherwise make it first and plant the decision.
    path = os.path.join(tempfile.gettempdir(), f"ncclrt-recovery-{scope}")
    try:
        return _nc.DirectoryStore(path, private=True)
    except _nc.UsageError as e:
        raise _nc.UsageError(f"ncclrt.torch: no private place for the recovery agreement: {e}. "
                             "Or give PyNcclCommunicator a store= (a torch.distributed store or "
                             "an ncclrt.AgreementStore)") from e


class PyNcclCommunicator:
    """vLLM's PyNcclCommunicator interface on an ncclrt Communicator."""

    def __init__(self, group, device, library_path: str | None = None, config=None,
                 timeout: float | None = None, store=None):
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
        if timeout is not None:  # nonblocking: creation, every wait and recovery get deadlines
            config = config if config is not None else _nc.Config()
            config.timeout = timeout
        self.timeout = timeout if timeout is not None else (
            config.timeout if config is not None else None)
        self._scope = hashlib.sha1(bytes(uid.bytes)).hexdigest()[:16]
        self._epoch = 0
        if store is not None and not isinstance(store, _nc.AgreementStore):
            store = TorchStore(store)
        self._store = store

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
        # The name its methods give the ops inside torch.compile.
        self._op_name = _ops.name_of(self) if _ops is not None else None

    def all_reduce(self, in_tensor: torch.Tensor, out_tensor: torch.Tensor | None = None,
                   op=ReduceOp.SUM, stream=None) -> torch.Tensor | None:
        if _compiling():
            return _op_path().pynccl_all_reduce(self, in_tensor, out_tensor, op, stream)
        if self.disabled:
            return None
        if out_tensor is None:
            out_tensor = torch.empty_like(in_tensor)
        # This method is on every step's path: the default op without a call of _nccl_op, and no
        # keyword argument when there is no stream (the interpreter's cheapest call).
        op = _SUM if op is _TORCH_SUM else _nccl_op(op)
        if stream is None:
            return self.comm.all_reduce(in_tensor, out_tensor, op)
        return self.comm.all_reduce(in_tensor, out_tensor, op, stream=stream)

    def all_gather(self, output_tensor: torch.Tensor, input_tensor: torch.Tensor, stream=None):
        if _compiling():
            return _op_path().pynccl_all_gather(self, output_tensor, input_tensor, stream)
        if self.disabled:
            return
        self.comm.all_gather(input_tensor, output_tensor, stream=stream)

    def all_gatherv(self, output_tensor: torch.Tensor, input_tensor: torch.Tensor,
                    sizes: list[int], stream=None):
        if _compiling():
            return _op_path().pynccl_all_gatherv(self, output_tensor, input_tensor, sizes, stream)
        if self.disabled:
            return
        if output_tensor.shape[0] != sum(sizes):
            raise _nc.UsageError(f"all_gatherv: output has {output_tensor.shape[0]} rows but sizes "
                                 f"add up to {sum(sizes)}")
        row = _rows(output_tensor)
        self.comm.all_gatherv(input_tensor, output_tensor, [s * row for s in sizes], stream=stream)

    def reduce_scatter(self, output_tensor: torch.Tensor, input_tensor: torch.Tensor,
                       op=ReduceOp.SUM, stream=None):
        if _compiling():
            return _op_path().pynccl_reduce_scatter(self, output_tensor, input_tensor, op, stream)
        if self.disabled:
            return
        self.comm.reduce_scatter(input_tensor, output_tensor, _nccl_op(op), stream=stream)

    def reduce_scatterv(self, output_tensor: torch.Tensor, input_tensor: torch.Tensor,
                        sizes: list[int], op=ReduceOp.SUM, stream=None):
        if _compiling():
            return _op_path().pynccl_reduce_scatterv(self, output_tensor, input_tensor, sizes, op,
                                                     stream)
        if self.disabled:
            return
        if input_tensor.shape[0] != sum(sizes):
            raise _nc.UsageError(f"reduce_scatterv: input has {input_tensor.shape[0]} rows but "
                                 f"sizes add up to {sum(sizes)}")
        row = _rows(input_tensor)
        self.comm.reduce_scatterv(input_tensor, output_tensor, [s * row for s in sizes],
                                  op=_nccl_op(op), stream=stream)

    def send(self, tensor: torch.Tensor, dst: int, stream=None):
        if _compiling():
            return _op_path().pynccl_send(self, tensor, dst, stream)
        if self.disabled:
            return
        self.comm.send(tensor, dst, stream=stream)

    def recv(self, tensor: torch.Tensor, src: int, stream=None):
        if _compiling():
            return _op_path().pynccl_recv(self, tensor, src, stream)
        if self.disabled:
            return
        self.comm.recv(tensor, src, stream=stream)

    def broadcast(self, tensor: torch.Tensor, src: int, stream=None):
        if _compiling():
            return _op_path().pynccl_broadcast(self, tensor, src, stream)
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

    @classmethod
    def from_unique_id_bytes(cls, unique_id_bytes: bytes, rank: int, world_size: int, device,
                             library_path: str | None = None, **extra) -> "PyNcclCommunicator":
        """A communicator from an NCCL unique id shared out of band (``ncclGetUniqueId``'s 128
        bytes, the same on every rank), with no process group (``group`` is None). Every rank
        must call it at the same time, and then, as vLLM's does, take part in one small
        all_reduce. `extra`: ``config``, ``timeout``, ``store`` as for the constructor."""
        raw = bytes(unique_id_bytes)
        if len(raw) != 128:
            raise ValueError(f"an NCCL unique id is 128 bytes; got {len(raw)}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is out of range for world_size {world_size}")
        self = cls(_GivenId(rank, world_size, _nc.UniqueId(raw)), device, library_path, **extra)
        self.group = None
        return self

    def destroy(self):
        """Aborts the communicator (vLLM's shutdown), bounded: the abort runs on a helper thread
        that is waited for at most 5 s, so that CUDA graphs which captured this communicator's
        work and are released later on this thread cannot deadlock it. ncclrt's abort is itself
        bounded ($NCCLRT_ABORT_TIMEOUT_MS). Then every method does nothing, as vLLM's."""
        if self.disabled:
            return
        import threading
        comm = self.comm  # the thread holds the Communicator, never self
        helper = threading.Thread(target=comm.abort, name="ncclrt-destroy", daemon=True)
        helper.start()
        helper.join(timeout=5.0)
        self.available = False
        self.disabled = True

    def reduce(self, output_tensor: torch.Tensor, input_tensor: torch.Tensor, root: int,
               op=ReduceOp.SUM, stream=None):
        if self.disabled:
            return
        self.comm.reduce(input_tensor, output_tensor, _nccl_op(op), root, stream=stream)

    def scatter(self, output_tensor: torch.Tensor, input_tensor: torch.Tensor, sizes: list[int],
                root: int = 0, stream=None):
        """Rows sizes[r] of the root's input_tensor (dim 0, in rank order) to rank r's
        output_tensor, as vLLM's: sends and receives in one group, the root's own rows copied."""
        if self.disabled:
            return
        if len(sizes) != self.world_size:
            raise _nc.UsageError(f"scatter: sizes has {len(sizes)} entries; it needs one per rank "
                                 f"({self.world_size})")
        if self.rank == root and input_tensor.shape[0] != sum(sizes):
            raise _nc.UsageError(f"scatter: the root's input has {input_tensor.shape[0]} rows but "
                                 f"sizes add up to {sum(sizes)}")
        if output_tensor.shape[0] != sizes[self.rank]:
            raise _nc.UsageError(f"scatter: output has {output_tensor.shape[0]} rows but "
                                 f"sizes[{self.rank}] is {sizes[self.rank]}")
        with _nc.Group(self.lib):
            if self.rank == root:
                start = 0
                for dst, rows in enumerate(sizes):
                    if rows:
                        chunk = input_tensor[start:start + rows]
                        if dst == root:
                            output_tensor.copy_(chunk)
                        else:
                            self.comm.send(chunk, dst, stream=stream)
                    start += rows
            elif sizes[self.rank]:
                self.comm.recv(output_tensor, root, stream=stream)

    def batch_isend_irecv(self, p2p_ops: list, stream=None):
        """torch.distributed.P2POp's (isend / irecv, tensor, group_peer) in one NCCL group."""
        if self.disabled:
            return
        with _nc.Group(self.lib):
            for p2p in p2p_ops:
                peer = getattr(p2p, "group_peer", None)
                peer = p2p.peer if peer is None else peer
                if p2p.op is dist.isend:
                    self.comm.send(p2p.tensor, peer, stream=stream)
                elif p2p.op is dist.irecv:
                    self.comm.recv(p2p.tensor, peer, stream=stream)
                else:
                    raise _nc.UsageError(f"batch_isend_irecv: op {p2p.op!r} is neither "
                                         "torch.distributed.isend nor irecv")

    def suspend(self, flags=None):
        """ncclCommSuspend (NCCL >= 2.29.7; older raises UnsupportedError naming it): releases
        NCCL's GPU memory until resume(); collective; nothing when already suspended."""
        if self.disabled:
            return
        self.lib.require("ncclCommSuspend")
        if not self.comm.suspended:
            self.comm.suspend(_nc.SuspendFlags.MEMORY if flags is None else flags)

    def resume(self):
        """ncclCommResume (NCCL >= 2.29.7); collective; nothing unless suspended."""
        if self.disabled:
            return
        self.lib.require("ncclCommResume")
        if self.comm.suspended:
            self.comm.resume()

    # Recovery (not in vLLM's class).

    def synchronize(self, stream=None, timeout: float | None = None):
        """Waits for this communicator's work on `stream` (torch's current stream by default):
        a failed or missing peer raises TimeoutError (after `timeout` seconds, else the
        communicator's timeout, else 60) or NcclError, and the communicator is left for
        ``recover()``."""
        if stream is None:
            stream = torch.cuda.current_stream(self.device)
        if timeout is None:
            timeout = self.timeout if self.timeout is not None else 60.0
        self.comm.synchronize(stream, timeout=timeout, abort=False)

    def revoke(self, timeout: float | None = None):
        """Stops this rank's work on the communicator (NCCL >= 2.28.7); then only shrink()."""
        self.comm.revoke(timeout=timeout)

    def agree_on_failed_ranks(self, window: float = 5.0) -> list[int]:
        """The failed ranks, as every survivor agrees (see ncclrt.agree_on_failed_ranks)."""
        if self._store is None:
            self._store = _default_store(self.group, self._scope)
        return _nc.agree_on_failed_ranks(self._store, f"ncclrt/{self._scope}/{self._epoch}",
                                         self.comm.rank, self.comm.size, window)

    def shrink(self, excluded: list[int], timeout: float | None = None,
               abort_parent: bool = False):
        """Replaces the communicator with one without the `excluded` ranks (NCCL >= 2.27);
        ``rank`` and ``world_size`` follow. With no rank excluded (nobody had failed), a split
        of the revoked communicator gives every rank a fresh one. ``abort_parent`` aborts the
        old communicator's work first (NCCL_SHRINK_ABORT): for one that could not be revoked."""
        t = timeout if timeout is not None else self.timeout
        config = _nc.Config(timeout=t) if t is not None else None
        old = self.comm
        with torch.cuda.device(self.device):
            if excluded:
                self.comm = old.shrink(list(excluded), config, abort_parent=abort_parent)
            else:
                self.comm = old.split(0, old.rank, config)
        old.destroy()
        self.rank, self.world_size = self.comm.rank, self.comm.size
        self._epoch += 1

    def recover(self, window: float = 5.0, timeout: float | None = None) -> list[int]:
        """After synchronize() raised on every survivor (or a step's results came out wrong):
        revoke, agree on the failed ranks, shrink them away (ncclrt.recover). Returns them (ranks
        of the communicator before). Where NCCL saw the failure itself on some survivor and
        refuses to revoke (a peer's socket closed: ncclRemoteError), and then to shrink, every
        survivor makes a new communicator instead, from a unique id passed through the store."""
        if self._store is None:
            self._store = _default_store(self.group, self._scope)
        t = timeout if timeout is not None else self.timeout
        config = _nc.Config(timeout=t) if t is not None else None
        old = self.comm
        with torch.cuda.device(self.device):
            self.comm, failed, _, _ = _nc.recover(old, self._store,
                                                  f"ncclrt/{self._scope}/{self._epoch}", window,
                                                  config)
        if old.revoked:
            old.destroy()  # else recover() aborted it: nothing is left
        self.rank, self.world_size = self.comm.rank, self.comm.size
        self._epoch += 1
        return failed

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


class _GivenId:
    """The group of from_unique_id_bytes: every rank already holds the id."""

    def __init__(self, rank, world_size, unique_id):
        self.rank, self.world_size, self._id = rank, world_size, unique_id

    def broadcast_obj(self, obj, src):
        return self._id
