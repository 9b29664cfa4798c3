#include <gtest/gtest.h>

#include <ncclrt/version.hpp>

using ncclrt::Version;

TEST(Version, DecodesBothEncodings) {
  EXPECT_EQ(Version::from_code(2804), (Version{2, 8, 4}));
  EXPECT_EQ(Version::from_code(21903), (Version{2, 19, 3}));
  EXPECT_EQ(Version::from_code(22000), (Version{2, 20, 0}));
  EXPECT_EQ(Version::from_code(22809), (Version{2, 28, 9}));
  EXPECT_EQ(Version::from_code(2304), (Version{2, 3, 4}));
  EXPECT_EQ(Version::from_code(23203), (Version{2, 32, 3}));
}

TEST(Version, PrintsWithoutGarbling) {
  EXPECT_EQ(Version::from_code(22000).str(), "2.20.0");
  EXPECT_EQ(Version::from_code(2804).str(), "2.8.4");
  EXPECT_EQ(Version::from_code(22809).str(), "2.28.9");
}

TEST(Version, EncodesLikeNccl) {
  EXPECT_EQ((Version{2, 8, 4}).code(), 2804);
  EXPECT_EQ((Version{2, 9, 6}).code(), 20906);
  EXPECT_EQ((Version{2, 28, 9}).code(), 22809);
  for (int code : {2304, 2708, 2804, 20906, 21903, 22000, 22809}) {
    EXPECT_EQ(Version::from_code(code).code(), code);
  }
}

TEST(Version, Compares) {
  EXPECT_LT((Version{2, 8, 4}), (Version{2, 9, 0}));
  EXPECT_LT((Version{2, 19, 3}), (Version{2, 20, 0}));
  EXPECT_LT((Version{2, 28, 3}), (Version{2, 28, 9}));
  EXPECT_GT((Version{3, 0, 0}), (Version{2, 99, 99}));
  EXPECT_GE((Version{2, 27, 0}), (Version{2, 27, 0}));
  EXPECT_NE((Version{2, 27, 0}), (Version{2, 27, 1}));
  EXPECT_LE((Version{2, 26, 6}), (Version{2, 27, 0}));
}
