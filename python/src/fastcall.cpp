#include "fastcall.hpp"

#include <nanobind/stl/string.h>

#include <climits>
#include <cstring>
#include <deque>
#include <exception>
#include <string>

#include "pyutil.hpp"

namespace ncclrt::py {
namespace {

std::string in(const Signature& sig) { return std::string(sig.method) + "()"; }

// The exception being turned into a Python error, and the nanobind function that throws it again
// so that nanobind's dispatcher translates it (ncclrt's translator, python_error, nb::type_error,
// the standard exceptions) exactly as for a method it dispatched itself.
thread_local std::exception_ptr t_pending;
PyObject* g_rethrow = nullptr;

// A parameter's default: None, an int from its text, or the object given.
PyObject* default_value(const Param& p) {
  if (p.default_object.is_valid()) return nb::borrow(p.default_object).release().ptr();
  const std::string t = p.default_text;
  if (t == "None") return Py_None;
  return nb::int_(std::stoll(t)).release().ptr();  // kept: it lives as long as the method
}

// Matches the keywords by name (and remembers the match for the next call with these names);
// returns `given` with their parameters added. Throws for an unknown or repeated one.
unsigned match_keywords(const Signature& sig, PyObject* const* args, Py_ssize_t nargs,
                        PyObject* kwnames, PyObject** out, unsigned given) {
  const int count = sig.count;
  const Py_ssize_t nkw = PyTuple_Size(kwnames);
  if (nkw > Signature::kMax) {
    throw nb::type_error(
        (in(sig) + " takes at most " + std::to_string(count) + " arguments").c_str());
  }
  signed char param[Signature::kMax];
  const unsigned positional = given;
  for (Py_ssize_t k = 0; k < nkw; ++k) {
    PyObject* key = PyTuple_GetItem(kwnames, k);
    int at = -1;
    for (unsigned h = Signature::slot_of(key); sig.slot_name[h] != nullptr;
         h = (h + 1) & (Signature::kSlots - 1)) {
      if (sig.slot_name[h] == key) {
        at = sig.slot_param[h];
        break;
      }
    }
    if (at < 0) {  // a name made at run time (f(**d)), not the interned one: compare the text
      for (at = 0; at < count && PyUnicode_Compare(sig.names[at], key) != 0; ++at) {
      }
      if (PyErr_Occurred()) python_failed();
      if (at == count) {
        throw nb::type_error(
            (in(sig) + " got an unexpected keyword argument '" + text_of(key) + "'").c_str());
      }
    }
    if (given & (1u << at)) {
      throw nb::type_error(
          (in(sig) + " got multiple values for argument '" + sig.text[at] + "'").c_str());
    }
    given |= 1u << at;
    param[k] = static_cast<signed char>(at);
    out[at] = args[nargs + k];
  }
  Py_INCREF(kwnames);
  Py_XDECREF(sig.last_kwnames);
  sig.last_kwnames = kwnames;
  sig.last_given = given & ~positional;
  std::memcpy(sig.last_param, param, static_cast<std::size_t>(nkw));
  return given;
}

}  // namespace

unsigned match_slowly(const Signature& sig, PyObject* const* args, Py_ssize_t nargs,
                      PyObject* kwnames, PyObject** out) {
  if (nargs > sig.positional) {
    throw nb::type_error((in(sig) + " takes at most " + std::to_string(sig.positional) +
                          " positional arguments (" + std::to_string(nargs) + " given)")
                             .c_str());
  }
  for (int i = 0; i < sig.count; ++i) out[i] = sig.defaults[i];
  for (Py_ssize_t i = 0; i < nargs; ++i) out[i] = args[i];
  unsigned given = (1u << nargs) - 1;
  if (kwnames != nullptr) given = match_keywords(sig, args, nargs, kwnames, out, given);
  if ((sig.required & ~given) != 0) {
    int i = 0;
    while (!((sig.required & ~given) & (1u << i))) ++i;
    throw nb::type_error((in(sig) + " missing required argument '" + sig.text[i] + "'").c_str());
  }
  return given;
}

void raise_current_exception() noexcept {
  t_pending = std::current_exception();
  PyObject* r = PyObject_CallNoArgs(g_rethrow);  // sets the translated error, returns null
  Py_XDECREF(r);
  t_pending = nullptr;
}

const Communicator& communicator_of(PyObject* self) {
  nb::handle h(self);
  if (!nb::inst_ready(h)) {
    throw nb::type_error(
        "this Communicator was never initialised; make one with "
        "Communicator.init_rank() or another of its constructors");
  }
  return *nb::inst_ptr<Communicator>(h);
}

void wrong_type(const Signature& sig, int i, PyObject* value, const char* what) {
  throw nb::type_error(
      (in(sig) + ": " + sig.text[i] + " must be " + what + ", not " + type_name(value)).c_str());
}

int Arg<int>::get(PyObject* o, const Signature& sig, int i) {
  if (PyLong_Check(o) || (!PyFloat_Check(o) && PyIndex_Check(o))) {
    int overflow = 0;
    const long v = PyLong_AsLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred()) python_failed();
    if (overflow == 0 && v >= INT_MIN && v <= INT_MAX) return static_cast<int>(v);
  }
  wrong_type(sig, i, o, "an int that fits a C int");
}

