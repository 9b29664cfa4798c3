// Where a benchmark's iteration puts its buffers (ncclrt bench; tested without a GPU).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace ncclrt_tool {

struct Shift {
  std::size_t send = 0;
  std::size_t recv = 0;
};

// As nccl-tests' startColl does: iteration `iter` works on buffers shifted by `iter % steps` whole
// message sizes, where `steps` is how many messages fit in the allocation made for the largest
// size, so that sizes below the L2 cache are not timed from the cache. A shifted message never
// runs past its allocation; a size of 0 (a rank that sends nothing) does not limit the steps.
inline Shift rotation(std::size_t send_alloc, std::size_t recv_alloc, std::size_t send_size,
                      std::size_t recv_size, int iter) {
  std::size_t steps = SIZE_MAX;
  if (send_size != 0) steps = std::min(steps, send_alloc / send_size);
  if (recv_size != 0) steps = std::min(steps, recv_alloc / recv_size);
  if (steps == SIZE_MAX || steps == 0) steps = 1;
  const std::size_t step = static_cast<std::size_t>(iter < 0 ? 0 : iter) % steps;
  return {step * send_size, step * recv_size};
}

}  // namespace ncclrt_tool
