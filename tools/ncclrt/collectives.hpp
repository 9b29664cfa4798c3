// The operations `ncclrt bench` measures and the GPU tests check, as one table (like nccl-tests'
// per-collective table): what each moves, its bus-bandwidth factor, how to issue it through
// ncclrt and through NCCL's raw pointer, and what each rank puts in and must get out.
#pragma once

#include <cstddef>
#include <ncclrt/ncclrt.hpp>
#include <optional>
#include <string_view>
#include <vector>

namespace ncclrt_tool {

/// The small exact values every check uses: element j, replay `it`.
inline double base_value(std::size_t j, int it = 0) {
  return static_cast<double>((j + static_cast<std::size_t>(it)) % 7) + 1;
}

struct Collective {
  const char* name;
  double (*bus_factor)(int n);      // busbw = algbw * factor (nccl-tests' definitions)
  bool divided;                     // a bench row's size is split across ranks
  bool in_place;                    // NCCL has an in-place form
  bool reduces;                     // takes a reduce op
  bool rooted;                      // takes a root
  bool send_times_n, recv_times_n;  // buffer of count x n (else count) elements
  bool send_at_rank, recv_at_rank;  // in place: starts at count x rank of the one buffer
  // One call on `c` through ncclrt.
  void (*issue)(const ncclrt::Communicator& c, const void* send, void* recv, std::size_t count,
                ncclrt::DataType t, ncclrt::ReduceOp op, int root, CUstream_st* stream);
  // The same through NCCL's function pointer, for --direct; null where there is no one call.
  ncclrt::abi::ncclResult_t (*issue_direct)(const ncclrt::Communicator& c, const void* send,
                                            void* recv, std::size_t count, ncclrt::DataType t,
                                            ncclrt::ReduceOp op, int root, CUstream_st* stream);
  // Input element j of rank r of n, and the expected output element (nullopt: not checked).
  double (*input)(ncclrt::ReduceOp op, int r, int n, std::size_t j, std::size_t count, int it);
  std::optional<double> (*expected)(ncclrt::ReduceOp op, int r, int n, int root, std::size_t j,
                                    std::size_t count, int it);

