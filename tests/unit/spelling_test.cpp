// Messages in the caller's language: the library writes the API's names in C++ spelling, and the
// Python module shows them in Python's through one table (src/util/spelling.hpp).
#include "util/spelling.hpp"

#include <filesystem>
#include <fstream>
#include <ncclrt/ncclrt.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "test_support.hpp"

using ncclrt::util::in_python;

TEST(Spelling, NamesInPythonsSpelling) {
  EXPECT_EQ(in_python("or leave LoadOptions::path unset so"),
            "or call Library.open() without a path so");
  EXPECT_EQ(in_python("leave LoadOptions::path"), "leave Library.open(path)");
  EXPECT_EQ(in_python("LoadOptions::disabled_functions names it"),
            "Library.open(disabled_functions=...) names it");
  EXPECT_EQ(in_python("raise Config::timeout"), "raise Config(timeout=...)");
  EXPECT_EQ(in_python("Config::timeout or Config::blocking = false"),
            "Config(timeout=...) or Config(blocking=False)");
  EXPECT_EQ(in_python("CollConfig::min_ctas needs NCCL >= 2.31.2"),
            "CollConfig(min_ctas=...) needs NCCL >= 2.31.2");
  EXPECT_EQ(in_python("wait with OnFailure::kLeave"), "wait with abort=False");
  // Parameters named differently: C++'s deadline is Python's timeout (seconds).
  EXPECT_EQ(in_python("detect it: synchronize(stream, deadline, OnFailure::kLeave), then revoke"),
            "detect it: synchronize(stream, timeout, abort=False), then revoke");
  EXPECT_EQ(in_python("make new ones, or give the group a longer deadline"),
            "make new ones, or give group() a longer timeout");
  EXPECT_EQ(in_python("color must be >= 0 or kSplitNoColor; got -5"),
            "color must be >= 0 or ncclrt.SPLIT_NOCOLOR; got -5");
  EXPECT_EQ(in_python("call ncclrt::Watchdog::enable() first"),
            "call ncclrt.Watchdog.enable() first");
  EXPECT_EQ(in_python("Pass the exact output of UniqueId::to_hex()"),
            "Pass the exact output of UniqueId.hex()");
}

TEST(Spelling, WholeNamesOnlyAndTextLeftAlone) {
  EXPECT_EQ(in_python("no names here: 2.28.9, a::b"), "no names here: 2.28.9, a::b");
  EXPECT_EQ(in_python("MyConfig::timeout"), "MyConfig::timeout");  // not ncclrt's Config
  EXPECT_EQ(in_python("Config:: alone"), "Config:: alone");
  EXPECT_EQ(in_python("kSplitNoColors"), "kSplitNoColors");
  EXPECT_EQ(in_python("LoadOptions::paths"), "Library.open(paths=...)");  // a prefix row
  EXPECT_EQ(in_python(""), "");
  EXPECT_EQ(in_python("Config::timeout"), "Config(timeout=...)");  // at the very end
}

