"""ncclrt's collectives as torch custom ops, for ``torch.compile`` and CUDA graphs.

    import ncclrt.ops                                  # ncclrt.torch imports it too
    ncclrt.ops.register_communicator("tp", comm)       # an ncclrt.Communicator or the vLLM class
    y = torch.ops.ncclrt.all_reduce(x, "tp")           # traced, cached and replayed by name

A compiled graph cannot hold a Python object, so an op names its communicator by a string
registered here (what vLLM calls ``group_name``). Every op has a fake implementation (shapes,
dtypes and strides, symbolic sizes included), is kept by dead-code elimination (a collective must
run on every rank even where its result is unused), and runs on torch's current stream.

Functional ops return a new tensor; the ``_`` forms work in place and the ``_into`` forms write
an output given first; both return nothing and say so in their schema (``Tensor(a!)``). The
functional all_reduce and reduce_scatter sum, with vLLM's schemas; their ``.redop`` overloads
take the reduction ("sum", "prod", "max", "min", "avg"), as the other forms do with ``op=``.
``all_reduce``, ``all_gather`` and ``reduce_scatter`` have gradients, those of
``torch.distributed.nn.functional``: the gradient of the sum over ranks of each rank's loss
(all_reduce -> all_reduce of the gradient; all_gather <-> reduce_scatter). ``send`` and ``recv``
are ordered effects: a compiled graph keeps them in program order (``recv(like, src, comm)``
returns a new tensor shaped like ``like``, whose values it does not read).

Needs torch >= 2.8; older torch gets ``UnsupportedError`` here and nothing else changes.
"""
from __future__ import annotations

import atexit
import hashlib
import re
import weakref

import torch

from . import _ncclrt as _nc

__all__ = ["register_communicator", "unregister_communicator", "communicator", "communicators",
           "OPS", "overload"]

MIN_TORCH = (2, 8)


