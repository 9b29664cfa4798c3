// Reading array arguments: torch tensors (through torch's DLPack C exchange table, else its
// methods), cupy arrays, __cuda_array_interface__, __dlpack__; and dtype arguments.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <cstdint>
#include <cstring>
#include <ncclrt/error.hpp>
#include <string>

#include "buffers.hpp"
#include "dlpack.hpp"
#include "pyutil.hpp"

namespace nb = nanobind;

namespace ncclrt::py {
namespace {

[[noreturn]] void refuse(const char* op, const char* role, const std::string& why) {
  throw UsageError(std::string(op) + ": the " + role + " argument " + why);
}

// ---- data types ----

// A name ("float32", "torch.bfloat16", NCCL's "float" or "half"): the library's one table.
bool type_from_name(std::string name, DataType& out) {
  if (name.rfind("torch.", 0) == 0) name.erase(0, 6);
  const auto t = data_type_named(name);
  if (t) out = *t;
  return t.has_value();
}

// dtype objects (torch.float32, numpy.dtype('float32'), ncclrt.DataType.FLOAT32) seen so far, by
// identity: the per-call lookup is a short scan of pointers.
struct DtypeSlot {
  PyObject* dtype;
  DataType type;
};
DtypeSlot g_dtypes[32];
int g_ndtypes = 0;

bool known_dtype(PyObject* dtype, DataType& out) {
  for (int i = 0; i < g_ndtypes; ++i) {
    if (g_dtypes[i].dtype == dtype) {
      out = g_dtypes[i].type;
      g_last_dtype = {dtype, out};  // held by the table, never let go
      return true;
    }
  }
  return false;
}

// Only the libraries' own dtype objects (and ints) are kept: they live as long as their module.
void remember_dtype(PyObject* dtype, DataType type) {
  if (g_ndtypes < static_cast<int>(sizeof g_dtypes / sizeof g_dtypes[0]) &&
      (Py_IS_TYPE(dtype, &PyLong_Type) || library_object(dtype))) {
    Py_INCREF(dtype);
    g_dtypes[g_ndtypes++] = {dtype, type};
  }
}

bool dtype_object(PyObject* dtype, DataType& out, std::string* name) {
  if (known_dtype(dtype, out)) return true;
  std::string text = text_of(dtype);
  if (!type_from_name(text, out)) {
    if (name) *name = text;
    return false;
  }
  remember_dtype(dtype, out);
  return true;
}

[[noreturn]] void no_nccl_type(const char* op, const char* role, const std::string& what) {
  refuse(op, role,
         "has element type " + what +
             ", which NCCL has not got (NCCL has int8, uint8, int32, uint32, int64, uint64, "
             "float16, bfloat16, float32, float64, float8_e4m3fn and float8_e5m2)");
}

// __cuda_array_interface__ typestr, e.g. "<f4".
bool type_from_typestr(const std::string& s, DataType& out) {
  if (s.size() < 3 || (s[0] != '<' && s[0] != '|' && s[0] != '=')) return false;
  const std::string k = s.substr(1);
  if (k == "f2")
    out = DataType::kFloat16;
  else if (k == "f4")
    out = DataType::kFloat32;
  else if (k == "f8")
    out = DataType::kFloat64;
  else if (k == "i1")
    out = DataType::kInt8;
  else if (k == "u1")
    out = DataType::kUint8;
  else if (k == "i4")
    out = DataType::kInt32;
  else if (k == "u4")
    out = DataType::kUint32;
  else if (k == "i8")
    out = DataType::kInt64;
  else if (k == "u8")
    out = DataType::kUint64;
  else
    return false;
  return true;
}

// ---- array kinds, by Python type ----

enum class Kind : unsigned char { kTorch, kCupy, kOther };
struct TypeInfo {
  Kind kind = Kind::kOther;
  const DLPackExchangeAPI* api = nullptr;  // the type's C exchange table, if it has a usable one
};
struct TypeSlot {
  PyTypeObject* type;
  TypeInfo info;
};
TypeSlot g_types[16];
int g_ntypes = 0;

// The type's `__dlpack_c_exchange_api__` (a capsule "dlpack_exchange_api", or its address as an
// int), at a major version this code knows; nullptr when there is none.
const DLPackExchangeAPI* exchange_api(PyTypeObject* t) {
  Ref attr(PyObject_GetAttrString(reinterpret_cast<PyObject*>(t), "__dlpack_c_exchange_api__"));
  if (!attr) {
    PyErr_Clear();
    return nullptr;
  }
  void* p = nullptr;
  if (PyCapsule_IsValid(attr.p, "dlpack_exchange_api")) {
    p = PyCapsule_GetPointer(attr.p, "dlpack_exchange_api");
  } else if (PyLong_Check(attr.p) && !pointer_from_int(attr.p, p)) {
    p = nullptr;
  }
  for (auto* h = static_cast<DLPackExchangeAPIHeader*>(p); h != nullptr; h = h->prev_api) {
    if (h->major != 1) continue;  // the tables of one major version share this layout
    const auto* api = reinterpret_cast<const DLPackExchangeAPI*>(h);
    if (api->dltensor_from_py_object_no_sync && api->current_work_stream) return api;
    return nullptr;
  }
  return nullptr;
}

TypeInfo classify(PyTypeObject* t) {
  TypeInfo info;
  try {
    nb::handle type(reinterpret_cast<PyObject*>(t));
    for (nb::handle base : type.attr("__mro__")) {
      const std::string mod = nb::cast<std::string>(base.attr("__module__"));
      const std::string name = nb::cast<std::string>(base.attr("__name__"));
      if (mod.rfind("torch", 0) == 0 && (name == "Tensor" || name == "TensorBase")) {
        info.kind = Kind::kTorch;
        break;
      }
      if (mod.rfind("cupy", 0) == 0 && (name == "ndarray" || name == "_ndarray_base")) {
        info.kind = Kind::kCupy;
        break;
      }
    }
  } catch (const nb::python_error&) {
    info.kind = Kind::kOther;  // a type without the usual attributes: the protocols decide
  }
  info.api = exchange_api(t);
  return info;
}

TypeInfo type_info(PyTypeObject* t) {
  for (int i = 0; i < g_ntypes; ++i) {
    if (g_types[i].type == t) return g_types[i].info;
  }
  const TypeInfo info = classify(t);
  // Only the array libraries' own types are kept (they live as long as their module); a type of
  // the caller's may hold the globals of its module, and holding it would keep them alive.
  if (info.kind != Kind::kOther &&
      g_ntypes < static_cast<int>(sizeof g_types / sizeof g_types[0])) {
    Py_INCREF(reinterpret_cast<PyObject*>(t));
    g_types[g_ntypes++] = {t, info};
  }
  return info;
}

std::size_t as_size(PyObject* v) {
  const std::size_t s = PyLong_AsSize_t(v);
  if (s == static_cast<std::size_t>(-1) && PyErr_Occurred()) python_failed();
  return s;
}

// ---- torch: five cheap method/attribute reads ----

void read_torch(PyObject* obj, const char* op, const char* role, Buffer& out) {
  Ref dev(call_method0(obj, names.get_device));
  const long device = PyLong_AsLong(dev.p);
  if (device < 0) {
    if (PyErr_Occurred()) python_failed();
    refuse(op, role,
           "is a tensor in host (CPU) memory; NCCL needs GPU memory: move it with .cuda()");
  }
  Ref contiguous(call_method0(obj, names.is_contiguous));
  if (contiguous.p != Py_True) {
    refuse(op, role, "is a non-contiguous tensor; pass .contiguous() (NCCL reads flat memory)");
  }
  Ref dtype(PyObject_GetAttr(obj, names.dtype));
  if (!dtype) python_failed();
  std::string name;
  if (!dtype_object(dtype.p, out.type, &name)) no_nccl_type(op, role, name);
  Ref ptr(call_method0(obj, names.data_ptr));
  out.ptr = PyLong_AsVoidPtr(ptr.p);
  Ref numel(call_method0(obj, names.numel));
  out.count = as_size(numel.p);
  out.device = static_cast<int>(device);
  out.readonly = false;
  out.torch = true;
}

// ---- cupy: attributes of the ndarray and its MemoryPointer; false = use the protocols ----

bool read_cupy(PyObject* obj, const char* op, const char* role, Buffer& out) {
  Ref data(attr_or_null(obj, names.data));
  if (!data) return false;
  Ref ptr(attr_or_null(data.p, names.ptr));
  Ref device(attr_or_null(data.p, names.device_id));
  Ref contiguous(attr_or_null(obj, names.c_contiguous));
  if (!ptr || !device || !contiguous) return false;
  if (contiguous.p != Py_True) {
    refuse(op, role, "is a non-contiguous array; pass cupy.ascontiguousarray(...)");
  }
  Ref dtype(PyObject_GetAttr(obj, names.dtype));
  if (!dtype) python_failed();
  std::string name;
  if (!dtype_object(dtype.p, out.type, &name)) no_nccl_type(op, role, name);
  Ref size(PyObject_GetAttr(obj, names.size));
  if (!size) python_failed();
  out.ptr = PyLong_AsVoidPtr(ptr.p);
  out.count = as_size(size.p);
  out.device = static_cast<int>(PyLong_AsLong(device.p));
  out.readonly = false;
  out.torch = false;
  return true;
}

// ---- the protocols ----

std::size_t product(const char* op, const char* role, const std::int64_t* shape, int ndim) {
  std::size_t count = 1;
  for (int i = 0; i < ndim; ++i) {
    if (shape[i] < 0) refuse(op, role, "has a negative dimension");
    // The overflow test without a 64-bit division (tens of cycles on the hot path).
    if (__builtin_mul_overflow(count, static_cast<std::size_t>(shape[i]), &count)) {
      refuse(op, role, "has more elements than a size_t holds");
    }
  }
  return count;
}

// C order with `unit` per element (1 for DLPack's element strides, the item size for CAI's
// byte strides); dimensions of extent 1 may have any stride.
bool c_contiguous(const std::int64_t* shape, const std::int64_t* strides, int ndim,
                  std::int64_t unit) {
  std::int64_t expected = unit;
  for (int i = ndim - 1; i >= 0; --i) {
    if (shape[i] == 0) return true;
    if (shape[i] != 1 && strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

// The device a protocol object says it is on, from __dlpack_device__; false when it has none.
// DLPack device types: 1 CPU, 2 CUDA, 3 CUDA host (pinned), 13 CUDA managed.
bool dlpack_device(PyObject* obj, const char* op, const char* role, int& type, int& id) {
  Ref method(attr_or_null(obj, names.dlpack_device));
  if (!method) return false;
  Ref r(PyObject_CallNoArgs(method.p));
  if (!r) python_failed();
  try {
    nb::tuple t = nb::borrow<nb::tuple>(r.p);
    type = nb::cast<int>(t[0]);
    id = nb::cast<int>(t[1]);
  } catch (const std::exception&) {
    refuse(op, role, "has a __dlpack_device__ that is not a (type, id) pair");
  }
  return true;
}

void check_dlpack_device(int type, const char* op, const char* role) {
  if (type == 2 || type == 13) return;
  if (type == 1 || type == 3) {
    refuse(op, role, "is in host (CPU) memory; NCCL needs GPU memory");
  }
  refuse(op, role, "is on DLPack device type " + std::to_string(type) + ", not a CUDA GPU");
}

bool read_cai(PyObject* obj, const char* op, const char* role, Buffer& out) {
  Ref iface(attr_or_null(obj, names.cai));
  if (!iface) return false;
  try {
    nb::dict d = nb::borrow<nb::dict>(iface.p);
    if (!d.contains("data") || !d.contains("shape") || !d.contains("typestr")) {
      refuse(op, role, "has a __cuda_array_interface__ without data, shape or typestr");
    }
    nb::tuple data = nb::borrow<nb::tuple>(d["data"]);
    nb::tuple shape_t = nb::borrow<nb::tuple>(d["shape"]);
    const std::string typestr = nb::cast<std::string>(d["typestr"]);
    if (!type_from_typestr(typestr, out.type)) {
      // Producers describe bfloat16 and fp8 as opaque void types ("<V2"); DLPack names them.
      Ref capsule_route(attr_or_null(obj, names.dlpack));
      if (capsule_route) return false;
      no_nccl_type(op, role, "'" + typestr + "' (__cuda_array_interface__ typestr)");
    }
    const int ndim = static_cast<int>(shape_t.size());
    std::int64_t shape[64], strides[64];
    if (ndim > 64) refuse(op, role, "has more than 64 dimensions");
    for (int i = 0; i < ndim; ++i) shape[i] = nb::cast<std::int64_t>(shape_t[i]);
    if (d.contains("strides") && !d["strides"].is_none()) {
      nb::tuple st = nb::borrow<nb::tuple>(d["strides"]);
      if (static_cast<int>(st.size()) != ndim) refuse(op, role, "has strides of the wrong length");
      for (int i = 0; i < ndim; ++i) strides[i] = nb::cast<std::int64_t>(st[i]);
      if (!c_contiguous(shape, strides, ndim, static_cast<std::int64_t>(size_of(out.type)))) {
        refuse(op, role, "is not C-contiguous (its strides leave gaps or reorder the data)");
      }
    }
    if (d.contains("mask") && !d["mask"].is_none()) refuse(op, role, "is a masked array");
    out.count = product(op, role, shape, ndim);
    out.ptr = PyLong_AsVoidPtr(data[0].ptr());
    if (PyErr_Occurred()) python_failed();
    out.readonly = nb::cast<bool>(data[1]);
  } catch (const nb::cast_error&) {
    refuse(op, role, "has a malformed __cuda_array_interface__");
  }
  int type = 0, id = -1;
  if (dlpack_device(obj, op, role, type, id)) {
    check_dlpack_device(type, op, role);
    out.device = id;
  } else {
    out.device = -1;  // the interface does not say; CUDA memory by its definition
  }
  out.torch = false;
  return true;
}

bool type_from_dlpack(DLDataType t, DataType& out) {
  if (t.lanes != 1) return false;
  switch (t.code * 1000 + t.bits) {
    case 0 * 1000 + 8:
      out = DataType::kInt8;
      return true;
    case 0 * 1000 + 32:
      out = DataType::kInt32;
      return true;
    case 0 * 1000 + 64:
      out = DataType::kInt64;
      return true;
    case 1 * 1000 + 8:
      out = DataType::kUint8;
      return true;
    case 1 * 1000 + 32:
      out = DataType::kUint32;
      return true;
    case 1 * 1000 + 64:
      out = DataType::kUint64;
      return true;
    case 2 * 1000 + 16:
      out = DataType::kFloat16;
      return true;
    case 2 * 1000 + 32:
      out = DataType::kFloat32;
      return true;
    case 2 * 1000 + 64:
      out = DataType::kFloat64;
      return true;
    case 4 * 1000 + 16:
      out = DataType::kBfloat16;
      return true;
    case 10 * 1000 + 8:
      out = DataType::kFloat8e4m3;
      return true;  // kDLFloat8_e4m3fn
    case 12 * 1000 + 8:
      out = DataType::kFloat8e5m2;
      return true;  // kDLFloat8_e5m2
    default:
      return false;
  }
}

std::string dlpack_type_text(DLDataType t) {
  static const char* names[] = {"int", "uint", "float", "opaque", "bfloat", "complex", "bool"};
  std::string s = t.code < 7 ? names[t.code] : "code " + std::to_string(t.code) + " ";
  s += std::to_string(t.bits);
  if (t.lanes != 1) s += "x" + std::to_string(t.lanes);
  return s + " (DLPack)";
}

// Asks for the capsule without synchronization (stream=-1: ordering is the caller's, as with
// NCCL itself) and the versioned form; older producers take fewer arguments.
PyObject* ask_capsule(PyObject* method) {
  nb::object m = nb::borrow(method);
  try {
    return m(nb::arg("stream") = -1, nb::arg("max_version") = nb::make_tuple(1, 0)).release().ptr();
  } catch (const nb::python_error& e) {
    if (!e.matches(PyExc_TypeError)) throw;
  }
  try {
    return m(nb::arg("stream") = -1).release().ptr();
  } catch (const nb::python_error& e) {
    if (!e.matches(PyExc_TypeError) && !e.matches(PyExc_ValueError) &&
        !e.matches(PyExc_RuntimeError) && !e.matches(PyExc_BufferError)) {
      throw;
    }
  }
  return m().release().ptr();
}

bool read_dlpack(PyObject* obj, const char* op, const char* role, Buffer& out) {
  Ref method(attr_or_null(obj, names.dlpack));
  if (!method) return false;
  int type = 0, id = -1;
  if (dlpack_device(obj, op, role, type, id)) check_dlpack_device(type, op, role);
  Ref capsule(ask_capsule(method.p));
  const DLTensor* t = nullptr;
  std::uint64_t flags = 0;
  if (PyCapsule_IsValid(capsule.p, "dltensor_versioned")) {
    auto* m = static_cast<DLManagedTensorVersioned*>(
        PyCapsule_GetPointer(capsule.p, "dltensor_versioned"));
    t = &m->dl_tensor;
    flags = m->flags;
  } else if (PyCapsule_IsValid(capsule.p, "dltensor")) {
    t = &static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.p, "dltensor"))->dl_tensor;
  } else {
    refuse(op, role, "returned something from __dlpack__ that is not an unused DLPack capsule");
  }
  // The capsule is not consumed: its destructor gives the tensor back to the producer, while the
  // array itself (held by the caller) keeps the memory alive.
  check_dlpack_device(t->device.device_type, op, role);
  if (!type_from_dlpack(t->dtype, out.type)) no_nccl_type(op, role, dlpack_type_text(t->dtype));
  if (t->ndim < 0) refuse(op, role, "has a negative number of dimensions");
  if (t->strides && !c_contiguous(t->shape, t->strides, t->ndim, 1)) {
    refuse(op, role, "is not C-contiguous (its strides leave gaps or reorder the data)");
  }
  out.count = product(op, role, t->shape, t->ndim);
  out.ptr = static_cast<char*>(t->data) + t->byte_offset;
  out.device = t->device.device_id;
  out.readonly = (flags & kDLReadOnly) != 0;
  out.torch = false;
  return true;
}

// ---- the C exchange table: one C call per array ----

// False when the producer declined (e.g. torch will not export a tensor that requires grad): the
// caller then reads the array another way.
bool read_exchange(PyObject* obj, const TypeInfo& info, const char* op, const char* role,
                   Buffer& out) {
  DLTensor t{};
  if (info.api->dltensor_from_py_object_no_sync(obj, &t) != 0) {
    PyErr_Clear();
    return false;
  }
  const bool torch = info.kind == Kind::kTorch;
  if (t.device.device_type != 2 && t.device.device_type != 13) {
    if (torch && t.device.device_type == 1) {
      refuse(op, role,
             "is a tensor in host (CPU) memory; NCCL needs GPU memory: move it with .cuda()");
    }
    check_dlpack_device(t.device.device_type, op, role);
  }
  if (!type_from_dlpack(t.dtype, out.type)) {
    std::string name = dlpack_type_text(t.dtype);
    if (torch) {  // the error path may be slow: say it in torch's words
      Ref dtype(PyObject_GetAttr(obj, names.dtype));
      if (dtype) name = text_of(dtype.p);
      PyErr_Clear();
    }
    no_nccl_type(op, role, name);
  }
  if (t.ndim < 0) refuse(op, role, "has a negative number of dimensions");
  if (t.strides && !c_contiguous(t.shape, t.strides, t.ndim, 1)) {
    refuse(op, role,
           torch ? "is a non-contiguous tensor; pass .contiguous() (NCCL reads flat memory)"
                 : "is not C-contiguous (its strides leave gaps or reorder the data)");
  }
  out.count = product(op, role, t.shape, t.ndim);
  out.ptr = static_cast<char*>(t.data) + t.byte_offset;
  out.device = t.device.device_id;
  out.readonly = false;
  out.torch = torch;
  out.exchange = info.api;
  return true;
}

}  // namespace

void read_array(PyObject* obj, const char* op, const char* role, Buffer& out) {
  const TypeInfo info = type_info(Py_TYPE(obj));
  if (info.api && read_exchange(obj, info, op, role, out)) return;
  switch (info.kind) {
    case Kind::kTorch:
      read_torch(obj, op, role, out);
      out.exchange = info.api;  // the stream may still come from the table
      return;
    case Kind::kCupy:
      if (read_cupy(obj, op, role, out)) return;
      break;
    case Kind::kOther:
      break;
  }
  if (read_cai(obj, op, role, out)) return;
  if (read_dlpack(obj, op, role, out)) return;
  if (obj == Py_None) refuse(op, role, "is None; this operation needs a buffer here");
  refuse(op, role,
         "(" + type_name(obj) +
             ") is not a GPU array: pass a torch tensor, a cupy array, an object with "
             "__cuda_array_interface__ or __dlpack__, or a device pointer (int) with count= and "
             "dtype=");
}

LastDtype g_last_dtype;

DataType read_dtype(PyObject* dtype, const char* op) {
  DataType t;
  if (known_dtype(dtype, t)) return t;
  if (is_int(dtype)) {  // an ncclrt.DataType (an IntEnum) or its value
    const long v = PyLong_AsLong(dtype);
    if (v >= 0 && v < kNumDataTypes) {
      remember_dtype(dtype, static_cast<DataType>(v));
      return static_cast<DataType>(v);
    }
    PyErr_Clear();
    throw UsageError(std::string(op) + ": dtype " + text_of(dtype) +
                     " is not an NCCL data type (0.." + std::to_string(kNumDataTypes - 1) + ")");
  }
  if (PyUnicode_Check(dtype)) {
    if (type_from_name(text_of(dtype), t)) return t;
  } else {
    std::string name;
    if (dtype_object(dtype, t, &name)) return t;
  }
  throw UsageError(std::string(op) + ": dtype " + text_of(dtype) + " is not a type NCCL has (" +
                   data_type_names() + ")");
}

}  // namespace ncclrt::py
