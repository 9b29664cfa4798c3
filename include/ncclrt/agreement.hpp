// How the survivors of a failure agree on which ranks failed, so that all of them pass the same
// list to Communicator::shrink; and recover(), the whole recovery in one call.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ncclrt/communicator.hpp"
#include "ncclrt/config.hpp"
#include "ncclrt/detail/export.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

/// A key-value place that every rank of a job reaches and that outlives any one rank, where a
/// key is written at most once. Implement it over what the job has (a torch.distributed store,
/// etcd, a launcher's store); DirectoryStore is one over a shared directory.
/// agree_on_failed_ranks calls it from a helper thread of its own, one call at a time.
class AgreementStore {
 public:
  virtual ~AgreementStore() = default;
  /// Writes `value` at `key` unless the key exists; returns whether this call wrote it. A store
  /// that can only compare (torch's compare_set) may also answer true when the key already held
  /// exactly `value`: agree_on_failed_ranks writes values unique to each call where it reads
  /// the answer.
  virtual bool create(const std::string& key, const std::string& value) = 0;
  /// The value at `key`, or nullopt while there is none.
  virtual std::optional<std::string> get(const std::string& key) = 0;
};

/// An AgreementStore in a directory that every rank sees (one machine's /tmp or /dev/shm, or a
/// shared file system): each key is a file, created whole and at most once (written to a
/// temporary file named after this host, process and call, then link()ed into place). Keys may
/// hold '/', which become subdirectories.
class DirectoryStore : public AgreementStore {
 public:
  /// Who may use the directory besides this user.
  enum class Access {
    kShared,   ///< whoever the directory's own permissions let in (a shared file system)
    kPrivate,  ///< no one: the directory is made with mode 0700, and one that exists must be a
               ///< directory (not a symbolic link) of this user with no group or other bits
  };
  /// Makes the directory if it does not exist; UsageError if it cannot, or (kPrivate) if the one
  /// that exists is not private to this user.
  explicit DirectoryStore(std::string directory, Access access = Access::kShared);
  bool create(const std::string& key, const std::string& value) override;
  std::optional<std::string> get(const std::string& key) override;
  const std::string& directory() const noexcept { return dir_; }
  Access access() const noexcept { return access_; }

 private:
  std::string dir_;
  Access access_;
};

/// Agrees, with the other survivors of a failure, on the ranks that failed; call it on every
/// surviving rank after revoke() and pass the result to shrink(). `scope` names this agreement
/// and must be the same on every rank and new for each failure (e.g. "job42/epoch3"): a scope in
/// which this rank already marked itself gets UsageError. `rank` and `size` are this rank's in
/// the communicator being repaired. Each survivor marks itself alive and waits until every rank
/// has, or until `window` has passed (make it longer than the spread of the survivors' detection
/// times: a few seconds, not the collective deadline); then the first survivor to finish
/// publishes the ranks that did not mark themselves, and every survivor returns that same list
/// (sorted). A rank that finds itself in it (it came after the decision) gets Error: it must
/// leave the job. A store call that throws ends the agreement with its exception.
///
/// Returns or throws within window + 1 s whatever the store does: the store is called from a
/// helper thread, and when a call has not returned by then, TimeoutError names it. That call is
/// left running: the store must outlive it.
std::vector<int> agree_on_failed_ranks(AgreementStore& store, const std::string& scope, int rank,
                                       int size, std::chrono::milliseconds window);

/// What recover() did.
struct Recovery {
  Communicator comm;        ///< the survivors' communicator, to go on with
  std::vector<int> failed;  ///< the ranks of the old communicator that failed, sorted
  bool revoked = false;     ///< this rank's NCCL revoked the old communicator
  bool rebuilt = false;     ///< made from a new unique id (ncclCommInitRank), not shrink or split
};

/// The recovery from a lost rank in one call, on every survivor, once a wait that leaves the
/// communicator alive has failed (synchronize with OnFailure::kLeave threw, or a step's results
/// came out wrong): revoke `comm`, agree through `store` on the failed ranks (`scope` new for
/// each failure, as for agree_on_failed_ranks), then shrink them away, or split if nobody
/// failed.
///
/// Where NCCL latched the failure itself on some survivor (over sockets, a peer's closed
/// connection: ncclRemoteError), it refuses to revoke there, and NCCL 2.30.7 then refuses to
/// shrink or split that communicator as well; a revoke that ran out of time has aborted it. The
/// survivors learn of either through the store (scope + "/latched/RANK", written before the
/// agreement), abort `comm`, and make a new communicator of the survivors (their old order
/// kept) from a unique id that the first survivor publishes at scope + "/unique_id".
///
/// With an NCCL older than 2.28.7 (no ncclCommRevoke), the shrink aborts the old communicator's
/// work instead (ShrinkMode::kAbortParent; NCCL >= 2.27).
///
/// `config` is used for the new communicator (pass the one `comm` was made with; shrink and
/// split inherit its deadline anyway), and its timeout, if set, for the revoke. `comm` is left
/// revoked (destroy it) or aborted (nothing is left to release). Bounded: revoke, shrink, split and
/// the new communicator's creation by the deadline (Config::timeout; on a blocking communicator,
/// ncclrt's helper thread), store calls by `window` + 1 s for the agreement and `window` + 1 s for
/// the id.
Recovery recover(Communicator& comm, AgreementStore& store, const std::string& scope,
                 std::chrono::milliseconds window, const Config& config = {});

}  // namespace ncclrt
NCCLRT_EXPORT_END
