#include <dlfcn.h>

#include <algorithm>
#include <fstream>
#include <ncclrt/ncclrt.hpp>

#include "test_support.hpp"

using namespace ncclrt;
using ncclrt_test::expect_error;
using ncclrt_test::ScopedEnv;
using ncclrt_test::TempDir;
namespace fs = std::filesystem;

namespace {

// A stand-in copied to `dir/relative`, so each test has a file no other test opened.
std::string place(const fs::path& dir, const std::string& relative, const char* from) {
  const fs::path p = dir / relative;
  fs::create_directories(p.parent_path());
  fs::copy_file(from, p);
  return p.string();
}

LoadOptions only(unsigned sources) {
  LoadOptions o;
  o.sources = sources;
  return o;
}

// These tests need a process in which no NCCL has been loaded yet: they run in a fresh child.
class Discovery : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

}  // namespace

TEST_F(Discovery, LoaderSearchFindsTheSystemNccl) {
  NCCLRT_NEED_REAL_NCCL();
  auto body = [] {
    ScopedEnv unset("NCCLRT_NCCL_LIB", std::nullopt);
    auto lib = Library::open();
    // The loader may see another NCCL first (the GPU machine has a system 2.28.3 besides
    // PyTorch's): then what was found must be that file, loaded after its probe.
    const bool is_real = lib->path() == fs::canonical(ncclrt_test::real_nccl()).string();
    const bool ok = lib->found_by() == Source::kLoaderSearch &&
                    (!is_real || lib->version() == ncclrt_test::real_version()) &&
                    lib->probe_seconds().has_value();
    std::fprintf(stderr, "found by %s: %s\n", to_string(lib->found_by()), lib->path().c_str());
    std::exit(ok ? 0 : 1);
  };
  EXPECT_EXIT(body(), ::testing::ExitedWithCode(0), "found by the dynamic loader's search");
}

TEST_F(Discovery, AlreadyLoadedLibraryIsUsedWithoutProbing) {
  NCCLRT_NEED_REAL_NCCL();
  auto body = [] {
    // As when PyTorch has already loaded its NCCL.
    if (!::dlopen(ncclrt_test::real_nccl().c_str(), RTLD_NOW | RTLD_LOCAL)) std::exit(2);
    auto lib = Library::open(only(mask_of(Source::kAlreadyLoaded)));
    const bool ok = lib->found_by() == Source::kAlreadyLoaded &&
                    !lib->probe_seconds().has_value() &&
                    lib->version() == ncclrt_test::real_version();
    std::exit(ok ? 0 : 1);
  };
  EXPECT_EXIT(body(), ::testing::ExitedWithCode(0), "");
}

TEST(DiscoveryOrder, EnvironmentVariableIsUsed) {
  TempDir dir;
  const std::string file = place(dir.path(), "env/libnccl.so.2", FAKE_NCCL_OLD);
  ScopedEnv env("NCCLRT_NCCL_LIB", file);
  auto lib = Library::open();
  EXPECT_EQ(lib->found_by(), Source::kEnvironment);
  EXPECT_EQ(lib->path(), fs::canonical(file).string());
  EXPECT_EQ(lib->version(), (Version{2, 12, 3}));
}

TEST(DiscoveryOrder, PathInCodeComesBeforeEnvironment) {
  TempDir dir;
  const std::string in_code = place(dir.path(), "code/libnccl.so.2", FAKE_NCCL_OLD);
  ScopedEnv env("NCCLRT_NCCL_LIB", "/nonexistent/libnccl.so.2");
  auto lib = Library::open(in_code);
  EXPECT_EQ(lib->found_by(), Source::kPath);
  EXPECT_EQ(lib->path(), fs::canonical(in_code).string());
}

TEST(DiscoveryOrder, GarbageInEnvironmentIsAnErrorNotAFallback) {
  {
    ScopedEnv env("NCCLRT_NCCL_LIB", "/no/such/dir/libnccl.so.2");
    expect_error<LoadError>([] { (void)Library::open(); },
                            {"$NCCLRT_NCCL_LIB", "/no/such/dir/libnccl.so.2", "no such file"});
  }
  {
    ScopedEnv env("NCCLRT_NCCL_LIB", "%%garbage%%");
    expect_error<LoadError>([] { (void)Library::open(); },
                            {"$NCCLRT_NCCL_LIB", "%%garbage%%", "dynamic loader refused"});
  }
}

