// The collectives of ncclrt.pynccl_wrapper.NCCLLibrary (vLLM's NCCL class) as builtin methods of
// that Python class: NCCL's C argument lists, called positionally as vLLM calls them.
//
// The cheap path: plain ints (addresses, counts, types, ops, ranks, streams) read with one
// compare and one conversion each, and the communicator found by the identity of the object
// passed (what ncclCommInitRank returned, or the int of its handle), in a small table. What
// vLLM itself passes also works: ctypes values (buffer_type(ptr), cudaStream_t(s), c_int, ...)
// are read through their `.value`, and a communicator not in the table is looked up by its
// handle among those the class made. Then ncclrt's own call: checks, the flight recorder, the
// GIL released around NCCL.
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>

#include "bindings.hpp"
#include "buffers.hpp"
#include "fastcall.hpp"
#include "pyutil.hpp"

namespace ncclrt::py {
namespace {

PyObject* g_value = nullptr;     // "value", interned
PyObject* g_registry = nullptr;  // {handle (int): Communicator} of the class's communicators

// Communicators by the identity of the object a call passed. Each entry holds that object and
// the Communicator, so neither address can be reused by another object while it is here.
struct Cached {
  PyObject* arg = nullptr;
  PyObject* owner = nullptr;
  const Communicator* comm = nullptr;
};
constexpr int kCached = 8;
Cached g_cache[kCached];
int g_next = 0;

[[noreturn]] void bad_argument(const char* fn, const char* param, PyObject* o, const char* what) {
  throw UsageError(std::string(fn) + ": " + param + " must be " + what + "; got " + text_of(o) +
                   " (" + type_name(o) + ")");
}

// A ctypes value's `.value` (an int, or None for a null pointer), or nullptr with no error set
// when `o` has none.
PyObject* ctypes_value(PyObject* o) { return attr_or_null(o, g_value); }

// ctypes' integer and pointer types, read through their buffer (the C value's bytes) rather
// than `.value` (a descriptor call and a new int): a third of the cost, for what vLLM passes
// (buffer_type(p), cudaStream_t(s)).
struct CtypesInt {
  PyObject* type = nullptr;
  bool is_signed = false;
};
constexpr int kCtypesInts = 16;
CtypesInt g_ctypes[kCtypesInts];
int g_nctypes = 0;

bool ctypes_int(PyObject* o, long long& out) {
  PyObject* type = reinterpret_cast<PyObject*>(Py_TYPE(o));
  for (int i = 0; i < g_nctypes; ++i) {
    if (g_ctypes[i].type != type) continue;
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_SIMPLE) != 0) {
      PyErr_Clear();
      return false;
    }
    bool ok = true;
    if (view.len == 8) {
      std::int64_t v;
      std::memcpy(&v, view.buf, 8);
      out = v;
    } else if (view.len == 4) {
      std::int32_t v;
      std::memcpy(&v, view.buf, 4);
      out = g_ctypes[i].is_signed ? static_cast<long long>(v)
                                  : static_cast<long long>(static_cast<std::uint32_t>(v));
    } else {
      ok = false;
    }
    PyBuffer_Release(&view);
    return ok;
  }
  return false;
}

// An int argument read through __index__ or a ctypes `.value`: the uncommon forms.
long long integer_slowly(PyObject* o, const char* fn, const char* param, bool none_is_zero) {
  if (o == Py_None && none_is_zero) return 0;
  if (PyLong_Check(o) || (!PyFloat_Check(o) && PyIndex_Check(o))) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred()) {
      PyErr_Clear();
    } else if (overflow == 0) {
      return v;
    }
    bad_argument(fn, param, o, "an int that fits 64 bits");
  }
  long long v = 0;
  if (ctypes_int(o, v)) return v;
  Ref value(ctypes_value(o));
  if (value && value.p != o) return integer_slowly(value.p, fn, param, true);
  bad_argument(fn, param, o, "an int or a ctypes value (c_void_p, c_int, c_size_t, ...)");
}

inline void* pointer_arg(PyObject* o, const char* fn, const char* param) {
  if (__builtin_expect(Py_IS_TYPE(o, &PyLong_Type), 1)) {
    void* p = nullptr;
    if (pointer_from_int(o, p)) return p;
  }
  const long long v = integer_slowly(o, fn, param, true);
  if (v < 0) bad_argument(fn, param, o, "an address (a non-negative int)");
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(v));
}

inline std::size_t count_of(PyObject* o, const char* fn) {
  if (__builtin_expect(Py_IS_TYPE(o, &PyLong_Type), 1)) {
    const std::size_t v = PyLong_AsSize_t(o);
    if (!(v == static_cast<std::size_t>(-1) && PyErr_Occurred())) return v;
    PyErr_Clear();
  }
  const long long v = integer_slowly(o, fn, "count", false);
  if (v < 0) bad_argument(fn, "count", o, "a non-negative int");
  return static_cast<std::size_t>(v);
}

