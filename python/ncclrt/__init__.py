"""ncclrt: NCCL loaded at run time, from Python.

Open NCCL (a path, $NCCLRT_NCCL_LIB, or discovery), make communicators, and run every NCCL
operation on torch tensors, cupy arrays, anything with ``__cuda_array_interface__`` or
``__dlpack__``, or raw device pointers. Every operation is safe to capture in a CUDA graph;
errors are exceptions that say what, where, why and what to try.

    import ncclrt, torch
    lib = ncclrt.Library.open()
    comm = ncclrt.Communicator.init_rank(lib, 1, 0, lib.unique_id())
    x = torch.ones(1024, device="cuda")
    comm.all_reduce(x)              # in place, on torch's current stream

Nothing here imports torch, cupy or CUDA; NCCL is loaded when a Library is opened.
"""
from ._ncclrt import (  # noqa: F401
    SPLIT_NOCOLOR,
    WIN_COLL_SYMMETRIC,
    WIN_DEFAULT,
    Capability,
    CollConfig,
    CommProperties,
    AgreementStore,
    Communicator,
    Config,
    DataType,
    DevComm,
    DirectoryStore,
    Error,
    Group,
    Library,
    LoadError,
    MemoryStats,
    NcclError,
    NcclMemory,
    PreMulSum,
    ProbeResult,
    ReduceOp,
    Registration,
    ScalarResidence,
    SearchStep,
    SignalWait,
    SuspendFlags,
    Suspension,
    TimeoutError,
    TraceLabel,
    UniqueId,
    UnsupportedError,
    UsageError,
    Version,
    Watchdog,
    Window,
    __version__,
    agree_on_failed_ranks,
    dump_traces,
    max_ctas_for_shared_gpu,
    probe,
    recover,
    set_log_level,
    size_of,
)


def _hand_over_the_environment():
    # Discovery looks for pip's NCCL (nvidia/nccl/lib) in this interpreter's own package
    # directories, read here in-process: no interpreter is started to ask, and the NCCL found is
    # the one PyTorch in the same environment loads.
    import os
    import sys
    from . import _ncclrt
    _ncclrt._set_python_environment([os.path.abspath(p or os.curdir) for p in sys.path])


_hand_over_the_environment()


def _functions_as_such():
    # nanobind's functions and static methods (ncclrt.probe, Library.open, Communicator.init_rank,
    # ...) are objects help() does not take for functions: it lists them as data. Each is wrapped
    # in a plain Python function carrying nanobind's signature (inspect.signature, help() and
    # IDEs read it) and its docstring; calling it calls the binding.
    import ast
    import functools
    import inspect
    import re
    from . import _ncclrt

    class Written:  # an annotation help() shows as written, without quotes
        def __init__(self, text):
            self.text = text

        def __repr__(self):
            return self.text

    def signature(f):
        text, _, defaults = f.__nb_signature__[0]
        fn = ast.parse(re.sub(r"\\(\d+)", r"_d\1", text) + ": pass").body[0]
        a = fn.args

        def default(node):
            if node is None:
                return inspect.Parameter.empty
            return defaults[int(node.id[2:])]

        def param(arg, kind, node=None):
            note = Written(ast.unparse(arg.annotation)) if arg.annotation else \
                inspect.Parameter.empty
            return inspect.Parameter(arg.arg, kind, default=default(node), annotation=note)

        positional = a.posonlyargs + a.args
        pos_defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
        params = [param(arg, inspect.Parameter.POSITIONAL_ONLY if arg in a.posonlyargs
                        else inspect.Parameter.POSITIONAL_OR_KEYWORD, d)
                  for arg, d in zip(positional, pos_defaults)]
        if a.vararg:
            params.append(param(a.vararg, inspect.Parameter.VAR_POSITIONAL))
        params += [param(arg, inspect.Parameter.KEYWORD_ONLY, d)
                   for arg, d in zip(a.kwonlyargs, a.kw_defaults)]
        if a.kwarg:
            params.append(param(a.kwarg, inspect.Parameter.VAR_KEYWORD))
        returns = Written(ast.unparse(fn.returns)) if fn.returns else inspect.Signature.empty
        return inspect.Signature(params, return_annotation=returns)

    def wrapped(qualname, f):
        @functools.wraps(f, assigned=("__doc__",), updated=())
        def call(*args, **kwargs):
            return f(*args, **kwargs)
        call.__name__, call.__qualname__ = qualname.rpartition(".")[2], qualname
        call.__module__ = __name__
        try:
            call.__signature__ = signature(f)
            # The signature line nanobind puts first in the docstring is now the signature.
            if len(f.__nb_signature__) == 1 and f.__doc__:
                call.__doc__ = f.__doc__.partition("\n")[2].lstrip("\n") or None
        except (SyntaxError, ValueError, IndexError, AttributeError):
            pass  # an overloaded binding: its docstring lists every signature
        del call.__wrapped__
        return call

    for cls in vars(_ncclrt).values():
        if isinstance(cls, type):
            for name, value in list(vars(cls).items()):
                if type(value).__name__ == "nb_func":
                    setattr(cls, name, staticmethod(wrapped(f"{cls.__name__}.{name}", value)))
    for name, value in list(globals().items()):
        if type(value).__name__ == "nb_func":
            globals()[name] = wrapped(name, value)


_functions_as_such()


def group(lib=None, timeout=None):
    """``with ncclrt.group(lib):`` issues ncclGroupStart, and ncclGroupEnd on leaving.

    `lib` is a Library, a Communicator (its library), or None (the NCCL discovery finds). On
    nonblocking communicators the end waits until each one used inside has enqueued its work,
    within `timeout` seconds (else each communicator's own deadline).
    """
    if isinstance(lib, Communicator):
        lib = lib.library
    return Group(lib, timeout)


__all__ = [name for name in dir() if not name.startswith("_")]