def _torch_version(text):
    m = re.match(r"(\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


if _torch_version(getattr(torch, "__version__", "")) < MIN_TORCH or not hasattr(torch, "library"):
    raise _nc.UnsupportedError(
        f"ncclrt.ops (collectives inside torch.compile) needs torch >= "
        f"{MIN_TORCH[0]}.{MIN_TORCH[1]}; this is torch {getattr(torch, '__version__', '?')}. "
        "ncclrt.torch.PyNcclCommunicator and the rest of ncclrt work without it")

# ---- the registry: communicator names -------------------------------------------------------

# name -> an object whose .comm is the communicator: _Named for one registered directly, the vLLM
# class itself (its .comm follows shrink), or a weak proxy of it (the name the class gives itself,
# which must not keep it alive; _WEAK holds the reference that says whose proxy it is).
_COMMS: dict = {}
_WEAK: dict = {}


class _Named:
    __slots__ = ("comm",)

    def __init__(self, comm):
        self.comm = comm


@atexit.register
def _forget_all():
    # torch's dispatcher keeps this module's functions, and so the registry, alive past the
    # interpreter's teardown of modules: let the communicators go as a module global's would.
    _WEAK.clear()
    _COMMS.clear()


def _holds(name, obj) -> bool:
    entry = _COMMS.get(name)
    if name in _WEAK:
        return _WEAK[name]() is obj
    return entry is obj or (type(entry) is _Named and entry.comm is obj)


def _check_name(name):
    if not isinstance(name, str) or not name:
        raise _nc.UsageError(f"ncclrt.ops: a communicator's name must be a non-empty string; "
                             f"got {name!r}")


def register_communicator(name: str, comm, *, replace: bool = False) -> str:
    """Names `comm` (an ncclrt.Communicator, ncclrt.torch.PyNcclCommunicator, or anything with
    their methods) for the ops. Use the same name on every rank (and in every process that loads
    a cached graph). The registry keeps `comm` alive until unregister_communicator(name). A name
    already given to another communicator raises UsageError unless replace=True."""
    _check_name(name)
    if name in _COMMS and not _holds(name, comm) and not replace:
        raise _nc.UsageError(
            f"ncclrt.ops: '{name}' names another communicator already; call "
            f"ncclrt.ops.unregister_communicator('{name}') first or pass replace=True")
    _WEAK.pop(name, None)
    _COMMS[name] = comm if hasattr(comm, "comm") else _Named(comm)
    if hasattr(comm, "_op_name"):  # the vLLM class: its methods use this name when compiled
        comm._op_name = name
    return name


def unregister_communicator(name: str) -> None:
    """Forgets `name`; ops naming it raise UsageError from then on."""
    _check_name(name)
    _WEAK.pop(name, None)
    if _COMMS.pop(name, None) is None:
        raise _nc.UsageError(f"ncclrt.ops: no communicator is registered as '{name}'")


def communicators() -> list:
    """The registered names."""
    return sorted(_COMMS)


def communicator(name: str):
    """The communicator registered as `name` (the ncclrt.Communicator underneath, for the vLLM
    class), or UsageError."""
    try:
        return _COMMS[name].comm
    except (KeyError, ReferenceError, TypeError):
        raise _unknown(name) from None


def _unknown(name):
    if isinstance(name, str) and name in _COMMS:
        return _nc.UsageError(f"ncclrt.ops: the communicator named '{name}' was garbage-collected; "
                              "keep it alive or register another under that name")
    known = ", ".join(repr(n) for n in sorted(_COMMS)) or "none"
    return _nc.UsageError(
        f"ncclrt.ops: no communicator is registered as {name!r} (registered: {known}); call "
        f"ncclrt.ops.register_communicator({name!r}, comm) on every rank before running the op")


def name_of(pynccl) -> str:
    """The name the vLLM class's methods use inside torch.compile: 'pynccl-' and 16 hex digits of
    its unique id (the same on every rank; '-2', '-3', ... added where ranks of one communicator
    share a process), registered weakly (the registry does not keep the communicator alive). The
    class calls this when it is made, so that the name is known before any compiled graph
    runs."""
    uid = getattr(pynccl, "unique_id", None)
    if uid is None:
        raise _nc.UsageError("ncclrt.ops: this communicator has no unique id to name it by; "
                             "call ncclrt.ops.register_communicator(name, comm)")
    base = "pynccl-" + hashlib.sha1(bytes(uid.bytes)).hexdigest()[:16]
    name, n = base, 1
    while name in _COMMS:
        n += 1
        name = f"{base}-{n}"

    def forget(ref, name=name):
        if _WEAK.get(name) is ref:
            del _WEAK[name], _COMMS[name]

    ref = weakref.ref(pynccl, forget)
    _WEAK[name] = ref
    _COMMS[name] = weakref.proxy(pynccl)
    return name


# ---- reduction ops by name ------------------------------------------------------------------

_REDOPS = {"sum": _nc.ReduceOp.SUM, "prod": _nc.ReduceOp.PROD, "max": _nc.ReduceOp.MAX,
           "min": _nc.ReduceOp.MIN, "avg": _nc.ReduceOp.AVG}


def _failure(name, op=None):
    """The UsageError for a call that raised KeyError or ReferenceError before reaching NCCL."""
    if op is not None and op not in _REDOPS:
        return _nc.UsageError(f"ncclrt.ops: unknown reduction {op!r}; use one of "
                              f"{', '.join(_REDOPS)}")
    return _unknown(name)


def _dim(dim, ndim, what):
    if not -ndim <= dim < ndim:
        raise _nc.UsageError(f"ncclrt.ops.{what}: dim {dim} is out of range for a tensor of "
                             f"{ndim} dimension(s)")
    return dim + ndim if dim < 0 else dim


def _world(world_size, what):
    if world_size < 1:
        raise _nc.UsageError(f"ncclrt.ops.{what}: world_size must be at least 1; got "
                             f"{world_size}")


def _size_mismatch(e, name, world_size, what):
    """A UsageError from the extension about sizes, with the likeliest cause first."""
    try:
        size = _COMMS[name].comm.size
    except Exception:  # noqa: BLE001 - only for the message
        return e
    if size != world_size:
        return _nc.UsageError(f"ncclrt.ops.{what}: world_size={world_size} but communicator "
                              f"'{name}' has {size} ranks")
    return e


# ---- implementations (CPU and CUDA keys; the CPU one meets the extension's host-memory check,
# or a test's communicator) -------------------------------------------------------------------

_empty_like = torch.empty_like
_SUM = _nc.ReduceOp.SUM


def _all_reduce_sum(input, comm):
    out = _empty_like(input)
    try:
        _COMMS[comm].comm.all_reduce(input, out, _SUM)
    except (KeyError, ReferenceError):
        raise _failure(comm) from None
    return out


def _all_reduce(input, comm, op="sum"):
    out = _empty_like(input)
    try:
        _COMMS[comm].comm.all_reduce(input, out, _REDOPS[op])
    except (KeyError, ReferenceError):
        raise _failure(comm, op) from None
    return out


def _all_reduce_(tensor, comm, op="sum"):
    try:
        _COMMS[comm].comm.all_reduce(tensor, None, _REDOPS[op])
    except (KeyError, ReferenceError):
        raise _failure(comm, op) from None


def _all_reduce_into(out, input, comm, op="sum"):
    try:
        _COMMS[comm].comm.all_reduce(input, out, _REDOPS[op])
    except (KeyError, ReferenceError):
        raise _failure(comm, op) from None


def _all_gather(input, dim, world_size, comm):
    d = _dim(dim, input.dim(), "all_gather")
    _world(world_size, "all_gather")
    shape = list(input.shape)
    try:
        c = _COMMS[comm].comm
        if d == 0:  # NCCL's own layout: the ranks' blocks one after another
            shape[0] *= world_size
            out = input.new_empty(shape)
            c.all_gather(input, out)
            return out
        buf = input.new_empty([world_size] + shape)
        c.all_gather(input, buf)
    except (KeyError, ReferenceError):
        raise _failure(comm) from None
    except _nc.UsageError as e:
        raise _size_mismatch(e, comm, world_size, "all_gather") from None
    shape[d] *= world_size
    return buf.movedim(0, d).reshape(shape)


def _all_gather_into(out, input, comm):
    try:
        _COMMS[comm].comm.all_gather(input, out)
    except (KeyError, ReferenceError):
        raise _failure(comm) from None


def _reduce_scatter(input, dim, world_size, comm, op="sum"):
    d = _dim(dim, input.dim(), "reduce_scatter")
    _world(world_size, "reduce_scatter")
    if input.shape[d] % world_size:
        raise _nc.UsageError(f"ncclrt.ops.reduce_scatter: dimension {d} has {input.shape[d]} "
                             f"elements, not a multiple of world_size={world_size}")
    if d:
        input = input.movedim(d, 0).contiguous()
    shape = list(input.shape)
    shape[0] //= world_size
    out = input.new_empty(shape)
    try:
        _COMMS[comm].comm.reduce_scatter(input, out, _REDOPS[op])
    except (KeyError, ReferenceError):
        raise _failure(comm, op) from None
    except _nc.UsageError as e:
        raise _size_mismatch(e, comm, world_size, "reduce_scatter") from None
    return out.movedim(0, d).contiguous() if d else out


def _reduce_scatter_into(out, input, comm, op="sum"):
    try:
        _COMMS[comm].comm.reduce_scatter(input, out, _REDOPS[op])
    except (KeyError, ReferenceError):
        raise _failure(comm, op) from None


def _rows(t, what):
    if t.dim() == 0:
        raise _nc.UsageError(f"ncclrt.ops.{what}: needs a tensor of at least one dimension")
    return t.numel() // t.shape[0] if t.shape[0] else 0


def _all_gatherv_into(out, input, sizes, comm):
    row = _rows(out, "all_gatherv_into")
    try:
        _COMMS[comm].comm.all_gatherv(input, out, [s * row for s in sizes])
    except (KeyError, ReferenceError):
        raise _failure(comm) from None


def _reduce_scatterv_into(out, input, sizes, comm, op="sum"):
    row = _rows(input, "reduce_scatterv_into")
    try:
        _COMMS[comm].comm.reduce_scatterv(input, out, [s * row for s in sizes], None,
                                          _REDOPS[op])
    except (KeyError, ReferenceError):
        raise _failure(comm, op) from None


def _broadcast(input, src, comm):
    out = _empty_like(input)
    try:
        _COMMS[comm].comm.broadcast(input, out, src)
    except (KeyError, ReferenceError):
        raise _failure(comm) from None
    return out


def _broadcast_(tensor, src, comm):
    try:
        _COMMS[comm].comm.broadcast(tensor, None, src)
    except (KeyError, ReferenceError):
        raise _failure(comm) from None


def _all_to_all(input, comm):
    out = _empty_like(input)
    try:
        _COMMS[comm].comm.all_to_all(input, out)
    except (KeyError, ReferenceError):
        raise _failure(comm) from None
    return out


def _send(tensor, dst, comm):
    try:
        _COMMS[comm].comm.send(tensor, dst)
    except (KeyError, ReferenceError):
        raise _failure(comm) from None


def _recv(like, src, comm):
    out = _empty_like(like)
    try:
        _COMMS[comm].comm.recv(out, src)
    except (KeyError, ReferenceError):
        raise _failure(comm) from None
    return out


def _recv_(tensor, src, comm):
    try:
        _COMMS[comm].comm.recv(tensor, src)
    except (KeyError, ReferenceError):
        raise _failure(comm) from None


# ---- fake implementations: shapes, dtypes, strides ------------------------------------------


def _fake_like(input, *args):
    return _empty_like(input)


def _fake_none(*args):
    return None


def _fake_all_gather(input, dim, world_size, comm):
    d = _dim(dim, input.dim(), "all_gather")
    _world(world_size, "all_gather")
    shape = list(input.shape)
    shape[d] = shape[d] * world_size
    return input.new_empty(shape)


def _fake_reduce_scatter(input, dim, world_size, comm, op="sum"):
    d = _dim(dim, input.dim(), "reduce_scatter")
    _world(world_size, "reduce_scatter")
    torch._check(input.shape[d] % world_size == 0,
                 lambda: f"ncclrt.ops.reduce_scatter: dimension {d} is not a multiple of "
                         f"world_size={world_size}")
    shape = list(input.shape)
    shape[d] = shape[d] // world_size
    return input.new_empty(shape)


# name[.overload]: (schema, implementation, fake)
OPS = {
    # The sums have vLLM's schema (a default argument costs every call); other reductions are
    # the .redop overloads: torch.ops.ncclrt.all_reduce.redop(x, "tp", "max").
    "all_reduce": ("(Tensor input, str comm) -> Tensor", _all_reduce_sum, _fake_like),
    "all_reduce.redop": ("(Tensor input, str comm, str op) -> Tensor", _all_reduce, _fake_like),
    "all_reduce_": ('(Tensor(a!) tensor, str comm, str op="sum") -> ()', _all_reduce_,
                    _fake_none),
    "all_reduce_into": ('(Tensor(a!) out, Tensor input, str comm, str op="sum") -> ()',
                        _all_reduce_into, _fake_none),
    "all_gather": ("(Tensor input, int dim, int world_size, str comm) -> Tensor", _all_gather,
                   _fake_all_gather),
    "all_gather_into": ("(Tensor(a!) out, Tensor input, str comm) -> ()", _all_gather_into,
                        _fake_none),
    "all_gatherv_into": ("(Tensor(a!) out, Tensor input, int[] sizes, str comm) -> ()",
                         _all_gatherv_into, _fake_none),
    "reduce_scatter": ("(Tensor input, int dim, int world_size, str comm) -> Tensor",
                       _reduce_scatter, _fake_reduce_scatter),
    "reduce_scatter.redop": (
        "(Tensor input, int dim, int world_size, str comm, str op) -> Tensor", _reduce_scatter,
        _fake_reduce_scatter),
    "reduce_scatter_into": ('(Tensor(a!) out, Tensor input, str comm, str op="sum") -> ()',
                            _reduce_scatter_into, _fake_none),
    "reduce_scatterv_into": ('(Tensor(a!) out, Tensor input, int[] sizes, str comm, '
                             'str op="sum") -> ()', _reduce_scatterv_into, _fake_none),
    "broadcast": ("(Tensor input, int src, str comm) -> Tensor", _broadcast, _fake_like),
    "broadcast_": ("(Tensor(a!) tensor, int src, str comm) -> ()", _broadcast_, _fake_none),
    "all_to_all": ("(Tensor input, str comm) -> Tensor", _all_to_all, _fake_like),
    "send": ("(Tensor tensor, int dst, str comm) -> ()", _send, _fake_none),
    "recv": ("(Tensor like, int src, str comm) -> Tensor", _recv, _fake_like),
    "recv_": ("(Tensor(a!) tensor, int src, str comm) -> ()", _recv_, _fake_none),
}
_ORDERED = ("send", "recv")  # point-to-point: program order is the protocol

# NCCL reads and writes contiguous memory: Inductor is asked to hand the ops contiguous tensors.
_TAGS = tuple(getattr(torch.Tag, t) for t in ("needs_contiguous_strides",)
              if hasattr(torch.Tag, t))

_LIB = torch.library.Library("ncclrt", "FRAGMENT")
def overload(name):
    """The OpOverload of 'all_reduce' or 'all_reduce.redop'."""
    op, _, which = name.partition(".")
    return getattr(getattr(torch.ops.ncclrt, op), which or "default")


for _name, (_schema, _impl, _fake) in OPS.items():
    _LIB.define(_name + _schema, tags=_TAGS)
    _LIB.impl(_name, _impl, "CUDA")
    _LIB.impl(_name, _impl, "CPU")
    torch.library.register_fake(f"ncclrt::{_name}", _fake, lib=_LIB)
    torch.fx.node.has_side_effect(overload(_name))


def _register_effects():
    from torch._higher_order_ops.effects import _EffectType, _register_effectful_op
    for name in _ORDERED:
        _register_effectful_op(getattr(torch.ops.ncclrt, name).default, _EffectType.ORDERED)


_register_effects()

# ---- gradients ------------------------------------------------------------------------------
#
# The three differentiable ops get an Autograd kernel that does the work itself for a plain
# tensor that needs no gradient (one Python kernel per call, as for an op without one: no
# redispatch), applies the autograd.Function below when a gradient is needed, and otherwise
# (fake or functional tensors, a dispatch mode) goes on below autograd.

_ns = torch.ops.ncclrt
_Tensor = torch.Tensor
_modes = torch._C._len_torch_dispatch_stack
_below = torch._C._AutoDispatchBelowAutograd
_grad_enabled = torch.is_grad_enabled


def _no_gradient(what, op):
    return _nc.UsageError(f"ncclrt.ops.{what}: no gradient for op='{op}' (only sum and avg)")


class _AllReduceFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, comm, op):
        ctx.comm, ctx.op = comm, op
        return _ns.all_reduce.redop(input, comm, op)

    @staticmethod
    def backward(ctx, grad):
        if ctx.op not in ("sum", "avg"):
            raise _no_gradient("all_reduce", ctx.op)
        return _ns.all_reduce.redop(grad.contiguous(), ctx.comm, ctx.op), None, None


