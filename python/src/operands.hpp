// The buffers of one operation call, read as arrays or given as device pointers: what every
// operation and the handle-making calls share.
#pragma once

#include <string>

#include "bindings.hpp"
#include "buffers.hpp"

namespace ncclrt::py {

inline std::string num(std::size_t v) { return std::to_string(v); }

/// A UsageError "op: a b c d": built and thrown out of line, so that the checks of the hot path
/// stay small enough to inline.
[[noreturn]] void usage(const char* op, const char* a, const char* b = "", const char* c = "",
                        const char* d = "");
/// The Operands' other failures, out of line for the same reason.
[[noreturn]] void bad_pointer(const char* op, const char* role, PyObject* obj);
[[noreturn]] void wrong_device(const char* op, const char* role, int device, int comm_device);
[[noreturn]] void mixed_types(const char* op, const char* role, DataType got, DataType first);

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
    raw = is_int(first);
    if (raw) {
      if (count_arg == Py_None || dtype_arg == Py_None) {
        usage(op, "a device pointer (int) needs count= and dtype= (an array carries its own)");
      }
      count = PyLong_AsSize_t(count_arg);
      if (count == static_cast<std::size_t>(-1) && PyErr_Occurred()) {
        PyErr_Clear();
        usage(op, "count= must be a non-negative int");
      }
      type = read_dtype_fast(dtype_arg, op);
    } else if (count_arg != Py_None || dtype_arg != Py_None) {
      usage(op,
            "count= and dtype= are for device pointers (ints); an array carries its own size "
            "and type");
    }
  }

  // Reads one buffer; `write` refuses read-only arrays. An array fixes the call's type and
  // device, and every later one must agree.
  Buffer read(PyObject* obj, const char* role, bool write) {
    Buffer b;
    if (raw) {
      if (!is_int(obj)) {
        usage(op, "the ", role,
              " argument must be a device pointer (int) like the first one; do not mix pointers "
              "and arrays");
      }
      if (!pointer_from_int(obj, b.ptr)) bad_pointer(op, role, obj);
      b.count = count;
      b.type = type;
      return b;
    }
    if (is_int(obj)) {
      usage(op, "the ", role,
            " argument is an int (a device pointer) but the first buffer was an array; do not mix "
            "pointers and arrays");
    }
    read_array(obj, op, role, b);
    if (write && b.readonly)
      usage(op, "the ", role, " array is read-only; NCCL would write into it");
    if (b.device >= 0 && b.device != comm_device()) wrong_device(op, role, b.device, comm_device());
    if (!have_lead_) {
      have_lead_ = true;
      type = b.type;
      lead = b;
    } else if (b.type != type) {
      mixed_types(op, role, b.type, type);
    }
    return b;
  }

  // The stream argument; an int handle is read here, everything else (and a bad int, for its
  // message) by read_stream. The device only matters for torch's current stream (stream=None
  // with a tensor).
  CUstream_st* stream(PyObject* s) {
    void* handle = nullptr;
    if (Py_IS_TYPE(s, &PyLong_Type) && memo_pointer(s, g_stream_memo, handle)) {
      return static_cast<CUstream_st*>(handle);
    }
    return read_stream(s, lead, lead.device >= 0 || !lead.torch ? lead.device : comm_device());
  }

  [[noreturn]] void sizes(const std::string& why) const {
    throw UsageError(std::string(op) + ": " + why);
  }

 private:
  int comm_device() {
    if (comm_device_ < 0) comm_device_ = comm.device();
    return comm_device_;
  }
  bool have_lead_ = false;
  int comm_device_ = -1;  // asked once per call
};

/// Binds every operation onto the Communicator class.
void bind_operations(nb::class_<Communicator>& cls);

}  // namespace ncclrt::py
