// The extension module `ncclrt._ncclrt`: the C++ public API of ncclrt, and nothing past it.
#include "bindings.hpp"
#include "buffers.hpp"

NB_MODULE(_ncclrt, m) {
  m.doc() = "ncclrt: NCCL loaded at run time (the C++ core, bound with nanobind)";
  m.attr("__version__") = ncclrt::kVersionString;
  ncclrt::py::init_names();
  ncclrt::py::bind_errors(m);
  ncclrt::py::bind_library(m);
  ncclrt::py::bind_communicator(m);
  ncclrt::py::bind_agreement(m);
  ncclrt::py::bind_nccl_allocator(m);
  ncclrt::py::bind_nccl_library(m);
}