class _AllGatherFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, dim, world_size, comm):
        ctx.args = (dim, world_size, comm)
        return _ns.all_gather.default(input, dim, world_size, comm)

    @staticmethod
    def backward(ctx, grad):
        dim, world_size, comm = ctx.args
        return (_ns.reduce_scatter.default(grad.contiguous(), dim, world_size, comm),
                None, None, None)


class _ReduceScatterFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, dim, world_size, comm, op):
        ctx.args = (dim, world_size, comm, op)
        return _ns.reduce_scatter.redop(input, dim, world_size, comm, op)

    @staticmethod
    def backward(ctx, grad):
        dim, world_size, comm, op = ctx.args
        if op not in ("sum", "avg"):
            raise _no_gradient("reduce_scatter", op)
        g = _ns.all_gather.default(grad.contiguous(), dim, world_size, comm)
        return (g / world_size if op == "avg" else g), None, None, None, None


def _autograd_all_reduce(input, comm):
    if type(input) is _Tensor and not input.requires_grad and not _modes():
        # _all_reduce_sum, inline: the most frequent op pays for one Python frame, as an op
        # without an Autograd kernel does.
        out = _empty_like(input)
        try:
            _COMMS[comm].comm.all_reduce(input, out, _SUM)
        except (KeyError, ReferenceError):
            raise _failure(comm) from None
        return out
    if input.requires_grad and _grad_enabled():
        return _AllReduceFn.apply(input, comm, "sum")
    with _below():
        return _ns.all_reduce.default(input, comm)


