// Arguments the bindings read by hand (a timeout in seconds or a timedelta, a Library or None),
// named in help() and the stubs as a Python caller writes them rather than as `object`.
#pragma once

#include <nanobind/nanobind.h>

namespace ncclrt::py {

template <class Tag>
struct Annotated : nanobind::handle {
  Annotated() = default;
  explicit Annotated(nanobind::handle h) : nanobind::handle(h) {}
};
struct SecondsTag;
struct LibraryTag;
/// Seconds as an int or float, or a datetime.timedelta (read by seconds()).
using SecondsArg = Annotated<SecondsTag>;
/// An ncclrt.Library (read by library_or_default(), which also takes None).
using LibraryArg = Annotated<LibraryTag>;

}  // namespace ncclrt::py

namespace nanobind::detail {

template <>
struct type_caster<ncclrt::py::SecondsArg> {
  NB_TYPE_CASTER(ncclrt::py::SecondsArg, const_name("float | datetime.timedelta"))
  bool from_python(handle src, uint8_t, cleanup_list*) noexcept {
    value = ncclrt::py::SecondsArg(src);
    return true;
  }
  static handle from_cpp(const Value& v, rv_policy, cleanup_list*) noexcept { return v.inc_ref(); }
};

template <>
struct type_caster<ncclrt::py::LibraryArg> {
  NB_TYPE_CASTER(ncclrt::py::LibraryArg, const_name("Library"))
  bool from_python(handle src, uint8_t, cleanup_list*) noexcept {
    value = ncclrt::py::LibraryArg(src);
    return true;
  }
  static handle from_cpp(const Value& v, rv_policy, cleanup_list*) noexcept { return v.inc_ref(); }
};

}  // namespace nanobind::detail