TEST(DiscoveryOrder, EmptyEnvironmentVariableIsIgnored) {
  TempDir dir;
  const std::string file = place(dir.path(), "cuda/lib64/libnccl.so.2", FAKE_NCCL_OLD);
  ScopedEnv env("NCCLRT_NCCL_LIB", "");
  ScopedEnv home("CUDA_HOME", (dir.path() / "cuda").string());
  auto lib = Library::open(only(Source::kEnvironment | Source::kCudaHome));
  EXPECT_EQ(lib->found_by(), Source::kCudaHome);
  ASSERT_GE(lib->search_log().size(), 2u);
  EXPECT_EQ(lib->search_log()[0].source, Source::kEnvironment);
  EXPECT_NE(lib->search_log()[0].outcome.find("set but empty"), std::string::npos);
}

TEST(DiscoveryOrder, VirtualEnvLayout) {
  TempDir dir;
  const std::string file = place(
      dir.path(), "venv/lib/python3.12/site-packages/nvidia/nccl/lib/libnccl.so.2", FAKE_NCCL_OLD);
  ScopedEnv venv("VIRTUAL_ENV", (dir.path() / "venv").string());
  ScopedEnv conda("CONDA_PREFIX", std::nullopt);
  auto lib = Library::open(only(mask_of(Source::kPython)));
  EXPECT_EQ(lib->found_by(), Source::kPython);
  EXPECT_EQ(lib->path(), fs::canonical(file).string());
}

TEST(DiscoveryOrder, CondaLayout) {
  TempDir dir;
  const std::string file = place(
      dir.path(), "conda/lib/python3.11/site-packages/nvidia/nccl/lib/libnccl.so.2", FAKE_NCCL_OLD);
  ScopedEnv venv("VIRTUAL_ENV", std::nullopt);
  ScopedEnv conda("CONDA_PREFIX", (dir.path() / "conda").string());
  auto lib = Library::open(only(mask_of(Source::kPython)));
  EXPECT_EQ(lib->path(), fs::canonical(file).string());
}

TEST(DiscoveryOrder, PythonOnPath) {
  TempDir dir;
  const std::string file = place(
      dir.path(), "py/lib/python3.12/site-packages/nvidia/nccl/lib/libnccl.so.2", FAKE_NCCL_OLD);
  place(dir.path(), "py/bin/python3", "/bin/true");
  ScopedEnv venv("VIRTUAL_ENV", std::nullopt);
  ScopedEnv conda("CONDA_PREFIX", std::nullopt);
  ScopedEnv path("PATH", (dir.path() / "py/bin").string());
  auto lib = Library::open(only(mask_of(Source::kPython)));
  EXPECT_EQ(lib->path(), fs::canonical(file).string());
  EXPECT_NE(lib->search_log().back().outcome.find("loaded"), std::string::npos);
}

TEST(DiscoveryOrder, CudaHomeComesBeforePythonAndDamagedFilesAreSkipped) {
  TempDir dir;
  const std::string cuda = place(dir.path(), "cuda/lib64/libnccl.so.2", FAKE_NCCL_OLD);
  const std::string py = place(
      dir.path(), "venv/lib/python3.12/site-packages/nvidia/nccl/lib/libnccl.so.2", FAKE_NCCL_OLD);
  ScopedEnv home("CUDA_HOME", (dir.path() / "cuda").string());
  ScopedEnv venv("VIRTUAL_ENV", (dir.path() / "venv").string());
  ScopedEnv conda("CONDA_PREFIX", std::nullopt);
  ScopedEnv path("PATH", "/nonexistent");
  const unsigned mask = Source::kCudaHome | Source::kPython;
  EXPECT_EQ(Library::open(only(mask))->path(), fs::canonical(cuda).string());

  // Damage the CUDA_HOME copy (a crashing initialiser): discovery notes why and goes on.
  fs::remove(cuda);
  fs::copy_file(FAKE_NCCL_CRASH, cuda);
  auto lib = Library::open(only(mask));
  EXPECT_EQ(lib->path(), fs::canonical(py).string());
  bool noted = false;
  for (const auto& s : lib->search_log()) {
    noted |= s.path == cuda && s.outcome.find("signal 11") != std::string::npos;
  }
  EXPECT_TRUE(noted);
}

