"""ncclrt: NCCL loaded at run time (the C++ core, bound with nanobind)"""

from collections.abc import Iterator, Sequence
import enum
from typing import overload

from ncclrt import (
    Error as Error,
    LoadError as LoadError,
    NcclError as NcclError,
    TimeoutError as TimeoutError,
    UnsupportedError as UnsupportedError,
    UsageError as UsageError
)

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



class DataType(enum.IntEnum):
    """NCCL's data types (ncclDataType_t)."""

    INT8 = 0

    UINT8 = 1

    INT32 = 2

    UINT32 = 3

    INT64 = 4

    UINT64 = 5

    FLOAT16 = 6

    FLOAT32 = 7

    FLOAT64 = 8

    BFLOAT16 = 9

    FLOAT8_E4M3 = 10

    FLOAT8_E5M2 = 11

class ReduceOp(enum.IntEnum):
    """NCCL's built-in reduce ops."""

    SUM = 0

    PROD = 1

    MAX = 2

    MIN = 3

    AVG = 4

class SuspendFlags(enum.IntEnum):
    """ncclCommSuspend's flags."""

    NONE = 0

    MEMORY = 1
    """release NCCL's dynamic GPU memory"""

class ScalarResidence(enum.IntEnum):
    """Where a PreMulSum scalar lives."""

    DEVICE = 0

    HOST_IMMEDIATE = 1

SPLIT_NOCOLOR: int = -1

WIN_DEFAULT: int = 0

WIN_COLL_SYMMETRIC: int = 1

def size_of(arg: DataType, /) -> int:
    """Bytes per element of a DataType."""

class Version:
    """An NCCL release number."""

    @overload
    def __init__(self) -> None: ...

    @overload
    def __init__(self, major: int, minor: int, patch: int = 0) -> None: ...

    @staticmethod
    def from_code(code: int) -> Version:
        """Decodes ncclGetVersion's code (both encodings)."""

    @property
    def major(self) -> int: ...

    @property
    def minor(self) -> int: ...

    @property
    def patch(self) -> int: ...

    @property
    def code(self) -> int: ...

    def __str__(self) -> str: ...

    def __repr__(self) -> str: ...

    def __hash__(self) -> int: ...

    def __iter__(self) -> Iterator: ...

    def __eq__(self, arg: object, /) -> bool: ...

    def __ne__(self, arg: object, /) -> bool: ...

    def __lt__(self, arg: object, /) -> bool: ...

    def __le__(self, arg: object, /) -> bool: ...

    def __gt__(self, arg: object, /) -> bool: ...

    def __ge__(self, arg: object, /) -> bool: ...

class UniqueId:
    """The 128-byte token that names a communicator before it exists."""

    @overload
    def __init__(self) -> None: ...

    @overload
    def __init__(self, raw: bytes) -> None: ...

    @staticmethod
    def from_hex(text: str) -> UniqueId: ...

    def hex(self) -> str:
        """256 lower-case hex digits."""

    @property
    def bytes(self) -> bytes: ...

    def __bytes__(self) -> bytes: ...

    def __eq__(self, arg: object, /) -> bool: ...

    def __ne__(self, arg: object, /) -> bool: ...

    def __hash__(self) -> int: ...

    def __repr__(self) -> str: ...

    def __getstate__(self) -> bytes: ...

    def __setstate__(self, arg: bytes, /) -> None: ...