inline int int_of(PyObject* o, const char* fn, const char* param) {
  if (__builtin_expect(Py_IS_TYPE(o, &PyLong_Type), 1)) {
    int overflow = 0;
    const long v = PyLong_AsLongAndOverflow(o, &overflow);
    if (overflow == 0 && v >= INT_MIN && v <= INT_MAX) return static_cast<int>(v);
  }
  const long long v = integer_slowly(o, fn, param, false);
  if (v < INT_MIN || v > INT_MAX) bad_argument(fn, param, o, "an int that fits a C int");
  return static_cast<int>(v);
}

// The last int object given for one kind of parameter (the data type, the op, a rank) and its
// value: a loop passes the same object (small ints are shared), so it is read once. The object
// is held, so that its address names it while it is here.
struct IntMemo {
  PyObject* obj = nullptr;
  int value = 0;
};
IntMemo g_dtype, g_op, g_rank;

inline int memo_int(PyObject* o, IntMemo& m, const char* fn, const char* param) {
  if (__builtin_expect(o == m.obj, 1)) return m.value;
  const int v = int_of(o, fn, param);
  if (Py_IS_TYPE(o, &PyLong_Type)) {
    Py_INCREF(o);
    Py_XDECREF(m.obj);
    m.obj = o;
    m.value = v;
  }
  return v;
}
inline DataType dtype_of(PyObject* o, const char* fn) {
  return static_cast<DataType>(memo_int(o, g_dtype, fn, "datatype"));
}
inline ReduceOp op_of(PyObject* o, const char* fn) {
  return static_cast<ReduceOp>(memo_int(o, g_op, fn, "op"));
}
inline int rank_of(PyObject* o, const char* fn, const char* param) {
  return memo_int(o, g_rank, fn, param);
}

inline CUstream_st* stream_of(PyObject* o, const char* fn) {
  void* p = nullptr;
  if (__builtin_expect(Py_IS_TYPE(o, &PyLong_Type), 1) && memo_pointer(o, g_stream_memo, p)) {
    return static_cast<CUstream_st*>(p);
  }
  return static_cast<CUstream_st*>(pointer_arg(o, fn, "stream"));
}
// The receive buffer: the send buffer's address when it is the same object (in place, as
// `ncclAllReduce(p, p, ...)` passes it), else its own.
inline void* recv_arg(PyObject* const* a, const void* send, const char* fn) {
  return a[1] == a[0] ? const_cast<void*>(send) : pointer_arg(a[1], fn, "recvbuff");
}

// Finds the communicator of an argument not in the table, and puts it there.
const Cached& comm_slowly(PyObject* o, const char* fn) {
  PyObject* owner = o;                                 // borrowed
  if (!nb::isinstance<Communicator>(nb::handle(o))) {  // else ncclrt's own: as it is
    const auto handle = reinterpret_cast<std::uintptr_t>(pointer_arg(o, fn, "comm"));
    Ref key(PyLong_FromUnsignedLongLong(handle));
    if (!key) python_failed();
    owner = g_registry ? PyDict_GetItemWithError(g_registry, key.p) : nullptr;
    if (owner == nullptr) {
      if (PyErr_Occurred()) python_failed();
      throw UsageError(std::string(fn) + ": comm " + address(reinterpret_cast<void*>(handle)) +
                       " is no communicator this NCCLLibrary made (ncclCommInitRank), or it was "
                       "destroyed or aborted");
    }
  }
  nb::handle h(owner);
  if (!nb::isinstance<Communicator>(h) || !nb::inst_ready(h)) {
    throw UsageError(std::string(fn) + ": comm " + text_of(o) +
                     " names no initialised ncclrt.Communicator");
  }
  Cached& e = g_cache[g_next];
  g_next = (g_next + 1) % kCached;
  PyObject* old_arg = e.arg;
  PyObject* old_owner = e.owner;
  Py_INCREF(o);
  Py_INCREF(owner);
  e = {o, owner, nb::inst_ptr<Communicator>(h)};
  Py_XDECREF(old_arg);
  Py_XDECREF(old_owner);
  return e;
}

// The communicator of a call, held until the call returns: while NCCL runs without the GIL,
// another thread may drop the table's and the registry's references (ncclCommDestroy).
struct Held {
  explicit Held(const Communicator& c, PyObject* o) : comm(c), owner(Py_NewRef(o)) {}
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;
  ~Held() { Py_DECREF(owner); }
  const Communicator& comm;
  PyObject* owner;
};

