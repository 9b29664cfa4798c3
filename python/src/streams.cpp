// Reading stream arguments: None, an int handle, torch's, cupy's, or the CUDA stream protocol.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <ncclrt/error.hpp>
#include <string>

#include "buffers.hpp"
#include "dlpack.hpp"
#include "pyutil.hpp"

namespace nb = nanobind;

namespace ncclrt::py {
namespace {

enum class StreamKind : unsigned char { kTorch, kProtocol, kCupy, kNone };
struct StreamSlot {
  PyTypeObject* type;
  StreamKind kind;
};
StreamSlot g_stream_types[8];
int g_nstream_types = 0;
PyObject* g_current_raw_stream = nullptr;  // torch._C._cuda_getCurrentRawStream

StreamKind stream_kind(PyObject* s) {
  PyTypeObject* t = Py_TYPE(s);
  for (int i = 0; i < g_nstream_types; ++i) {
    if (g_stream_types[i].type == t) return g_stream_types[i].kind;
  }
  StreamKind k = StreamKind::kNone;
  nb::handle obj(s);
  if (nb::hasattr(obj, names.cuda_stream)) {
    k = StreamKind::kTorch;
  } else if (nb::hasattr(obj, names.cuda_stream_protocol)) {
    k = StreamKind::kProtocol;
  } else if (nb::hasattr(obj, names.ptr)) {
    k = StreamKind::kCupy;
  }
  // As for arrays: only the libraries' own stream types are kept.
  const bool library_type = library_object(s);
  if (k != StreamKind::kNone && library_type && g_nstream_types < 8) {
    Py_INCREF(reinterpret_cast<PyObject*>(t));
    g_stream_types[g_nstream_types++] = {t, k};
  }
  return k;
}

CUstream_st* stream_from_int(PyObject* v) {
  void* p = nullptr;
  if (!pointer_from_int(v, p)) {
    throw UsageError("stream: " + text_of(v) + " is not a CUDA stream handle");
  }
  return static_cast<CUstream_st*>(p);
}

[[noreturn]] void not_a_stream(PyObject* s) {
  throw UsageError("stream: " + type_name(s) +
                   " is not a stream; pass a torch.cuda.Stream, a cupy stream, an object with "
                   "__cuda_stream__, an int handle, or None");
}

CUstream_st* torch_current_stream(int device) {
  if (g_current_raw_stream == nullptr) {
    try {
      nb::object c = nb::module_::import_("torch._C");
      nb::object f = c.attr("_cuda_getCurrentRawStream");
      g_current_raw_stream = f.release().ptr();
    } catch (const nb::python_error&) {
      throw UsageError(
          "stream=None with a torch tensor: torch._C._cuda_getCurrentRawStream is not there "
          "in this torch; pass stream= explicitly");
    }
  }
  Ref dev(PyLong_FromLong(device));
  PyObject* args[1] = {dev.p};
  Ref r(PyObject_Vectorcall(g_current_raw_stream, args, 1, nullptr));
  if (!r) python_failed();
  return stream_from_int(r.p);
}

}  // namespace

PointerMemo g_stream_memo;

void clear_stream_memo() {
  PyObject* old = g_stream_memo.obj;
  g_stream_memo = PointerMemo{};
  Py_XDECREF(old);
}

CUstream_st* read_stream(PyObject* s, const Buffer& first, int device) {
  if (s == Py_None) {
    if (!first.torch) return nullptr;
    if (first.exchange) {
      void* stream = nullptr;
      const auto* api = static_cast<const DLPackExchangeAPI*>(first.exchange);
      if (api->current_work_stream(2, device, &stream) != 0) python_failed();
      return static_cast<CUstream_st*>(stream);
    }
    return torch_current_stream(device);
  }
  if (is_int(s)) return stream_from_int(s);
  switch (stream_kind(s)) {
    case StreamKind::kTorch: {
      Ref v(PyObject_GetAttr(s, names.cuda_stream));
      if (!v) python_failed();
      return stream_from_int(v.p);
    }
    case StreamKind::kProtocol: {
      Ref r(call_method0(s, names.cuda_stream_protocol));
      try {
        nb::tuple t = nb::borrow<nb::tuple>(r.p);
        return stream_from_int(t[1].ptr());
      } catch (const nb::cast_error&) {
        throw UsageError("stream: __cuda_stream__ did not return a (version, handle) pair");
      }
    }
    case StreamKind::kCupy: {
      Ref v(PyObject_GetAttr(s, names.ptr));
      if (!v) python_failed();
      return stream_from_int(v.p);
    }
    case StreamKind::kNone:
      break;
  }
  not_a_stream(s);
}

}  // namespace ncclrt::py
