// The recording stand-in (tests/stand_ins/recording_nccl.c) seen from a test: its counters and
// the record of every call that reached it.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <ncclrt/ncclrt.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace ncclrt_test::recording {

using namespace ncclrt;

// A recording stand-in and its counters.
struct Fake {
  explicit Fake(const char* path) : Fake(options(path)) {}
  explicit Fake(const LoadOptions& o) : lib(Library::open(o)) {
    void* h = ::dlopen(o.path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    EXPECT_NE(h, nullptr);
    calls_ = reinterpret_cast<int (*)()>(::dlsym(h, "fake_calls"));
    live_ = reinterpret_cast<int (*)()>(::dlsym(h, "fake_live_comms"));
    config_size_ = reinterpret_cast<std::size_t (*)()>(::dlsym(h, "fake_config_size"));
    config_version_ = reinterpret_cast<unsigned (*)()>(::dlsym(h, "fake_config_version"));
    config_blocking_ = reinterpret_cast<int (*)()>(::dlsym(h, "fake_config_blocking"));
  }
  int calls() const { return calls_(); }
  int live() const { return live_(); }
  std::size_t config_size() const { return config_size_(); }
  unsigned config_version() const { return config_version_(); }
  int config_blocking() const { return config_blocking_(); }
  Communicator comm(int nranks = 4, int rank = 2, const Config& c = {}) const {
    return Communicator::init_rank(lib, nranks, rank, lib->unique_id(), c);
  }

  std::shared_ptr<const Library> lib;

 private:
  static LoadOptions options(const char* path) {
    LoadOptions o;
    o.path = path;
    return o;
  }
  int (*calls_)() = nullptr;
  int (*live_)() = nullptr;
  std::size_t (*config_size_)() = nullptr;
  unsigned (*config_version_)() = nullptr;
  int (*config_blocking_)() = nullptr;
};

// Fake device pointers: the stand-in never dereferences them.
inline float* dev(std::uintptr_t n = 0x1000) { return reinterpret_cast<float*>(n); }

// Runs `fn`, which must throw E with `words` and leave the call count unchanged.
template <class E>
inline void rejected(const Fake& f, const std::function<void()>& fn,
                     std::initializer_list<const char*> words) {
  const int before = f.calls();
  expect_error<E>(fn, words);
  EXPECT_EQ(f.calls(), before) << "a rejected call reached NCCL";
}

// One operation as the recording stand-in saw it (tests/stand_ins/recording_nccl.c).
struct Record {
  char fn[32];
  const void* send;
  void* recv;
  std::size_t count;
  int type;
  int op;
  int root;
  void* comm;
  void* stream;
  long long extra[6];  // per function: see the stand-in
};

inline std::vector<Record> records_of(const char* path, const std::function<void()>& body) {
  void* h = ::dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  auto clear = reinterpret_cast<void (*)()>(::dlsym(h, "fake_clear_records"));
  auto count = reinterpret_cast<int (*)()>(::dlsym(h, "fake_records"));
  auto at = reinterpret_cast<const Record* (*)(int)>(::dlsym(h, "fake_record"));
  clear();
  body();
  std::vector<Record> out;
  for (int i = 0; i < count(); ++i) out.push_back(*at(i));
  return out;
}

inline std::string str(const Record& r) {
  std::ostringstream s;
  s << r.fn << "(" << r.send << ", " << r.recv << ", " << r.count << ", type " << r.type << ", op "
    << r.op << ", root " << r.root << ", stream " << r.stream << ")";
  return s.str();
}

}  // namespace ncclrt_test::recording
