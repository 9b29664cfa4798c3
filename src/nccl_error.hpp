// The one path by which a failed NCCL call becomes an NcclError.
#pragma once

#include <string>

#include "ncclrt/abi.hpp"
#include "ncclrt/library.hpp"

namespace ncclrt::detail {

/// Throws NcclError for `result` returned by `call`, with NCCL's string for it, the
/// ncclGetLastError text (where the loaded NCCL has it), the loaded version and file, `where`
/// (e.g. "rank 0 of 2") and a hint of what to try. Kept out of line: the hot path only tests.
[[noreturn]] void throw_nccl_error(const Library& lib, abi::ncclResult_t result, const char* call,
                                   abi::ncclComm_t comm, const std::string& where);

/// The hot path's check: one compare on success.
inline void check(const Library& lib, abi::ncclResult_t result, const char* call,
                  abi::ncclComm_t comm, const char* where = "") {
  if (__builtin_expect(result != abi::ncclSuccess, 0)) {
    throw_nccl_error(lib, result, call, comm, where);
  }
}

}  // namespace ncclrt::detail