// The library's real messages: C++ spelling as thrown, Python's after the table.
TEST(Spelling, RealMessagesReadInBothLanguages) {
  ncclrt::LoadOptions o;
  o.path = "/etc/passwd";
  try {
    (void)ncclrt::Library::open(o);
    FAIL() << "/etc/passwd opened";
  } catch (const ncclrt::LoadError& e) {
    const std::string cpp = e.what();
    EXPECT_NE(cpp.find("LoadOptions::path"), std::string::npos) << cpp;
    const std::string py = in_python(cpp);
    EXPECT_NE(py.find("cannot load NCCL from Library.open(path)"), std::string::npos) << py;
    EXPECT_NE(py.find("call Library.open() without a path"), std::string::npos) << py;
    EXPECT_EQ(py.find("::"), std::string::npos) << py;
  }
  // A deadline set in code is the one to raise, named as set: never the variable it overrode.
  o.path = FAKE_NCCL_HANG;
  o.probe_timeout = std::chrono::milliseconds(200);
  try {
    (void)ncclrt::Library::open(o);
    FAIL() << "a hanging file opened";
  } catch (const ncclrt::LoadError& e) {
    const std::string cpp = e.what();
    EXPECT_NE(cpp.find("Raise LoadOptions::probe_timeout"), std::string::npos) << cpp;
    EXPECT_EQ(cpp.find("NCCLRT_PROBE_TIMEOUT_MS"), std::string::npos) << cpp;
    EXPECT_NE(in_python(cpp).find("Raise Library.open(probe_timeout=...)"), std::string::npos);
  }
  // A library that crashes loading is the wrong NCCL, not the wrong kind of file.
  o.path = FAKE_NCCL_CRASH;
  o.probe_timeout.reset();
  try {
    (void)ncclrt::Library::open(o);
    FAIL() << "a crashing file opened";
  } catch (const ncclrt::LoadError& e) {
    const std::string cpp = e.what();
    EXPECT_NE(cpp.find("Try: another NCCL file"), std::string::npos) << cpp;
    EXPECT_EQ(cpp.find("give the path of libnccl.so.2 itself"), std::string::npos) << cpp;
  }
  try {
    (void)ncclrt::UniqueId::from_hex("zz");
    FAIL() << "a bad id parsed";
  } catch (const ncclrt::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("UniqueId::to_hex()"), std::string::npos) << e.what();
    EXPECT_NE(in_python(e.what()).find("UniqueId.hex()"), std::string::npos);
  }
  auto lib = ncclrt::Library::open(RECORDING_NCCL_22809);
  ncclrt::Config config;
  config.timeout = std::chrono::seconds(1);
  config.blocking = true;
  try {
    (void)ncclrt::Communicator::init_rank(lib, 4, 2, lib->unique_id(), config);
    FAIL() << "a blocking creation with a deadline was accepted";
  } catch (const ncclrt::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("Config::timeout"), std::string::npos) << e.what();
    EXPECT_NE(in_python(e.what()).find("Config(timeout=...) needs a nonblocking creation; leave "
                                       "Config(blocking=...) unset"),
              std::string::npos)
        << in_python(e.what());
  }
}

// Every C++ name a message of src/ holds has a Python spelling, so none reaches a Python caller
// as C++ (an audit of the string literals; a new message with a new name fails here).
TEST(Spelling, EveryNameInTheLibrarysMessagesIsInTheTable) {
  // Names only C++ callers can meet: Python's `with ncclrt.group()` and `with comm.suspension()`
  // end their group or suspension themselves, with no Group or SuspendGuard of their own.
  const std::set<std::string> cpp_only = {"Group::end", "Group::end()", "SuspendGuard::resume",
                                          "SuspendGuard::resume()"};
  const std::regex literal(R"re("((?:[^"\\]|\\.)*)")re");
  const std::regex name(R"((?:\b[A-Za-z_]\w*::)+[A-Za-z_]\w*(?:\(\))?|\bk[A-Z]\w+)");
  std::size_t names = 0;
  for (const auto& entry : std::filesystem::directory_iterator(NCCLRT_SOURCE_DIR "/src")) {
    if (entry.path().extension() != ".cpp") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string source = text.str();
    for (std::sregex_iterator l(source.begin(), source.end(), literal), end; l != end; ++l) {
      const std::string s = (*l)[1];
      if (s.find(' ') == std::string::npos && s.find("::") == std::string::npos) continue;
      for (std::sregex_iterator n(s.begin(), s.end(), name); n != end; ++n) {
        const std::string found = n->str();
        if (found.rfind("std::", 0) == 0 || cpp_only.count(found)) continue;
        ++names;
        const std::string py = in_python(found);
        EXPECT_EQ(py.find("::"), std::string::npos)
            << entry.path().filename() << ": \"" << found << "\" reaches Python as " << py;
        EXPECT_NE(py, found) << entry.path().filename() << ": \"" << found
                             << "\" has no Python spelling in src/util/spelling.hpp";
      }
    }
  }
  EXPECT_GT(names, 10u);  // the audit read the messages
}
