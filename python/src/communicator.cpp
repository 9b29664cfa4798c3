// Communicator: lifecycle, handles, and every operation. An operation reads its arguments (all of
// them, before anything is enqueued), releases the GIL and makes the one C++ call.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <cstring>
#include <limits>

#include "bindings.hpp"
#include "buffers.hpp"

namespace ncclrt::py {
namespace {

// ---- operands ----

// The buffers of one call, read as arrays or given as raw pointers (ints) with count= and dtype=.
struct Operands {
  const Communicator& comm;
  const char* op;
  bool raw = false;
  Buffer lead;  // the first array read: its kind and device pick what stream=None means
  DataType type = DataType::kFloat32;
  std::size_t count = 0;  // count= of a raw call

  Operands(const Communicator& c, const char* name, PyObject* first, PyObject* count_arg,
           PyObject* dtype_arg)
      : comm(c), op(name) {
    raw = PyLong_Check(first);
    if (raw) {
      if (count_arg == Py_None || dtype_arg == Py_None) {
        throw UsageError(std::string(op) +
                         ": a device pointer (int) needs count= and dtype= (an array carries "
                         "its own)");
      }
      count = PyLong_AsSize_t(count_arg);
      if (count == static_cast<std::size_t>(-1) && PyErr_Occurred()) {
        PyErr_Clear();
        throw UsageError(std::string(op) + ": count= must be a non-negative int");
      }
      type = read_dtype(dtype_arg, op);
    } else if (count_arg != Py_None || dtype_arg != Py_None) {
      throw UsageError(std::string(op) +
                       ": count= and dtype= are for device pointers (ints); an array carries its "
                       "own size and type");
    }
  }

  // Reads one buffer; `write` refuses read-only arrays. An array fixes the call's type and
  // device, and every later one must agree.
  Buffer read(PyObject* obj, const char* role, bool write) {
    Buffer b;
    if (raw) {
      if (!PyLong_Check(obj)) {
        throw UsageError(std::string(op) + ": the " + role +
                         " argument must be a device pointer (int) like the first one; do not "
                         "mix pointers and arrays");
      }
      if (!pointer_from_int(obj, b.ptr)) {
        throw UsageError(std::string(op) + ": the " + role + " pointer " +
                         nb::cast<std::string>(nb::str(nb::handle(obj))) +
                         " is not a valid address");
      }
      b.count = count;
      b.type = type;
      return b;
    }
    if (PyLong_Check(obj)) {
      throw UsageError(std::string(op) + ": the " + role +
                       " argument is an int (a device pointer) but the first buffer was an "
                       "array; do not mix pointers and arrays");
    }
    read_array(obj, op, role, b);
    if (write && b.readonly) {
      throw UsageError(std::string(op) + ": the " + role +
                       " array is read-only; NCCL would write into it");
    }
    if (b.device >= 0 && b.device != comm.device()) {
      throw UsageError(std::string(op) + ": the " + role + " array is on GPU " +
                       std::to_string(b.device) + " but the communicator is on GPU " +
                       std::to_string(comm.device()));
    }
    if (!have_lead_) {
      have_lead_ = true;
      type = b.type;
      lead = b;
    } else if (b.type != type) {
      throw UsageError(std::string(op) + ": the " + role + " array holds " + to_string(b.type) +
                       " but the first buffer holds " + to_string(type) +
                       "; NCCL needs one type for both");
    }
    return b;
  }

  CUstream_st* stream(PyObject* s) const {
    return read_stream(s, lead, lead.device >= 0 ? lead.device : comm.device());
  }

  [[noreturn]] void sizes(const std::string& why) const {
    throw UsageError(std::string(op) + ": " + why);
  }

