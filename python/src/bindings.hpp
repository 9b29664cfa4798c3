// What the parts of the extension share.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <chrono>
#include <memory>
#include <ncclrt/ncclrt.hpp>
#include <optional>

namespace ncclrt::py {

namespace nb = nanobind;

/// The Python `Library`: a shared handle on one opened libnccl file.
struct PyLibrary {
  std::shared_ptr<const Library> lib;
};

/// Seconds (int or float) or None, as the C++ API's milliseconds.
std::optional<std::chrono::milliseconds> seconds(nb::handle value, const char* what);

/// The Library argument: a Library, or None for Library.open() (discovery).
std::shared_ptr<const Library> library_or_default(nb::handle lib);

/// For __repr__: a string as Python's repr() writes it ('...'), and an address as 0x hex.
std::string quoted(const std::string& text);
std::string address(const void* p);

void bind_errors(nb::module_& m);
void bind_library(nb::module_& m);
void bind_communicator(nb::module_& m);
void bind_agreement(nb::module_& m);
/// The NCCL-memory allocator for torch (nccl_allocator.cpp).
void bind_nccl_allocator(nb::module_& m);
/// Communicator.properties(), create_dev_comm(), DevComm and Window's device addresses.
void bind_device_api(nb::module_& m, nb::class_<Communicator>& comm, nb::class_<Window>& win);
/// ncclrt.pynccl_wrapper.NCCLLibrary's collectives (nccl_library.cpp).
void bind_nccl_library(nb::module_& m);
/// Inside a catch block: sets the Python error for the exception being handled as vLLM's
/// NCCL_CHECK words it ("NCCL error: <NCCL's string>", its last error after "\nLast error:\n"),
/// in ncclrt's exception classes (NcclError keeps its fields); an error ncclrt found before NCCL
/// reads "NCCL error: <ncclrt's message>". Python errors are set as they are.
void raise_nccl_check() noexcept;
/// comm.trace(), trace_info(), trace_label(); ncclrt.dump_traces (trace.cpp).
void bind_trace(nb::module_& m, nb::class_<Communicator>& cls);

}  // namespace ncclrt::py
