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
      "shared file system); each key a file created once. private=True: the directory is this "
      "user's alone (made with mode 0700; one that exists must be a directory of this user, not "
      "a symbolic link, with no group or other permissions), else UsageError.")
      .def(
          "__init__",
          [](DirectoryStore* self, std::string directory, bool is_private) {
            new (self)
                DirectoryStore(std::move(directory), is_private ? DirectoryStore::Access::kPrivate
                                                                : DirectoryStore::Access::kShared);
          },
          nb::arg("directory"), nb::kw_only(), nb::arg("private") = false)
      .def_prop_ro("directory", &DirectoryStore::directory, "The directory that holds the records.")
      .def_prop_ro(
          "private",
          [](const DirectoryStore& s) { return s.access() == DirectoryStore::Access::kPrivate; },
          "Whether the directory is this user's alone (private=True).")
      .def("__repr__", [](const DirectoryStore& s) {
        return "ncclrt.DirectoryStore('" + s.directory() + "'" +
               (s.access() == DirectoryStore::Access::kPrivate ? ", private=True" : "") + ")";
      });
  m.attr("_stores_left_running") = nb::list();
  nb::handle module = m;
  m.def(
      "agree_on_failed_ranks",
      [module](AgreementStore& store, const std::string& scope, int rank, int size,
               SecondsArg window) {
        const auto w = seconds(window, "agree_on_failed_ranks").value_or(std::chrono::seconds(5));
        try {
          // The store is called from a helper thread; a Python store takes the GIL there.
          nb::gil_scoped_release release;
          return agree_on_failed_ranks(store, scope, rank, size, w);
        } catch (const TimeoutError&) {
          // A store call that did not return goes on, on the agreement's helper thread: the
          // store must outlive it, so the module keeps it until the interpreter ends.
          nb::borrow<nb::list>(module.attr("_stores_left_running")).append(nb::find(&store));
          throw;
        }
      },
      nb::arg("store"), nb::arg("scope"), nb::arg("rank"), nb::arg("size"), nb::arg("window") = 5.0,
      "The ranks that failed, as every survivor agrees: call it on each survivor after revoke() "
      "with the same `scope` (new for each failure: a scope this rank used before raises "
      "UsageError) and pass the list to shrink(). Each marks itself alive and waits until all "
      "have, or `window` seconds pass; the first to finish publishes the ranks that did not. A "
      "rank that finds itself listed (too late) gets Error. Returns or raises within window + 1 "
      "s whatever the store does: a store call that has not returned by then raises "
      "TimeoutError (the call goes on, and the store is kept alive for it).");
  m.def(
      "recover",
      [module](Communicator& comm, AgreementStore& store, const std::string& scope,
               SecondsArg window, std::optional<Config> config) {
        const auto w = seconds(window, "recover").value_or(std::chrono::seconds(5));
        Recovery r;
        try {
          nb::gil_scoped_release release;  // a Python store takes the GIL on the helper thread
          r = recover(comm, store, scope, w, config.value_or(Config{}));
        } catch (const TimeoutError&) {
          nb::borrow<nb::list>(module.attr("_stores_left_running")).append(nb::find(&store));
          throw;
        }
        return nb::make_tuple(std::move(r.comm), r.failed, r.revoked, r.rebuilt);
      },
      nb::arg("comm"), nb::arg("store"), nb::arg("scope"), nb::arg("window") = 5.0,
      nb::arg("config").none() = nb::none(),
      "The recovery from a lost rank in one call, on every survivor, once a wait that leaves "
      "the communicator alive failed: revoke, agree on the failed ranks through `store` (`scope` "
      "new for each failure), shrink them away (split if nobody failed). Where NCCL latched the "
      "failure itself on some survivor (ncclRemoteError: it refuses to revoke, and then to "
      "shrink), every survivor aborts `comm` and makes a new communicator of the survivors from "
      "a unique id the first one publishes in the store. With an NCCL older than 2.28.7 (no "
      "revoke), the shrink aborts the old work. `config` (the one `comm` was made with) "
      "is the new communicator's; its timeout also bounds the revoke. Returns (communicator, "
      "failed ranks, revoked, rebuilt); `comm` is left revoked (destroy it) or aborted.");
}

}  // namespace ncclrt::py
