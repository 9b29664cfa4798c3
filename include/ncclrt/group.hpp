// A group of NCCL calls issued together.
#pragma once

#include "ncclrt/detail/export.hpp"
#include "ncclrt/library.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

/// A group of NCCL calls (ncclGroupStart / ncclGroupEnd), ended when the guard goes. Call end()
/// to see an error: the destructor cannot throw and only logs it.
class Group {
 public:
  explicit Group(const Library& lib);
  Group(const Group&) = delete;  // exactly one ncclGroupEnd per start
  Group& operator=(const Group&) = delete;
  ~Group();
  void end();

 private:
  const Library* lib_;
  bool open_ = true;
};

}  // namespace ncclrt
NCCLRT_EXPORT_END
