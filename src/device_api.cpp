// The host side of NCCL's device API: a communicator's properties, device communicators, and a
// window's device addresses.
#include "ncclrt/device_api.hpp"

#include <cstring>
#include <string>
#include <utility>

#include "comm_state.hpp"
#include "cuda_driver.hpp"
#include "group_state.hpp"
#include "nccl_error.hpp"
#include "ncclrt/communicator.hpp"
#include "ncclrt/error.hpp"
#include "while_alive.hpp"

namespace ncclrt {

namespace detail {

// Room for the device communicator NCCL writes: the layout of the requirements' version, whose
// size grows between releases (200 bytes in 2.29, 240 in 2.30.7). Never moved: NCCL keeps no
// pointer to it, but a kernel launch copies it from here.
struct DevCommSlot {
  static constexpr std::size_t kBytes = 1024;
  alignas(16) unsigned char bytes[kBytes] = {};
  Version layout;
  std::size_t size = 0;
};

}  // namespace detail

namespace {

constexpr Version kFirstLayout{2, 29, 2};   // the first versioned structs
constexpr Version kNewestLayout{2, 30, 7};  // the newest layouts abi.hpp declares

static_assert(sizeof(abi::ncclCommProperties_t) == 56, "NCCL 2.30.7's ncclCommProperties_t");
static_assert(sizeof(abi::ncclDevCommRequirements_t) == 96, "2.30.7's ncclDevCommRequirements_t");
static_assert(sizeof(abi::ncclDevComm_t) == 240, "2.30.7's ncclDevComm");
static_assert(sizeof(abi::ncclDevComm_v22902) == 200, "2.29's ncclDevComm");
static_assert(sizeof(abi::ncclDevComm_t) <= detail::DevCommSlot::kBytes);

// The layout to pass to the loaded NCCL: its own release's if abi.hpp has it, else the first.
Version layout_for(const Library& lib) {
  return lib.version() >= kNewestLayout ? kNewestLayout : kFirstLayout;
}

std::string loaded(const Library& lib) {
  return "loaded " + lib.version().str() + " from " + lib.path();
}

}  // namespace

CommProperties Communicator::properties() const {
  require_live("properties");
  lib().require(Function::ncclCommQueryProperties);
  const Version layout = layout_for(lib());
  const bool newest = layout == kNewestLayout;
  abi::ncclCommProperties_t p{};
  p.size = newest ? sizeof p : abi::kCommPropertiesBytes22902;
  p.magic = abi::kConfigMagic;
  p.version = static_cast<unsigned>(layout.code());
  call_result(hot_.fn->ncclCommQueryProperties(hot_.comm, &p), "ncclCommQueryProperties");
  CommProperties out;
  out.rank = p.rank;
  out.size = p.nRanks;
  out.cuda_device = p.cudaDev;
  out.nvml_device = p.nvmlDev;
  out.device_api_support = p.deviceApiSupport;
  out.multimem_support = p.multimemSupport;
  out.layout = layout;
  if (newest) {
    out.gin_type = static_cast<int>(p.ginType);
    out.lsa_teams = p.nLsaTeams;
    out.host_rma_support = p.hostRmaSupport;
    out.railed_gin_type = static_cast<int>(p.railedGinType);
  } else {  // 2.29.2's ginType is one byte, at offset 34
    unsigned char gin = 0;
    std::memcpy(&gin, reinterpret_cast<const unsigned char*>(&p) + abi::kCommPropertiesGinType22902,
                1);
    out.gin_type = gin;
  }
  return out;
}

DevComm Communicator::create_dev_comm(const DevCommRequirements& r) const {
  require_live("create_dev_comm");
  lib().require(Function::ncclDevCommCreate);
  if (detail::capture_forbids_sync()) {
    throw UsageError(
        "create_dev_comm while a CUDA graph is being captured: NCCL allocates and registers "
        "memory for a device communicator, which would invalidate the capture. Make it before "
        "capturing");
  }
  detail::refuse_in_group("create_dev_comm",
                          "NCCL makes it at the group's end and would write it after "
                          "create_dev_comm has returned");
  const int counts[] = {r.barrier_count,          r.lsa_barrier_count,     r.rail_gin_barrier_count,
                        r.lsa_ll_a2a_block_count, r.lsa_ll_a2a_slot_count, r.gin_context_count,
                        r.gin_signal_count,       r.gin_counter_count,     r.gin_queue_depth,
                        r.world_gin_barrier_count};
  for (const int c : counts) {
    if (c < 0) throw UsageError("create_dev_comm: a count of DevCommRequirements is negative");
  }
  const Version layout = layout_for(lib());
  const bool newest = layout == kNewestLayout;
  const DevCommRequirements defaults;
  if (!newest &&
      (r.gin_connection_type != defaults.gin_connection_type ||
       r.gin_exclusive_contexts != defaults.gin_exclusive_contexts ||
       r.gin_queue_depth != defaults.gin_queue_depth || r.gin_traffic_class.has_value() ||
       r.world_gin_barrier_count != defaults.world_gin_barrier_count ||
       r.gin_strong_signals_required != defaults.gin_strong_signals_required ||
       r.gin_va_signals_required != defaults.gin_va_signals_required)) {
    throw UnsupportedError(
        "create_dev_comm: the GIN fields of DevCommRequirements after gin_counter_count need "
        "NCCL >= " +
        kNewestLayout.str() + " (ncclrt passes the " + kFirstLayout.str() + " layout before it); " +
        loaded(lib()));
  }
  const CommProperties props = properties();
  if (!props.device_api_support) {
    throw UnsupportedError(
        "create_dev_comm: this communicator does not support NCCL's device API "
        "(ncclCommQueryProperties: deviceApiSupport = 0 on rank " +
        std::to_string(props.rank) + " of " + std::to_string(props.size) + ", GPU " +
        std::to_string(props.cuda_device) +
        "). NCCL needs symmetric memory: every rank reachable through CUDA P2P (or GPU-initiated "
        "networking), cuMem on (NCCL_CUMEM_ENABLE) and windows on (NCCL_WIN_ENABLE); " +
        loaded(lib()));
  }
  abi::ncclDevCommRequirements_t q{};
  q.size = newest ? sizeof q : abi::kDevCommRequirementsBytes22902;
  q.magic = abi::kConfigMagic;
  q.version = static_cast<unsigned>(layout.code());
  q.lsaMultimem = r.lsa_multimem;
  q.barrierCount = r.barrier_count;
  q.lsaBarrierCount = r.lsa_barrier_count;
  q.railGinBarrierCount = r.rail_gin_barrier_count;
  q.lsaLLA2ABlockCount = r.lsa_ll_a2a_block_count;
  q.lsaLLA2ASlotCount = r.lsa_ll_a2a_slot_count;
  q.ginForceEnable = r.gin_force_enable;
  q.ginContextCount = r.gin_context_count;
  q.ginSignalCount = r.gin_signal_count;
  q.ginCounterCount = r.gin_counter_count;
  if (newest) {
    q.ginConnectionType = static_cast<abi::ncclGinConnectionType_t>(r.gin_connection_type);
    q.ginExclusiveContexts = r.gin_exclusive_contexts;
    q.ginQueueDepth = r.gin_queue_depth;
    q.ginTrafficClass = r.gin_traffic_class.value_or(abi::kConfigUndefInt);
    q.worldGinBarrierCount = r.world_gin_barrier_count;
    q.ginStrongSignalsRequired = r.gin_strong_signals_required;
    q.ginVaSignalsRequired = r.gin_va_signals_required;
  }
  // A nonblocking communicator's NCCL thread writes the device communicator at the end of the
  // group NCCL opens inside the call: into memory that outlives a wait that gives up.
  auto slot = std::make_shared<detail::DevCommSlot>();
  slot->layout = layout;
  slot->size = newest ? sizeof(abi::ncclDevComm_t) : sizeof(abi::ncclDevComm_v22902);
  try {
    call_result(hot_.fn->ncclDevCommCreate(hot_.comm, &q,
                                           reinterpret_cast<abi::ncclDevComm_t*>(slot->bytes)),
                "ncclDevCommCreate");
  } catch (...) {
    if (hot_.nonblocking) detail::keep_reachable(slot);
    throw;
  }
  DevComm d;
  d.state_ = shared_;
  d.slot_ = std::move(slot);
  return d;
}

DevComm::DevComm(DevComm&& other) noexcept
    : state_(std::move(other.state_)), slot_(std::move(other.slot_)) {}

DevComm& DevComm::operator=(DevComm&& other) noexcept {
  if (this != &other) {
    release();
    state_ = std::move(other.state_);
    slot_ = std::move(other.slot_);
  }
  return *this;
}

DevComm::~DevComm() { release(); }

namespace {

abi::ncclResult_t destroy_dev_comm(const detail::Symbols& fn, abi::ncclComm_t comm,
                                   const detail::DevCommSlot& slot) {
  return fn.ncclDevCommDestroy(comm, reinterpret_cast<const abi::ncclDevComm_t*>(slot.bytes));
}

}  // namespace

void DevComm::release() noexcept {
  if (state_ && slot_) {
    const detail::DevCommSlot& slot = *slot_;
    detail::while_alive(*state_, "ncclDevCommDestroy",
                        [&](const detail::Symbols& fn, abi::ncclComm_t c) {
                          return destroy_dev_comm(fn, c, slot);
                        });
  }
  state_.reset();
  slot_.reset();
}

void DevComm::destroy() {
  if (!valid()) {
    throw UsageError("DevComm::destroy on an empty device communicator (destroyed or moved from)");
  }
  const detail::DevCommSlot& slot = *slot_;
  const auto r = detail::call_while_alive(
      *state_, "ncclDevCommDestroy",
      [&](const detail::Symbols& fn, abi::ncclComm_t c) { return destroy_dev_comm(fn, c, slot); });
  auto state = std::move(state_);
  slot_.reset();
  // Without its communicator (destroyed or aborted), NCCL freed the device communicator with it.
  if (r) detail::check(*state->lib, *r, "ncclDevCommDestroy", state->comm, state->where.c_str());
}

bool DevComm::valid() const noexcept { return state_ && slot_; }

const void* DevComm::data() const noexcept { return slot_ ? slot_->bytes : nullptr; }

std::size_t DevComm::bytes() const noexcept { return slot_ ? slot_->size : 0; }

Version DevComm::layout() const noexcept { return slot_ ? slot_->layout : Version{}; }

namespace {

// One field of the device communicator, from whichever layout NCCL wrote.
template <class Field>
int dev_comm_field(const std::shared_ptr<detail::DevCommSlot>& slot, const char* what,
                   Field field) {
  if (!slot) {
    throw UsageError(std::string("DevComm::") + what +
                     " on an empty device communicator (destroyed or moved from)");
  }
  if (slot->layout == kNewestLayout) {
    abi::ncclDevComm_t d;
    std::memcpy(&d, slot->bytes, sizeof d);
    return field(d);
  }
  abi::ncclDevComm_v22902 d;
  std::memcpy(&d, slot->bytes, sizeof d);
  return field(d);
}

}  // namespace

int DevComm::rank() const {
  return dev_comm_field(slot_, "rank", [](const auto& d) { return d.rank; });
}
int DevComm::size() const {
  return dev_comm_field(slot_, "size", [](const auto& d) { return d.nRanks; });
}
int DevComm::lsa_rank() const {
  return dev_comm_field(slot_, "lsa_rank", [](const auto& d) { return d.lsaRank; });
}
int DevComm::lsa_size() const {
  return dev_comm_field(slot_, "lsa_size", [](const auto& d) { return d.lsaSize; });
}

namespace {

// A window's device address from NCCL, asked while its communicator (and so the window) lives.
template <class Get>
void* window_address(detail::CommState* state, abi::ncclWindow_t win, const char* method,
                     Function f, Get&& get) {
  if (state == nullptr || win == nullptr) {
    throw UsageError(std::string(method) +
                     " on an empty window (default-constructed, closed or moved from)");
  }
  state->lib->require(f);
  void* ptr = nullptr;
  const auto r = detail::call_while_alive(
      *state, name_of(f),
      [&](const detail::Symbols& fn, abi::ncclComm_t) { return get(fn, win, &ptr); });
  if (!r) {
    throw UsageError(
        std::string(method) +
        ": the window's communicator was destroyed or aborted, and the window with it");
  }
  detail::check(*state->lib, *r, name_of(f), state->comm, state->where.c_str());
  return ptr;
}

}  // namespace

void* Window::lsa_pointer(std::size_t offset, int lsa_rank) const {
  return window_address(h_.state(), h_.get(), "Window::lsa_pointer",
                        Function::ncclGetLsaDevicePointer,
                        [&](const detail::Symbols& fn, abi::ncclWindow_t w, void** out) {
                          return fn.ncclGetLsaDevicePointer(w, offset, lsa_rank, out);
                        });
}

void* Window::peer_pointer(std::size_t offset, int peer) const {
  return window_address(h_.state(), h_.get(), "Window::peer_pointer",
                        Function::ncclGetPeerDevicePointer,
                        [&](const detail::Symbols& fn, abi::ncclWindow_t w, void** out) {
                          return fn.ncclGetPeerDevicePointer(w, offset, peer, out);
                        });
}

void* Window::lsa_multimem_pointer(std::size_t offset) const {
  return window_address(h_.state(), h_.get(), "Window::lsa_multimem_pointer",
                        Function::ncclGetLsaMultimemDevicePointer,
                        [&](const detail::Symbols& fn, abi::ncclWindow_t w, void** out) {
                          return fn.ncclGetLsaMultimemDevicePointer(w, offset, out);
                        });
}

void* Window::multimem_pointer(std::size_t offset, void* multimem_base) const {
  if (multimem_base == nullptr) {
    throw UsageError("Window::multimem_pointer: multimem_base (a team's multimem handle) is null");
  }
  return window_address(h_.state(), h_.get(), "Window::multimem_pointer",
                        Function::ncclGetMultimemDevicePointer,
                        [&](const detail::Symbols& fn, abi::ncclWindow_t w, void** out) {
                          return fn.ncclGetMultimemDevicePointer(
                              w, offset, abi::ncclMultimemHandle_t{multimem_base}, out);
                        });
}

}  // namespace ncclrt
