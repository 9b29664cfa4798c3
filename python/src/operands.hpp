// The buffers of one operation call, read as arrays or given as device pointers: what every
// operation and the handle-making calls share.
#pragma once

#include <string>

#include "bindings.hpp"
#include "buffers.hpp"

namespace ncclrt::py {

inline std::string num(std::size_t v) { return std::to_string(v); }

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
    raw = PyLong_Check(first);
    if (raw) {
      if (count_arg == Py_None || dtype_arg == Py_None) {
        throw UsageError(std::string(op) +
                         ": a device pointer (int) needs count= and dtype= (an array carries "
                         "its own)");
      }
      count = PyLong_AsSize_t(count_arg);
      if (count == static_cast<std::size_t>(-1) && PyErr_Occurred()) {
        PyErr_Clear();
        throw UsageError(std::string(op) + ": count= must be a non-negative int");
      }
      type = read_dtype(dtype_arg, op);
    } else if (count_arg != Py_None || dtype_arg != Py_None) {
      throw UsageError(std::string(op) +
                       ": count= and dtype= are for device pointers (ints); an array carries its "
                       "own size and type");
    }
  }

  // Reads one buffer; `write` refuses read-only arrays. An array fixes the call's type and
  // device, and every later one must agree.
  Buffer read(PyObject* obj, const char* role, bool write) {
    Buffer b;
    if (raw) {
      if (!PyLong_Check(obj)) {
        throw UsageError(std::string(op) + ": the " + role +
                         " argument must be a device pointer (int) like the first one; do not "
                         "mix pointers and arrays");
      }
      if (!pointer_from_int(obj, b.ptr)) {
        throw UsageError(std::string(op) + ": the " + role + " pointer " +
                         nb::cast<std::string>(nb::str(nb::handle(obj))) +
                         " is not a valid address");
      }
      b.count = count;
      b.type = type;
      return b;
    }
    if (PyLong_Check(obj)) {
      throw UsageError(std::string(op) + ": the " + role +
                       " argument is an int (a device pointer) but the first buffer was an "
                       "array; do not mix pointers and arrays");
    }
    read_array(obj, op, role, b);
    if (write && b.readonly) {
      throw UsageError(std::string(op) + ": the " + role +
                       " array is read-only; NCCL would write into it");
    }
    if (b.device >= 0 && b.device != comm_device()) {
      throw UsageError(std::string(op) + ": the " + role + " array is on GPU " +
                       std::to_string(b.device) + " but the communicator is on GPU " +
                       std::to_string(comm_device()));
    }
    if (!have_lead_) {
      have_lead_ = true;
      type = b.type;
      lead = b;
    } else if (b.type != type) {
      throw UsageError(std::string(op) + ": the " + role + " array holds " + to_string(b.type) +
                       " but the first buffer holds " + to_string(type) +
                       "; NCCL needs one type for both");
    }
    return b;
  }

  // The device only matters for torch's current stream (stream=None with a tensor).
  CUstream_st* stream(PyObject* s) {
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
