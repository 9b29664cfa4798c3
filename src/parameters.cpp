// What the loaded NCCL can be told from outside: its parameters (the Param API), the environment
// variables its file reads, and socket encryption.
#include <elf.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>

#include "nccl_error.hpp"
#include "ncclrt/error.hpp"
#include "ncclrt/library.hpp"
#include "util/nearest.hpp"

extern char** environ;

namespace ncclrt {
namespace {

bool name_char(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

// The bytes of the file's read-only data (.rodata of an ELF64 file), where string literals live;
// the whole file when it is not one. libnccl is ~200 MB, most of it GPU code: this reads ~0.2 MB.
std::string literal_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path + " to list the variables it reads");
  Elf64_Ehdr eh{};
  in.read(reinterpret_cast<char*>(&eh), sizeof eh);
  const bool elf64 = in && std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
                     eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_shentsize == sizeof(Elf64_Shdr) &&
                     eh.e_shstrndx < eh.e_shnum;
  if (elf64) {
    std::vector<Elf64_Shdr> sections(eh.e_shnum);
    in.seekg(static_cast<std::streamoff>(eh.e_shoff));
    in.read(reinterpret_cast<char*>(sections.data()),
            static_cast<std::streamsize>(sections.size() * sizeof(Elf64_Shdr)));
    auto read = [&](const Elf64_Shdr& sh) {
      std::string out(sh.sh_size, '\0');
      in.seekg(static_cast<std::streamoff>(sh.sh_offset));
      in.read(out.data(), static_cast<std::streamsize>(out.size()));
      return in ? out : std::string();
    };
    const std::string names = read(sections[eh.e_shstrndx]);
    for (const auto& sh : sections) {
      if (sh.sh_name < names.size() && std::strcmp(names.c_str() + sh.sh_name, ".rodata") == 0) {
        return read(sh);
      }
    }
  }
  in.clear();
  in.seekg(0);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

std::vector<Parameter> Library::parameters() const {
  require(Function::ncclParamGetAllParameterKeys);
  require(Function::ncclParamGetParameter);
  const char** keys = nullptr;
  int n = 0;
  detail::check(*this, raw().ncclParamGetAllParameterKeys(&keys, &n),
                "ncclParamGetAllParameterKeys", nullptr);
  // The table is NCCL's until the next call on this thread: copy the names first.
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    if (keys && keys[i]) names.emplace_back(keys[i]);
  }
  std::vector<Parameter> out;
  out.reserve(names.size());
  for (auto& name : names) {
    auto value = parameter(name);
    out.push_back(Parameter{std::move(name), value.value_or("")});
  }
  return out;
}

std::optional<std::string> Library::parameter(const std::string& name) const {
  require(Function::ncclParamGetParameter);
  const char* value = nullptr;
  int len = 0;
  const abi::ncclResult_t r = raw().ncclParamGetParameter(name.c_str(), &value, &len);
  if (r == abi::ncclInvalidArgument && value == nullptr) return std::nullopt;  // not a parameter
  detail::check(*this, r, "ncclParamGetParameter", nullptr, name.c_str());
  if (value == nullptr) return std::string();
  return std::string(value, len > 0 ? static_cast<std::size_t>(len) : std::strlen(value));
}

std::vector<std::string> Library::environment_names() const {
  // NCCL reads its variables by literal names ("NCCL_" "SOCKET_IFNAME" in its sources), so the
  // file holds each one as a string.
  const std::string bytes = literal_bytes(path());
  std::set<std::string> names;
  for (std::size_t at = bytes.find("NCCL_"); at != std::string::npos;
       at = bytes.find("NCCL_", at + 1)) {
    if (at > 0 && name_char(bytes[at - 1])) continue;  // inside a longer name
    std::size_t end = at + 5;
    while (end < bytes.size() && name_char(bytes[end])) ++end;
    if (end - at > 5 && (end == bytes.size() || bytes[end] == '\0')) {
      names.insert(bytes.substr(at, end - at));
    }
  }
  if (has(Function::ncclParamGetAllParameterKeys) && has(Function::ncclParamGetParameter)) {
    for (const auto& p : parameters()) names.insert(p.name);
  }
  return {names.begin(), names.end()};
}

std::vector<UnknownVariable> Library::unknown_environment() const {
  std::vector<std::string> set;
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, "NCCL_", 5) != 0) continue;
    const char* eq = std::strchr(*e, '=');
    std::string name(*e, eq ? static_cast<std::size_t>(eq - *e) : std::strlen(*e));
    // NVIDIA's CUDA container images describe the NCCL they ship with it; not a setting.
    if (name == "NCCL_VERSION") continue;
    set.push_back(std::move(name));
  }
  std::vector<UnknownVariable> out;
  if (set.empty()) return out;
  std::sort(set.begin(), set.end());
  const std::vector<std::string> known = environment_names();
  for (const auto& name : set) {
    if (std::binary_search(known.begin(), known.end(), name)) continue;
    // Past the NCCL_ prefix, about one edit in three is a typo rather than another name.
    const std::size_t limit = std::max<std::size_t>(2, (name.size() - 5) / 3);
    out.push_back({name, util::nearest_names(name, known, limit, 3)});
  }
  return out;
}

bool Library::allows_ranks_per_gpu(std::string* why_not) const {
  constexpr Version kFirst{2, 30, 3};
  std::string why;
  if (version() < kFirst) {
    why = "several ranks per GPU need NCCL >= " + kFirst.str() + "; loaded " + version().str();
  } else if (const char* v = std::getenv("NCCL_MULTI_RANK_GPU_ENABLE"); !v || std::atoi(v) != 1) {
    why = "several ranks per GPU need NCCL_MULTI_RANK_GPU_ENABLE=1 (NCCL " + version().str() +
          " supports it)";
  }
  if (why_not) *why_not = why;
  return why.empty();
}

void Library::set_encryption(const std::string& pre_shared_key) const {
  require(Function::ncclSetEncryption);
  abi::ncclEncryptionConfig_t cfg{};
  cfg.size = sizeof cfg;
  cfg.magic = abi::kConfigMagic;
  cfg.version = static_cast<unsigned>(version().code());
  cfg.mode = pre_shared_key.empty() ? 0 : 1;  // NCCL_ENCRYPTION_MODE_NONE / _PSK
  cfg.psk = pre_shared_key.empty() ? nullptr : pre_shared_key.c_str();
  detail::check(*this, raw().ncclSetEncryption(&cfg), "ncclSetEncryption", nullptr);
}

}  // namespace ncclrt
