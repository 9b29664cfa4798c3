#include "pyutil.hpp"

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include "buffers.hpp"

namespace nb = nanobind;

namespace ncclrt::py {

Names names;

namespace {

PyObject* intern(const char* s) {
  PyObject* o = PyUnicode_InternFromString(s);
  if (o == nullptr) throw nb::python_error();
  return o;  // kept for the life of the process
}

}  // namespace

[[noreturn]] void python_failed() { throw nb::python_error(); }

// A new reference or nullptr, with the AttributeError cleared.
PyObject* attr_or_null(PyObject* o, PyObject* name) {
  PyObject* v = PyObject_GetAttr(o, name);
  if (v == nullptr) {
    if (!PyErr_ExceptionMatches(PyExc_AttributeError)) python_failed();
    PyErr_Clear();
  }
  return v;
}

PyObject* call_method0(PyObject* self, PyObject* name) {
  PyObject* r = PyObject_VectorcallMethod(name, &self, 1, nullptr);
  if (r == nullptr) python_failed();
  return r;
}

std::string type_name(PyObject* o) {
  nb::handle t(reinterpret_cast<PyObject*>(Py_TYPE(o)));
  try {
    return nb::cast<std::string>(t.attr("__module__")) + "." +
           nb::cast<std::string>(t.attr("__qualname__"));
  } catch (...) {
    return "an object";
  }
}

std::string text_of(PyObject* o) {
  Ref s(PyObject_Str(o));
  if (!s) {
    PyErr_Clear();
    return "?";
  }
  Py_ssize_t len = 0;
  const char* c = PyUnicode_AsUTF8AndSize(s.p, &len);
  if (c == nullptr) {
    PyErr_Clear();
    return "?";
  }
  return std::string(c, static_cast<std::size_t>(len));
}

bool library_object(PyObject* o) {
  try {
    nb::handle type(reinterpret_cast<PyObject*>(Py_TYPE(o)));
    const std::string mod = nb::cast<std::string>(type.attr("__module__"));
    for (const char* m : {"torch", "numpy", "cupy", "ml_dtypes", "ncclrt"}) {
      if (mod.rfind(m, 0) == 0) return true;
    }
  } catch (const nb::python_error&) {
  }
  return false;
}

bool pointer_from_other(PyObject* v, void*& out) {
  const bool not_int = PyErr_ExceptionMatches(PyExc_TypeError);
  PyErr_Clear();
  if (!not_int || PyLong_Check(v)) return false;  // an int out of range
  Ref index(PyNumber_Index(v));
  if (!index) {
    PyErr_Clear();
    return false;
  }
  return pointer_from_int(index.p, out);
}

void init_names() {
  names.data_ptr = intern("data_ptr");
  names.numel = intern("numel");
  names.dtype = intern("dtype");
  names.get_device = intern("get_device");
  names.is_contiguous = intern("is_contiguous");
  names.data = intern("data");
  names.ptr = intern("ptr");
  names.size = intern("size");
  names.device_id = intern("device_id");
  names.c_contiguous = intern("_c_contiguous");
  names.cai = intern("__cuda_array_interface__");
  names.dlpack = intern("__dlpack__");
  names.dlpack_device = intern("__dlpack_device__");
  names.cuda_stream = intern("cuda_stream");
  names.cuda_stream_protocol = intern("__cuda_stream__");
}

}  // namespace ncclrt::py