class SearchStep:
    """One place discovery tried, and what happened there."""

    @property
    def source(self) -> str: ...

    @property
    def source_text(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def outcome(self) -> str: ...

    @property
    def loaded(self) -> bool: ...

    def __repr__(self) -> str: ...

class Capability:
    """A function or feature, and whether it is usable."""

    @property
    def name(self) -> str: ...

    @property
    def since(self) -> Version: ...

    @property
    def is_function(self) -> bool: ...

    @property
    def required(self) -> bool: ...

    @property
    def available(self) -> bool: ...

    @property
    def why_not(self) -> str: ...

    def __repr__(self) -> str: ...

class ProbeResult:
    """What a separate process saw loading a file."""

    @property
    def usable(self) -> bool:
        """
        The file loaded cleanly and reported an NCCL version (`ncclrt probe --json`'s `usable`; the command also checks the symbol table).
        """

    @property
    def ok(self) -> bool:
        """Deprecated: ProbeResult.usable."""

    @property
    def verdict(self) -> str: ...

    @property
    def file(self) -> str: ...

    @property
    def resolved(self) -> str: ...

    @property
    def version(self) -> Version | None: ...

    @property
    def signal(self) -> int: ...

    @property
    def exit_code(self) -> int: ...

    @property
    def detail(self) -> str: ...

    @property
    def seconds(self) -> float: ...

    @property
    def cached(self) -> bool: ...

    def message(self) -> str: ...

    def __repr__(self) -> str: ...

def probe(file: str, timeout: Seconds = 10.0) -> ProbeResult:
    """
    Loads `file` in a separate process and reports what happened; never raises for a bad file.
    """

class Library:
    """One opened libnccl file: version, functions, ids."""

    @staticmethod
    def open(path: str | None = None, *, sources: Sequence[str] | None = None, probe: bool | None = None, probe_timeout: Seconds | None = None, allow_missing_functions: bool | None = None, disabled_functions: Sequence[str] | None = None) -> Library:
        """
        Finds and opens NCCL: `path`, else $NCCLRT_NCCL_LIB, else discovery. Raises LoadError naming every place tried. `disabled_functions` (default $NCCLRT_DISABLE_FUNCTIONS) turns NCCL functions off, e.g. ['ncclAlltoAll'] to use the grouped send/recv form.
        """

    @property
    def path(self) -> str: ...

    @property
    def version(self) -> Version: ...

    @property
    def found_by(self) -> str: ...

    @property
    def found_by_text(self) -> str: ...

    @property
    def search_log(self) -> list[SearchStep]: ...

    @property
    def probe_seconds(self) -> float | None: ...

    @property
    def missing_functions(self) -> list[str]: ...

    @property
    def disabled_functions(self) -> list[str]: ...

    def has(self, name: str) -> bool:
        """
        Whether a function ('ncclCommShrink') or feature ('bfloat16') is usable.
        """

    def require(self, name: str) -> None:
        """Raises UnsupportedError, naming the release needed, if it is not."""

    def capabilities(self) -> list[Capability]: ...

    def unique_id(self) -> UniqueId:
        """A fresh id for a new communicator (ncclGetUniqueId)."""

    def error_string(self, result: int) -> str: ...

    def last_error(self) -> str: ...

    def parameters(self) -> dict:
        """NCCL's parameters (NCCL >= 2.30.4): {name: value in effect}."""

    def parameter(self, name: str) -> str | None:
        """One parameter's value in effect, or None if NCCL has no such name."""

    def environment_names(self) -> list[str]:
        """Every NCCL_* variable name the loaded file can read."""

    def unknown_environment(self) -> dict:
        """
        The NCCL_* variables set here that this NCCL never reads: {name: [nearest names]}.
        """

    def ranks_per_gpu(self) -> tuple[bool, str]:
        """
        (allowed, why_not): whether several ranks may share a GPU (NCCL >= 2.30.3 with NCCL_MULTI_RANK_GPU_ENABLE=1).
        """

    def set_encryption(self, pre_shared_key: str) -> None:
        """ncclSetEncryption (NCCL >= 2.32.3); an empty key turns encryption off."""

    def __eq__(self, arg: object, /) -> bool: ...

    def __hash__(self) -> int: ...

    def __repr__(self) -> str: ...

class Config:
    """
    ncclConfig_t as keyword arguments; unset fields keep NCCL's defaults. A field the loaded NCCL lacks raises UnsupportedError when used. `timeout` (seconds) makes creation nonblocking with a deadline.
    """

    def __init__(self, **kwargs) -> None: ...

    def __getattr__(self, arg: str, /) -> object: ...

    def __setattr__(self, arg0: str, arg1: object, /) -> None: ...

    @staticmethod
    def fields() -> list[str]:
        """The names Config takes."""

    def empty(self) -> bool: ...

    def __repr__(self) -> str: ...

class CollConfig:
    """
    Per-call options of one collective (ncclCollConfig_t, NCCL >= 2.31.2) as keyword arguments, passed as config= to an operation; an empty one is the ordinary call. A field the loaded NCCL lacks raises UnsupportedError when used.
    """

    def __init__(self, **kwargs) -> None: ...

    def __getattr__(self, arg: str, /) -> object: ...

    def __setattr__(self, arg0: str, arg1: object, /) -> None: ...

    @staticmethod
    def fields() -> list[str]:
        """The names CollConfig takes."""

    def empty(self) -> bool: ...

    def __repr__(self) -> str: ...

class Group:
    """
    ncclGroupStart on entry, ncclGroupEnd on exit: `with ncclrt.group(lib, timeout=None):`. On nonblocking communicators the outermost exit waits until each one touched inside has enqueued its work, within `timeout` seconds (else each one's own deadline); on expiry they are all aborted and TimeoutError is raised. An exception raised inside the block wins over one from ending the group (which is then logged).
    """

    def __init__(self, lib: Library | Communicator | None = None, timeout: Seconds | None = None) -> None: ...

    def __enter__(self) -> Group: ...

    def __exit__(self, exc_type: object | None, exc: object | None, tb: object | None) -> bool: ...

    def __repr__(self) -> str: ...

class Watchdog:
    """
    One thread that aborts communicators whose watched work passes its deadline or which report an error. Off by default.
    """

    @staticmethod
    def enable(poll: Seconds = 0.1) -> None: ...

    @staticmethod
    def disable() -> None: ...

    @staticmethod
    def enabled() -> bool: ...

class NcclMemory:
    """
    Device memory from ncclMemAlloc (NCCL >= 2.19), freed with ncclMemFree on close(). Usable as a uint8 array wherever a buffer is taken.
    """

    @staticmethod
    def allocate(lib: Library | None, nbytes: int) -> NcclMemory: ...

    @property
    def ptr(self) -> int: ...

    @property
    def nbytes(self) -> int: ...

    @property
    def __cuda_array_interface__(self) -> dict: ...

    def close(self) -> None:
        """Frees the memory now."""

    def __enter__(self) -> NcclMemory: ...

    def __exit__(self, exc_type: object | None, exc: object | None, tb: object | None) -> bool: ...

    def __repr__(self) -> str: ...

def max_ctas_for_shared_gpu(device: int, ranks: int) -> int:
    """
    The most CTAs (Config.max_ctas) each of `ranks` ranks of this process sharing `device` may use so that all their kernels are resident at once: SMs // ranks rounded down to a power of two (NCCL rounds send/recv channels up to one), at least 1. Threads of one process sharing a GPU hang without such a cap.
    """

def set_log_level(level: str) -> None:
    """Diagnostics to stderr at this level (default from $NCCLRT_LOG, off)."""

class PreMulSum:
    """A PreMulSum reduce op; pass it as op=. Destroyed on close()."""

    @property
    def op(self) -> int: ...

    def __int__(self) -> int: ...

    def __repr__(self) -> str: ...

    def close(self) -> None:
        """Releases it now (also when the object goes)."""

    def __enter__(self) -> PreMulSum: ...

    def __exit__(self, exc_type: object | None, exc: object | None, tb: object | None) -> bool: ...

class Registration:
    """A buffer registered with ncclCommRegister; deregistered on close()."""

    @property
    def handle(self) -> int: ...

    def __repr__(self) -> str: ...

    def close(self) -> None:
        """Releases it now (also when the object goes)."""

    def __enter__(self) -> Registration: ...

    def __exit__(self, exc_type: object | None, exc: object | None, tb: object | None) -> bool: ...

class Window:
    """A window from ncclCommWindowRegister; deregistered on close()."""

    @property
    def native(self) -> int: ...

    @property
    def user_pointer(self) -> int:
        """ncclWinGetUserPtr (NCCL >= 2.29.2): the buffer it was registered over."""

    def __repr__(self) -> str: ...

    def close(self) -> None:
        """Releases it now (also when the object goes)."""

    def __enter__(self) -> Window: ...

    def __exit__(self, exc_type: object | None, exc: object | None, tb: object | None) -> bool: ...

    def lsa_pointer(self, offset: int, lsa_rank: int) -> int:
        """
        ncclGetLsaDevicePointer (NCCL >= 2.29.2): the window of rank `lsa_rank` of this rank's load/store-accessible team, at byte `offset`.
        """

    def peer_pointer(self, offset: int, peer: int) -> int:
        """
        ncclGetPeerDevicePointer: the window of communicator rank `peer` (0 when it is not load/store-accessible).
        """

    def lsa_multimem_pointer(self, offset: int) -> int:
        """ncclGetLsaMultimemDevicePointer (0 without multicast)."""

    def multimem_pointer(self, offset: int, multimem_base: int) -> int:
        """
        ncclGetMultimemDevicePointer for a team's multimem handle (its mcBasePtr).
        """

class MemoryStats:
    """ncclCommMemStats, every statistic by name."""

    @property
    def suspendable_bytes(self) -> int: ...

    @property
    def persistent_bytes(self) -> int: ...

    @property
    def total_bytes(self) -> int: ...

    @property
    def suspended(self) -> bool: ...

    def __repr__(self) -> str: ...

class SignalWait:
    """
    What wait_signal waits for: `count` signals from `peer` on a signal index and context (ncclWaitSignalDesc_t).
    """

    @overload
    def __init__(self) -> None: ...

    @overload
    def __init__(self, peer: int, signal_index: int = 0, count: int = 1, context: int = 0) -> None: ...

    @property
    def peer(self) -> int: ...

    @peer.setter
    def peer(self, arg: int, /) -> None: ...

    @property
    def signal_index(self) -> int: ...

    @signal_index.setter
    def signal_index(self, arg: int, /) -> None: ...

    @property
    def count(self) -> int: ...

    @count.setter
    def count(self, arg: int, /) -> None: ...

    @property
    def context(self) -> int: ...

    @context.setter
    def context(self, arg: int, /) -> None: ...

    def __repr__(self) -> str: ...

class Suspension:
    """Suspends a communicator for a `with` block."""

    def __enter__(self) -> None: ...

    def __exit__(self, exc_type: object | None, exc: object | None, tb: object | None) -> bool: ...

    def __repr__(self) -> str: ...

class Communicator:
    """
    One NCCL communicator. Operations take arrays (torch, cupy, __cuda_array_interface__, __dlpack__) or device pointers (int) with count= and dtype=; stream=None is torch's current stream for torch tensors, else the default stream.
    """

    @staticmethod
    def init_rank(lib: Library | None, nranks: int, rank: int, unique_id: UniqueId, config: Config | None = None) -> Communicator:
        """ncclCommInitRank(Config) on the current CUDA device."""

    @staticmethod
    def init_all(lib: Library | None, devices: Sequence[int], config: Config | None = None) -> list[Communicator]:
        """
        One communicator per listed device (rank i on devices[i]). A device may repeat where several ranks per GPU are allowed; ranks sharing a GPU then get max_ctas=max_ctas_for_shared_gpu(device, ranks on it) unless config sets it.
        """

    @staticmethod
    def from_environment(lib: Library | Communicator | None = None, config: Config | None = None) -> Communicator:
        """
        Rank and size from torchrun / Open MPI / Slurm / NCCLRT_* variables, the device from the local rank, the rendezvous through NCCL_COMM_ID.
        """

    def split(self, color: int, key: int, config: Config | None = None) -> Communicator | None:
        """ncclCommSplit; None for color=SPLIT_NOCOLOR."""

    def shrink(self, excluded: Sequence[int], config: Config | None = None, abort_parent: bool = False) -> Communicator:
        """ncclCommShrink: a new communicator without the excluded ranks."""

    def revoke(self, timeout: Seconds | None = None) -> None:
        """
        ncclCommRevoke (NCCL >= 2.28.7): stops in-flight work; then only destroy, abort, split and shrink are allowed.
        """

    def grow_id(self) -> UniqueId:
        """
        ncclCommGetUniqueId (NCCL >= 2.29.2), on one existing rank: the id new ranks join with.
        """

    def grow(self, nranks: int, unique_id: UniqueId | None = None, config: Config | None = None) -> Communicator:
        """
        ncclCommGrow on every existing rank; the rank that made the id passes it.
        """

    @staticmethod
    def join(lib: Library | None | None, nranks: int, rank: int, unique_id: UniqueId, config: Config | None = None) -> Communicator:
        """
        ncclCommGrow on a new rank: joins the communicator the existing ranks grow.
        """

    def suspend(self, flags: SuspendFlags = SuspendFlags.MEMORY) -> None:
        """
        ncclCommSuspend (NCCL >= 2.29.7); operations are refused until resume().
        """

    def resume(self) -> None:
        """ncclCommResume (NCCL >= 2.29.7)."""

    def suspension(self, flags: SuspendFlags = SuspendFlags.MEMORY) -> Suspension:
        """`with comm.suspension():` suspends for the block and resumes after it."""

    def memory_stats(self) -> MemoryStats:
        """ncclCommMemStats (NCCL >= 2.29.7)."""

    @property
    def revoked(self) -> bool: ...

    @property
    def suspended(self) -> bool: ...

    @property
    def valid(self) -> bool: ...

    def __bool__(self) -> bool: ...

    @property
    def rank(self) -> int: ...

    @property
    def size(self) -> int: ...

    @property
    def device(self) -> int: ...

    @property
    def library(self) -> Library: ...

    @property
    def native(self) -> int: ...

    def finalize(self, timeout: Seconds | None = None) -> None: ...

    def destroy(self, timeout: Seconds | None = None) -> None: ...

    def abort(self) -> None:
        """Stops at once without waiting for peers; never raises."""

    def check(self) -> None:
        """Raises NcclError if the communicator has failed asynchronously."""

    def synchronize(self, stream: StreamLike = None, timeout: Seconds = 60.0, abort: bool = True) -> None:
        """
        Waits for the stream's work; an error or the timeout raises, aborting the communicator first unless abort=False (then revoke() and shrink() it).
        """

    def watch(self, stream: StreamLike = None, timeout: Seconds = 60.0) -> None:
        """Hands the stream's work so far to the Watchdog."""

    def __enter__(self) -> Communicator: ...

    def __exit__(self, exc_type: object | None, exc: object | None, tb: object | None) -> bool:
        """Destroys on a normal exit, aborts when an exception leaves the block."""

    def __repr__(self) -> str: ...

    def create_pre_mul_sum(self, scalar: float | Buffer, dtype: DTypeLike | None = None, residence: ScalarResidence = ScalarResidence.HOST_IMMEDIATE) -> PreMulSum:
        """
        A PreMulSum op: a number with dtype= (host) or a one-element device array.
        """

    def register_buffer(self, buf: Buffer, nbytes: int | None = None, *, stream: StreamLike = None) -> Registration:
        """ncclCommRegister; refused during a visible capture."""

    def register_window(self, buf: Buffer, nbytes: int | None = None, flags: int = 0, *, stream: StreamLike = None) -> Window:
        """ncclCommWindowRegister; refused during a visible capture."""

    def all_reduce(self, send: Buffer, recv: Buffer | None = None, op: ReduceOp | PreMulSum | int | str = ReduceOp.SUM, *, stream: StreamLike = None, count: int | None = None, dtype: DTypeLike | None = None, config: object | None = None) -> Buffer:
        """recv=None reduces in place. Returns recv."""

    def broadcast(self, send: Buffer, recv: Buffer | None = None, root: int = 0, *, stream: StreamLike = None, count: int | None = None, dtype: DTypeLike | None = None, config: object | None = None) -> Buffer:
        """recv=None is in place. Returns recv."""

    def reduce(self, send: Buffer, recv: Buffer | None = None, op: ReduceOp | PreMulSum | int | str = ReduceOp.SUM, root: int = 0, *, stream: StreamLike = None, count: int | None = None, dtype: DTypeLike | None = None, config: object | None = None) -> Buffer:
        """recv=None is in place; recv matters on the root only."""

    def all_gather(self, send: Buffer, recv: Buffer, *, stream: StreamLike = None, count: int | None = None, dtype: DTypeLike | None = None, config: object | None = None) -> Buffer:
        """recv holds size x send elements."""

    def reduce_scatter(self, send: Buffer, recv: Buffer, op: ReduceOp | PreMulSum | int | str = ReduceOp.SUM, *, stream: StreamLike = None, count: int | None = None, dtype: DTypeLike | None = None, config: object | None = None) -> Buffer:
        """send holds size x recv elements."""

    def all_to_all(self, send: Buffer, recv: Buffer, *, stream: StreamLike = None, count: int | None = None, dtype: DTypeLike | None = None, config: object | None = None) -> Buffer:
        """Block p of send goes to rank p; count= (pointers) is per peer."""

    def gather(self, send: Buffer, recv: Buffer | None = None, root: int = 0, *, stream: StreamLike = None, count: int | None = None, dtype: DTypeLike | None = None, config: object | None = None) -> Buffer:
        """The root's recv holds size x send elements."""

    def scatter(self, send: Buffer | None, recv: Buffer, root: int = 0, *, stream: StreamLike = None, count: int | None = None, dtype: DTypeLike | None = None, config: object | None = None) -> Buffer:
        """The root's send holds size x recv elements."""

    def all_gatherv(self, send: Buffer, recv: Buffer, counts: Sequence[int], displs: Sequence[int] | None = None, *, stream: StreamLike = None, count: int | None = None, dtype: DTypeLike | None = None) -> Buffer:
        """
        Rank r's counts[r] elements land at recv[displs[r]] (packed when displs=None).
        """

    def reduce_scatterv(self, send: Buffer, recv: Buffer, counts: Sequence[int], displs: Sequence[int] | None = None, op: ReduceOp | PreMulSum | int | str = ReduceOp.SUM, *, stream: StreamLike = None, count: int | None = None, dtype: DTypeLike | None = None) -> Buffer:
        """
        Block r of send (counts[r] elements at displs[r]) is reduced into rank r's recv.
        """

    def send(self, buf: Buffer, peer: int, *, stream: StreamLike = None, count: int | None = None, dtype: DTypeLike | None = None) -> None: ...

    def recv(self, buf: Buffer, peer: int, *, stream: StreamLike = None, count: int | None = None, dtype: DTypeLike | None = None) -> None: ...

    def put_signal(self, local: object | None, peer: int, window: Window, offset: int = 0, signal_index: int = 0, context: int = 0, *, stream: StreamLike = None, count: int | None = None, dtype: DTypeLike | None = None) -> object:
        """
        ncclPutSignal (NCCL >= 2.29.2): local into peer's part of window at byte offset, then a signal there.
        """

    def signal(self, peer: int, signal_index: int = 0, context: int = 0, *, stream: StreamLike = None) -> None:
        """ncclSignal (NCCL >= 2.29.2): a signal to peer without data."""

    def wait_signal(self, waits: object, *, stream: StreamLike = None) -> None:
        """
        ncclWaitSignal (NCCL >= 2.29.2): the stream waits for every SignalWait.
        """

    def trace(self) -> list[dict[str, Any]]:
        """The flight recorder's entries, oldest first, as dicts (the keys of the JSON dumps)."""

    def trace_info(self) -> dict[str, Any]:
        """
        The recorder's header: the communicator's id (the same on every rank), entries recorded, and in progress mode what the GPU has started and completed.
        """

    def trace_label(self, text: str) -> TraceLabel:
        """
        `with comm.trace_label("decode step 42"):` labels the entries recorded in the block (an interned id per entry, no copy of the text).
        """

    def properties(self) -> CommProperties:
        """
        ncclCommQueryProperties (NCCL >= 2.29.2): what this communicator offers the device API.
        """

    def create_dev_comm(self, **kwargs) -> DevComm:
        """
        ncclDevCommCreate (NCCL >= 2.29.2); keywords are ncclDevCommRequirements_t's fields in snake_case (none: NCCL's initializer). Raises UnsupportedError where the device API is not supported.
        """

class TraceLabel:
    """Labels the entries a communicator records inside a `with` block."""

    def __enter__(self) -> TraceLabel: ...

    def __exit__(self, exc_type: object | None, exc: object | None, tb: object | None) -> bool: ...

    @property
    def text(self) -> str: ...

def dump_traces(dir: str) -> list[str]:
    """
    Writes one JSON dump per communicator and rank of this process into `dir` (mode 0600, never overwriting); returns the paths. Read them with `ncclrt trace analyze DIR`.
    """

class AgreementStore:
    """
    Where the survivors of a failure agree on who failed: subclass it with create(key, value) -> bool (write once; True if this call wrote it) and get(key) -> str | None, over what the job has (ncclrt.torch.TorchStore wraps a torch.distributed store).
    """

    def __init__(self) -> None: ...

    def create(self, key: str, value: str) -> bool: ...

    def get(self, key: str) -> str | None: ...

class DirectoryStore(AgreementStore):
    """
    An AgreementStore in a directory every rank sees (/tmp or /dev/shm of one machine, or a shared file system); each key a file created once. private=True: the directory is this user's alone (made with mode 0700; one that exists must be a directory of this user, not a symbolic link, with no group or other permissions), else UsageError.
    """

    def __init__(self, directory: str, *, private: bool = False) -> None: ...

    @property
    def directory(self) -> str: ...

    @property
    def private(self) -> bool: ...

    def __repr__(self) -> str: ...

def agree_on_failed_ranks(store: AgreementStore, scope: str, rank: int, size: int, window: Seconds = 5.0) -> list[int]:
    """
    The ranks that failed, as every survivor agrees: call it on each survivor after revoke() with the same `scope` (new for each failure: a scope this rank used before raises UsageError) and pass the list to shrink(). Each marks itself alive and waits until all have, or `window` seconds pass; the first to finish publishes the ranks that did not. A rank that finds itself listed (too late) gets Error. Returns or raises within window + 1 s whatever the store does: a store call that has not returned by then raises TimeoutError (the call goes on, and the store is kept alive for it).
    """

def recover(comm: Communicator, store: AgreementStore, scope: str, window: Seconds = 5.0, config: Config | None = None) -> tuple[Communicator, list[int], bool, bool]:
    """
    The recovery from a lost rank in one call, on every survivor, once a wait that leaves the communicator alive failed: revoke, agree on the failed ranks through `store` (`scope` new for each failure), shrink them away (split if nobody failed). Where NCCL latched the failure itself on some survivor (ncclRemoteError: it refuses to revoke, and then to shrink), every survivor aborts `comm` and makes a new communicator of the survivors from a unique id the first one publishes in the store. With an NCCL older than 2.28.7 (no revoke), the shrink aborts the old work. `config` (the one `comm` was made with) is the new communicator's; its timeout also bounds the revoke. Returns (communicator, failed ranks, revoked, rebuilt); `comm` is left revoked (destroy it) or aborted.
    """

class CommProperties:
    """ncclCommQueryProperties: what a communicator offers the device API."""

    @property
    def rank(self) -> int: ...

    @property
    def size(self) -> int: ...

    @property
    def cuda_device(self) -> int: ...

    @property
    def nvml_device(self) -> int: ...

    @property
    def device_api_support(self) -> bool: ...

    @property
    def multimem_support(self) -> bool: ...

    @property
    def gin_type(self) -> int: ...

    @property
    def lsa_teams(self) -> int | None:
        """None where NCCL < 2.30.7 was asked."""

    @property
    def host_rma_support(self) -> bool | None: ...

    @property
    def railed_gin_type(self) -> int | None: ...

    @property
    def layout(self) -> Version:
        """The layout ncclrt asked with."""

    def __repr__(self) -> str: ...

class DevComm:
    """
    A device communicator (ncclDevCommCreate) for kernels written against nccl_device.h; destroyed on close() or when it goes.
    """

    @property
    def data(self) -> int:
        """
        Host address of the ncclDevComm NCCL wrote (pass its bytes to a kernel by value).
        """

    @property
    def bytes(self) -> int: ...

    @property
    def layout(self) -> Version: ...

    @property
    def valid(self) -> bool: ...

    @property
    def rank(self) -> int: ...

    @property
    def size(self) -> int: ...

    @property
    def lsa_rank(self) -> int: ...

    @property
    def lsa_size(self) -> int: ...

    def raw(self) -> bytes:
        """The ncclDevComm's bytes."""

    def destroy(self) -> None:
        """ncclDevCommDestroy now; raises on failure."""

    def close(self) -> None:
        """Destroys it now, logging a failure."""

    def __enter__(self) -> DevComm: ...

    def __exit__(self, exc_type: object | None, exc: object | None, tb: object | None) -> bool: ...

    def __repr__(self) -> str: ...
