// `_ncclrt_bench`: what bench/python_instructions.py measures ncclrt's Python calls against. Built
// only with NCCLRT_PYTHON_BENCH=ON (the tests' and benchmarks' wheels), never part of ncclrt's API.
//
// - floor(...): the cheapest binding of an NCCL collective nanobind gives: the same ints a raw
//   call passes, positional, one call through a C function pointer (set_target), its result
//   checked. floor_kw / floor_nogil add one thing each (keyword arguments, a GIL release), so a
//   difference between them is the cost of that one thing.
// - Tensor: a stand-in for torch.Tensor without torch or a GPU: recognised by ncclrt as torch's
//   (module torch.*, class Tensor) and described through a DLPack C exchange table written in C,
//   as torch's is, so what ncclrt does per tensor is measured, not a Python callback.
// - exchange_costs(x, calls): what the two calls ncclrt makes into an array library's DLPack C
//   exchange table for a tensor argument cost by themselves (torch's code, not ncclrt's), timed
//   in C around `calls` calls each.
// - zero() / dump(): each calls an exported function that callgrind is told to act on
//   (--zero-before=ncclrt_bench_zero --dump-before=ncclrt_bench_dump), so one process can measure
//   every path with the interpreter's start and the warm-up left out.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "dlpack.hpp"  // python/src

namespace nb = nanobind;

extern "C" {
// Exported (the module is stripped: callgrind finds these through the dynamic symbol table) and
// never inlined, so the moment each is entered is a place callgrind can see.
__attribute__((visibility("default"), noinline)) void ncclrt_bench_zero() { asm volatile(""); }
__attribute__((visibility("default"), noinline)) void ncclrt_bench_dump() { asm volatile(""); }
}

namespace {

// ncclAllReduce's C signature.
using AllReduceFn = int (*)(const void*, void*, std::size_t, int, int, void*, void*);
AllReduceFn g_fn = nullptr;
void* g_comm = nullptr;

int call(std::uintptr_t send, std::uintptr_t recv, std::size_t count, int dtype, int op,
         std::uintptr_t stream) {
  if (g_fn == nullptr) throw std::runtime_error("_ncclrt_bench: call set_target() first");
  return g_fn(reinterpret_cast<const void*>(send), reinterpret_cast<void*>(recv), count, dtype, op,
              g_comm, reinterpret_cast<void*>(stream));
}

void check(int result) {
  if (result != 0) throw std::runtime_error("_ncclrt_bench: the call failed");
}

void floor_call(std::uintptr_t send, std::uintptr_t recv, std::size_t count, int dtype, int op,
                std::uintptr_t stream) {
  check(call(send, recv, count, dtype, op, stream));
}

void floor_nogil(std::uintptr_t send, std::uintptr_t recv, std::size_t count, int dtype, int op,
                 std::uintptr_t stream) {
  int r;
  {
    nb::gil_scoped_release release;
    r = call(send, recv, count, dtype, op, stream);
  }
  check(r);
}

// DLPack's C ABI and torch's exchange table, as the extension itself reads them.
using ncclrt::py::DLTensor;
using ExchangeHeader = ncclrt::py::DLPackExchangeAPIHeader;
using ExchangeAPI = ncclrt::py::DLPackExchangeAPI;

// A one-dimensional contiguous float32 CUDA "tensor" at a given address.
struct Tensor {
  std::uintptr_t ptr;
  std::int64_t shape[1];
  std::int64_t strides[1] = {1};
  int device;
};

int tensor_from_py(void* obj, DLTensor* out) {
  Tensor* t = nb::inst_ptr<Tensor>(nb::handle(static_cast<PyObject*>(obj)));
  out->data = reinterpret_cast<void*>(t->ptr);
  out->device = {2, t->device};  // kDLCUDA
  out->ndim = 1;
  out->dtype = {2, 32, 1};  // float32
  out->shape = t->shape;
  out->strides = t->strides;
  out->byte_offset = 0;
  return 0;
}

int current_stream(int, std::int32_t device_id, void** out) {
  *out = reinterpret_cast<void*>(static_cast<std::uintptr_t>(0x5E00 + device_id));
  return 0;
}

ExchangeAPI g_api = {{1, 2, nullptr}, nullptr, nullptr, nullptr, tensor_from_py, current_stream};

// ns per call of the exchange table's dltensor_from_py_object_no_sync(x) and
// current_work_stream(CUDA, x's device), each called `calls` times in a row (the best of 5).
nb::dict exchange_costs(nb::handle x, int calls) {
  nb::object capsule =
      nb::handle(reinterpret_cast<PyObject*>(Py_TYPE(x.ptr()))).attr("__dlpack_c_exchange_api__");
  const auto* api =
      static_cast<const ExchangeAPI*>(PyCapsule_GetPointer(capsule.ptr(), "dlpack_exchange_api"));
  if (api == nullptr) throw nb::python_error();
  if (api->header.major != 1) throw std::runtime_error("exchange_costs: not a 1.x table");
  DLTensor t{};
  if (api->dltensor_from_py_object_no_sync(x.ptr(), &t) != 0) throw nb::python_error();
  const int device = t.device.device_id;
  using Clock = std::chrono::steady_clock;
  auto best = [&](auto&& one) {
    double ns = 1e30;
    for (int round = 0; round < 5; ++round) {
      const auto t0 = Clock::now();
      for (int i = 0; i < calls; ++i) one();
      const auto t1 = Clock::now();
      ns = std::min(ns, std::chrono::duration<double, std::nano>(t1 - t0).count() / calls);
    }
    return ns;
  };
  int failed = 0;
  const double tensor_ns = best([&] {
    DLTensor out{};
    failed |= api->dltensor_from_py_object_no_sync(x.ptr(), &out);
    asm volatile("" : : "r"(out.data) : "memory");
  });
  const double stream_ns = best([&] {
    void* s = nullptr;
    failed |= api->current_work_stream(2, device, &s);
    asm volatile("" : : "r"(s) : "memory");
  });
  if (failed) throw nb::python_error();
  nb::dict out;
  out["dltensor_from_py_object_no_sync"] = tensor_ns;
  out["current_work_stream"] = stream_ns;
  return out;
}

}  // namespace