inline Held comm_of(PyObject* o, const char* fn) {
  for (const Cached& e : g_cache) {
    if (e.arg == o) return Held(*e.comm, e.owner);
  }
  const Cached& e = comm_slowly(o, fn);
  return Held(*e.comm, e.owner);
}

// One method: its parameters (NCCL's names), and a body given the arguments in that order.
template <int N, void (*Body)(PyObject* const*)>
struct LibraryMethod {
  static inline Signature sig;
  static PyObject* call(PyObject*, PyObject* const* args, Py_ssize_t nargs,
                        PyObject* kwnames) noexcept {
    try {
      if (__builtin_expect(nargs == N && kwnames == nullptr, 1)) {  // as vLLM calls them
        Body(args);
      } else {
        PyObject* a[N];
        match_arguments<N>(sig, args, nargs, kwnames, a);
        Body(a);
      }
      return Py_NewRef(Py_None);
    } catch (...) {
      raise_nccl_check();
      return nullptr;
    }
  }
};

void lib_all_reduce(PyObject* const* a) {
  constexpr const char* fn = "ncclAllReduce";
  const Held held = comm_of(a[5], fn);
  const Communicator& c = held.comm;
  const void* s = pointer_arg(a[0], fn, "sendbuff");
  void* r = recv_arg(a, s, fn);
  const std::size_t n = count_of(a[2], fn);
  const auto t = dtype_of(a[3], fn);
  const auto op = op_of(a[4], fn);
  CUstream_st* st = stream_of(a[6], fn);
  nb::gil_scoped_release release;
  c.all_reduce(s, r, n, t, op, st);
}

void lib_reduce(PyObject* const* a) {
  constexpr const char* fn = "ncclReduce";
  const Held held = comm_of(a[6], fn);
  const Communicator& c = held.comm;
  const void* s = pointer_arg(a[0], fn, "sendbuff");
  void* r = recv_arg(a, s, fn);
  const std::size_t n = count_of(a[2], fn);
  const auto t = dtype_of(a[3], fn);
  const auto op = op_of(a[4], fn);
  const int root = rank_of(a[5], fn, "root");
  CUstream_st* st = stream_of(a[7], fn);
  nb::gil_scoped_release release;
  c.reduce(s, r, n, t, op, root, st);
}

void lib_reduce_scatter(PyObject* const* a) {
  constexpr const char* fn = "ncclReduceScatter";
  const Held held = comm_of(a[5], fn);
  const Communicator& c = held.comm;
  const void* s = pointer_arg(a[0], fn, "sendbuff");
  void* r = recv_arg(a, s, fn);
  const std::size_t n = count_of(a[2], fn);
  const auto t = dtype_of(a[3], fn);
  const auto op = op_of(a[4], fn);
  CUstream_st* st = stream_of(a[6], fn);
  nb::gil_scoped_release release;
  c.reduce_scatter(s, r, n, t, op, st);
}

void lib_all_gather(PyObject* const* a) {
  constexpr const char* fn = "ncclAllGather";
  const Held held = comm_of(a[4], fn);
  const Communicator& c = held.comm;
  const void* s = pointer_arg(a[0], fn, "sendbuff");
  void* r = recv_arg(a, s, fn);
  const std::size_t n = count_of(a[2], fn);
  const auto t = dtype_of(a[3], fn);
  CUstream_st* st = stream_of(a[5], fn);
  nb::gil_scoped_release release;
  c.all_gather(s, r, n, t, st);
}

void lib_broadcast(PyObject* const* a) {
  constexpr const char* fn = "ncclBroadcast";
  const Held held = comm_of(a[5], fn);
  const Communicator& c = held.comm;
  const void* s = pointer_arg(a[0], fn, "sendbuff");
  void* r = recv_arg(a, s, fn);
  const std::size_t n = count_of(a[2], fn);
  const auto t = dtype_of(a[3], fn);
  const int root = rank_of(a[4], fn, "root");
  CUstream_st* st = stream_of(a[6], fn);
  nb::gil_scoped_release release;
  c.broadcast(s, r, n, t, root, st);
}

void lib_send(PyObject* const* a) {
  constexpr const char* fn = "ncclSend";
  const Held held = comm_of(a[4], fn);
  const Communicator& c = held.comm;
  const void* s = pointer_arg(a[0], fn, "sendbuff");
  const std::size_t n = count_of(a[1], fn);
  const auto t = dtype_of(a[2], fn);
  const int peer = rank_of(a[3], fn, "dest");
  CUstream_st* st = stream_of(a[5], fn);
  nb::gil_scoped_release release;
  c.send(s, n, t, peer, st);
}

