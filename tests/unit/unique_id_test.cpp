#include <cstring>
#include <ncclrt/error.hpp>
#include <ncclrt/library.hpp>
#include <ncclrt/unique_id.hpp>

#include "test_support.hpp"

using ncclrt::UniqueId;
using ncclrt::UsageError;
using ncclrt_test::expect_error;

TEST(UniqueId, HexRoundTrips) {
  ncclrt::abi::ncclUniqueId raw{};
  for (std::size_t i = 0; i < sizeof raw.internal; ++i) raw.internal[i] = static_cast<char>(i * 7);
  UniqueId id(raw);
  const std::string hex = id.to_hex();
  ASSERT_EQ(hex.size(), 256u);
  EXPECT_EQ(hex.substr(0, 8), "00070e15");
  UniqueId back = UniqueId::from_hex(hex);
  EXPECT_EQ(back, id);
  EXPECT_EQ(std::memcmp(back.raw().internal, raw.internal, sizeof raw.internal), 0);
}

TEST(UniqueId, AcceptsUpperCase) {
  std::string hex(256, 'A');
  EXPECT_EQ(UniqueId::from_hex(hex).bytes()[0], 0xaa);
}

TEST(UniqueId, RejectsWrongLength) {
  expect_error<UsageError>([] { (void)UniqueId::from_hex("abcd"); }, {"256 hex digits", "got 4"});
  expect_error<UsageError>([] { (void)UniqueId::from_hex(""); }, {"got 0"});
  expect_error<UsageError>([] { (void)UniqueId::from_hex(std::string(258, '0')); }, {"got 258"});
}

TEST(UniqueId, RejectsNonHex) {
  std::string hex(256, '0');
  hex[17] = 'g';
  expect_error<UsageError>([&] { (void)UniqueId::from_hex(hex); },
                           {"hex digits only", "character 17"});
  hex[17] = ' ';
  expect_error<UsageError>([&] { (void)UniqueId::from_hex(hex); }, {"character 17"});
}

TEST(UniqueId, RealNcclGivesDifferentIds) {
  NCCLRT_NEED_REAL_NCCL();
  auto lib = ncclrt::Library::open(ncclrt_test::real_nccl());
  UniqueId a = lib->unique_id();
  UniqueId b = lib->unique_id();
  EXPECT_NE(a, b);
  EXPECT_NE(a, UniqueId());
  EXPECT_EQ(UniqueId::from_hex(a.to_hex()), a);
}