NB_MODULE(_ncclrt_bench, m) {
  m.doc() = "ncclrt's Python benchmarks: a floor binding, a torch-like tensor, callgrind marks";
  m.def(
      "set_target",
      [](std::uintptr_t fn, std::uintptr_t comm) {
        g_fn = reinterpret_cast<AllReduceFn>(fn);
        g_comm = reinterpret_cast<void*>(comm);
      },
      nb::arg("fn"), nb::arg("comm"),
      "The ncclAllReduce to call (its address) and the ncclComm_t to pass it.");
  m.def("floor", &floor_call,
        "ncclAllReduce(send, recv, count, dtype, op, comm, stream), checked.");
  m.def("floor_kw", &floor_call, nb::arg("send"), nb::arg("recv"), nb::kw_only(), nb::arg("count"),
        nb::arg("dtype"), nb::arg("op") = 0, nb::arg("stream") = 0,
        "floor with keyword arguments, op and stream defaulted.");
  m.def("floor_nogil", &floor_nogil, "floor with the GIL released around the call.");
  m.def("exchange_costs", &exchange_costs, nb::arg("x"), nb::arg("calls") = 100000,
        "ns per call of the two exchange-table calls ncclrt makes for a tensor argument.");
  m.def(
      "zero", [] { ncclrt_bench_zero(); }, "callgrind: zero the counts here.");
  m.def(
      "dump", [] { ncclrt_bench_dump(); }, "callgrind: dump the counts here.");

  nb::class_<Tensor>(m, "Tensor", "A torch-like float32 CUDA tensor (no memory behind it).")
      .def(
          "__init__",
          [](Tensor* t, std::uintptr_t ptr, std::int64_t numel, int device) {
            new (t) Tensor{ptr, {numel}, {1}, device};
          },
          nb::arg("ptr"), nb::arg("numel"), nb::arg("device") = 0);
  nb::handle cls = m.attr("Tensor");
  // What ncclrt looks for to take this type for torch's, as it would a subclass of torch.Tensor.
  cls.attr("__module__") = "torch._ncclrt_bench";
  cls.attr("__dlpack_c_exchange_api__") = nb::capsule(&g_api, "dlpack_exchange_api");
}