void lib_recv(PyObject* const* a) {
  constexpr const char* fn = "ncclRecv";
  const Held held = comm_of(a[4], fn);
  const Communicator& c = held.comm;
  void* r = pointer_arg(a[0], fn, "recvbuff");
  const std::size_t n = count_of(a[1], fn);
  const auto t = dtype_of(a[2], fn);
  const int peer = rank_of(a[3], fn, "src");
  CUstream_st* st = stream_of(a[5], fn);
  nb::gil_scoped_release release;
  c.recv(r, n, t, peer, st);
}

template <int N, void (*Body)(PyObject* const*)>
void def(nb::handle cls, const char* name, std::initializer_list<Param> params, const char* doc) {
  using M = LibraryMethod<N, Body>;
  def_method(cls, name, &M::call, M::sig, params, doc);
}

// Drops the table's entries for one communicator (destroyed or aborted through the class), so
// that it can go.
void forget(nb::handle communicator) {
  for (Cached& e : g_cache) {
    if (e.owner == communicator.ptr()) {
      PyObject* arg = e.arg;
      PyObject* owner = e.owner;
      e = Cached{};
      Py_DECREF(arg);
      Py_DECREF(owner);
    }
  }
}

// Lets go of everything the table and the registry hold (at interpreter exit, before the
// modules are torn down, so that the communicators go with them).
void release_all() {
  for (IntMemo* m : {&g_dtype, &g_op, &g_rank}) {
    Py_CLEAR(m->obj);
  }
  clear_stream_memo();
  for (Cached& e : g_cache) {
    PyObject* arg = e.arg;
    PyObject* owner = e.owner;
    e = Cached{};
    Py_XDECREF(arg);
    Py_XDECREF(owner);
  }
  Py_CLEAR(g_registry);
}

}  // namespace

void bind_nccl_library(nb::module_& m) {
  m.def(
      "_bind_nccl_library",
      [](nb::handle cls, nb::dict registry, nb::list ctypes_ints) {
        for (nb::handle entry : ctypes_ints) {  // (type, signed)
          if (g_nctypes == kCtypesInts) break;
          nb::tuple t = nb::cast<nb::tuple>(entry);
          g_ctypes[g_nctypes++] = {t[0].inc_ref().ptr(), nb::cast<bool>(t[1])};
        }
        if (g_value == nullptr) {
          g_value = PyUnicode_InternFromString("value");
          if (g_value == nullptr) throw nb::python_error();
        }
        Py_XDECREF(g_registry);
        g_registry = registry.inc_ref().ptr();  // kept for the process, as the class is
        const Param send{"sendbuff"}, recv{"recvbuff"}, count{"count"}, dtype{"datatype"}, op{"op"},
            root{"root"}, comm{"comm"}, stream{"stream"};
        def<7, &lib_all_reduce>(cls, "ncclAllReduce", {send, recv, count, dtype, op, comm, stream},
                                "ncclAllReduce; raises NcclError (NCCL_CHECK's text) on failure.");
        def<8, &lib_reduce>(cls, "ncclReduce", {send, recv, count, dtype, op, root, comm, stream},
                            "ncclReduce.");
        def<7, &lib_reduce_scatter>(cls, "ncclReduceScatter",
                                    {send, recv, count, dtype, op, comm, stream},
                                    "ncclReduceScatter; count is per rank (recvcount).");
        def<6, &lib_all_gather>(cls, "ncclAllGather", {send, recv, count, dtype, comm, stream},
                                "ncclAllGather; count is per rank (sendcount).");
        def<7, &lib_broadcast>(cls, "ncclBroadcast", {send, recv, count, dtype, root, comm, stream},
                               "ncclBroadcast.");
        def<6, &lib_send>(cls, "ncclSend", {send, count, dtype, {"dest"}, comm, stream},
                          "ncclSend.");
        def<6, &lib_recv>(cls, "ncclRecv", {recv, count, dtype, {"src"}, comm, stream},
                          "ncclRecv.");
      },
      nb::arg("cls"), nb::arg("registry"), nb::arg("ctypes_ints"),
      "Binds the collectives of ncclrt.pynccl_wrapper.NCCLLibrary onto `cls`; `registry` maps "
      "each communicator's handle to its ncclrt.Communicator; `ctypes_ints` lists (type, "
      "signed) of ctypes' integer and pointer types, read through their buffers.");
  m.def("_forget_nccl_library_comm", &forget, nb::arg("communicator"),
        "Drops a communicator from NCCLLibrary's table (after it was destroyed or aborted).");
  m.def("_release_nccl_library", &release_all,
        "Lets go of NCCLLibrary's table and registry (at interpreter exit).");
}

}  // namespace ncclrt::py
