// The operations' own calling convention: a method bound as CPython's METH_FASTCALL |
// METH_KEYWORDS, whose arguments are matched to its parameters here, in a few pointer compares.
//
// Why not nanobind's dispatcher: a call with keyword arguments (count=, dtype=, stream=, as every
// call with raw pointers has) takes nanobind's general path, which interns every keyword name
// again (it cannot tell an interned one under the stable ABI), matches each parameter against
// each keyword and runs the overload machinery: about 600 instructions of a ~3400-instruction
// call (bench/python_instructions.py). A builtin method is also what CPython 3.12 calls
// directly from the interpreter loop (CALL_METHOD_DESCRIPTOR_FAST_WITH_KEYWORDS).
//
// What a user sees stays a method with the same parameters: positional or keyword up to the
// `*`, keyword-only after; defaults as before; a TypeError for a missing, unknown or repeated
// argument; inspect.signature() from the parameter list; every C++ exception translated exactly
// as nanobind translates it (it is rethrown through a nanobind function).
#pragma once

#include <nanobind/nanobind.h>

#include <cstddef>
#include <cstdint>
#include <ncclrt/communicator.hpp>
#include <string>
#include <type_traits>
#include <utility>

namespace ncclrt::py {

namespace nb = nanobind;

/// One parameter: its name and its default as Python source ("None", "0", "ReduceOp.SUM"), or
/// nullptr where the argument is required; a default other than None or an int also gives its
/// object. The name "*" marks where the keyword-only parameters begin.
struct Param {
  const char* name;
  const char* default_text = nullptr;
  nb::handle default_object = nb::handle();
};

/// A method's parameters, resolved once when it is bound (names interned, defaults made).
struct Signature {
  static constexpr int kMax = 12;
  const char* method = nullptr;
  int count = 0;                  ///< parameters
  int positional = 0;             ///< the first `positional` may be given by position
  unsigned required = 0;          ///< bit i: parameter i has no default
  const char* text[kMax] = {};    ///< the names, for messages
  PyObject* names[kMax] = {};     ///< interned
  PyObject* defaults[kMax] = {};  ///< a required parameter's is None (never used)
  /// The interned names by address (open addressing): a keyword is found in one or two compares.
  static constexpr unsigned kSlots = 32;
  PyObject* slot_name[kSlots] = {};
  signed char slot_param[kSlots] = {};
  static unsigned slot_of(const PyObject* name) {
    return static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(name) >> 4) & (kSlots - 1);
  }
  /// The keyword names of the last call, matched: CPython passes one call site's names as the same
  /// tuple every time, so a loop's calls match in one compare. The tuple is held (a new tuple at a
  /// freed one's address could name other parameters).
  mutable PyObject* last_kwnames = nullptr;
  mutable unsigned last_given = 0;  ///< the parameters those keywords give
  mutable signed char last_param[kMax] = {};
};

/// match_arguments' other cases: keywords not matched before, too many positional arguments, a
/// missing one. Throws nb::type_error as Python words it; returns the parameters given.
unsigned match_slowly(const Signature& sig, PyObject* const* args, Py_ssize_t nargs,
                      PyObject* kwnames, PyObject** out);

/// Fills out[0..N) (N parameters) from a vectorcall's arguments (the method's own `self`
/// excluded): defaults, then the positional arguments, then the keywords.
template <int N>
inline void match_arguments(const Signature& sig, PyObject* const* args, Py_ssize_t nargs,
                            PyObject* kwnames, PyObject** out) {
  for (int i = 0; i < N; ++i) out[i] = sig.defaults[i];
  if (nargs > sig.positional || (kwnames != nullptr && kwnames != sig.last_kwnames)) {
    match_slowly(sig, args, nargs, kwnames, out);
    return;
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) out[i] = args[i];
  const unsigned positional = (1u << nargs) - 1;
  unsigned given = positional;
  if (kwnames != nullptr) {  // the names of the last call: their parameters are known
    const Py_ssize_t nkw = Py_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; ++k) out[sig.last_param[k]] = args[nargs + k];
    given |= sig.last_given;
    if ((positional & sig.last_given) != 0) given = match_slowly(sig, args, nargs, kwnames, out);
  }
  if ((sig.required & ~given) != 0) match_slowly(sig, args, nargs, kwnames, out);
}

/// Sets the Python error for the C++ exception being handled, as nanobind's dispatcher would;
/// call it only inside a catch block.
void raise_current_exception() noexcept;

/// The C++ object of `self`, or a TypeError if it was never initialised.
const Communicator& communicator_of(PyObject* self);

/// A TypeError: `method`(): `param` must be `what`; got `value`'s type.
[[noreturn]] void wrong_type(const Signature& sig, int i, PyObject* value, const char* what);

/// An argument converted to the parameter type of an operation: nb::handle as it is, an int or
/// size_t checked, an instance of a bound class by reference.
template <class T>
struct Arg {
  static decltype(auto) get(PyObject* o, const Signature& sig, int i) {
    using U = std::remove_cv_t<std::remove_reference_t<T>>;
    if constexpr (std::is_same_v<U, nb::handle>) {
      return nb::handle(o);
    } else {
      U* value = nullptr;
      if (!nb::try_cast<U*>(nb::handle(o), value) || value == nullptr) {
        wrong_type(sig, i, o, nb::type_name(nb::type<U>()).c_str());
      }
      return static_cast<T>(*value);
    }
  }
};
template <>
struct Arg<int> {
  static int get(PyObject* o, const Signature& sig, int i);
};
template <>
struct Arg<std::size_t> {
  static std::size_t get(PyObject* o, const Signature& sig, int i);
};

/// The PyCFunction of operation `Impl` (a function of a const Communicator& and its parameters).
template <auto Impl>
struct Method;
template <class R, class... A, R (*Impl)(const Communicator&, A...)>
struct Method<Impl> {
  static inline Signature sig;

  static PyObject* call(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                        PyObject* kwnames) noexcept {
    try {
      PyObject* a[sizeof...(A) > 0 ? sizeof...(A) : 1];
      match_arguments<static_cast<int>(sizeof...(A))>(sig, args, nargs, kwnames, a);
      const Communicator& c = communicator_of(self);
      return invoke(c, a, std::index_sequence_for<A...>{});
    } catch (...) {
      raise_current_exception();
      return nullptr;
    }
  }

 private:
  template <std::size_t... I>
  static PyObject* invoke(const Communicator& c, PyObject** a, std::index_sequence<I...>) {
    if constexpr (std::is_void_v<R>) {
      Impl(c, Arg<A>::get(a[I], sig, static_cast<int>(I))...);
      return Py_NewRef(Py_None);
    } else {
      return Impl(c, Arg<A>::get(a[I], sig, static_cast<int>(I))...).release().ptr();
    }
  }
};

/// Binds cls.name as a method of these parameters; `doc` follows the signature in __doc__.
void def_method(nb::handle cls, const char* name,
                PyObject* (*fn)(PyObject*, PyObject* const*, Py_ssize_t, PyObject*), Signature& sig,
                std::initializer_list<Param> params, const char* doc);

/// def_method for operation `Impl`, whose C++ parameters after the communicator match `params`.
template <auto Impl>
void def_operation(nb::handle cls, const char* name, std::initializer_list<Param> params,
                   const char* doc = "") {
  def_method(cls, name, &Method<Impl>::call, Method<Impl>::sig, params, doc);
}

}  // namespace ncclrt::py
