// The survivors' agreement on who failed: AgreementStore (subclassable in Python, e.g. over a
// torch.distributed store), DirectoryStore, agree_on_failed_ranks.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/vector.h>
#include <nanobind/trampoline.h>

#include "annotated.hpp"
#include "bindings.hpp"

namespace ncclrt::py {
namespace {

// A store written in Python: create() and get() call its methods (with the GIL).
struct PyAgreementStore : AgreementStore {
#if NB_VERSION_MAJOR >= 3  // the slot count became obsolete
  NB_TRAMPOLINE(AgreementStore);
#else
  NB_TRAMPOLINE(AgreementStore, 2);
#endif
  bool create(const std::string& key, const std::string& value) override {
    NB_OVERRIDE_PURE(create, key, value);
  }
  std::optional<std::string> get(const std::string& key) override { NB_OVERRIDE_PURE(get, key); }
};

}  // namespace

void bind_agreement(nb::module_& m) {
  nb::class_<AgreementStore, PyAgreementStore>(
      m, "AgreementStore",
      "Where the survivors of a failure agree on who failed: subclass it with create(key, value) "
      "-> bool (write once; True if this call wrote it) and get(key) -> str | None, over what "
      "the job has (ncclrt.torch.TorchStore wraps a torch.distributed store).")
      .def(nb::init<>())
      .def("create", &AgreementStore::create, nb::arg("key"), nb::arg("value"))
      .def("get", &AgreementStore::get, nb::arg("key"));
  nb::class_<DirectoryStore, AgreementStore>(
      m, "DirectoryStore",
      "An AgreementStore in a directory every rank sees (/tmp or /dev/shm of one machine, or a "
      "shared file system); each key a file created once.")
      .def(nb::init<std::string>(), nb::arg("directory"))
      .def_prop_ro("directory", &DirectoryStore::directory, "The directory that holds the records.")
      .def("__repr__", [](const DirectoryStore& s) {
        return "ncclrt.DirectoryStore('" + s.directory() + "')";
      });
  m.def(
      "agree_on_failed_ranks",
      [](AgreementStore& store, const std::string& scope, int rank, int size, SecondsArg window) {
        const auto w = seconds(window, "agree_on_failed_ranks").value_or(std::chrono::seconds(5));
        if (dynamic_cast<DirectoryStore*>(&store) != nullptr) {
          nb::gil_scoped_release release;  // no Python inside: other threads may run
          return agree_on_failed_ranks(store, scope, rank, size, w);
        }
        return agree_on_failed_ranks(store, scope, rank, size, w);  // a Python store needs the GIL
      },
      nb::arg("store"), nb::arg("scope"), nb::arg("rank"), nb::arg("size"), nb::arg("window") = 5.0,
      "The ranks that failed, as every survivor agrees: call it on each survivor after revoke() "
      "with the same `scope` (new for each failure) and pass the list to shrink(). Each marks "
      "itself alive and waits until all have, or `window` seconds pass; the first to finish "
      "publishes the ranks that did not. A rank that finds itself listed (too late) gets Error.");
}

}  // namespace ncclrt::py