 private:
  bool have_lead_ = false;
};

ReduceOp read_op(nb::handle op, const char* name) {
  if (PyLong_Check(op.ptr())) {
    const long v = PyLong_AsLong(op.ptr());
    if (v >= 0 && v <= std::numeric_limits<int>::max()) return static_cast<ReduceOp>(v);
    PyErr_Clear();
  } else if (nb::isinstance<PreMulSum>(op)) {
    return nb::cast<const PreMulSum&>(op).op();
  }
  throw UsageError(std::string(name) + ": op must be an ncclrt.ReduceOp or a PreMulSum; got " +
                   nb::cast<std::string>(nb::repr(op)));
}

std::vector<std::size_t> read_counts(nb::handle v, const char* op, const char* what) {
  std::vector<std::size_t> out;
  try {
    for (nb::handle x : v) {
      const long long c = nb::cast<long long>(x);
      if (c < 0) throw UsageError(std::string(op) + ": " + what + " has a negative entry");
      out.push_back(static_cast<std::size_t>(c));
    }
  } catch (const nb::cast_error&) {
    throw UsageError(std::string(op) + ": " + what + " must be a sequence of ints");
  } catch (const nb::python_error&) {
    throw UsageError(std::string(op) + ": " + what + " must be a sequence of ints");
  }
  return out;
}

// Element offsets of packed blocks.
std::vector<std::size_t> prefix(const std::vector<std::size_t>& counts) {
  std::vector<std::size_t> d(counts.size());
  std::size_t at = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    d[i] = at;
    at += counts[i];
  }
  return d;
}

std::string num(std::size_t v) { return std::to_string(v); }

// The end of every operation: the stream (which may call into torch, so with the GIL), then the
// one C++ call without the GIL (a blocking NCCL call may wait for other ranks' threads), then the
// output buffer as the return value.
template <class Call>
nb::object issue(const Operands& o, nb::handle stream, nb::handle out, Call&& call) {
  CUstream_st* st = o.stream(stream.ptr());
  {
    nb::gil_scoped_release release;
    call(st);
  }
  return nb::borrow(out);
}

// ---- operations ----

using C = Communicator;
#define NCCLRT_OP_ARGS                                                                        \
  nb::kw_only(), nb::arg("stream").none() = nb::none(), nb::arg("count").none() = nb::none(), \
                 nb::arg("dtype").none() = nb::none()

nb::object all_reduce(const C& c, nb::handle send, nb::handle recv, nb::handle op,
                      nb::handle stream, nb::handle count, nb::handle dtype) {
  Operands o(c, "all_reduce", send.ptr(), count.ptr(), dtype.ptr());
  const nb::handle out = recv.is_none() ? send : recv;
  const Buffer s = o.read(send.ptr(), "send", recv.is_none());
  const Buffer r = recv.is_none() ? s : o.read(recv.ptr(), "recv", true);
  if (r.count != s.count) {
    o.sizes("send has " + num(s.count) + " elements but recv has " + num(r.count));
  }
  const ReduceOp rop = read_op(op, o.op);
  return issue(o, stream, out,
               [&](CUstream_st* st) { c.all_reduce(s.ptr, r.ptr, s.count, o.type, rop, st); });
}

nb::object broadcast(const C& c, nb::handle send, nb::handle recv, int root, nb::handle stream,
                     nb::handle count, nb::handle dtype) {
  Operands o(c, "broadcast", send.ptr(), count.ptr(), dtype.ptr());
  const nb::handle out = recv.is_none() ? send : recv;
  const Buffer s = o.read(send.ptr(), "send", recv.is_none());
  const Buffer r = recv.is_none() ? s : o.read(recv.ptr(), "recv", true);
  if (r.count != s.count) {
    o.sizes("send has " + num(s.count) + " elements but recv has " + num(r.count));
  }
  return issue(o, stream, out,
               [&](CUstream_st* st) { c.broadcast(s.ptr, r.ptr, r.count, o.type, root, st); });
}

nb::object reduce(const C& c, nb::handle send, nb::handle recv, nb::handle op, int root,
                  nb::handle stream, nb::handle count, nb::handle dtype) {
  Operands o(c, "reduce", send.ptr(), count.ptr(), dtype.ptr());
  const nb::handle out = recv.is_none() ? send : recv;
  const Buffer s = o.read(send.ptr(), "send", recv.is_none());
  const Buffer r = recv.is_none() ? s : o.read(recv.ptr(), "recv", true);
  if (r.count != s.count) {
    o.sizes("send has " + num(s.count) + " elements but recv has " + num(r.count));
  }
  const ReduceOp rop = read_op(op, o.op);
  return issue(o, stream, out,
               [&](CUstream_st* st) { c.reduce(s.ptr, r.ptr, s.count, o.type, rop, root, st); });
}

nb::object all_gather(const C& c, nb::handle send, nb::handle recv, nb::handle stream,
                      nb::handle count, nb::handle dtype) {
  Operands o(c, "all_gather", send.ptr(), count.ptr(), dtype.ptr());
  const Buffer s = o.read(send.ptr(), "send", false);
  const Buffer r = o.read(recv.ptr(), "recv", true);
  const auto n = static_cast<std::size_t>(c.size());
  if (!o.raw && r.count != s.count * n) {
    o.sizes("recv needs size x send = " + num(n) + " x " + num(s.count) + " = " + num(s.count * n) +
            " elements; it has " + num(r.count));
  }
  return issue(o, stream, recv,
               [&](CUstream_st* st) { c.all_gather(s.ptr, r.ptr, s.count, o.type, st); });
}

nb::object reduce_scatter(const C& c, nb::handle send, nb::handle recv, nb::handle op,
                          nb::handle stream, nb::handle count, nb::handle dtype) {
  Operands o(c, "reduce_scatter", send.ptr(), count.ptr(), dtype.ptr());
  const Buffer s = o.read(send.ptr(), "send", false);
  const Buffer r = o.read(recv.ptr(), "recv", true);
  const auto n = static_cast<std::size_t>(c.size());
  if (!o.raw && s.count != r.count * n) {
    o.sizes("send needs size x recv = " + num(n) + " x " + num(r.count) + " = " + num(r.count * n) +
            " elements; it has " + num(s.count));
  }
  const ReduceOp rop = read_op(op, o.op);
  return issue(o, stream, recv,
               [&](CUstream_st* st) { c.reduce_scatter(s.ptr, r.ptr, r.count, o.type, rop, st); });
}

nb::object all_to_all(const C& c, nb::handle send, nb::handle recv, nb::handle stream,
                      nb::handle count, nb::handle dtype) {
  Operands o(c, "all_to_all", send.ptr(), count.ptr(), dtype.ptr());
  const Buffer s = o.read(send.ptr(), "send", false);
  const Buffer r = o.read(recv.ptr(), "recv", true);
  const auto n = static_cast<std::size_t>(c.size());
  std::size_t per_peer = o.count;
  if (!o.raw) {
    if (s.count != r.count || s.count % n != 0) {
      o.sizes("send and recv need the same number of elements, a multiple of size (" + num(n) +
              "); they have " + num(s.count) + " and " + num(r.count));
    }
    per_peer = s.count / n;
  }
  return issue(o, stream, recv,
               [&](CUstream_st* st) { c.all_to_all(s.ptr, r.ptr, per_peer, o.type, st); });
}

nb::object gather(const C& c, nb::handle send, nb::handle recv, int root, nb::handle stream,
                  nb::handle count, nb::handle dtype) {
  Operands o(c, "gather", send.ptr(), count.ptr(), dtype.ptr());
  const Buffer s = o.read(send.ptr(), "send", false);
  const bool here = c.rank() == root;
  Buffer r;
  if (!recv.is_none()) {
    r = o.read(recv.ptr(), "recv", true);
  } else if (here) {
    o.sizes("this rank is the root and needs a recv buffer of size x send elements");
  }
  const auto n = static_cast<std::size_t>(c.size());
  if (here && !o.raw && r.count != s.count * n) {
    o.sizes("the root's recv needs size x send = " + num(n) + " x " + num(s.count) + " = " +
            num(s.count * n) + " elements; it has " + num(r.count));
  }
  return issue(o, stream, recv,
               [&](CUstream_st* st) { c.gather(s.ptr, r.ptr, s.count, o.type, root, st); });
}

nb::object scatter(const C& c, nb::handle send, nb::handle recv, int root, nb::handle stream,
                   nb::handle count, nb::handle dtype) {
  Operands o(c, "scatter", recv.ptr(), count.ptr(), dtype.ptr());
  const Buffer r = o.read(recv.ptr(), "recv", true);
  const bool here = c.rank() == root;
  Buffer s;
  if (!send.is_none()) {
    s = o.read(send.ptr(), "send", false);
  } else if (here) {
    o.sizes("this rank is the root and needs a send buffer of size x recv elements");
  }
  const auto n = static_cast<std::size_t>(c.size());
  if (here && !o.raw && s.count != r.count * n) {
    o.sizes("the root's send needs size x recv = " + num(n) + " x " + num(r.count) + " = " +
            num(r.count * n) + " elements; it has " + num(s.count));
  }
  return issue(o, stream, recv,
               [&](CUstream_st* st) { c.scatter(s.ptr, r.ptr, r.count, o.type, root, st); });
}

// Checks that every block lies inside a buffer of `have` elements.
void check_blocks(const Operands& o, const char* what, const std::vector<std::size_t>& counts,
                  const std::vector<std::size_t>& displs, std::size_t have) {
  if (o.raw) return;
  for (std::size_t i = 0; i < counts.size() && i < displs.size(); ++i) {
    if (displs[i] > have || counts[i] > have - displs[i]) {
      o.sizes(std::string("block ") + num(i) + " (" + num(counts[i]) + " elements at " +
              num(displs[i]) + ") lies outside " + what + " (" + num(have) + " elements)");
    }
  }
}

nb::object all_gatherv(const C& c, nb::handle send, nb::handle recv, nb::handle counts,
                       nb::handle displs, nb::handle stream, nb::handle count, nb::handle dtype) {
  Operands o(c, "all_gatherv", send.ptr(), count.ptr(), dtype.ptr());
  const Buffer s = o.read(send.ptr(), "send", false);
  const Buffer r = o.read(recv.ptr(), "recv", true);
  const auto cs = read_counts(counts, o.op, "counts");
  const auto ds = displs.is_none() ? prefix(cs) : read_counts(displs, o.op, "displs");
  if (cs.size() != static_cast<std::size_t>(c.size())) {
    o.sizes("counts needs one entry per rank (" + std::to_string(c.size()) + "); got " +
            num(cs.size()));
  }
  check_blocks(o, "recv", cs, ds, r.count);
  const std::size_t mine = cs[static_cast<std::size_t>(c.rank())];
  if (!o.raw && s.count != mine) {
    o.sizes("send has " + num(s.count) + " elements but counts[" + std::to_string(c.rank()) +
            "] is " + num(mine));
  }
  return issue(o, stream, recv,
               [&](CUstream_st* st) { c.all_gatherv(s.ptr, mine, r.ptr, cs, ds, o.type, st); });
}

nb::object reduce_scatterv(const C& c, nb::handle send, nb::handle recv, nb::handle counts,
                           nb::handle displs, nb::handle op, nb::handle stream, nb::handle count,
                           nb::handle dtype) {
  Operands o(c, "reduce_scatterv", send.ptr(), count.ptr(), dtype.ptr());
  const Buffer s = o.read(send.ptr(), "send", false);
  const Buffer r = o.read(recv.ptr(), "recv", true);
  const auto cs = read_counts(counts, o.op, "counts");
  const auto ds = displs.is_none() ? prefix(cs) : read_counts(displs, o.op, "displs");
  if (cs.size() != static_cast<std::size_t>(c.size())) {
    o.sizes("counts needs one entry per rank (" + std::to_string(c.size()) + "); got " +
            num(cs.size()));
  }
  check_blocks(o, "send", cs, ds, s.count);
  const std::size_t mine = cs[static_cast<std::size_t>(c.rank())];
  if (!o.raw && r.count != mine) {
    o.sizes("recv has " + num(r.count) + " elements but counts[" + std::to_string(c.rank()) +
            "] is " + num(mine));
  }
  const ReduceOp rop = read_op(op, o.op);
  return issue(o, stream, recv,
               [&](CUstream_st* st) { c.reduce_scatterv(s.ptr, r.ptr, cs, ds, o.type, rop, st); });
}

nb::object send(const C& c, nb::handle buf, int peer, nb::handle stream, nb::handle count,
                nb::handle dtype) {
  Operands o(c, "send", buf.ptr(), count.ptr(), dtype.ptr());
  const Buffer b = o.read(buf.ptr(), "buffer", false);
  return issue(o, stream, nb::none(),
               [&](CUstream_st* st) { c.send(b.ptr, b.count, o.type, peer, st); });
}

nb::object recv(const C& c, nb::handle buf, int peer, nb::handle stream, nb::handle count,
                nb::handle dtype) {
  Operands o(c, "recv", buf.ptr(), count.ptr(), dtype.ptr());
  const Buffer b = o.read(buf.ptr(), "buffer", true);
  return issue(o, stream, nb::none(),
               [&](CUstream_st* st) { c.recv(b.ptr, b.count, o.type, peer, st); });
}

// ---- handles ----

// Address and size of a registration's memory: an array, or a pointer with nbytes=.
std::pair<void*, std::size_t> memory(const C& c, const char* op, nb::handle buf,
                                     nb::handle nbytes) {
  if (PyLong_Check(buf.ptr())) {
    if (nbytes.is_none()) {
      throw UsageError(std::string(op) + ": a device pointer (int) needs nbytes=");
    }
    void* p = nullptr;
    if (!pointer_from_int(buf.ptr(), p)) {
      throw UsageError(std::string(op) + ": the pointer is not a valid address");
    }
    return {p, nb::cast<std::size_t>(nbytes)};
  }
  Operands o(c, op, buf.ptr(), Py_None, Py_None);
  const Buffer b = o.read(buf.ptr(), "buffer", false);
  const std::size_t have = b.count * size_of(b.type);
  if (nbytes.is_none()) return {b.ptr, have};
  const auto want = nb::cast<std::size_t>(nbytes);
  if (want > have) {
    throw UsageError(std::string(op) + ": nbytes=" + num(want) + " is more than the array's " +
                     num(have) + " bytes");
  }
  return {b.ptr, want};
}

// Host bytes of a Python number as `type`, for a host-immediate PreMulSum scalar.
std::array<unsigned char, 8> scalar_bytes(nb::handle v, DataType type) {
  std::array<unsigned char, 8> out{};
  auto put = [&](auto x) { std::memcpy(out.data(), &x, sizeof x); };
  const double d = nb::cast<double>(v);
  switch (type) {
    case DataType::kFloat32:
      put(static_cast<float>(d));
      break;
    case DataType::kFloat64:
      put(d);
      break;
    case DataType::kInt8:
      put(static_cast<std::int8_t>(d));
      break;
    case DataType::kUint8:
      put(static_cast<std::uint8_t>(d));
      break;
    case DataType::kInt32:
      put(static_cast<std::int32_t>(d));
      break;
    case DataType::kUint32:
      put(static_cast<std::uint32_t>(d));
      break;
    case DataType::kInt64:
      put(static_cast<std::int64_t>(d));
      break;
    case DataType::kUint64:
      put(static_cast<std::uint64_t>(d));
      break;
    case DataType::kBfloat16: {
      const float f = static_cast<float>(d);
      std::uint32_t bits;
      std::memcpy(&bits, &f, 4);
      bits += 0x7fff + ((bits >> 16) & 1);  // round to nearest even
      put(static_cast<std::uint16_t>(bits >> 16));
      break;
    }
    default:
      throw UsageError("create_pre_mul_sum: a host scalar of " + std::string(to_string(type)) +
                       " is not supported here; pass a device scalar (an array of one element)");
  }
  return out;
}

template <class H>
void close_handle(H& h) {
  h = H();
}

template <class H, class Cls>
void context_manager(Cls& cls) {
  cls.def("close", &close_handle<H>, "Releases it now (also when the object goes).")
      .def(
          "__enter__", [](H& h) -> H& { return h; }, nb::rv_policy::reference)
      .def(
          "__exit__",
          [](H& h, nb::handle, nb::handle, nb::handle) {
            close_handle(h);
            return false;
          },
          nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none());
}

nb::object optional_comm(Communicator&& c) {
  if (!c.valid()) return nb::none();
  return nb::cast(std::move(c));
}

}  // namespace