TEST(DiscoveryOrder, NothingFoundListsEveryPlace) {
  ScopedEnv env("NCCLRT_NCCL_LIB", std::nullopt);
  ScopedEnv home("CUDA_HOME", "/nonexistent-cuda");
  ScopedEnv venv("VIRTUAL_ENV", "/nonexistent-venv");
  ScopedEnv conda("CONDA_PREFIX", std::nullopt);
  ScopedEnv path("PATH", "/nonexistent-bin");
  const std::string m = expect_error<LoadError>(
      [] { (void)Library::open(only(Source::kEnvironment | Source::kCudaHome | Source::kPython)); },
      {"no usable NCCL library found", "/nonexistent-cuda/lib64/libnccl.so.2",
       "/nonexistent-cuda/lib/libnccl.so.2",
       "/nonexistent-venv/lib -> $VIRTUAL_ENV: no python3.N/site-packages/nvidia/nccl/lib/"
       "libnccl.so.2 under it",
       "no such file", "NCCLRT_NCCL_LIB", "pip install nvidia-nccl"});
  // A place that holds nothing is named as a directory, never as an unexpanded pattern.
  EXPECT_EQ(m.find('*'), std::string::npos) << m;
}

namespace {

// An executable shell script at `dir/relative` that leaves `marker` behind when it runs.
void script(const fs::path& dir, const std::string& relative, const fs::path& marker) {
  const fs::path p = dir / relative;
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "#!/bin/sh\ntouch '" << marker.string() << "'\nexit 1\n";
  fs::permissions(p, fs::perms::owner_all);
}

}  // namespace

// Discovery reads Python environments from the file system: no interpreter (or a pyenv shim) is
// ever started, even when the python3 on PATH has no layout ncclrt knows.
TEST(DiscoveryOrder, NoPythonIsStarted) {
  TempDir dir;
  const fs::path ran = dir.path() / "python3-ran";
  script(dir.path(), "odd/bin/python3", ran);
  ScopedEnv env("NCCLRT_NCCL_LIB", std::nullopt);
  ScopedEnv venv("VIRTUAL_ENV", std::nullopt);
  ScopedEnv conda("CONDA_PREFIX", std::nullopt);
  ScopedEnv path("PATH", (dir.path() / "odd/bin").string());
  expect_error<LoadError>([] { (void)Library::open(only(mask_of(Source::kPython))); },
                          {"no usable NCCL library found", "python3 on PATH"});
  EXPECT_FALSE(fs::exists(ran)) << "discovery ran " << (dir.path() / "odd/bin/python3");
}

