// Our ABI declarations against the nccl.h found at build time: the static_asserts live in
// abi_check.hpp (this file does not compile if a layout, value or signature drifts); the matrix
// script compiles the same header against every release's nccl.h.
#include "abi_check.hpp"

#include <gtest/gtest.h>

namespace nabi = ncclrt::abi;

TEST(AbiCheck, ConfigInitializerMatchesOurDefaults) {
  ::ncclConfig_t theirs = NCCL_CONFIG_INITIALIZER;
  EXPECT_EQ(theirs.magic, nabi::kConfigMagic);
  EXPECT_LE(theirs.size, sizeof(nabi::ncclConfig_t));
  EXPECT_EQ(theirs.blocking, nabi::kConfigUndefInt);
  EXPECT_EQ(theirs.netName, nullptr);
  ::ncclSimInfo_t sim = NCCL_SIM_INFO_INITIALIZER;
  EXPECT_EQ(sim.magic, nabi::kSimInfoMagic);
}
