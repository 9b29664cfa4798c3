// What one call of `ncclrt bench` works on, as nccl-tests 2.19.6 decides it (tested without a
// GPU): the count passed to NCCL for a row's size, and where call i's buffers start.
#pragma once

#include <cstddef>

namespace ncclrt_tool {

// The count each rank passes to NCCL for a row of `size` bytes of `elem`-byte elements, as
// nccl-tests' *GetCollByteCount: the whole count, or for an operation whose size is split across
// the `n` ranks (all_gather, reduce_scatter, all_to_all, gather, scatter) the count per rank
// rounded down to a multiple of 16 bytes (0 at sizes too small for that: the row is skipped).
inline std::size_t count_for(std::size_t size, std::size_t elem, int n, bool divided) {
  const std::size_t count = size / elem;
  if (!divided) return count;
  const std::size_t per_rank = count / static_cast<std::size_t>(n < 1 ? 1 : n);
  const std::size_t align = elem < 16 ? 16 / elem : 1;  // elements in 16 bytes
  return per_rank / align * align;
}

// As nccl-tests' startColl: call `iter` shifts both its buffers by the same offset, a whole
// number of the larger side's bytes (`send_bytes` or `recv_bytes`), cycling through as many
// places as fit in `max_bytes` (-e, which both buffers are allocated with), so that sizes below
// the GPU's L2 cache are not timed from the cache.
inline std::size_t rotation(std::size_t max_bytes, std::size_t send_bytes, std::size_t recv_bytes,
                            int iter) {
  const std::size_t total = send_bytes > recv_bytes ? send_bytes : recv_bytes;
  if (total == 0) return 0;
  std::size_t steps = max_bytes / total;
  if (steps == 0) steps = 1;
  return total * (static_cast<std::size_t>(iter < 0 ? 0 : iter) % steps);
}

}  // namespace ncclrt_tool