  std::size_t send_elems(std::size_t count, int n) const {
    return send_times_n ? count * static_cast<std::size_t>(n) : count;
  }
  std::size_t recv_elems(std::size_t count, int n) const {
    return recv_times_n ? count * static_cast<std::size_t>(n) : count;
  }
};

namespace detail_collectives {

using ncclrt::Communicator;
using ncclrt::DataType;
using ncclrt::ReduceOp;
using Raw = ncclrt::abi::ncclResult_t;
using Out = std::optional<double>;

inline double ring(int n) { return n > 1 ? double(n - 1) / n : 0.0; }
inline double one(int) { return 1.0; }
inline double twice_ring(int n) { return 2 * ring(n); }

// Inputs chosen so that every reduce op has an exact result.
inline double reduce_input(ReduceOp op, int r, int n, std::size_t j, std::size_t, int it) {
  if (op == ReduceOp::kProd) return r == 0 ? base_value(j, it) : 1.0;
  if (op == ReduceOp::kAvg) return r == 0 ? n * base_value(j, it) : 0.0;
  return base_value(j, it) + r;
}
inline double reduced(ReduceOp op, int n, std::size_t j, int it) {
  switch (op) {
    case ReduceOp::kSum:
      return n * base_value(j, it) + n * (n - 1) / 2.0;
    case ReduceOp::kMax:
      return base_value(j, it) + n - 1;
    default:  // min, prod and avg inputs are built so that the result is the base value
      return base_value(j, it);
  }
}
inline double plain_input(ReduceOp, int r, int, std::size_t j, std::size_t, int it) {
  return base_value(j, it) + r;
}
inline double blocks_input(ReduceOp, int, int, std::size_t j, std::size_t count, int it) {
  return base_value(j % count, it) + double(j / count);
}
inline double gathered(std::size_t j, std::size_t count, int it) {
  return base_value(j % count, it) + double(j / count);
}
inline auto t(DataType d) { return static_cast<ncclrt::abi::ncclDataType_t>(d); }
inline auto o(ReduceOp r) { return static_cast<ncclrt::abi::ncclRedOp_t>(r); }

}  // namespace detail_collectives

/// Every operation `ncclrt bench` takes, in its order.
inline const std::vector<Collective>& collectives() {
  using namespace detail_collectives;
  static const std::vector<Collective> table = {
      {"all_reduce", twice_ring, false, true, true, false, false, false, false, false,
       [](const Communicator& c, const void* s, void* r, std::size_t n, DataType d, ReduceOp op,
          int, CUstream_st* st) { c.all_reduce(s, r, n, d, op, st); },
       [](const Communicator& c, const void* s, void* r, std::size_t n, DataType d, ReduceOp op,
          int, CUstream_st* st) -> Raw {
         return c.library()->raw().ncclAllReduce(s, r, n, t(d), o(op), c.native(), st);
       },
       reduce_input,
       [](ReduceOp op, int, int n, int, std::size_t j, std::size_t, int it) -> Out {
         return reduced(op, n, j, it);
       }},
      {"broadcast", one, false, true, false, true, false, false, false, false,
       [](const Communicator& c, const void* s, void* r, std::size_t n, DataType d, ReduceOp,
          int root, CUstream_st* st) { c.broadcast(s, r, n, d, root, st); },
       [](const Communicator& c, const void* s, void* r, std::size_t n, DataType d, ReduceOp,
          int root, CUstream_st* st) -> Raw {
         return c.library()->raw().ncclBroadcast(s, r, n, t(d), root, c.native(), st);
       },
       plain_input,
       [](ReduceOp, int, int, int root, std::size_t j, std::size_t, int it) -> Out {
         return base_value(j, it) + root;
       }},
      {"reduce", one, false, true, true, true, false, false, false, false,
       [](const Communicator& c, const void* s, void* r, std::size_t n, DataType d, ReduceOp op,
          int root, CUstream_st* st) { c.reduce(s, r, n, d, op, root, st); },
       [](const Communicator& c, const void* s, void* r, std::size_t n, DataType d, ReduceOp op,
          int root, CUstream_st* st) -> Raw {
         return c.library()->raw().ncclReduce(s, r, n, t(d), o(op), root, c.native(), st);
       },
       reduce_input,
       [](ReduceOp op, int r, int n, int root, std::size_t j, std::size_t, int it) -> Out {
         if (r != root) return std::nullopt;
         return reduced(op, n, j, it);
       }},
      {"all_gather", ring, true, true, false, false, false, true, true, false,
       [](const Communicator& c, const void* s, void* r, std::size_t n, DataType d, ReduceOp, int,
          CUstream_st* st) { c.all_gather(s, r, n, d, st); },
       [](const Communicator& c, const void* s, void* r, std::size_t n, DataType d, ReduceOp, int,
          CUstream_st* st) -> Raw {
         return c.library()->raw().ncclAllGather(s, r, n, t(d), c.native(), st);
       },
       plain_input,
       [](ReduceOp, int, int, int, std::size_t j, std::size_t count, int it) -> Out {
         return gathered(j, count, it);
       }},
      {"reduce_scatter", ring, true, true, true, false, true, false, false, true,
       [](const Communicator& c, const void* s, void* r, std::size_t n, DataType d, ReduceOp op,
          int, CUstream_st* st) { c.reduce_scatter(s, r, n, d, op, st); },
       [](const Communicator& c, const void* s, void* r, std::size_t n, DataType d, ReduceOp op,
          int, CUstream_st* st) -> Raw {
         return c.library()->raw().ncclReduceScatter(s, r, n, t(d), o(op), c.native(), st);
       },
       reduce_input,
       [](ReduceOp op, int r, int n, int, std::size_t j, std::size_t count, int it) -> Out {
         return reduced(op, n, static_cast<std::size_t>(r) * count + j, it);
       }},
      {"all_to_all", ring, true, false, false, false, true, true, false, false,
       [](const Communicator& c, const void* s, void* r, std::size_t n, DataType d, ReduceOp, int,
          CUstream_st* st) { c.all_to_all(s, r, n, d, st); },
       [](const Communicator& c, const void* s, void* r, std::size_t n, DataType d, ReduceOp, int,
          CUstream_st* st) -> Raw {
         const auto& fn = c.library()->raw();
         if (!fn.ncclAlltoAll) return ncclrt::abi::ncclInvalidUsage;
         return fn.ncclAlltoAll(s, r, n, t(d), c.native(), st);
       },
       [](ReduceOp, int r, int, std::size_t j, std::size_t count, int it) {
         return base_value(j % count, it) + r + 2.0 * double(j / count);
       },
       [](ReduceOp, int r, int, int, std::size_t j, std::size_t count, int it) -> Out {
         return gathered(j, count, it) + 2.0 * r;
       }},
      {"gather", ring, true, false, false, true, false, true, false, false,
       [](const Communicator& c, const void* s, void* r, std::size_t n, DataType d, ReduceOp,
          int root, CUstream_st* st) { c.gather(s, r, n, d, root, st); },
       nullptr, plain_input,
       [](ReduceOp, int r, int, int root, std::size_t j, std::size_t count, int it) -> Out {
         if (r != root) return std::nullopt;
         return gathered(j, count, it);
       }},
      {"scatter", ring, true, false, false, true, true, false, false, false,
       [](const Communicator& c, const void* s, void* r, std::size_t n, DataType d, ReduceOp,
          int root, CUstream_st* st) { c.scatter(s, r, n, d, root, st); },
       nullptr, blocks_input,
       [](ReduceOp, int r, int, int, std::size_t j, std::size_t, int it) -> Out {
         return base_value(j, it) + r;
       }},
      {"send_recv", one, false, false, false, false, false, false, false, false,
       [](const Communicator& c, const void* s, void* r, std::size_t n, DataType d, ReduceOp, int,
          CUstream_st* st) {
         ncclrt::Group g(*c.library());
         c.send(s, n, d, (c.rank() + 1) % c.size(), st);
         c.recv(r, n, d, (c.rank() - 1 + c.size()) % c.size(), st);
         g.end();
       },
       nullptr, plain_input,
       [](ReduceOp, int r, int n, int, std::size_t j, std::size_t, int it) -> Out {
         return base_value(j, it) + (r - 1 + n) % n;  // the ring: from the previous rank
       }},
  };
  return table;
}

/// The table's entry for `name`, or null.
inline const Collective* find_collective(std::string_view name) {
  for (const auto& c : collectives()) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

}  // namespace ncclrt_tool