std::size_t Arg<std::size_t>::get(PyObject* o, const Signature& sig, int i) {
  if (PyLong_Check(o)) {
    const std::size_t v = PyLong_AsSize_t(o);
    if (!(v == static_cast<std::size_t>(-1) && PyErr_Occurred())) return v;
    PyErr_Clear();
  }
  wrong_type(sig, i, o, "a non-negative int");
}

void def_method(nb::handle cls, const char* name,
                PyObject* (*fn)(PyObject*, PyObject* const*, Py_ssize_t, PyObject*), Signature& sig,
                std::initializer_list<Param> params, const char* doc) {
  if (g_rethrow == nullptr) {
    g_rethrow = nb::cpp_function([] { std::rethrow_exception(t_pending); }).release().ptr();
  }
  sig = Signature();
  sig.method = name;
  sig.positional = -1;
  std::string text = std::string(name) + "($self";
  for (const Param& p : params) {
    text += ", ";
    text += p.name;
    if (std::string(p.name) == "*") {
      sig.positional = sig.count;
      continue;
    }
    if (sig.count == Signature::kMax) throw std::logic_error("def_method: too many parameters");
    sig.text[sig.count] = p.name;
    PyObject* interned = PyUnicode_InternFromString(p.name);  // kept with the method
    if (interned == nullptr) throw nb::python_error();
    sig.names[sig.count] = interned;
    unsigned h = Signature::slot_of(interned);
    while (sig.slot_name[h] != nullptr) h = (h + 1) & (Signature::kSlots - 1);
    sig.slot_name[h] = interned;
    sig.slot_param[h] = static_cast<signed char>(sig.count);
    sig.defaults[sig.count] = p.default_text ? default_value(p) : Py_None;
    if (!p.default_text) sig.required |= 1u << sig.count;
    if (p.default_text) text += std::string("=") + p.default_text;
    ++sig.count;
  }
  if (sig.positional < 0) sig.positional = sig.count;
  // "name(sig)\n--\n\n" is how a builtin gives inspect.signature() its parameters.
  text += ")\n--\n\n";
  text += doc;
  static std::deque<std::string> docs;  // a PyMethodDef must outlive its method: the process
  static std::deque<PyMethodDef> defs;
  docs.push_back(std::move(text));
  defs.push_back({name, reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fn)),
                  METH_FASTCALL | METH_KEYWORDS, docs.back().c_str()});
  nb::object method =
      nb::steal(PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(cls.ptr()), &defs.back()));
  if (!method) throw nb::python_error();
  nb::setattr(cls, name, method);
}

}  // namespace ncclrt::py
