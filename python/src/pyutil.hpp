// Small CPython helpers the extension's readers share: interned attribute names, an owning
// reference, attribute lookups that treat "no such attribute" as an answer, and text for messages.
#pragma once

#include <Python.h>

#include <string>

namespace ncclrt::py {

struct Names {
  PyObject* data_ptr;
  PyObject* numel;
  PyObject* dtype;
  PyObject* get_device;
  PyObject* is_contiguous;
  PyObject* data;
  PyObject* ptr;
  PyObject* size;
  PyObject* device_id;
  PyObject* c_contiguous;
  PyObject* cai;
  PyObject* dlpack;
  PyObject* dlpack_device;
  PyObject* cuda_stream;
  PyObject* cuda_stream_protocol;
};
/// Interned once, at import (init_names); kept for the life of the process.
extern Names names;

/// Owns one reference.
struct Ref {
  PyObject* p;
  explicit Ref(PyObject* o) : p(o) {}
  Ref(const Ref&) = delete;
  Ref& operator=(const Ref&) = delete;
  ~Ref() { Py_XDECREF(p); }
  explicit operator bool() const { return p != nullptr; }
};

/// Rethrows the Python error that is set, as nanobind's python_error.
[[noreturn]] void python_failed();
/// A new reference, or nullptr with the AttributeError cleared.
PyObject* attr_or_null(PyObject* o, PyObject* name);
/// self.name() as a new reference; rethrows a Python error.
PyObject* call_method0(PyObject* self, PyObject* name);
/// "module.QualName" of o's type, for messages.
std::string type_name(PyObject* o);
/// str(o), for messages ("?" if that fails).
std::string text_of(PyObject* o);
/// Whether o belongs to torch, numpy, cupy, ml_dtypes or ncclrt, whose types and dtypes live as
/// long as their modules: only those are cached by identity. A caller's own object may hold the
/// globals of its module, and keeping it would keep them alive.
bool library_object(PyObject* o);

}  // namespace ncclrt::py
