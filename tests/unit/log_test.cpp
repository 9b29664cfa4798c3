#include <mutex>
#include <ncclrt/ncclrt.hpp>

#include "test_support.hpp"

using namespace ncclrt;

TEST(Log, OffByDefaultAndRoutedThroughTheHook) {
  if (std::getenv("NCCLRT_LOG") == nullptr) {
    EXPECT_EQ(log_level(), LogLevel::kOff);
  }
  std::vector<std::string> lines;
  std::mutex m;
  set_log_handler([&](LogLevel level, std::string_view text) {
    std::lock_guard<std::mutex> lock(m);
    if (level == LogLevel::kInfo) lines.emplace_back(text);
  });
  set_log_level(LogLevel::kInfo);
  ncclrt_test::TempDir dir;
  const auto path = dir.path() / "logged.so";
  std::filesystem::copy_file(FAKE_NCCL_OLD, path);
  probe(path.string(), std::chrono::seconds(10));
  set_log_level(LogLevel::kOff);
  probe((dir.path() / "missing.so").string(), std::chrono::seconds(10));
  set_log_handler(nullptr);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("probe of"), std::string::npos);
  EXPECT_NE(lines[0].find("logged.so: ok"), std::string::npos);
}