def _autograd_all_reduce_op(input, comm, op):
    if type(input) is _Tensor and not input.requires_grad and not _modes():
        return _all_reduce(input, comm, op)
    if input.requires_grad and _grad_enabled():
        return _AllReduceFn.apply(input, comm, op)
    with _below():
        return _ns.all_reduce.redop(input, comm, op)


def _autograd_all_gather(input, dim, world_size, comm):
    if type(input) is _Tensor and not input.requires_grad and not _modes():
        return _all_gather(input, dim, world_size, comm)
    if input.requires_grad and _grad_enabled():
        return _AllGatherFn.apply(input, dim, world_size, comm)
    with _below():
        return _ns.all_gather.default(input, dim, world_size, comm)


def _autograd_reduce_scatter(input, dim, world_size, comm):
    if type(input) is _Tensor and not input.requires_grad and not _modes():
        return _reduce_scatter(input, dim, world_size, comm)
    if input.requires_grad and _grad_enabled():
        return _ReduceScatterFn.apply(input, dim, world_size, comm, "sum")
    with _below():
        return _ns.reduce_scatter.default(input, dim, world_size, comm)


def _autograd_reduce_scatter_op(input, dim, world_size, comm, op):
    if type(input) is _Tensor and not input.requires_grad and not _modes():
        return _reduce_scatter(input, dim, world_size, comm, op)
    if input.requires_grad and _grad_enabled():
        return _ReduceScatterFn.apply(input, dim, world_size, comm, op)
    with _below():
        return _ns.reduce_scatter.redop(input, dim, world_size, comm, op)


