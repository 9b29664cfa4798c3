#include "gpu_support.hpp"

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sstream>

#include "barrier.hpp"
#include "collectives.hpp"

namespace gpu_test {

using ncclrt::Communicator;
using ncclrt::DataType;
using ncclrt::PreMulSum;
using ncclrt::ReduceOp;
using ncclrt_tool::Collective;

namespace {

constexpr double kSentinel = 111;  // fits every type; marks elements nothing may write

using Expected = std::optional<double>;

double tri(int n) { return n * (n - 1) / 2.0; }
std::size_t plain_send(std::size_t count, int) { return count; }
std::size_t times_n(std::size_t count, int n) { return count * static_cast<std::size_t>(n); }
std::size_t at_rank(std::size_t count, int r) { return count * static_cast<std::size_t>(r); }

OpCase make(std::string name, decltype(OpCase::send_elems) send, decltype(OpCase::recv_elems) recv,
            decltype(OpCase::input) input, decltype(OpCase::expected) expected,
            decltype(OpCase::issue) issue) {
  OpCase c;
  c.name = std::move(name);
  c.send_elems = std::move(send);
  c.recv_elems = std::move(recv);
  c.send_offset = zero;
  c.recv_offset = zero;
  c.input = std::move(input);
  c.expected = std::move(expected);
  c.issue = std::move(issue);
  return c;
}

OpCase in_place(OpCase c, decltype(OpCase::send_offset) send_off,
                decltype(OpCase::recv_offset) recv_off) {
  c.name += "_in_place";
  c.in_place = true;
  c.send_offset = std::move(send_off);
  c.recv_offset = std::move(recv_off);
  return c;
}

OpCase all_reduce(const std::string& name, ReduceOp op, decltype(OpCase::input) input,
                  decltype(OpCase::expected) expected) {
  return make("all_reduce_" + name, plain_send, plain_send, std::move(input), std::move(expected),
              [op](const Communicator& c, const void* s, void* r, std::size_t n, DataType t,
                   cudaStream_t st,
                   const PreMulSum* pm) { c.all_reduce(s, r, n, t, pm ? pm->op() : op, st); });
}

// An operation of the shared table (collectives.hpp) with a reduce op and a root fixed.
OpCase from_table(const char* op, const std::string& name, ReduceOp rop, bool last_root) {
  const Collective& t = *ncclrt_tool::find_collective(op);
  auto root_of = [last_root](int n) { return last_root ? n - 1 : 0; };
  OpCase c = make(
      name, [&t](std::size_t count, int n) { return t.send_elems(count, n); },
      [&t](std::size_t count, int n) { return t.recv_elems(count, n); },
      [&t, rop](int r, int n, std::size_t j, std::size_t count, int it) {
        return t.input(rop, r, n, j, count, it);
      },
      [&t, rop, root_of](int r, int n, std::size_t j, std::size_t count, int it) -> Expected {
        return t.expected(rop, r, n, root_of(n), j, count, it);
      },
      [&t, rop, root_of](const Communicator& comm, const void* s, void* r, std::size_t n,
                         DataType type, cudaStream_t st, const PreMulSum* pm) {
        t.issue(comm, s, r, n, type, pm ? pm->op() : rop, root_of(comm.size()), st);
      });
  return c;
}

OpCase in_place_of(const char* op, OpCase c) {
  const Collective& t = *ncclrt_tool::find_collective(op);
  return in_place(std::move(c), t.send_at_rank ? at_rank : zero, t.recv_at_rank ? at_rank : zero);
}

}  // namespace

std::vector<OpCase> all_op_cases() {
  std::vector<OpCase> v;
  auto sum_in = [](int r, int, std::size_t j, std::size_t, int it) { return base(j, it) + r; };
  // The operations of `ncclrt bench`, from the same table; every reduce op on all_reduce.
  v.push_back(from_table("all_reduce", "all_reduce_sum", ReduceOp::kSum, false));
  v.push_back(in_place_of("all_reduce", v.back()));
  v.push_back(from_table("all_reduce", "all_reduce_prod", ReduceOp::kProd, false));
  v.push_back(from_table("all_reduce", "all_reduce_max", ReduceOp::kMax, false));
  v.push_back(from_table("all_reduce", "all_reduce_min", ReduceOp::kMin, false));
  v.push_back(from_table("all_reduce", "all_reduce_avg", ReduceOp::kAvg, false));
  // PreMulSum with scalar 2: run_case makes the op on each rank.
  v.push_back(all_reduce("premulsum", ReduceOp::kSum, sum_in,
                         [](int, int n, std::size_t j, std::size_t, int it) -> Expected {
                           return 2 * (n * base(j, it) + tri(n));
                         }));
  v.push_back(from_table("broadcast", "broadcast", ReduceOp::kSum, false));
  v.push_back(from_table("broadcast", "broadcast_last_root", ReduceOp::kSum, true));
  v.push_back(in_place_of("broadcast", v[v.size() - 2]));
  v.push_back(from_table("reduce", "reduce", ReduceOp::kSum, true));
  v.push_back(in_place_of("reduce", v.back()));
  v.push_back(from_table("all_gather", "all_gather", ReduceOp::kSum, false));
  v.push_back(in_place_of("all_gather", v.back()));
  v.push_back(from_table("reduce_scatter", "reduce_scatter", ReduceOp::kSum, false));
  v.push_back(in_place_of("reduce_scatter", v.back()));
  v.push_back(from_table("all_to_all", "all_to_all", ReduceOp::kSum, false));
  v.push_back(from_table("gather", "gather", ReduceOp::kSum, false));
  v.push_back(from_table("gather", "gather_last_root", ReduceOp::kSum, true));
  v.push_back(from_table("scatter", "scatter", ReduceOp::kSum, false));
  v.push_back(from_table("scatter", "scatter_last_root", ReduceOp::kSum, true));
  // Blocks of `count` with a one-element gap after each: the gaps must keep the sentinel.
  v.push_back(make(
      "all_gatherv", plain_send,
      [](std::size_t count, int n) { return (count + 1) * static_cast<std::size_t>(n); }, sum_in,
      [](int, int, std::size_t j, std::size_t count, int it) -> Expected {
        const std::size_t q = j / (count + 1), i = j % (count + 1);
        if (i == count) return kSentinel;
        return base(i, it) + static_cast<double>(q);
      },
      [](const Communicator& c, const void* s, void* r, std::size_t n, DataType t, cudaStream_t st,
         const PreMulSum*) {
        std::vector<std::size_t> counts(static_cast<std::size_t>(c.size()), n), displs;
        for (int q = 0; q < c.size(); ++q) displs.push_back(static_cast<std::size_t>(q) * (n + 1));
        c.all_gatherv(s, n, r, counts, displs, t, st);
      }));
  v.push_back(make(
      "reduce_scatterv", times_n, plain_send, sum_in,
      [](int r, int n, std::size_t i, std::size_t count, int it) -> Expected {
        return n * base(static_cast<std::size_t>(r) * count + i, it) + tri(n);
      },
      [](const Communicator& c, const void* s, void* r, std::size_t n, DataType t, cudaStream_t st,
         const PreMulSum*) {
        std::vector<std::size_t> counts(static_cast<std::size_t>(c.size()), n), displs;
        for (int q = 0; q < c.size(); ++q) displs.push_back(static_cast<std::size_t>(q) * n);
        c.reduce_scatterv(s, r, counts, displs, t, ReduceOp::kSum, st);
      }));
  // Uneven counts: every third rank (1, 4, 7) sends nothing, the others count + rank; a gap of
  // one element after each block keeps the sentinel.
  auto uneven = [](int q, std::size_t count) {
    return q % 3 == 1 ? std::size_t{0} : count + static_cast<std::size_t>(q);
  };
  auto layout = [uneven](int n, std::size_t count) {
    std::vector<std::size_t> counts, displs;
    std::size_t at = 0;
    for (int q = 0; q < n; ++q) {
      counts.push_back(uneven(q, count));
      displs.push_back(at);
      at += counts.back() + 1;
    }
    return std::make_pair(counts, displs);
  };
  auto span = [layout](std::size_t count, int n) {
    auto [counts, displs] = layout(n, count);
    return displs.back() + counts.back() + 1;
  };
  auto widest = [](std::size_t count, int n) { return count + static_cast<std::size_t>(n); };
  v.push_back(make(
      "all_gatherv_uneven", widest, span, sum_in,
      [layout](int, int n, std::size_t j, std::size_t count, int it) -> Expected {
        auto [counts, displs] = layout(n, count);
        int q = n - 1;
        while (displs[static_cast<std::size_t>(q)] > j) --q;
        const std::size_t i = j - displs[static_cast<std::size_t>(q)];
        if (i >= counts[static_cast<std::size_t>(q)]) return kSentinel;
        return base(i, it) + q;
      },
      [layout](const Communicator& c, const void* s, void* r, std::size_t n, DataType t,
               cudaStream_t st, const PreMulSum*) {
        auto [counts, displs] = layout(c.size(), n);
        c.all_gatherv(s, counts[static_cast<std::size_t>(c.rank())], r, counts, displs, t, st);
      }));
  v.push_back(make(
      "reduce_scatterv_uneven", span, widest, sum_in,
      [layout](int r, int n, std::size_t i, std::size_t count, int it) -> Expected {
        auto [counts, displs] = layout(n, count);
        if (i >= counts[static_cast<std::size_t>(r)]) return kSentinel;  // past its block
        return n * base(displs[static_cast<std::size_t>(r)] + i, it) + tri(n);
      },
      [layout](const Communicator& c, const void* s, void* r, std::size_t n, DataType t,
               cudaStream_t st, const PreMulSum*) {
        auto [counts, displs] = layout(c.size(), n);
        c.reduce_scatterv(s, r, counts, displs, t, ReduceOp::kSum, st);
      }));
  v.push_back(from_table("send_recv", "send_recv_ring", ReduceOp::kSum, false));
  return v;
}

namespace {

// Several ranks of one process may share a GPU (NCCL >= 2.30.3): then one rank's cudaMalloc or
// cudaFree, which wait for the whole device, would wait for another rank's collective that waits
// for this rank. So every rank sets up before any issues work, and frees only after all finished.
using ncclrt_tool::Barrier;

std::string check_rank(const OpCase& c, const Communicator& comm, DataType type, std::size_t count,
                       bool graph, Barrier& barrier) {
  const int r = comm.rank(), n = comm.size();
  const std::size_t elem = ncclrt::size_of(type);
  const std::size_t send_n = c.send_elems(count, n), recv_n = c.recv_elems(count, n);
  const std::size_t send_off = c.send_offset(count, r), recv_off = c.recv_offset(count, r);
  const std::size_t total =
      c.in_place ? std::max(send_off + send_n, recv_off + recv_n) : send_n + recv_n;
  cudaSetDevice(comm.device());
  DeviceBuffer buf(total * elem);
  cudaStream_t stream = nullptr;
  const bool ready =
      buf.ptr && cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess;
  barrier.wait();  // every rank's memory and stream exist before any collective starts
  struct AtEnd {   // ... and none is freed before every rank's collectives are done
    Barrier& b;
    cudaStream_t s;
    ~AtEnd() {
      b.wait();
      if (s) cudaStreamDestroy(s);
    }
  } at_end{barrier, stream};
  if (!ready) return buf.ptr ? "cudaStreamCreate failed" : "cudaMalloc failed";
  char* send = buf.as<char>(c.in_place ? send_off : 0, elem);
  char* recv = buf.as<char>(c.in_place ? recv_off : send_n, elem);
  std::optional<PreMulSum> premul;
  if (c.name == "all_reduce_premulsum") {
    std::vector<char> scalar(elem);
    store_value(type, 2.0, scalar.data());
    premul = comm.create_pre_mul_sum(scalar.data(), type, ncclrt::ScalarResidence::kHostImmediate);
  }
  std::vector<char> host(total * elem);
  auto upload = [&](int iter) {
    for (std::size_t j = 0; j < total; ++j) store_value(type, kSentinel, &host[j * elem]);
    char* host_send = host.data() + (c.in_place ? send_off : 0) * elem;
    for (std::size_t j = 0; j < send_n; ++j)
      store_value(type, c.input(r, n, j, count, iter), host_send + j * elem);
    // On the test's stream and waited for: a pageable cudaMemcpy may return before its DMA lands,
    // and the non-blocking stream does not order after it.
    cudaError_t e =
        cudaMemcpyAsync(buf.ptr, host.data(), total * elem, cudaMemcpyHostToDevice, stream);
    return e == cudaSuccess ? cudaStreamSynchronize(stream) : e;
  };
  std::ostringstream err;
  auto verify = [&](int iter) {
    std::vector<char> out(recv_n * elem);
    if (cudaMemcpyAsync(out.data(), recv, recv_n * elem, cudaMemcpyDeviceToHost, stream) !=
            cudaSuccess ||
        cudaStreamSynchronize(stream) != cudaSuccess) {
      err << "readback failed";
      return false;
    }
    for (std::size_t j = 0; j < recv_n; ++j) {
      const auto want = c.expected(r, n, j, count, iter);
      if (!want) continue;
      const double got = load_value(type, &out[j * elem]);
      if (got != *want) {
        err << c.name << " " << ncclrt::to_string(type) << " count " << count
            << (graph ? " graph" : " eager") << " iter " << iter << ": rank " << r << " of " << n
            << " element " << j << " is " << got << ", expected " << *want;
        return false;
      }
    }
    return true;
  };
  try {
    const PreMulSum* pm = premul ? &*premul : nullptr;
    if (!graph) {
      for (int iter = 0; iter < 2; ++iter) {
        if (upload(iter) != cudaSuccess) return "upload failed";
        c.issue(comm, send, recv, count, type, stream, pm);
        if (cudaStreamSynchronize(stream) != cudaSuccess) return "stream sync failed";
        if (!verify(iter)) break;
      }
    } else {
      if (upload(0) != cudaSuccess) return "upload failed";
      cudaGraph_t g;
      cudaGraphExec_t exec;
      if (cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        return "begin capture failed";
      }
      c.issue(comm, send, recv, count, type, stream, pm);
      if (cudaStreamEndCapture(stream, &g) != cudaSuccess) return "end capture failed";
      if (cudaGraphInstantiate(&exec, g, 0) != cudaSuccess) return "instantiate failed";
      for (int iter = 0; iter < 3; ++iter) {  // new input each replay
        if (upload(iter) != cudaSuccess) return "upload failed";
        if (cudaGraphLaunch(exec, stream) != cudaSuccess) return "graph launch failed";
        if (cudaStreamSynchronize(stream) != cudaSuccess) return "stream sync failed";
        if (!verify(iter)) break;
      }
      cudaGraphExecDestroy(exec);
      cudaGraphDestroy(g);
    }
  } catch (const std::exception& e) {
    err << c.name << " threw: " << e.what();
  }
  return err.str();
}

}  // namespace

std::string run_case(const OpCase& c, std::vector<Communicator>& comms, DataType type,
                     std::size_t count, bool graph) {
  // NCCLRT_TEST_TRACE=1 names each case before it runs, so a hang can be located.
  static const bool trace = std::getenv("NCCLRT_TEST_TRACE") != nullptr;
  if (trace) {
    std::fprintf(stderr, "[case] %s %s count %zu %s, %zu ranks\n", c.name.c_str(),
                 ncclrt::to_string(type), count, graph ? "graph" : "eager", comms.size());
  }
  std::vector<std::string> errors(comms.size());
  Barrier barrier(static_cast<int>(comms.size()));
  on_each_rank(static_cast<int>(comms.size()), [&](int r) {
    errors[static_cast<std::size_t>(r)] =
        check_rank(c, comms[static_cast<std::size_t>(r)], type, count, graph, barrier);
  });
  for (auto& e : errors) {
    if (!e.empty()) return e;
  }
  return {};
}

}  // namespace gpu_test
