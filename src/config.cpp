#include "config.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>

#include "cuda_driver.hpp"
#include "ncclrt/error.hpp"

namespace ncclrt {
namespace detail {
namespace {

struct ConfigField {
  const char* name;
  Version since;
  std::size_t end;  // offset just past the field in ncclConfig_t
};

constexpr ConfigField kFields[] = {
#define NCCLRT_CONFIG_FIELD(member, field, type, major, minor, patch) \
  {#member,                                                           \
   {major, minor, patch},                                             \
   offsetof(abi::ncclConfig_t, field) + sizeof(abi::ncclConfig_t::field)},
#include "ncclrt/detail/config_fields.def"
};

template <class T>
void set_field(const Library& lib, const ConfigField& f, const std::optional<T>& value, int& out) {
  out = abi::kConfigUndefInt;  // NCCL's "not set"
  if (!value) return;
  if (lib.version() < f.since) {
    throw UnsupportedError("Config::" + std::string(f.name) + " needs NCCL >= " + f.since.str() +
                           "; loaded " + lib.version().str() + " from " + lib.path() +
                           ". Leave it unset or load a newer NCCL");
  }
  out = static_cast<int>(*value);
}

void set_field(const Library& lib, const ConfigField& f, const std::optional<std::string>& value,
               const char*& out) {
  out = nullptr;  // NCCL's "not set"
  if (!value) return;
  if (lib.version() < f.since) {
    throw UnsupportedError("Config::" + std::string(f.name) + " needs NCCL >= " + f.since.str() +
                           "; loaded " + lib.version().str() + " from " + lib.path());
  }
  out = value->c_str();
}

template <class T, class Out>
void set_coll_field(const Library& lib, const char* name, Version since,
                    const std::optional<T>& value, Out unset, Out& out) {
  out = unset;
  if (!value) return;
  if (lib.version() < since) {
    throw UnsupportedError("CollConfig::" + std::string(name) + " needs NCCL >= " + since.str() +
                           "; loaded " + lib.version().str() + " from " + lib.path() +
                           ". Leave it unset or load a newer NCCL");
  }
  if constexpr (std::is_same_v<T, std::string>) {
    out = value->c_str();
  } else {
    out = static_cast<Out>(*value);
  }
}

}  // namespace

abi::ncclCollConfig_t make_coll_config(const Library& lib, const CollConfig& c) {
  abi::ncclCollConfig_t cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.magic = abi::kConfigMagic;
  cfg.version = static_cast<unsigned>(lib.version().code());
  cfg.ext = nullptr;
  std::size_t size = offsetof(abi::ncclCollConfig_t, minCTAs);
#define NCCLRT_COLL_FIELD(member, field, type, unset, major, minor, patch)                \
  set_coll_field(lib, #member, Version{major, minor, patch}, c.member,                    \
                 static_cast<decltype(cfg.field)>(unset), cfg.field);                     \
  if (lib.version() >= Version{major, minor, patch}) {                                    \
    size = offsetof(abi::ncclCollConfig_t, field) + sizeof(abi::ncclCollConfig_t::field); \
  }
#include "ncclrt/detail/coll_config_fields.def"
  constexpr std::size_t align = alignof(abi::ncclCollConfig_t);
  cfg.size = (size + align - 1) / align * align;
  return cfg;
}

abi::ncclConfig_t make_config(const Library& lib, const Config& c) {
  abi::ncclConfig_t cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.magic = abi::kConfigMagic;
  cfg.version = static_cast<unsigned>(lib.version().code());
  std::size_t index = 0;  // every field is written, in table order
#define NCCLRT_CONFIG_FIELD(member, field, type, major, minor, patch) \
  set_field(lib, kFields[index++], c.member, cfg.field);
#include "ncclrt/detail/config_fields.def"
  // The struct as the loaded release declares it: NCCL copies min(size, its own size) bytes.
  std::size_t size = 0;
  for (const auto& f : kFields) {
    if (lib.version() >= f.since) size = f.end;
  }
  constexpr std::size_t align = alignof(abi::ncclConfig_t);
  cfg.size = size == 0 ? 0 : (size + align - 1) / align * align;
  return cfg;
}

}  // namespace detail

bool Config::empty() const noexcept {
  bool any = timeout.has_value();
#define NCCLRT_CONFIG_FIELD(member, field, type, major, minor, patch) any |= member.has_value();
#include "ncclrt/detail/config_fields.def"
  return !any;
}

bool CollConfig::empty() const noexcept {
  bool any = false;
#define NCCLRT_COLL_FIELD(member, field, type, unset, major, minor, patch) \
  any |= member.has_value();
#include "ncclrt/detail/coll_config_fields.def"
  return !any;
}

int max_ctas_for_shared_gpu(int device, int ranks) {
  if (ranks < 1) {
    throw UsageError("max_ctas_for_shared_gpu: ranks must be >= 1; got " + std::to_string(ranks));
  }
  // A power of two: NCCL rounds its send/recv channels up to one (pow2Up), so a share of 33
  // would become 64 CTAs per rank for point-to-point work (four ranks hung so on an H100).
  const int share = std::max(1, detail::cuda_sm_count(device) / ranks);
  int p = 1;
  while (p * 2 <= share) p *= 2;
  return p;
}

}  // namespace ncclrt