_LIB.impl("all_reduce", _autograd_all_reduce, "Autograd")
_LIB.impl("all_reduce.redop", _autograd_all_reduce_op, "Autograd")
_LIB.impl("all_gather", _autograd_all_gather, "Autograd")
_LIB.impl("reduce_scatter", _autograd_reduce_scatter, "Autograd")
_LIB.impl("reduce_scatter.redop", _autograd_reduce_scatter_op, "Autograd")

# ---- the vLLM class's methods inside torch.compile ------------------------------------------
# ncclrt.torch.PyNcclCommunicator's collective methods call these while Dynamo traces them, so
# that code written for vLLM's class compiles into a graph of these ops without a break.

def _op_names():
    from torch.distributed import ReduceOp
    R = _nc.ReduceOp
    return ((ReduceOp.SUM, "sum"), (ReduceOp.PRODUCT, "prod"), (ReduceOp.MAX, "max"),
            (ReduceOp.MIN, "min"), (ReduceOp.AVG, "avg"), (R.SUM, "sum"), (R.PROD, "prod"),
            (R.MAX, "max"), (R.MIN, "min"), (R.AVG, "avg"))


_OP_NAMES = _op_names()


def _method_name(pynccl, stream, what):
    if stream is not None:
        raise _nc.UsageError(
            f"PyNcclCommunicator.{what}(stream=...) inside torch.compile: the compiled op runs on "
            "torch's current stream; use `with torch.cuda.stream(s):` around the call instead")
    name = getattr(pynccl, "_op_name", None)
    if name is None:
        raise _nc.UsageError(
            f"PyNcclCommunicator.{what} inside torch.compile: this communicator has no name for "
            "the ops; call ncclrt.ops.register_communicator(name, comm) before compiling")
    return name


