// Communicator: lifecycle, handles, and every operation. An operation reads its arguments (all of
// them, before anything is enqueued), releases the GIL and makes the one C++ call.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <cstring>
#include <limits>

#include "annotated.hpp"
#include "bindings.hpp"
#include "buffers.hpp"
#include "operands.hpp"

namespace ncclrt::py {
namespace {

using C = Communicator;

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
                 .def_prop_ro(
                     "op", [](const PreMulSum& p) { return static_cast<int>(p.op()); },
                     "The reduce op's value, as NCCL knows it (pass the PreMulSum itself as op=).")
                 .def("__int__", [](const PreMulSum& p) { return static_cast<int>(p.op()); })
                 .def("__repr__", [](const PreMulSum& p) {
                   // A closed handle holds op 0, which no PreMulSum op is (built-ins are 0-4).
                   const int op = static_cast<int>(p.op());
                   return op == 0 ? std::string("PreMulSum(closed)")
                                  : "PreMulSum(op=" + std::to_string(op) + ")";
                 });
  context_manager<PreMulSum>(pms);
  auto reg =
      nb::class_<Registration>(m, "Registration",
                               "A buffer registered with ncclCommRegister; deregistered "
                               "on close().")
          .def_prop_ro(
              "handle",
              [](const Registration& r) { return reinterpret_cast<std::uintptr_t>(r.handle()); },
              "NCCL's registration handle, as an int.")
          .def("__repr__", [](const Registration& r) {
            return r.handle() == nullptr ? std::string("Registration(closed)")
                                         : "Registration(handle=" + address(r.handle()) + ")";
          });
  context_manager<Registration>(reg);
  auto win =
      nb::class_<Window>(m, "Window",
                         "A window from ncclCommWindowRegister; deregistered on close().")
          .def_prop_ro(
              "native",
              [](const Window& w) { return reinterpret_cast<std::uintptr_t>(w.native()); },
              "NCCL's ncclWindow_t as an int.")
          .def_prop_ro(
              "user_pointer",
              [](const Window& w) { return reinterpret_cast<std::uintptr_t>(w.user_pointer()); },
              "ncclWinGetUserPtr (NCCL >= 2.29.2): the buffer it was registered over.")
          .def("__repr__", [](const Window& w) {
            return w.native() == nullptr ? std::string("Window(closed)")
                                         : "Window(native=" + address(w.native()) + ")";
          });
  context_manager<Window>(win);

  nb::class_<MemoryStats>(m, "MemoryStats", "ncclCommMemStats, every statistic by name.")
      .def_ro("suspendable_bytes", &MemoryStats::suspendable_bytes,
              "GPU memory suspend(MEMORY) would release.")
      .def_ro("persistent_bytes", &MemoryStats::persistent_bytes,
              "GPU memory kept while suspended.")
      .def_ro("total_bytes", &MemoryStats::total_bytes,
              "All GPU memory NCCL holds for the communicator.")
      .def_ro("suspended", &MemoryStats::suspended, "Whether the communicator is suspended.")
      .def("__repr__", [](const MemoryStats& s) {
        return "MemoryStats(suspendable_bytes=" + std::to_string(s.suspendable_bytes) +
               ", persistent_bytes=" + std::to_string(s.persistent_bytes) +
               ", total_bytes=" + std::to_string(s.total_bytes) +
               ", suspended=" + (s.suspended ? "True" : "False") + ")";
      });

  nb::class_<SignalWait>(m, "SignalWait",
                         "What wait_signal waits for: `count` signals from `peer` on a signal "
                         "index and context (ncclWaitSignalDesc_t).")
      .def(nb::init<>())
      .def(
          "__init__",
          [](SignalWait* w, int peer, int signal_index, int count, int context) {
            new (w) SignalWait{peer, signal_index, count, context};
          },
          nb::arg("peer"), nb::arg("signal_index") = 0, nb::arg("count") = 1,
          nb::arg("context") = 0)
      .def_rw("peer", &SignalWait::peer, "The rank whose signals to wait for.")
      .def_rw("signal_index", &SignalWait::signal_index, "Which of the window's signals.")
      .def_rw("count", &SignalWait::count, "How many signals to wait for.")
      .def_rw("context", &SignalWait::context,
              "NCCL's context for the wait (0 unless NCCL says otherwise).")
      .def("__repr__", [](const SignalWait& w) {
        return "SignalWait(peer=" + std::to_string(w.peer) +
               ", signal_index=" + std::to_string(w.signal_index) +
               ", count=" + std::to_string(w.count) + ", context=" + std::to_string(w.context) +
               ")";
      });

