// The device API's host side: Communicator.properties(), create_dev_comm() and DevComm, and a
// Window's device addresses.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <cstdint>
#include <string>

#include "bindings.hpp"

namespace ncclrt::py {
namespace {

std::uintptr_t as_int(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

template <class T>
std::string optional_text(const std::optional<T>& v) {
  if (!v) return "None";
  if constexpr (std::is_same_v<T, bool>) return *v ? "True" : "False";
  return std::to_string(*v);
}

}  // namespace

void bind_device_api(nb::module_& m, nb::class_<Communicator>& comm, nb::class_<Window>& win) {
  nb::class_<CommProperties>(m, "CommProperties",
                             "ncclCommQueryProperties: what a communicator offers the device API.")
      .def_ro("rank", &CommProperties::rank, "This rank in the communicator.")
      .def_ro("size", &CommProperties::size, "The number of ranks.")
      .def_ro("cuda_device", &CommProperties::cuda_device, "The CUDA device of this rank.")
      .def_ro("nvml_device", &CommProperties::nvml_device, "The NVML index of that device.")
      .def_ro("device_api_support", &CommProperties::device_api_support,
              "Whether NCCL's device API (create_dev_comm) works on this communicator.")
      .def_ro("multimem_support", &CommProperties::multimem_support,
              "Whether NVLink multicast (multimem) memory is available.")
      .def_ro("gin_type", &CommProperties::gin_type, "The GPU-initiated networking type (0: none).")
      .def_ro("lsa_teams", &CommProperties::lsa_teams, "None where NCCL < 2.30.7 was asked.")
      .def_ro("host_rma_support", &CommProperties::host_rma_support,
              "Whether one-sided operations from the host are supported.")
      .def_ro("railed_gin_type", &CommProperties::railed_gin_type,
              "The railed GPU-initiated networking type (0: none).")
      .def_ro("layout", &CommProperties::layout, "The layout ncclrt asked with.")
      .def("__repr__", [](const CommProperties& p) {
        return "CommProperties(rank=" + std::to_string(p.rank) +
               ", size=" + std::to_string(p.size) +
               ", cuda_device=" + std::to_string(p.cuda_device) +
               ", device_api_support=" + (p.device_api_support ? "True" : "False") +
               ", multimem_support=" + (p.multimem_support ? "True" : "False") +
               ", gin_type=" + std::to_string(p.gin_type) +
               ", lsa_teams=" + optional_text(p.lsa_teams) +
               ", host_rma_support=" + optional_text(p.host_rma_support) +
               ", layout=" + p.layout.str() + ")";
      });

  nb::class_<DevComm>(m, "DevComm",
                      "A device communicator (ncclDevCommCreate) for kernels written against "
                      "nccl_device.h; destroyed on close() or when it goes.")
      .def_prop_ro(
          "data", [](const DevComm& d) { return as_int(d.data()); },
          "Host address of the ncclDevComm NCCL wrote (pass its bytes to a kernel by value).")
      .def_prop_ro("bytes", &DevComm::bytes,
                   "The size of the device communicator NCCL made, in bytes.")
      .def_prop_ro("layout", &DevComm::layout,
                   "The layout (NCCL release) of the device communicator.")
      .def_prop_ro("valid", &DevComm::valid, "Whether it exists (not yet closed).")
      .def_prop_ro("rank", &DevComm::rank, "This rank in the device communicator.")
      .def_prop_ro("size", &DevComm::size, "The number of ranks.")
      .def_prop_ro("lsa_rank", &DevComm::lsa_rank, "This rank in its load/store-accessible team.")
      .def_prop_ro("lsa_size", &DevComm::lsa_size, "The size of that team.")
      .def(
          "raw",
          [](const DevComm& d) {
            if (!d.valid()) throw UsageError("DevComm::raw on an empty device communicator");
            return nb::bytes(static_cast<const char*>(d.data()), d.bytes());
          },
          "The ncclDevComm's bytes.")
      .def(
          "destroy",
          [](DevComm& d) {
            nb::gil_scoped_release release;
            d.destroy();
          },
          "ncclDevCommDestroy now; raises on failure.")
      .def(
          "close",
          [](DevComm& d) {
            nb::gil_scoped_release release;
            d = DevComm();
          },
          "Destroys it now, logging a failure.")
      .def(
          "__enter__", [](DevComm& d) -> DevComm& { return d; }, nb::rv_policy::reference)
      .def(
          "__exit__",
          [](DevComm& d, nb::handle, nb::handle, nb::handle) {
            nb::gil_scoped_release release;
            d = DevComm();
            return false;
          },
          nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none())
      .def("__repr__", [](const DevComm& d) {
        if (!d.valid()) return std::string("DevComm(destroyed)");
        return "DevComm(rank " + std::to_string(d.rank()) + " of " + std::to_string(d.size()) +
               ", lsa rank " + std::to_string(d.lsa_rank()) + " of " +
               std::to_string(d.lsa_size()) + ", layout " + d.layout().str() + ")";
      });

  comm.def(
          "properties",
          [](const Communicator& c) {
            nb::gil_scoped_release release;
            return c.properties();
          },
          "ncclCommQueryProperties (NCCL >= 2.29.2): what this communicator offers the device "
          "API.")
      .def(
          "create_dev_comm",
          [](const Communicator& c, nb::kwargs requirements) {
            DevCommRequirements r;
            for (auto [key, value] : requirements) {
              const std::string k = nb::cast<std::string>(key);
              if (k == "lsa_multimem") {
                r.lsa_multimem = nb::cast<bool>(value);
              } else if (k == "barrier_count") {
                r.barrier_count = nb::cast<int>(value);
              } else if (k == "lsa_barrier_count") {
                r.lsa_barrier_count = nb::cast<int>(value);
              } else if (k == "rail_gin_barrier_count") {
                r.rail_gin_barrier_count = nb::cast<int>(value);
              } else if (k == "lsa_ll_a2a_block_count") {
                r.lsa_ll_a2a_block_count = nb::cast<int>(value);
              } else if (k == "lsa_ll_a2a_slot_count") {
                r.lsa_ll_a2a_slot_count = nb::cast<int>(value);
              } else if (k == "gin_force_enable") {
                r.gin_force_enable = nb::cast<bool>(value);
              } else if (k == "gin_context_count") {
                r.gin_context_count = nb::cast<int>(value);
              } else if (k == "gin_signal_count") {
                r.gin_signal_count = nb::cast<int>(value);
              } else if (k == "gin_counter_count") {
                r.gin_counter_count = nb::cast<int>(value);
              } else if (k == "gin_connection_type") {
                r.gin_connection_type = nb::cast<int>(value);
              } else if (k == "gin_exclusive_contexts") {
                r.gin_exclusive_contexts = nb::cast<bool>(value);
              } else if (k == "gin_queue_depth") {
                r.gin_queue_depth = nb::cast<int>(value);
              } else if (k == "gin_traffic_class") {
                r.gin_traffic_class =
                    value.is_none() ? std::nullopt : std::optional<int>(nb::cast<int>(value));
              } else if (k == "world_gin_barrier_count") {
                r.world_gin_barrier_count = nb::cast<int>(value);
              } else if (k == "gin_strong_signals_required") {
                r.gin_strong_signals_required = nb::cast<bool>(value);
              } else if (k == "gin_va_signals_required") {
                r.gin_va_signals_required = nb::cast<bool>(value);
              } else {
                throw nb::type_error(("create_dev_comm() got an unexpected keyword argument '" + k +
                                      "' (the fields of ncclDevCommRequirements_t, snake_case)")
                                         .c_str());
              }
            }
            nb::gil_scoped_release release;
            return c.create_dev_comm(r);
          },
          "ncclDevCommCreate (NCCL >= 2.29.2); keywords are ncclDevCommRequirements_t's fields "
          "in snake_case (none: NCCL's initializer). Raises UnsupportedError where the device "
          "API is not supported.");

  win.def(
         "lsa_pointer",
         [](const Window& w, std::size_t offset, int lsa_rank) {
           return as_int(w.lsa_pointer(offset, lsa_rank));
         },
         nb::arg("offset"), nb::arg("lsa_rank"),
         "ncclGetLsaDevicePointer (NCCL >= 2.29.2): the window of rank `lsa_rank` of this "
         "rank's load/store-accessible team, at byte `offset`.")
      .def(
          "peer_pointer",
          [](const Window& w, std::size_t offset, int peer) {
            return as_int(w.peer_pointer(offset, peer));
          },
          nb::arg("offset"), nb::arg("peer"),
          "ncclGetPeerDevicePointer: the window of communicator rank `peer` (0 when it is not "
          "load/store-accessible).")
      .def(
          "lsa_multimem_pointer",
          [](const Window& w, std::size_t offset) {
            return as_int(w.lsa_multimem_pointer(offset));
          },
          nb::arg("offset"), "ncclGetLsaMultimemDevicePointer (0 without multicast).")
      .def(
          "multimem_pointer",
          [](const Window& w, std::size_t offset, std::uintptr_t base) {
            return as_int(w.multimem_pointer(offset, reinterpret_cast<void*>(base)));
          },
          nb::arg("offset"), nb::arg("multimem_base"),
          "ncclGetMultimemDevicePointer for a team's multimem handle (its mcBasePtr).");
}

}  // namespace ncclrt::py
