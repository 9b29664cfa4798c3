// Turning Python arguments into what an NCCL call takes: a device pointer, a count, a DataType and
// a stream. This is the whole per-call budget of the module, so the common array types are
// recognised by their Python type (cached, without importing their packages) and read through the
// cheapest route each offers; the array protocols are the general path for everything else.
#pragma once

#include <Python.h>

#include <cstddef>
#include <ncclrt/types.hpp>

struct CUstream_st;

namespace ncclrt::py {

/// One buffer argument, read from an array or given as a raw pointer.
struct Buffer {
  void* ptr = nullptr;
  std::size_t count = 0;  ///< elements
  DataType type = DataType::kFloat32;
  int device = -1;        ///< CUDA device ordinal; -1 where the object does not say
  bool readonly = false;  ///< the array says it must not be written
  bool torch = false;     ///< a torch tensor (stream=None then means torch's current stream)
  const void* exchange = nullptr;  ///< its type's DLPack C exchange table, if it has one
};

/// Whether o is an int: the exact type in one compare (PyLong_Check is a call under the stable
/// ABI), then subclasses (enums).
inline bool is_int(PyObject* o) { return Py_IS_TYPE(o, &PyLong_Type) || PyLong_Check(o); }

/// pointer_from_int for what is not an unsigned long: an object with __index__, or an error.
bool pointer_from_other(PyObject* v, void*& out);

/// An int as an address; false (no Python error left set) for a negative or too large one, or an
/// object that is no int and has no __index__. One conversion: a negative int (which
/// PyLong_AsVoidPtr would take as an address) is an OverflowError there.
inline bool pointer_from_int(PyObject* v, void*& out) {
  static_assert(sizeof(unsigned long) == sizeof(void*), "an address is an unsigned long here");
  const unsigned long value = PyLong_AsUnsignedLong(v);
  if (value == static_cast<unsigned long>(-1) && PyErr_Occurred())
    return pointer_from_other(v, out);
  out = reinterpret_cast<void*>(value);
  return true;
}

/// The last int object given as a stream handle and its address: a loop passes the same object
/// (a handle read once, e.g. `s = stream.cuda_stream`), so it is converted once. The object is
/// held, so that its address names it while it is here (an int never changes); the GIL guards
/// it. Only exact ints are kept.
struct PointerMemo {
  PyObject* obj = nullptr;
  void* value = nullptr;
};
extern PointerMemo g_stream_memo;
/// pointer_from_int(v, out) for an exact int `v`, through `m`.
inline bool memo_pointer(PyObject* v, PointerMemo& m, void*& out) {
  if (v == m.obj) {
    out = m.value;
    return true;
  }
  if (!pointer_from_int(v, out)) return false;
  Py_INCREF(v);
  PyObject* old = m.obj;
  m.obj = v;
  m.value = out;
  Py_XDECREF(old);
  return true;
}
/// Lets go of g_stream_memo's object (at interpreter exit).
void clear_stream_memo();

/// Interns the attribute names used per call. Called once, at import.
void init_names();

/// Reads an array argument (torch tensor, cupy array, `__cuda_array_interface__`, `__dlpack__`).
/// Throws UsageError for a host array, a non-contiguous one, a type NCCL has not got, or an object
/// that is no array. `op` and `role` ("send", "recv") go into the message.
void read_array(PyObject* obj, const char* op, const char* role, Buffer& out);

/// The stream argument: None (torch's current stream of `device` when `first` is a torch tensor,
/// else the default stream), an int handle, a torch.cuda.Stream, a cupy stream, or anything with
/// `__cuda_stream__`.
CUstream_st* read_stream(PyObject* stream, const Buffer& first, int device);

/// The DataType of a dtype-like argument: an ncclrt.DataType (or its int value), a torch dtype, a
/// numpy/cupy dtype or a name ("float32", "bfloat16").
DataType read_dtype(PyObject* dtype, const char* op);

/// The dtype object read last and its DataType (one of those read_dtype keeps, so its address
/// names it): a loop's calls pass the same one.
struct LastDtype {
  PyObject* dtype = nullptr;
  DataType type = DataType::kFloat32;
};
extern LastDtype g_last_dtype;
inline DataType read_dtype_fast(PyObject* dtype, const char* op) {
  if (dtype == g_last_dtype.dtype) return g_last_dtype.type;
  return read_dtype(dtype, op);
}

}  // namespace ncclrt::py