void bind_communicator(nb::module_& m) {
  auto pms = nb::class_<PreMulSum>(m, "PreMulSum",
                                   "A PreMulSum reduce op; pass it as op=. Destroyed on close().")
                 .def_prop_ro("op", [](const PreMulSum& p) { return static_cast<int>(p.op()); })
                 .def("__int__", [](const PreMulSum& p) { return static_cast<int>(p.op()); });
  context_manager<PreMulSum>(pms);
  auto reg = nb::class_<Registration>(m, "Registration",
                                      "A buffer registered with ncclCommRegister; deregistered "
                                      "on close().")
                 .def_prop_ro("handle", [](const Registration& r) {
                   return reinterpret_cast<std::uintptr_t>(r.handle());
                 });
  context_manager<Registration>(reg);
  auto win = nb::class_<Window>(m, "Window",
                                "A window from ncclCommWindowRegister; deregistered on close().")
                 .def_prop_ro("native", [](const Window& w) {
                   return reinterpret_cast<std::uintptr_t>(w.native());
                 });
  context_manager<Window>(win);

  nb::class_<Communicator>(
      m, "Communicator",
      "One NCCL communicator. Operations take arrays (torch, cupy, __cuda_array_interface__, "
      "__dlpack__) or device pointers (int) with count= and dtype=; stream=None is torch's "
      "current stream for torch tensors, else the default stream.")
      .def_static(
          "init_rank",
          [](nb::handle lib, int nranks, int rank, const UniqueId& id,
             std::optional<Config> config) {
            auto l = library_or_default(lib);
            nb::gil_scoped_release release;
            return Communicator::init_rank(std::move(l), nranks, rank, id,
                                           config.value_or(Config{}));
          },
          nb::arg("lib"), nb::arg("nranks"), nb::arg("rank"), nb::arg("unique_id"),
          nb::arg("config").none() = nb::none(),
          "ncclCommInitRank(Config) on the current CUDA device.")
      .def_static(
          "init_all",
          [](nb::handle lib, const std::vector<int>& devices) {
            auto l = library_or_default(lib);
            std::vector<Communicator> comms;
            {
              nb::gil_scoped_release release;
              comms = Communicator::init_all(std::move(l), devices);
            }
            nb::list out;
            for (auto& c : comms) out.append(nb::cast(std::move(c)));
            return out;
          },
          nb::arg("lib"), nb::arg("devices"), "ncclCommInitAll: one communicator per device.")
      .def_static(
          "from_environment",
          [](nb::handle lib, std::optional<Config> config) {
            auto l = library_or_default(lib);
            nb::gil_scoped_release release;
            return Communicator::from_environment(std::move(l), config.value_or(Config{}));
          },
          nb::arg("lib").none() = nb::none(), nb::arg("config").none() = nb::none(),
          "Rank and size from torchrun / Open MPI / Slurm / NCCLRT_* variables, the device from "
          "the local rank, the rendezvous through NCCL_COMM_ID.")
      .def(
          "split",
          [](const C& c, int color, int key, std::optional<Config> config) {
            Communicator out;
            {
              nb::gil_scoped_release release;
              out = c.split(color, key, config.value_or(Config{}));
            }
            return optional_comm(std::move(out));
          },
          nb::arg("color"), nb::arg("key"), nb::arg("config").none() = nb::none(),
          "ncclCommSplit; None for color=SPLIT_NOCOLOR.")
      .def(
          "shrink",
          [](const C& c, const std::vector<int>& excluded, std::optional<Config> config,
             bool abort_parent) {
            nb::gil_scoped_release release;
            return c.shrink(excluded, config.value_or(Config{}), abort_parent);
          },
          nb::arg("excluded"), nb::arg("config").none() = nb::none(),
          nb::arg("abort_parent") = false,
          "ncclCommShrink: a new communicator without the excluded ranks.")
      .def_prop_ro("valid", &C::valid)
      .def("__bool__", &C::valid)
      .def_prop_ro("rank", &C::rank)
      .def_prop_ro("size", &C::size)
      .def_prop_ro("device", &C::device)
      .def_prop_ro("library", [](const C& c) { return PyLibrary{c.library()}; })
      .def_prop_ro("native",
                   [](const C& c) { return reinterpret_cast<std::uintptr_t>(c.native()); })
      .def(
          "finalize",
          [](C& c, nb::handle timeout) {
            auto t = seconds(timeout, "finalize");
            nb::gil_scoped_release release;
            c.finalize(t);
          },
          nb::arg("timeout").none() = nb::none())
      .def(
          "destroy",
          [](C& c, nb::handle timeout) {
            auto t = seconds(timeout, "destroy");
            nb::gil_scoped_release release;
            c.destroy(t);
          },
          nb::arg("timeout").none() = nb::none())
      .def(
          "abort",
          [](C& c) {
            nb::gil_scoped_release release;
            c.abort();
          },
          "Stops at once without waiting for peers; never raises.")
      .def(
          "check",
          [](const C& c) {
            nb::gil_scoped_release release;
            c.check();
          },
          "Raises NcclError if the communicator has failed asynchronously.")
      .def(
          "synchronize",
          [](const C& c, nb::handle stream, nb::handle timeout) {
            CUstream_st* st = read_stream(stream.ptr(), Buffer{}, -1);
            const auto t = seconds(timeout, "synchronize");
            if (!t) throw UsageError("synchronize: needs a timeout in seconds");
            nb::gil_scoped_release release;
            c.synchronize(st, *t);
          },
          nb::arg("stream").none() = nb::none(), nb::arg("timeout") = 60.0,
          "Waits for the stream's work; an error or the timeout aborts and raises.")
      .def(
          "watch",
          [](const C& c, nb::handle stream, nb::handle timeout) {
            CUstream_st* st = read_stream(stream.ptr(), Buffer{}, -1);
            const auto t = seconds(timeout, "watch");
            if (!t) throw UsageError("watch: needs a timeout in seconds");
            c.watch(st, *t);
          },
          nb::arg("stream").none() = nb::none(), nb::arg("timeout") = 60.0,
          "Hands the stream's work so far to the Watchdog.")
      .def(
          "__enter__", [](C& c) -> C& { return c; }, nb::rv_policy::reference)
      .def(
          "__exit__",
          [](C& c, nb::handle exc_type, nb::handle, nb::handle) {
            if (!c.valid()) return false;
            nb::gil_scoped_release release;
            if (exc_type.is_none()) {
              c.destroy();
            } else {
              c.abort();
            }
            return false;
          },
          nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none(),
          "Destroys on a normal exit, aborts when an exception leaves the block.")
      .def("__repr__",
           [](const C& c) {
             if (!c.valid()) return std::string("Communicator(not live)");
             return "Communicator(rank " + std::to_string(c.rank()) + " of " +
                    std::to_string(c.size()) + " on GPU " + std::to_string(c.device()) + ", NCCL " +
                    c.library()->version().str() + ")";
           })
      .def("all_reduce", &all_reduce, nb::arg("send").none(), nb::arg("recv").none() = nb::none(),
           nb::arg("op").none() = ReduceOp::kSum, NCCLRT_OP_ARGS,
           "recv=None reduces in place. Returns recv.")
      .def("broadcast", &broadcast, nb::arg("send").none(), nb::arg("recv").none() = nb::none(),
           nb::arg("root") = 0, NCCLRT_OP_ARGS, "recv=None is in place. Returns recv.")
      .def("reduce", &reduce, nb::arg("send").none(), nb::arg("recv").none() = nb::none(),
           nb::arg("op").none() = ReduceOp::kSum, nb::arg("root") = 0, NCCLRT_OP_ARGS,
           "recv=None is in place; recv matters on the root only.")
      .def("all_gather", &all_gather, nb::arg("send").none(), nb::arg("recv").none(),
           NCCLRT_OP_ARGS, "recv holds size x send elements.")
      .def("reduce_scatter", &reduce_scatter, nb::arg("send").none(), nb::arg("recv").none(),
           nb::arg("op").none() = ReduceOp::kSum, NCCLRT_OP_ARGS,
           "send holds size x recv elements.")
      .def("all_to_all", &all_to_all, nb::arg("send").none(), nb::arg("recv").none(),
           NCCLRT_OP_ARGS, "Block p of send goes to rank p; count= (pointers) is per peer.")
      .def("gather", &gather, nb::arg("send").none(), nb::arg("recv").none() = nb::none(),
           nb::arg("root") = 0, NCCLRT_OP_ARGS, "The root's recv holds size x send elements.")
      .def("scatter", &scatter, nb::arg("send").none(), nb::arg("recv").none(), nb::arg("root") = 0,
           NCCLRT_OP_ARGS, "The root's send holds size x recv elements.")
      .def("all_gatherv", &all_gatherv, nb::arg("send").none(), nb::arg("recv").none(),
           nb::arg("counts").none(), nb::arg("displs").none() = nb::none(), NCCLRT_OP_ARGS,
           "Rank r's counts[r] elements land at recv[displs[r]] (packed when displs=None).")
      .def("reduce_scatterv", &reduce_scatterv, nb::arg("send").none(), nb::arg("recv").none(),
           nb::arg("counts").none(), nb::arg("displs").none() = nb::none(),
           nb::arg("op").none() = ReduceOp::kSum, NCCLRT_OP_ARGS,
           "Block r of send (counts[r] elements at displs[r]) is reduced into rank r's recv.")
      .def("send", &send, nb::arg("buf").none(), nb::arg("peer"), NCCLRT_OP_ARGS)
      .def("recv", &recv, nb::arg("buf").none(), nb::arg("peer"), NCCLRT_OP_ARGS)
      .def(
          "create_pre_mul_sum",
          [](const C& c, nb::handle scalar, nb::handle dtype, ScalarResidence residence) {
            if (residence == ScalarResidence::kHostImmediate) {
              if (dtype.is_none()) {
                throw UsageError("create_pre_mul_sum: a host scalar needs dtype=");
              }
              const DataType t = read_dtype(dtype.ptr(), "create_pre_mul_sum");
              const auto bytes = scalar_bytes(scalar, t);
              return c.create_pre_mul_sum(bytes.data(), t, residence);
            }
            Operands o(c, "create_pre_mul_sum", scalar.ptr(),
                       PyLong_Check(scalar.ptr()) ? nb::int_(1).ptr() : Py_None, dtype.ptr());
            const Buffer b = o.read(scalar.ptr(), "scalar", false);
            if (b.count != 1) {
              throw UsageError(
                  "create_pre_mul_sum: the device scalar must hold one element; it "
                  "has " +
                  num(b.count));
            }
            return c.create_pre_mul_sum(b.ptr, o.type, residence);
          },
          nb::arg("scalar").none(), nb::arg("dtype").none() = nb::none(),
          nb::arg("residence") = ScalarResidence::kHostImmediate,
          "A PreMulSum op: a number with dtype= (host) or a one-element device array.")
      .def(
          "register_buffer",
          [](const C& c, nb::handle buf, nb::handle nbytes, nb::handle stream) {
            auto [p, n] = memory(c, "register_buffer", buf, nbytes);
            CUstream_st* st = read_stream(stream.ptr(), Buffer{}, -1);
            nb::gil_scoped_release release;
            return c.register_buffer(p, n, st);
          },
          nb::arg("buf").none(), nb::arg("nbytes").none() = nb::none(), nb::kw_only(),
          nb::arg("stream").none() = nb::none(),
          "ncclCommRegister; refused during a visible capture.")
      .def(
          "register_window",
          [](const C& c, nb::handle buf, nb::handle nbytes, int flags, nb::handle stream) {
            auto [p, n] = memory(c, "register_window", buf, nbytes);
            CUstream_st* st = read_stream(stream.ptr(), Buffer{}, -1);
            nb::gil_scoped_release release;
            return c.register_window(p, n, flags, st);
          },
          nb::arg("buf").none(), nb::arg("nbytes").none() = nb::none(),
          nb::arg("flags") = kWinDefault, nb::kw_only(), nb::arg("stream").none() = nb::none(),
          "ncclCommWindowRegister; refused during a visible capture.");
}

}  // namespace ncclrt::py
