// libFuzzer target: the unique-id text parser must accept exactly 256 hex digits, round-trip
// them, and reject everything else with UsageError (never crash, never another exception).
#include <cstdint>
#include <cstdlib>
#include <ncclrt/error.hpp>
#include <ncclrt/unique_id.hpp>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const ncclrt::UniqueId id = ncclrt::UniqueId::from_hex(text);
    if (ncclrt::UniqueId::from_hex(id.to_hex()) != id) std::abort();
    if (text.size() != 256) std::abort();
  } catch (const ncclrt::UsageError&) {
  }
  return 0;
}
