// ncclrt's exceptions as Python classes: the C++ hierarchy, each also under the builtin a Python
// user would catch (UsageError is a ValueError, TimeoutError the builtin TimeoutError,
// UnsupportedError a NotImplementedError). Messages name the API in Python's spelling
// (spelling.hpp): the library writes `LoadOptions::path`, a Python caller reads
// `Library.open(path)`.
#include "bindings.hpp"
#include "fastcall.hpp"
#include "spelling.hpp"

namespace ncclrt::py {
namespace {

PyObject* g_error = nullptr;
PyObject* g_load = nullptr;
PyObject* g_unsupported = nullptr;
PyObject* g_timeout = nullptr;
PyObject* g_usage = nullptr;
PyObject* g_nccl = nullptr;

PyObject* make_class(nb::module_& m, const char* name, PyObject* base, PyObject* builtin,
                     const char* doc) {
  const std::string qualified = std::string("ncclrt.") + name;
  nb::object bases = builtin ? nb::make_tuple(nb::handle(base), nb::handle(builtin))
                             : nb::make_tuple(nb::handle(base));
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr);
  if (cls == nullptr) throw nb::python_error();
  m.attr(name) = nb::handle(cls);
  return cls;  // the module holds a reference too; this one lives as long as the process
}

void set_error(PyObject* type, const Error& e) {
  PyErr_SetString(type, util::in_python(e.what()).c_str());
}

void raise_nccl(const NcclError& e) {
  nb::object exc;
  try {
    exc = nb::handle(g_nccl)(nb::str(util::in_python(e.what()).c_str()));
  } catch (nb::python_error& err) {
    err.restore();  // making the exception failed: raise that instead
    return;
  }
  exc.attr("result") = static_cast<int>(e.result());
  exc.attr("result_name") = to_string(e.result());
  exc.attr("result_string") = e.result_string();
  exc.attr("last_error") = e.last_error();
  exc.attr("call") = e.call();
  exc.attr("version") = e.version();
  PyErr_SetObject(g_nccl, exc.ptr());
}

}  // namespace

void raise_nccl_check() noexcept {
  try {
    throw;
  } catch (const NcclError& e) {
    // NCCL_CHECK's words, and the fields ncclrt's NcclError carries.
    std::string text = "NCCL error: " + e.result_string();
    if (!e.last_error().empty()) text += "\nLast error:\n" + e.last_error();
    try {
      nb::object exc = nb::handle(g_nccl)(nb::str(text.c_str()));
      exc.attr("result") = static_cast<int>(e.result());
      exc.attr("result_name") = to_string(e.result());
      exc.attr("result_string") = e.result_string();
      exc.attr("last_error") = e.last_error();
      exc.attr("call") = e.call();
      exc.attr("version") = e.version();
      PyErr_SetObject(g_nccl, exc.ptr());
    } catch (nb::python_error& err) {
      err.restore();
    } catch (...) {
      PyErr_SetString(g_nccl, text.c_str());
    }
  } catch (const Error& e) {
    PyObject* type = dynamic_cast<const UsageError*>(&e)         ? g_usage
                     : dynamic_cast<const UnsupportedError*>(&e) ? g_unsupported
                     : dynamic_cast<const TimeoutError*>(&e)     ? g_timeout
                     : dynamic_cast<const LoadError*>(&e)        ? g_load
                                                                 : g_error;
    PyErr_SetString(type, ("NCCL error: " + util::in_python(e.what())).c_str());
  } catch (...) {
    raise_current_exception();
  }
}

void bind_errors(nb::module_& m) {
  g_error =
      make_class(m, "Error", PyExc_RuntimeError, nullptr, "Base of every exception ncclrt raises.");
  g_load = make_class(m, "LoadError", g_error, nullptr,
                      "A libnccl file could not be found, probed, opened or resolved.");
  g_unsupported = make_class(m, "UnsupportedError", g_error, PyExc_NotImplementedError,
                             "The loaded NCCL lacks what was asked for.");
  g_timeout = make_class(m, "TimeoutError", g_error, PyExc_TimeoutError,
                         "A deadline passed while waiting on NCCL or a peer.");
  g_usage = make_class(m, "UsageError", g_error, PyExc_ValueError,
                       "A bad argument or an object in the wrong state; nothing reached NCCL.");
  g_nccl = make_class(m, "NcclError", g_error, nullptr,
                      "An NCCL call failed: result, result_string, last_error, call, version.");
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const NcclError& e) {
      raise_nccl(e);
    } catch (const LoadError& e) {
      set_error(g_load, e);
    } catch (const UnsupportedError& e) {
      set_error(g_unsupported, e);
    } catch (const TimeoutError& e) {
      set_error(g_timeout, e);
    } catch (const UsageError& e) {
      set_error(g_usage, e);
    } catch (const Error& e) {
      set_error(g_error, e);
    }
  });
}

}  // namespace ncclrt::py