// pyenv's shims are scripts: the version they would run is read from pyenv's own files.
TEST(DiscoveryOrder, PyenvShimsLeadToTheVersionPyenvRuns) {
  TempDir dir;
  const fs::path root = dir.path() / "pyenv";
  const fs::path ran = dir.path() / "shim-ran";
  script(root, "shims/python3", ran);
  const std::string v12 =
      place(root, "versions/3.12.1/lib/python3.12/site-packages/nvidia/nccl/lib/libnccl.so.2",
            FAKE_NCCL_OLD);
  const std::string v11 =
      place(root, "versions/3.11.7/lib/python3.11/site-packages/nvidia/nccl/lib/libnccl.so.2",
            RECORDING_NCCL_22809);
  std::ofstream(root / "version") << "3.11.7\n";
  ScopedEnv venv("VIRTUAL_ENV", std::nullopt);
  ScopedEnv conda("CONDA_PREFIX", std::nullopt);
  ScopedEnv path("PATH", (root / "shims").string());
  {
    ScopedEnv pick("PYENV_VERSION", "3.12.1");  // pyenv shell 3.12.1
    auto lib = Library::open(only(mask_of(Source::kPython)));
    EXPECT_EQ(lib->path(), fs::canonical(v12).string());
    EXPECT_NE(lib->search_log().back().outcome.find("pyenv 3.12.1 from $PYENV_VERSION"),
              std::string::npos)
        << lib->search_log().back().outcome;
  }
  {
    ScopedEnv pick("PYENV_VERSION", std::nullopt);  // pyenv global: ROOT/version
    bool local = false;  // a .python-version above the test's directory wins, as for pyenv
    for (fs::path d = fs::current_path(); !local; d = d.parent_path()) {
      local = fs::exists(d / ".python-version");
      if (d == d.root_path()) break;
    }
    if (!local) {
      auto lib = Library::open(only(mask_of(Source::kPython)));
      EXPECT_EQ(lib->path(), fs::canonical(v11).string());
      EXPECT_EQ(lib->version(), (Version{2, 28, 9}));
    }
  }
  {
    ScopedEnv pick("PYENV_VERSION", "system");  // the next python3 on PATH: none here
    expect_error<LoadError>([] { (void)Library::open(only(mask_of(Source::kPython))); },
                            {"no usable NCCL library found"});
  }
  EXPECT_FALSE(fs::exists(ran)) << "discovery ran pyenv's shim";
}

// A Python host hands its sys.path over: its environment's NCCL comes right after the one already
// loaded, before the dynamic loader's search, as PyTorch's would.
TEST_F(Discovery, APythonHostsEnvironmentComesBeforeTheLoadersSearch) {
  auto body = [] {
    TempDir dir;
    const std::string file =
        place(dir.path(), "site-packages/nvidia/nccl/lib/libnccl.so.2", RECORDING_NCCL_22809);
    ScopedEnv unset("NCCLRT_NCCL_LIB", std::nullopt);
    set_python_environment(
        {(dir.path() / "elsewhere").string(), (dir.path() / "site-packages").string()});
    auto lib = Library::open();
    const auto& log = lib->search_log();
    const bool ok =
        lib->found_by() == Source::kPython && lib->path() == fs::canonical(file).string() &&
        std::none_of(log.begin(), log.end(),
                     [](const SearchStep& s) { return s.source == Source::kLoaderSearch; }) &&
        python_environment_nccl().size() == 1 && python_environment_nccl()[0].path == file;
    std::fprintf(stderr, "found by %s: %s\n", to_string(lib->found_by()), lib->path().c_str());
    std::exit(ok ? 0 : 1);
  };
  EXPECT_EXIT(body(), ::testing::ExitedWithCode(0), "found by the Python environment");
}

// The search stops at the first place that works: later places are not even worked out.
TEST_F(Discovery, LaterPlacesAreNotLookedAtOnceOneWorks) {
  NCCLRT_NEED_REAL_NCCL();
  auto body = [] {
    TempDir dir;
    const fs::path ran = dir.path() / "python3-ran";
    script(dir.path(), "bin/python3", ran);
    ScopedEnv unset("NCCLRT_NCCL_LIB", std::nullopt);
    ScopedEnv venv("VIRTUAL_ENV", (dir.path() / "venv").string());
    ScopedEnv path("PATH", (dir.path() / "bin").string());
    ScopedEnv home("CUDA_HOME", std::nullopt);
    LoadOptions o;
    o.sources = Source::kCudaHome | Source::kCudaDefault | Source::kPython;
    auto lib = Library::open(o);
    bool python = false;
    for (const auto& s : lib->search_log()) python |= s.source == Source::kPython;
    std::exit(lib->found_by() == Source::kCudaDefault && !python && !fs::exists(ran) ? 0 : 1);
  };
  if (!fs::exists("/usr/local/cuda/lib64/libnccl.so.2") &&
      !fs::exists("/usr/local/cuda/lib/libnccl.so.2")) {
    GTEST_SKIP() << "no NCCL in /usr/local/cuda/lib64 or lib";
  }
  EXPECT_EXIT(body(), ::testing::ExitedWithCode(0), "");
}