def _op_text(op):
    # By identity: Dynamo cannot compare torch.distributed's ReduceOp values with ==.
    for known, text in _OP_NAMES:
        if op is known:
            return text
    raise _nc.UsageError(f"ncclrt.ops: {op!r} has no op form; inside torch.compile use "
                         "ReduceOp.SUM, PRODUCT, MAX, MIN or AVG (torch.distributed's or ncclrt's)")


def pynccl_all_reduce(pynccl, in_tensor, out_tensor, op, stream):
    if pynccl.disabled:
        return None
    name, op = _method_name(pynccl, stream, "all_reduce"), _op_text(op)
    if out_tensor is None:
        return (_ns.all_reduce.default(in_tensor, name) if op == "sum" else
                _ns.all_reduce.redop(in_tensor, name, op))
    if out_tensor is in_tensor:
        _ns.all_reduce_(out_tensor, name, op)
    else:
        _ns.all_reduce_into(out_tensor, in_tensor, name, op)
    return out_tensor


def pynccl_all_gather(pynccl, output_tensor, input_tensor, stream):
    if not pynccl.disabled:
        _ns.all_gather_into(output_tensor, input_tensor,
                            _method_name(pynccl, stream, "all_gather"))


def pynccl_all_gatherv(pynccl, output_tensor, input_tensor, sizes, stream):
    if not pynccl.disabled:
        _ns.all_gatherv_into(output_tensor, input_tensor, list(sizes),
                             _method_name(pynccl, stream, "all_gatherv"))


