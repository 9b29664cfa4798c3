#include "nccl_error.hpp"

#include <sstream>

#include "cuda_driver.hpp"
#include "ncclrt/error.hpp"

namespace ncclrt::detail {
namespace {
const char* hint_for(abi::ncclResult_t r) {
  switch (r) {
    case abi::ncclUnhandledCudaError:
      return "check that a GPU is visible (CUDA_VISIBLE_DEVICES) and that the CUDA driver is "
             "recent enough for this NCCL";
    case abi::ncclSystemError:
      return "a system call or the network failed; run with NCCL_DEBUG=INFO for details";
    case abi::ncclInternalError:
      return "NCCL hit an internal error; run with NCCL_DEBUG=INFO and consider another NCCL "
             "version";
    case abi::ncclInvalidArgument:
      return "an argument was rejected by NCCL; check counts, types, ranks and buffers";
    case abi::ncclInvalidUsage:
      return "NCCL was used in a way it does not allow; check ranks, devices and call order";
    case abi::ncclRemoteError:
      return "a peer failed or went away; abort this communicator and rebuild it";
    case abi::ncclInProgress:
      return "the operation is still in progress on a nonblocking communicator";
    case abi::ncclTimeout:
      return "NCCL's own timeout expired; a peer may be missing or stuck";
    default:
      return "run with NCCL_DEBUG=INFO for details";
  }
}
}  // namespace

void throw_nccl_error(const Library& lib, abi::ncclResult_t result, const char* call,
                      abi::ncclComm_t comm, const std::string& where) {
  const std::string text = lib.error_string(result);
  std::string last;
  if (lib.raw().ncclGetLastError) {
    const char* s = lib.raw().ncclGetLastError(comm);
    if (s) last = s;
  }
  std::ostringstream m;
  m << call << " failed";
  if (!where.empty()) m << " (" << where << ")";
  m << ": " << text << " [" << static_cast<int>(result) << "]";
  if (!last.empty()) m << "; NCCL's last error: " << last;
  m << "; NCCL " << lib.version().str() << " from " << lib.path() << ". Try: ";
  // NCCL's CUDA runtime reports a missing driver as "driver version is insufficient": say what
  // ncclrt knows instead.
  const std::string driver =
      result == abi::ncclUnhandledCudaError ? driver_problem() : std::string();
  if (!driver.empty()) {
    m << "run on a machine with an NVIDIA GPU and its driver; here: " << driver
      << ". `ncclrt info` shows what ncclrt sees";
  } else {
    m << hint_for(result);
  }
  throw NcclError(m.str(), result, text, last, call, lib.version().str());
}

}  // namespace ncclrt::detail