  // `with comm.suspension():` suspends on entry and resumes on exit.
  struct Suspension {
    Communicator* comm;
    SuspendFlags flags;
  };
  nb::class_<Suspension>(m, "Suspension", "Suspends a communicator for a `with` block.")
      .def("__enter__",
           [](Suspension& s) {
             nb::gil_scoped_release release;
             s.comm->suspend(s.flags);
           })
      .def(
          "__exit__",
          [](Suspension& s, nb::handle, nb::handle, nb::handle) {
            if (!s.comm->suspended()) return false;  // destroyed or aborted inside the block
            nb::gil_scoped_release release;
            s.comm->resume();
            return false;
          },
          nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none())
      .def("__repr__", [](const Suspension& s) {
        return std::string("Suspension(") +
               (s.flags == SuspendFlags::kMemory ? "SuspendFlags.MEMORY" : "SuspendFlags.NONE") +
               (s.comm->suspended() ? ", suspended)" : ", not suspended)");
      });

  auto cls =
      nb::class_<Communicator>(
          m, "Communicator",
          "One NCCL communicator. Operations take arrays (torch, cupy, __cuda_array_interface__, "
          "__dlpack__) or device pointers (int) with count= and dtype=; stream=None is torch's "
          "current stream for torch tensors, else the default stream.")
          .def_static(
              "init_rank",
              [](LibraryArg lib, int nranks, int rank, const UniqueId& id,
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
              [](LibraryArg lib, const std::vector<int>& devices, std::optional<Config> config) {
                auto l = library_or_default(lib);
                std::vector<Communicator> comms;
                {
                  nb::gil_scoped_release release;
                  comms = Communicator::init_all(std::move(l), devices, config.value_or(Config{}));
                }
                nb::list out;
                for (auto& c : comms) out.append(nb::cast(std::move(c)));
                return out;
              },
              nb::arg("lib"), nb::arg("devices"), nb::arg("config").none() = nb::none(),
              "One communicator per listed device (rank i on devices[i]). A device may repeat "
              "where several ranks per GPU are allowed; ranks sharing a GPU then get "
              "max_ctas=max_ctas_for_shared_gpu(device, ranks on it) unless config sets it.")
          .def_static(
              "from_environment",
              [](LibraryArg lib, std::optional<Config> config) {
                auto l = library_or_default(lib);
                nb::gil_scoped_release release;
                return Communicator::from_environment(std::move(l), config.value_or(Config{}));
              },
              nb::arg("lib").none() = nb::none(), nb::arg("config").none() = nb::none(),
              "Rank and size from torchrun / Open MPI / Slurm / NCCLRT_* variables, the device "
              "from "
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
                return c.shrink(excluded, config.value_or(Config{}),
                                abort_parent ? ShrinkMode::kAbortParent : ShrinkMode::kDefault);
              },
              nb::arg("excluded"), nb::arg("config").none() = nb::none(),
              nb::arg("abort_parent") = false,
              "ncclCommShrink: a new communicator without the excluded ranks.")
          .def(
              "revoke",
              [](C& c, SecondsArg timeout) {
                auto t = seconds(timeout, "revoke");
                nb::gil_scoped_release release;
                c.revoke(t);
              },
              nb::arg("timeout").none() = nb::none(),
              "ncclCommRevoke (NCCL >= 2.28.7): stops in-flight work; then only destroy, abort, "
              "split and shrink are allowed.")
          .def(
              "grow_id", [](const C& c) { return c.grow_id(); },
              "ncclCommGetUniqueId (NCCL >= 2.29.2), on one existing rank: the id new ranks join "
              "with.")
          .def(
              "grow",
              [](const C& c, int nranks, std::optional<UniqueId> id, std::optional<Config> config) {
                nb::gil_scoped_release release;
                return c.grow(nranks, id, config.value_or(Config{}));
              },
              nb::arg("nranks"), nb::arg("unique_id").none() = nb::none(),
              nb::arg("config").none() = nb::none(),
              "ncclCommGrow on every existing rank; the rank that made the id passes it.")
          .def_static(
              "join",
              [](LibraryArg lib, int nranks, int rank, const UniqueId& id,
                 std::optional<Config> config) {
                auto l = library_or_default(lib);
                nb::gil_scoped_release release;
                return Communicator::join(std::move(l), nranks, rank, id,
                                          config.value_or(Config{}));
              },
              nb::arg("lib").none(), nb::arg("nranks"), nb::arg("rank"), nb::arg("unique_id"),
              nb::arg("config").none() = nb::none(),
              "ncclCommGrow on a new rank: joins the communicator the existing ranks grow.")
          .def(
              "suspend",
              [](C& c, SuspendFlags flags) {
                nb::gil_scoped_release release;
                c.suspend(flags);
              },
              nb::arg("flags") = SuspendFlags::kMemory,
              "ncclCommSuspend (NCCL >= 2.29.7); operations are refused until resume().")
          .def(
              "resume",
              [](C& c) {
                nb::gil_scoped_release release;
                c.resume();
              },
              "ncclCommResume (NCCL >= 2.29.7).")
          .def(
              "suspension",
              [](C& c, SuspendFlags flags) {
                return Suspension{&c, flags};
              },
              nb::arg("flags") = SuspendFlags::kMemory, nb::keep_alive<0, 1>(),
              "`with comm.suspension():` suspends for the block and resumes after it.")
          .def("memory_stats", &C::memory_stats, "ncclCommMemStats (NCCL >= 2.29.7).")
          .def_prop_ro("revoked", &C::revoked,
                       "revoke() was called: only destroy, abort, split and shrink remain.")
          .def_prop_ro("suspended", &C::suspended,
                       "suspend() was called and resume() not yet: operations are refused.")
          .def_prop_ro("valid", &C::valid, "Not yet destroyed or aborted (and not moved from).")
          .def("__bool__", &C::valid)
          .def_prop_ro("rank", &C::rank, "This rank, 0 .. size - 1.")
          .def_prop_ro("size", &C::size, "The number of ranks.")
          .def_prop_ro("device", &C::device, "The CUDA device the communicator was made on.")
          .def_prop_ro(
              "library", [](const C& c) { return PyLibrary{c.library()}; },
              "The Library (the NCCL file) the communicator uses.")
          .def_prop_ro(
              "native", [](const C& c) { return reinterpret_cast<std::uintptr_t>(c.native()); },
              "NCCL's ncclComm_t as an int, for calling NCCL directly.")
          .def(
              "finalize",
              [](C& c, SecondsArg timeout) {
                auto t = seconds(timeout, "finalize");
                nb::gil_scoped_release release;
                c.finalize(t);
              },
              nb::arg("timeout").none() = nb::none())
          .def(
              "destroy",
              [](C& c, SecondsArg timeout) {
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
              [](const C& c, nb::handle stream, SecondsArg timeout, bool abort) {
                CUstream_st* st = read_stream(stream.ptr(), Buffer{}, -1);
                const auto t = seconds(timeout, "synchronize");
                if (!t) throw UsageError("synchronize: needs a timeout in seconds");
                nb::gil_scoped_release release;
                c.synchronize(st, *t, abort ? OnFailure::kAbort : OnFailure::kLeave);
              },
              nb::arg("stream").none() = nb::none(), nb::arg("timeout") = 60.0,
              nb::arg("abort") = true,
              "Waits for the stream's work; an error or the timeout raises, aborting the "
              "communicator first unless abort=False (then revoke() and shrink() it).")
          .def(
              "watch",
              [](const C& c, nb::handle stream, SecondsArg timeout) {
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
                if (!c.valid() && !c.revoked() && !c.suspended()) return false;
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
                 if (!c.valid() && !c.revoked() && !c.suspended()) {
                   return std::string(
                       "Communicator(not live: empty, finalized, destroyed or aborted)");
                 }
                 return "Communicator(rank " + std::to_string(c.rank()) + " of " +
                        std::to_string(c.size()) + " on GPU " + std::to_string(c.device()) +
                        ", NCCL " + c.library()->version().str() +
                        (c.revoked()     ? ", revoked"
                         : c.suspended() ? ", suspended"
                                         : "") +
                        ")";
               })
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
                return c.register_window(p, n, static_cast<WindowFlags>(flags), st);
              },
              nb::arg("buf").none(), nb::arg("nbytes").none() = nb::none(),
              nb::arg("flags") = static_cast<int>(kWinDefault), nb::kw_only(),
              nb::arg("stream").none() = nb::none(),
              "ncclCommWindowRegister; refused during a visible capture.");
  bind_operations(cls);
  bind_trace(m, cls);
  bind_device_api(m, cls, win);
}

}  // namespace ncclrt::py
