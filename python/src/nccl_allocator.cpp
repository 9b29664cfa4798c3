// NCCL's own memory for torch: the two C functions torch's CUDAPluggableAllocator looks up in a
// shared library (this extension exports them, so no compiler is needed where it runs), the
// segments they hand out, and the registrations made on those segments. A segment's
// registrations are released before its memory goes back to NCCL, whoever frees it.
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bindings.hpp"
#include "buffers.hpp"

namespace ncclrt::py {
namespace {

struct Segment {
  NcclMemory memory;
  std::uint64_t id = 0;  // never reused, unlike the address
  // Per owner (an NcclMemPool's token): its registration or window on this segment.
  std::vector<std::pair<std::uint64_t, Registration>> registrations;
  std::vector<std::pair<std::uint64_t, Window>> windows;
};

struct AllocatorState {
  std::mutex mutex;
  std::shared_ptr<const Library> library;  // where new segments come from
  std::unordered_map<void*, Segment> segments;
  std::uint64_t next_id = 1;
  std::string last_error;
};

// Never destroyed: torch may free segments while the process tears its statics down.
AllocatorState& state() {
  static auto* s = new AllocatorState;
  return *s;
}

}  // namespace
}  // namespace ncclrt::py

// The allocator's C ABI, as torch's CUDAPluggableAllocator calls it. They never throw: a failure
// returns null (torch then raises its out-of-memory error) and is kept for
// _nccl_allocator_error(). ncclMemAlloc allocates on the current device, which is the `device`
// torch passes.
extern "C" __attribute__((visibility("default"))) void* ncclrt_torch_alloc(std::ptrdiff_t size,
                                                                           int device,
                                                                           CUstream_st* stream) {
  (void)device;
  (void)stream;
  using namespace ncclrt;
  auto& s = py::state();
  std::shared_ptr<const Library> lib;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    lib = s.library;
    if (!lib) {
      s.last_error =
          "ncclrt's NCCL allocator has no Library: make an ncclrt.mempool.NcclMemPool first";
      return nullptr;
    }
  }
  try {
    if (size <= 0) throw UsageError("ncclrt_torch_alloc: size must be positive");
    NcclMemory memory = NcclMemory::allocate(std::move(lib), static_cast<std::size_t>(size));
    void* ptr = memory.get();
    std::lock_guard<std::mutex> lock(s.mutex);
    py::Segment& seg = s.segments[ptr];
    seg.memory = std::move(memory);
    seg.id = s.next_id++;
    return ptr;
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.last_error = e.what();
    return nullptr;
  }
}

extern "C" __attribute__((visibility("default"))) void ncclrt_torch_free(void* ptr,
                                                                         std::ptrdiff_t size,
                                                                         int device,
                                                                         CUstream_st* stream) {
  (void)size;
  (void)device;
  (void)stream;
  auto& s = ncclrt::py::state();
  ncclrt::py::Segment seg;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.segments.find(ptr);
    if (it == s.segments.end()) {
      s.last_error = "ncclrt_torch_free: " + ncclrt::py::address(ptr) +
                     " is no segment of ncclrt's NCCL allocator; left alone";
      return;
    }
    seg = std::move(it->second);
    s.segments.erase(it);
  }
  // Outside the lock (deregistration calls NCCL): windows, then registrations, then the memory.
  seg.windows.clear();
  seg.registrations.clear();
}

namespace ncclrt::py {

void bind_nccl_allocator(nb::module_& m) {
  m.def("_nccl_allocator_symbols",
        [] { return std::make_tuple(std::string("ncclrt_torch_alloc"), "ncclrt_torch_free"); });
  m.def(
      "_nccl_allocator_use",
      [](const PyLibrary& lib) {
        lib.lib->require(Function::ncclMemAlloc);
        auto& s = state();
        std::lock_guard<std::mutex> lock(s.mutex);
        s.library = lib.lib;
      },
      nb::arg("lib"), "New segments come from this Library's ncclMemAlloc.");
  m.def("_nccl_allocator_segments", [] {
    auto& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    std::vector<std::tuple<std::uintptr_t, std::size_t, std::uint64_t>> out;
    out.reserve(s.segments.size());
    for (const auto& [ptr, seg] : s.segments) {
      out.emplace_back(reinterpret_cast<std::uintptr_t>(ptr), seg.memory.size(), seg.id);
    }
    return out;
  });
  m.def("_nccl_allocator_error", [] {
    auto& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    return std::exchange(s.last_error, std::string());
  });
  m.def(
      "_nccl_allocator_register",
      [](const Communicator& comm, std::uintptr_t addr, std::uint64_t owner, bool window,
         nb::handle stream) {
        auto& s = state();
        void* ptr = reinterpret_cast<void*>(addr);
        std::size_t bytes = 0;
        std::uint64_t id = 0;
        {
          std::lock_guard<std::mutex> lock(s.mutex);
          auto it = s.segments.find(ptr);
          if (it == s.segments.end()) {
            throw UsageError("NcclMemPool: " + address(ptr) +
                             " is no segment of ncclrt's NCCL allocator");
          }
          const Segment& seg = it->second;
          for (const auto& r : seg.registrations) {
            if (r.first == owner && !window) return false;
          }
          for (const auto& w : seg.windows) {
            if (w.first == owner && window) return false;
          }
          bytes = seg.memory.size();
          id = seg.id;
        }
        CUstream_st* st = read_stream(stream.ptr(), Buffer{}, -1);
        Registration reg;
        Window win;
        {
          // A window registration waits for every rank.
          nb::gil_scoped_release release;
          if (window) {
            win = comm.register_window(ptr, bytes, WindowFlags::kCollSymmetric, st);
          } else {
            reg = comm.register_buffer(ptr, bytes, st);
          }
        }
        std::lock_guard<std::mutex> lock(s.mutex);
        auto it = s.segments.find(ptr);
        // Freed meanwhile (by another thread): the handle goes now, with nothing to keep.
        if (it == s.segments.end() || it->second.id != id) return false;
        if (window) {
          it->second.windows.emplace_back(owner, std::move(win));
        } else {
          it->second.registrations.emplace_back(owner, std::move(reg));
        }
        return true;
      },
      nb::arg("comm"), nb::arg("address"), nb::arg("owner"), nb::arg("window"),
      nb::arg("stream").none(),
      "Registers one segment with `comm` for `owner` (ncclCommRegister, or a symmetric window); "
      "False when that owner has it registered already. The registration lives until the "
      "segment is freed.");
}

}  // namespace ncclrt::py