def pynccl_reduce_scatter(pynccl, output_tensor, input_tensor, op, stream):
    if not pynccl.disabled:
        _ns.reduce_scatter_into(output_tensor, input_tensor,
                                _method_name(pynccl, stream, "reduce_scatter"), _op_text(op))


def pynccl_reduce_scatterv(pynccl, output_tensor, input_tensor, sizes, op, stream):
    if not pynccl.disabled:
        _ns.reduce_scatterv_into(output_tensor, input_tensor, list(sizes),
                                 _method_name(pynccl, stream, "reduce_scatterv"), _op_text(op))


def pynccl_send(pynccl, tensor, dst, stream):
    if not pynccl.disabled:
        _ns.send(tensor, dst, _method_name(pynccl, stream, "send"))


def pynccl_recv(pynccl, tensor, src, stream):
    # The functional recv is an ordered effect (the in-place one cannot be): a compiled graph
    # keeps it in program order with the sends, at the cost of one copy.
    if not pynccl.disabled:
        tensor.copy_(_ns.recv(tensor, src, _method_name(pynccl, stream, "recv")))


def pynccl_broadcast(pynccl, tensor, src, stream):
    if not pynccl.disabled:
        _ns.broadcast_(tensor, src, _method_name(pynccl, stream, "broadcast"))
