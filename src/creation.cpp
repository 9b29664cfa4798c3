// Making communicators: init (one rank, all devices, from the launcher's environment), split,
// shrink and grow.
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "comm_state.hpp"
#include "config.hpp"
#include "cuda_driver.hpp"
#include "flight_recorder.hpp"
#include "group_state.hpp"
#include "nccl_error.hpp"
#include "ncclrt/communicator.hpp"
#include "ncclrt/error.hpp"
#include "ncclrt/launch.hpp"

namespace ncclrt {
namespace {

using detail::Clock;

// The deadline of a nonblocking creation: Config::timeout, else the default (every wait has one).
std::chrono::milliseconds creation_deadline(const Config& config) {
  return config.timeout ? *config.timeout : detail::default_timeout();
}

// A communicator just made, as ncclrt holds it (nonblocking or not, its deadline).
std::shared_ptr<detail::CommState> adopt(std::shared_ptr<const Library> lib, abi::ncclComm_t comm,
                                         const abi::ncclConfig_t* cfg, const Config& config,
                                         std::string where) {
  auto state = std::make_shared<detail::CommState>();
  state->lib = std::move(lib);
  state->comm = comm;
  state->where = std::move(where);
  state->nonblocking = cfg != nullptr && cfg->blocking == 0;
  state->timeout = config.timeout;
  return state;
}

// Waits for a nonblocking creation to finish (wait_out). On expiry or failure the new
// communicator is aborted, so nothing is left half made.
void wait_created(detail::CommState& state, abi::ncclResult_t first, const Config& config,
                  const char* call) {
  const abi::ncclResult_t r =
      detail::wait_out(state, first, Clock::now(), creation_deadline(config),
                       {std::string(call) + " did not complete", "the other ranks did not all join",
                        std::string(detail::kWasAborted) +
                            ". Check that every rank started and uses the same unique id, or raise "
                            "Config::timeout"});
  if (r == abi::ncclSuccess) return;
  try {
    detail::throw_nccl_error(*state.lib, r, call, state.comm, state.where);
  } catch (...) {
    detail::abort_with_reason(state, std::current_exception());  // dumps, then aborts
    throw;
  }
}

// A split, shrink or grow of a blocking parent: NCCL runs it inline until every rank has taken
// part, so it runs on a helper thread bounded by `limit`. On expiry the parent is given up (no
// NCCL call from ncclrt; NCCL still holds it) and TimeoutError thrown; when NCCL returns, the
// child it wrote into `slot`, if any, and the parent are aborted.
abi::ncclResult_t on_blocking_parent(const std::shared_ptr<detail::CommState>& parent,
                                     std::chrono::milliseconds limit, const char* call,
                                     const std::string& where,
                                     const std::shared_ptr<abi::ncclComm_t>& slot,
                                     std::function<abi::ncclResult_t()> start) {
  const auto done = detail::bounded_call(
      std::move(start),
      [slot, parent](abi::ncclResult_t) {  // NCCL returned after ncclrt gave up
        if (detail::process_exiting()) return;
        if (abi::ncclComm_t child = *slot) detail::bounded_abort(parent->lib, child);
        detail::bounded_abort(parent->lib, parent->comm);
      },
      limit);
  if (!done) {
    auto e = std::make_exception_ptr(detail::expired(
        std::string(call) + " did not complete", limit, where + ", a blocking parent communicator",
        "the other ranks did not all take part",
        "The parent was given up (NCCL still holds it; it is aborted when NCCL returns); make a "
        "new communicator. Check that every rank made the same call, or raise Config::timeout"));
    detail::abandon_with_reason(*parent, e);
    std::rethrow_exception(e);
  }
  return *done;
}

// Runs one creation call (`start` fills the new handle) with the config as the loaded NCCL
// wants it, waits for nonblocking creation, and returns the shared state of the new
// communicator, or throws with nothing left behind. `parent` (split, shrink, grow on an existing
// rank) decides how NCCL runs the call: on a blocking parent NCCL makes the child inline, so
// ncclrt runs the call on a helper thread, bounded by Config::timeout or the default deadline.
// `start` must own what it uses (it may outlive this call on that thread).
template <class Start>
std::shared_ptr<detail::CommState> create_comm(std::shared_ptr<const Library> lib,
                                               const Config& config, const char* call,
                                               const std::string& where,
                                               const std::shared_ptr<detail::CommState>& parent,
                                               Start start) {
  detail::refuse_in_group(
      call, "ncclrt waits for the new communicator, which NCCL makes only at the group's end");
  if (detail::capture_forbids_sync()) {
    throw UsageError(std::string(call) +
                     " while a CUDA graph is being captured: creating a "
                     "communicator synchronizes and would invalidate the capture. Create it "
                     "before cudaStreamBeginCapture");
  }
  auto cfg = std::make_shared<abi::ncclConfig_t>(detail::make_config(*lib, config));
  if (config.timeout) {
    lib->require(Function::ncclCommGetAsyncError);
    lib->require(Function::ncclCommAbort);
    if (config.blocking.value_or(false)) {
      throw UsageError(
          "Config::timeout needs a nonblocking creation; leave Config::blocking unset "
          "or false");
    }
    cfg->blocking = 0;
  }
  const auto limit = creation_deadline(config);
  // A nonblocking split, shrink or grow returns before the new communicator exists; NCCL's own
  // thread stores the handle later, through the pointer it was given. So the handle lives on the
  // heap, and is left there (8 bytes) if ncclrt stops waiting before NCCL has written it.
  auto slot = std::make_shared<abi::ncclComm_t>(nullptr);
  const bool async = parent ? parent->nonblocking : cfg->blocking == 0;
  abi::ncclResult_t r;
  if (parent && !async) {
    r = on_blocking_parent(parent, limit, call, where, slot,
                           [start, slot, cfg] { return start(slot.get(), cfg.get()); });
  } else {
    r = start(slot.get(), cfg.get());
  }
  abi::ncclComm_t comm = __atomic_load_n(slot.get(), __ATOMIC_ACQUIRE);
  if (comm == nullptr && async && (r == abi::ncclSuccess || r == abi::ncclInProgress)) {
    const auto begin = Clock::now();
    while ((comm = __atomic_load_n(slot.get(), __ATOMIC_ACQUIRE)) == nullptr) {
      if (Clock::now() - begin >= limit) {
        detail::keep_reachable(slot);  // NCCL may still write the handle into it
        throw detail::dumped(
            detail::expired(std::string(call) + " did not complete", limit, where,
                            "the other ranks did not all take part",
                            "Check that every rank made the same call, or raise Config::timeout"));
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    r = abi::ncclInProgress;  // made; now wait until it is ready
  }
  if (r != abi::ncclSuccess && !(r == abi::ncclInProgress && comm != nullptr)) {
    detail::throw_nccl_error(*lib, r, call, comm, where);
  }
  if (comm == nullptr) {
    throw Error(std::string(call) + " succeeded but returned no communicator (" + where + ")");
  }
  auto state = adopt(std::move(lib), comm, cfg.get(), config, where);
  if (r == abi::ncclInProgress) wait_created(*state, r, config, call);
  return state;
}

// Sets (or, with nullopt, removes) an environment variable for one scope.
class EnvScope {
 public:
  EnvScope(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* v = std::getenv(name)) old_ = v;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~EnvScope() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  EnvScope(const EnvScope&) = delete;
  EnvScope& operator=(const EnvScope&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A child (split, shrink, grow) is made the way its parent was unless its Config says otherwise:
// NCCL makes the child of a nonblocking parent nonblocking too, and ncclrt must know it.
Config inherited(const Config& config, const detail::CommState& parent) {
  Config c = config;
  if (!c.timeout && !c.blocking) {
    c.timeout = parent.timeout;
    if (!c.timeout && parent.nonblocking) c.blocking = false;
  }
  return c;
}

}  // namespace

Communicator Communicator::init_rank(std::shared_ptr<const Library> lib, int nranks, int rank,
                                     const UniqueId& id, const Config& config) {
  if (!lib) throw UsageError("init_rank: no Library (null shared_ptr)");
  if (nranks < 1) throw UsageError("init_rank: nranks must be >= 1; got " + std::to_string(nranks));
  if (rank < 0 || rank >= nranks) {
    throw UsageError("init_rank: rank " + std::to_string(rank) + " is outside 0.." +
                     std::to_string(nranks - 1));
  }
  if (id == UniqueId()) {
    throw UsageError(
        "init_rank: the unique id is all zeros; make one with Library::unique_id() "
        "on one rank and pass it to all");
  }
  const auto* fn = &lib->raw();
  const abi::ncclUniqueId raw = id.raw();
  const std::string where = detail::rank_text(rank, nranks);
  if (config.empty()) {
    return Communicator(
        detail::traced_root(create_comm(std::move(lib), config, "ncclCommInitRank", where, nullptr,
                                        [=](abi::ncclComm_t* c, abi::ncclConfig_t*) {
                                          return fn->ncclCommInitRank(c, nranks, raw, rank);
                                        }),
                            raw, rank, config));
  }
  lib->require(Function::ncclCommInitRankConfig);
  return Communicator(detail::traced_root(
      create_comm(std::move(lib), config, "ncclCommInitRankConfig", where, nullptr,
                  [=](abi::ncclComm_t* c, abi::ncclConfig_t* cfg) {
                    return fn->ncclCommInitRankConfig(c, nranks, raw, rank, cfg);
                  }),
      raw, rank, config));
}

std::vector<Communicator> Communicator::init_all(std::shared_ptr<const Library> lib,
                                                 const std::vector<int>& devices,
                                                 const Config& config) {
  if (!lib) throw UsageError("init_all: no Library (null shared_ptr)");
  if (devices.empty()) throw UsageError("init_all: the device list is empty");
  if (devices.size() > static_cast<std::size_t>(INT_MAX)) {
    throw UsageError("init_all: too many devices");
  }
  std::map<int, int> ranks_on;  // device -> how many ranks of the list use it
  for (int d : devices) {
    if (d < 0) throw UsageError("init_all: device " + std::to_string(d) + " is negative");
    ++ranks_on[d];
  }
  const bool shared = ranks_on.size() < devices.size();
  std::string why;
  if (shared && !lib->allows_ranks_per_gpu(&why)) {
    const auto twice = std::find_if(ranks_on.begin(), ranks_on.end(),
                                    [](const auto& kv) { return kv.second > 1; });
    throw UsageError("init_all: GPU " + std::to_string(twice->first) + " is listed " +
                     std::to_string(twice->second) +
                     " times, but several ranks per GPU are not "
                     "allowed: " +
                     why);
  }
  detail::refuse_in_group("init_all", "it makes its own group and waits for its communicators");
  if (detail::capture_forbids_sync()) {
    throw UsageError(
        "init_all while a CUDA graph is being captured: create communicators before "
        "cudaStreamBeginCapture");
  }
  const int n = static_cast<int>(devices.size());
  std::vector<abi::ncclComm_t> raw(devices.size(), nullptr);
  std::vector<abi::ncclConfig_t> cfg;  // as made, one per rank (empty for ncclCommInitAll)
  const abi::ncclUniqueId trace_id = detail::process_unique_name();  // names them all alike
  if (!shared && config.empty()) {
    detail::check(*lib, lib->raw().ncclCommInitAll(raw.data(), n, devices.data()),
                  "ncclCommInitAll", nullptr, "init_all");
  } else {
    // What ncclCommInitAll does, with a config: one id, one ncclCommInitRankConfig per device in
    // a group. Ranks sharing a GPU get at most their share of its SMs (max_ctas_for_shared_gpu).
    lib->require(Function::ncclCommInitRankConfig);
    const int visible = detail::cuda_device_count();
    for (int d : devices) {
      if (d >= visible) {
        throw UsageError("init_all: GPU " + std::to_string(d) + " is not visible (" +
                         std::to_string(visible) + " GPU(s); check CUDA_VISIBLE_DEVICES)");
      }
    }
    std::vector<Config> each(devices.size(), config);
    for (std::size_t i = 0; i < devices.size(); ++i) {
      Config& c = each[i];
      const int sharing = ranks_on[devices[i]];
      if (sharing > 1 && !c.max_ctas) {
        c.max_ctas = std::max(c.min_ctas.value_or(1), max_ctas_for_shared_gpu(devices[i], sharing));
      }
      if (c.timeout) {
        if (c.blocking.value_or(false)) {
          throw UsageError(
              "Config::timeout needs a nonblocking creation; leave Config::blocking unset "
              "or false");
        }
        c.blocking = false;
      }
      cfg.push_back(detail::make_config(*lib, c));
    }
    const auto& fn = lib->raw();
    const abi::ncclUniqueId id = lib->unique_id().raw();
    abi::ncclResult_t r = abi::ncclSuccess;
    std::exception_ptr failed;
    {
      const detail::CurrentContextScope keep;
      detail::check(*lib, fn.ncclGroupStart(), "ncclGroupStart", nullptr, "init_all");
      for (std::size_t i = 0; i < devices.size(); ++i) {
        try {
          detail::cuda_set_device(devices[i]);
        } catch (...) {
          failed = std::current_exception();
          break;
        }
        // Errors surface at ncclGroupEnd, which must be called in any case.
        (void)fn.ncclCommInitRankConfig(&raw[i], n, id, static_cast<int>(i), &cfg[i]);
      }
      r = fn.ncclGroupEnd();
    }
    try {
      if (failed) std::rethrow_exception(failed);
      if (r == abi::ncclInProgress) {  // nonblocking: each waited for within Config::timeout
        for (std::size_t i = 0; i < raw.size(); ++i) {
          if (raw[i] == nullptr) throw Error("ncclCommInitRankConfig returned no communicator");
          auto made =
              adopt(lib, raw[i], &cfg[i], config, detail::rank_text(static_cast<int>(i), n));
          try {
            wait_created(*made, r, config, "ncclCommInitRankConfig");
          } catch (...) {
            raw[i] = nullptr;  // wait_created aborted it
            throw;
          }
        }
      } else {
        detail::check(*lib, r, "ncclGroupEnd", nullptr, "init_all");
      }
    } catch (...) {
      for (auto* c : raw) {
        if (c) detail::bounded_abort(lib, c);  // nothing half made is left behind
      }
      throw;
    }
  }
  std::vector<Communicator> out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    out.push_back(Communicator(
        detail::traced_root(adopt(lib, raw[i], cfg.empty() ? nullptr : &cfg[i], config, ""),
                            trace_id, static_cast<int>(i), config, TraceOrigin::kInitAll)));
  }
  return out;
}

Communicator Communicator::from_environment(std::shared_ptr<const Library> lib,
                                            const Config& config) {
  if (!lib) throw UsageError("from_environment: no Library (null shared_ptr)");
  const LaunchInfo info = launch_info_from_environment();
  const int device = info.local_rank % detail::cuda_device_count();
  detail::cuda_set_device(device);
  // NCCL's own rendezvous: with NCCL_COMM_ID set every rank gets the same id, and rank 0 hosts
  // the bootstrap root at that address. No side channel of ncclrt's. The variable is put back
  // as it was afterwards: left set, every later ncclGetUniqueId of the process would return the
  // same address, and a second communicator would collide with this one.
  const EnvScope scope("NCCL_COMM_ID", info.comm_id);
  const UniqueId id = lib->unique_id();
  return init_rank(std::move(lib), info.size, info.rank, id, config);
}

Communicator Communicator::split(int color, int key, const Config& config) const {
  require_state("split", {State::kLive, State::kRevoked});
  lib().require(Function::ncclCommSplit);
  if (color < 0 && color != abi::kSplitNoColor) {
    throw UsageError("split: color must be >= 0 or kSplitNoColor; got " + std::to_string(color));
  }
  const auto* fn = hot_.fn;
  const abi::ncclComm_t parent = hot_.comm;
  detail::TraceChild child(*shared_, hot_.trace, TraceOrigin::kSplit, color, key);
  if (color == abi::kSplitNoColor) {
    // This rank takes part in the split but gets no communicator. Like a split with a colour it
    // waits for every rank, so it is refused inside a group (NCCL would run it at the group's
    // end, after the handle's slot is gone) and bounded on a blocking parent.
    child.no_child();
    detail::refuse_in_group(
        "ncclCommSplit",
        "ncclrt waits for every rank to take part, which NCCL starts only at the "
        "group's end");
    auto cfg = std::make_shared<abi::ncclConfig_t>(detail::make_config(lib(), config));
    if (shared_->nonblocking && !config.blocking) cfg->blocking = 0;  // as NCCL inherits it
    auto slot = std::make_shared<abi::ncclComm_t>(nullptr);
    auto start = [=] { return fn->ncclCommSplit(parent, color, key, slot.get(), cfg.get()); };
    if (!shared_->nonblocking) {
      call_result(on_blocking_parent(shared_, creation_deadline(config), "ncclCommSplit",
                                     detail::rank_text(hot_.rank, hot_.size), slot, start),
                  "ncclCommSplit");
      return Communicator();
    }
    try {
      call_result(start(), "ncclCommSplit");
    } catch (...) {
      detail::keep_reachable(slot);  // NCCL's thread may still write (null) into it
      throw;
    }
    return Communicator();
  }
  return Communicator(child(create_comm(shared_->lib, inherited(config, *shared_), "ncclCommSplit",
                                        detail::rank_text(hot_.rank, hot_.size), shared_,
                                        [=](abi::ncclComm_t* c, abi::ncclConfig_t* cf) {
                                          return fn->ncclCommSplit(parent, color, key, c, cf);
                                        }),
                            config));
}

Communicator Communicator::shrink(const std::vector<int>& excluded, const Config& config,
                                  ShrinkMode mode) const {
  require_state("shrink", {State::kLive, State::kRevoked});
  lib().require(Function::ncclCommShrink);
  if (excluded.empty()) {
    throw UsageError("shrink: the list of ranks to exclude is empty (NCCL requires at least one)");
  }
  std::vector<int> list = excluded;
  for (int r : list) check_rank("shrink", "excluded rank", r);
  std::sort(list.begin(), list.end());
  if (std::adjacent_find(list.begin(), list.end()) != list.end()) {
    throw UsageError("shrink: the list of ranks to exclude names a rank twice");
  }
  if (list.size() >= static_cast<std::size_t>(hot_.size)) {
    throw UsageError("shrink: excluding " + std::to_string(list.size()) + " of " +
                     std::to_string(hot_.size) + " ranks leaves none");
  }
  if (mode != ShrinkMode::kDefault && mode != ShrinkMode::kAbortParent) {
    throw UsageError("shrink: unknown mode " + std::to_string(static_cast<int>(mode)));
  }
  const int flags = static_cast<int>(mode);
  const auto* fn = hot_.fn;
  const abi::ncclComm_t parent = hot_.comm;
  detail::TraceChild child(*shared_, hot_.trace, TraceOrigin::kShrink, 0, 0, &list);
  return Communicator(child(create_comm(shared_->lib, inherited(config, *shared_), "ncclCommShrink",
                                        detail::rank_text(hot_.rank, hot_.size), shared_,
                                        [=](abi::ncclComm_t* c, abi::ncclConfig_t* cf) {
                                          std::vector<int> ranks = list;  // NCCL sorts it
                                          return fn->ncclCommShrink(parent, ranks.data(),
                                                                    static_cast<int>(ranks.size()),
                                                                    c, cf, flags);
                                        }),
                            config));
}

UniqueId Communicator::grow_id() const {
  require_live("grow_id");
  lib().require(Function::ncclCommGetUniqueId);
  abi::ncclUniqueId id{};
  // NCCL refuses a grow id while NCCL_COMM_ID is set (its address is the first init's root),
  // and launchers set it for the whole job: it is left out of this one call.
  const EnvScope scope("NCCL_COMM_ID", std::nullopt);
  call_result(hot_.fn->ncclCommGetUniqueId(hot_.comm, &id), "ncclCommGetUniqueId");
  return UniqueId(id);
}

Communicator Communicator::grow(int nranks, const std::optional<UniqueId>& id,
                                const Config& config) const {
  require_live("grow");
  lib().require(Function::ncclCommGrow);
  if (nranks <= hot_.size) {
    throw UsageError("grow: the grown communicator needs more than the " +
                     std::to_string(hot_.size) + " ranks it has; got nranks " +
                     std::to_string(nranks));
  }
  if (id && *id == UniqueId()) {
    throw UsageError("grow: the id is all zeros; pass the one grow_id() returned, or none");
  }
  const abi::ncclUniqueId raw = id ? id->raw() : abi::ncclUniqueId{};
  const bool has_id = id.has_value();
  const auto* fn = hot_.fn;
  const abi::ncclComm_t parent = hot_.comm;
  detail::TraceChild child(*shared_, hot_.trace, TraceOrigin::kGrow, nranks, id ? 1 : 0, nullptr,
                           has_id ? &raw : nullptr);
  return Communicator(child(create_comm(shared_->lib, inherited(config, *shared_), "ncclCommGrow",
                                        detail::rank_text(hot_.rank, nranks), shared_,
                                        [=](abi::ncclComm_t* c, abi::ncclConfig_t* cf) {
                                          return fn->ncclCommGrow(
                                              parent, nranks, has_id ? &raw : nullptr, -1, c, cf);
                                        }),
                            config));
}

Communicator Communicator::join(std::shared_ptr<const Library> lib, int nranks, int rank,
                                const UniqueId& id, const Config& config) {
  if (!lib) throw UsageError("join: no Library (null shared_ptr)");
  lib->require(Function::ncclCommGrow);
  if (nranks < 2) throw UsageError("join: nranks must be >= 2; got " + std::to_string(nranks));
  if (rank < 1 || rank >= nranks) {
    throw UsageError("join: rank " + std::to_string(rank) + " is outside 1.." +
                     std::to_string(nranks - 1) +
                     " (a joining rank comes after the existing ones)");
  }
  if (id == UniqueId()) {
    throw UsageError(
        "join: the id is all zeros; pass the one an existing rank made with grow_id()");
  }
  const auto* fn = &lib->raw();
  const abi::ncclUniqueId raw = id.raw();
  return Communicator(detail::traced_root(
      create_comm(std::move(lib), config, "ncclCommGrow", detail::rank_text(rank, nranks), nullptr,
                  [=](abi::ncclComm_t* c, abi::ncclConfig_t* cf) {
                    return fn->ncclCommGrow(nullptr, nranks, &raw, rank, c, cf);
                  }),
      raw, rank, config, TraceOrigin::kJoin));
}

}  // namespace ncclrt
