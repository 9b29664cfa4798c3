// Every operation of a Communicator: read all arguments (nothing is enqueued before they are all
// good), release the GIL, make the one C++ call.
#include <nanobind/stl/string.h>

#include <limits>
#include <vector>

#include "fastcall.hpp"
#include "operands.hpp"
#include "pyutil.hpp"

namespace ncclrt::py {

void usage(const char* op, const char* a, const char* b, const char* c, const char* d) {
  throw UsageError(std::string(op) + ": " + a + b + c + d);
}

void bad_pointer(const char* op, const char* role, PyObject* obj) {
  throw UsageError(std::string(op) + ": the " + role + " pointer " + text_of(obj) +
                   " is not a valid address");
}

void wrong_device(const char* op, const char* role, int device, int comm_device) {
  throw UsageError(std::string(op) + ": the " + role + " array is on GPU " +
                   std::to_string(device) + " but the communicator is on GPU " +
                   std::to_string(comm_device));
}

void mixed_types(const char* op, const char* role, DataType got, DataType first) {
  throw UsageError(std::string(op) + ": the " + role + " array holds " + to_string(got) +
                   " but the first buffer holds " + to_string(first) +
                   "; NCCL needs one type for both");
}

namespace {

PyObject* g_sum = nullptr;  // ReduceOp.SUM, op='s default

ReduceOp read_op(nb::handle op, const char* name) {
  if (op.ptr() == g_sum) return ReduceOp::kSum;
  if (is_int(op.ptr())) {
    const long v = PyLong_AsLong(op.ptr());
    if (v >= 0 && v <= std::numeric_limits<int>::max()) return static_cast<ReduceOp>(v);
    PyErr_Clear();
  } else if (nb::isinstance<PreMulSum>(op)) {
    return nb::cast<const PreMulSum&>(op).op();
  } else if (PyUnicode_Check(op.ptr())) {  // "sum", as `ncclrt bench -o sum`
    if (auto named = reduce_op_named(nb::cast<std::string>(op))) return *named;
  }
  throw UsageError(std::string(name) +
                   ": op must be an ncclrt.ReduceOp, its name ('sum', 'prod', 'max', 'min', "
                   "'avg') or a PreMulSum; got " +
                   nb::cast<std::string>(nb::repr(op)));
}

std::vector<std::size_t> read_counts(nb::handle v, const char* op, const char* what) {
  std::vector<std::size_t> out;
  try {
    for (nb::handle x : v) {
      const long long c = nb::cast<long long>(x);
      if (c < 0) throw UsageError(std::string(op) + ": " + what + " has a negative entry");
      out.push_back(static_cast<std::size_t>(c));
    }
  } catch (const nb::cast_error&) {
    throw UsageError(std::string(op) + ": " + what + " must be a sequence of ints");
  } catch (const nb::python_error&) {
    throw UsageError(std::string(op) + ": " + what + " must be a sequence of ints");
  }
  return out;
}

// Element offsets of packed blocks.
std::vector<std::size_t> prefix(const std::vector<std::size_t>& counts) {
  std::vector<std::size_t> d(counts.size());
  std::size_t at = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    d[i] = at;
    at += counts[i];
  }
  return d;
}

// The end of every operation: the stream (which may call into torch, so with the GIL), then the
// one C++ call without the GIL (a blocking NCCL call may wait for other ranks' threads), then the
// output buffer as the return value.
template <class Call>
nb::object issue(Operands& o, nb::handle stream, nb::handle out, Call&& call) {
  CUstream_st* st = o.stream(stream.ptr());
  {
    nb::gil_scoped_release release;
    call(st);
  }
  return nb::borrow(out);
}

// config=: None, or a CollConfig (an empty one is the ordinary call).
const CollConfig* coll_config_object(nb::handle config, const char* op) {
  if (!nb::isinstance<CollConfig>(config)) {
    throw UsageError(std::string(op) + ": config must be an ncclrt.CollConfig or None; got " +
                     nb::cast<std::string>(nb::repr(config)));
  }
  const CollConfig& cc = nb::cast<const CollConfig&>(config);
  return cc.empty() ? nullptr : &cc;
}
inline const CollConfig* read_coll_config(nb::handle config, const char* op) {
  return config.is_none() ? nullptr : coll_config_object(config, op);
}

// The ordinary call, or the one with per-call options: `call()` or `call(*cc)`.
template <class Call>
void with_options(const CollConfig* cc, Call&& call) {
  if (cc) {
    call(*cc);
  } else {
    call();
  }
}

using C = Communicator;

// Send and recv of one size; recv=None or recv=send is in place (the send buffer, then written
// into; read once), and the buffer written is what the operation returns.
[[noreturn]] void different_sizes(const char* op, std::size_t send, std::size_t recv) {
  usage(op, ("send has " + num(send) + " elements but recv has " + num(recv)).c_str());
}
struct SameSize {
  Buffer send, recv;
  nb::handle out;
};
inline __attribute__((always_inline)) SameSize same_size(Operands& o, nb::handle send,
                                                         nb::handle recv) {
  const bool in_place = recv.is_none() || recv.is(send);
  const Buffer s = o.read(send.ptr(), "send", in_place);
  const Buffer r = in_place ? s : o.read(recv.ptr(), "recv", true);
  if (r.count != s.count) different_sizes(o.op, s.count, r.count);
  return {s, r, recv.is_none() ? send : recv};
}

nb::object all_reduce(const C& c, nb::handle send, nb::handle recv, nb::handle op,
                      nb::handle stream, nb::handle count, nb::handle dtype, nb::handle config) {
  Operands o(c, "all_reduce", send.ptr(), count.ptr(), dtype.ptr());
  const CollConfig* cc = read_coll_config(config, o.op);
  const SameSize pair = same_size(o, send, recv);
  const Buffer &s = pair.send, &r = pair.recv;
  const ReduceOp rop = read_op(op, o.op);
  return issue(o, stream, pair.out, [&](CUstream_st* st) {
    with_options(cc, [&](const auto&... opt) {
      c.all_reduce(s.ptr, r.ptr, s.count, o.type, rop, st, opt...);
    });
  });
}

nb::object broadcast(const C& c, nb::handle send, nb::handle recv, int root, nb::handle stream,
                     nb::handle count, nb::handle dtype, nb::handle config) {
  Operands o(c, "broadcast", send.ptr(), count.ptr(), dtype.ptr());
  const CollConfig* cc = read_coll_config(config, o.op);
  const SameSize pair = same_size(o, send, recv);
  const Buffer &s = pair.send, &r = pair.recv;
  return issue(o, stream, pair.out, [&](CUstream_st* st) {
    with_options(cc, [&](const auto&... opt) {
      c.broadcast(s.ptr, r.ptr, r.count, o.type, root, st, opt...);
    });
  });
}

nb::object reduce(const C& c, nb::handle send, nb::handle recv, nb::handle op, int root,
                  nb::handle stream, nb::handle count, nb::handle dtype, nb::handle config) {
  Operands o(c, "reduce", send.ptr(), count.ptr(), dtype.ptr());
  const CollConfig* cc = read_coll_config(config, o.op);
  const SameSize pair = same_size(o, send, recv);
  const Buffer &s = pair.send, &r = pair.recv;
  const ReduceOp rop = read_op(op, o.op);
  return issue(o, stream, pair.out, [&](CUstream_st* st) {
    with_options(cc, [&](const auto&... opt) {
      c.reduce(s.ptr, r.ptr, s.count, o.type, rop, root, st, opt...);
    });
  });
}

nb::object all_gather(const C& c, nb::handle send, nb::handle recv, nb::handle stream,
                      nb::handle count, nb::handle dtype, nb::handle config) {
  Operands o(c, "all_gather", send.ptr(), count.ptr(), dtype.ptr());
  const CollConfig* cc = read_coll_config(config, o.op);
  const Buffer s = o.read(send.ptr(), "send", false);
  const Buffer r = o.read(recv.ptr(), "recv", true);
  const auto n = static_cast<std::size_t>(c.size());
  if (!o.raw && r.count != s.count * n) {
    o.sizes("recv needs size x send = " + num(n) + " x " + num(s.count) + " = " + num(s.count * n) +
            " elements; it has " + num(r.count));
  }
  return issue(o, stream, recv, [&](CUstream_st* st) {
    with_options(
        cc, [&](const auto&... opt) { c.all_gather(s.ptr, r.ptr, s.count, o.type, st, opt...); });
  });
}

nb::object reduce_scatter(const C& c, nb::handle send, nb::handle recv, nb::handle op,
                          nb::handle stream, nb::handle count, nb::handle dtype,
                          nb::handle config) {
  Operands o(c, "reduce_scatter", send.ptr(), count.ptr(), dtype.ptr());
  const CollConfig* cc = read_coll_config(config, o.op);
  const Buffer s = o.read(send.ptr(), "send", false);
  const Buffer r = o.read(recv.ptr(), "recv", true);
  const auto n = static_cast<std::size_t>(c.size());
  if (!o.raw && s.count != r.count * n) {
    o.sizes("send needs size x recv = " + num(n) + " x " + num(r.count) + " = " + num(r.count * n) +
            " elements; it has " + num(s.count));
  }
  const ReduceOp rop = read_op(op, o.op);
  return issue(o, stream, recv, [&](CUstream_st* st) {
    with_options(cc, [&](const auto&... opt) {
      c.reduce_scatter(s.ptr, r.ptr, r.count, o.type, rop, st, opt...);
    });
  });
}

nb::object all_to_all(const C& c, nb::handle send, nb::handle recv, nb::handle stream,
                      nb::handle count, nb::handle dtype, nb::handle config) {
  Operands o(c, "all_to_all", send.ptr(), count.ptr(), dtype.ptr());
  const CollConfig* cc = read_coll_config(config, o.op);
  const Buffer s = o.read(send.ptr(), "send", false);
  const Buffer r = o.read(recv.ptr(), "recv", true);
  const auto n = static_cast<std::size_t>(c.size());
  std::size_t per_peer = o.count;
  if (!o.raw) {
    if (s.count != r.count || s.count % n != 0) {
      o.sizes("send and recv need the same number of elements, a multiple of size (" + num(n) +
              "); they have " + num(s.count) + " and " + num(r.count));
    }
    per_peer = s.count / n;
  }
  return issue(o, stream, recv, [&](CUstream_st* st) {
    with_options(
        cc, [&](const auto&... opt) { c.all_to_all(s.ptr, r.ptr, per_peer, o.type, st, opt...); });
  });
}

// The buffer that matters on the root only (gather's recv, scatter's send): required there, with
// size x `per_rank` elements; elsewhere it may be None.
Buffer root_buffer(Operands& o, const C& c, nb::handle obj, const char* role, bool write, int root,
                   std::size_t per_rank, const char* other) {
  const bool here = c.rank() == root;
  Buffer b;
  if (!obj.is_none()) {
    b = o.read(obj.ptr(), role, write);
  } else if (here) {
    o.sizes(std::string("this rank is the root and needs a ") + role + " buffer of size x " +
            other + " elements");
  }
  const auto n = static_cast<std::size_t>(c.size());
  if (here && !o.raw && b.count != per_rank * n) {
    o.sizes(std::string("the root's ") + role + " needs size x " + other + " = " + num(n) + " x " +
            num(per_rank) + " = " + num(per_rank * n) + " elements; it has " + num(b.count));
  }
  return b;
}

nb::object gather(const C& c, nb::handle send, nb::handle recv, int root, nb::handle stream,
                  nb::handle count, nb::handle dtype, nb::handle config) {
  Operands o(c, "gather", send.ptr(), count.ptr(), dtype.ptr());
  const CollConfig* cc = read_coll_config(config, o.op);
  const Buffer s = o.read(send.ptr(), "send", false);
  const Buffer r = root_buffer(o, c, recv, "recv", true, root, s.count, "send");
  return issue(o, stream, recv, [&](CUstream_st* st) {
    with_options(
        cc, [&](const auto&... opt) { c.gather(s.ptr, r.ptr, s.count, o.type, root, st, opt...); });
  });
}

nb::object scatter(const C& c, nb::handle send, nb::handle recv, int root, nb::handle stream,
                   nb::handle count, nb::handle dtype, nb::handle config) {
  Operands o(c, "scatter", recv.ptr(), count.ptr(), dtype.ptr());
  const CollConfig* cc = read_coll_config(config, o.op);
  const Buffer r = o.read(recv.ptr(), "recv", true);
  const Buffer s = root_buffer(o, c, send, "send", false, root, r.count, "recv");
  return issue(o, stream, recv, [&](CUstream_st* st) {
    with_options(cc, [&](const auto&... opt) {
      c.scatter(s.ptr, r.ptr, r.count, o.type, root, st, opt...);
    });
  });
}

// Checks that every block lies inside a buffer of `have` elements.
void check_blocks(const Operands& o, const char* what, const std::vector<std::size_t>& counts,
                  const std::vector<std::size_t>& displs, std::size_t have) {
  if (o.raw) return;
  for (std::size_t i = 0; i < counts.size() && i < displs.size(); ++i) {
    if (displs[i] > have || counts[i] > have - displs[i]) {
      o.sizes(std::string("block ") + num(i) + " (" + num(counts[i]) + " elements at " +
              num(displs[i]) + ") lies outside " + what + " (" + num(have) + " elements)");
    }
  }
}

// A v-variant's counts and displacements (packed when displs is None), checked: one entry per
// rank, every block inside the buffer that holds them all (`blocks`, of `have` elements), and
// this rank's own buffer (`own`, of `own_count` elements) the size of its block.
struct Layout {
  std::vector<std::size_t> counts, displs;
  std::size_t mine = 0;
};
Layout read_layout(const Operands& o, const C& c, nb::handle counts, nb::handle displs,
                   const char* blocks, std::size_t have, const char* own, std::size_t own_count) {
  Layout l;
  l.counts = read_counts(counts, o.op, "counts");
  l.displs = displs.is_none() ? prefix(l.counts) : read_counts(displs, o.op, "displs");
  if (l.counts.size() != static_cast<std::size_t>(c.size())) {
    o.sizes("counts needs one entry per rank (" + std::to_string(c.size()) + "); got " +
            num(l.counts.size()));
  }
  check_blocks(o, blocks, l.counts, l.displs, have);
  l.mine = l.counts[static_cast<std::size_t>(c.rank())];
  if (!o.raw && own_count != l.mine) {
    o.sizes(std::string(own) + " has " + num(own_count) + " elements but counts[" +
            std::to_string(c.rank()) + "] is " + num(l.mine));
  }
  return l;
}

nb::object all_gatherv(const C& c, nb::handle send, nb::handle recv, nb::handle counts,
                       nb::handle displs, nb::handle stream, nb::handle count, nb::handle dtype) {
  Operands o(c, "all_gatherv", send.ptr(), count.ptr(), dtype.ptr());
  const Buffer s = o.read(send.ptr(), "send", false);
  const Buffer r = o.read(recv.ptr(), "recv", true);
  const Layout l = read_layout(o, c, counts, displs, "recv", r.count, "send", s.count);
  return issue(o, stream, recv, [&](CUstream_st* st) {
    c.all_gatherv(s.ptr, l.mine, r.ptr, l.counts, l.displs, o.type, st);
  });
}

nb::object reduce_scatterv(const C& c, nb::handle send, nb::handle recv, nb::handle counts,
                           nb::handle displs, nb::handle op, nb::handle stream, nb::handle count,
                           nb::handle dtype) {
  Operands o(c, "reduce_scatterv", send.ptr(), count.ptr(), dtype.ptr());
  const Buffer s = o.read(send.ptr(), "send", false);
  const Buffer r = o.read(recv.ptr(), "recv", true);
  const Layout l = read_layout(o, c, counts, displs, "send", s.count, "recv", r.count);
  const ReduceOp rop = read_op(op, o.op);
  return issue(o, stream, recv, [&](CUstream_st* st) {
    c.reduce_scatterv(s.ptr, r.ptr, l.counts, l.displs, o.type, rop, st);
  });
}

nb::object send(const C& c, nb::handle buf, int peer, nb::handle stream, nb::handle count,
                nb::handle dtype) {
  Operands o(c, "send", buf.ptr(), count.ptr(), dtype.ptr());
  const Buffer b = o.read(buf.ptr(), "buffer", false);
  return issue(o, stream, nb::none(),
               [&](CUstream_st* st) { c.send(b.ptr, b.count, o.type, peer, st); });
}

nb::object recv(const C& c, nb::handle buf, int peer, nb::handle stream, nb::handle count,
                nb::handle dtype) {
  Operands o(c, "recv", buf.ptr(), count.ptr(), dtype.ptr());
  const Buffer b = o.read(buf.ptr(), "buffer", true);
  return issue(o, stream, nb::none(),
               [&](CUstream_st* st) { c.recv(b.ptr, b.count, o.type, peer, st); });
}

nb::object put_signal(const C& c, nb::handle local, int peer, const Window& window,
                      std::size_t offset, int signal_index, int context, nb::handle stream,
                      nb::handle count, nb::handle dtype) {
  Operands o(c, "put_signal", local.ptr(), count.ptr(), dtype.ptr());
  const Buffer b = o.read(local.ptr(), "local", false);
  return issue(o, stream, nb::none(), [&](CUstream_st* st) {
    c.put_signal(b.ptr, b.count, o.type, peer, window, offset, signal_index, context, st);
  });
}

void signal(const C& c, int peer, int signal_index, int context, nb::handle stream) {
  CUstream_st* st = read_stream(stream.ptr(), Buffer{}, -1);
  nb::gil_scoped_release release;
  c.signal(peer, signal_index, context, st);
}

// waits: a SignalWait, or a sequence of SignalWaits or (peer, signal_index, count, context)
// tuples.
void wait_signal(const C& c, nb::handle waits, nb::handle stream) {
  std::vector<SignalWait> list;
  auto one = [&](nb::handle w) {
    if (nb::isinstance<SignalWait>(w)) {
      list.push_back(nb::cast<SignalWait>(w));
      return;
    }
    try {
      nb::tuple t = nb::cast<nb::tuple>(w);
      SignalWait x;
      x.peer = nb::cast<int>(t[0]);
      if (t.size() > 1) x.signal_index = nb::cast<int>(t[1]);
      if (t.size() > 2) x.count = nb::cast<int>(t[2]);
      if (t.size() > 3) x.context = nb::cast<int>(t[3]);
      if (t.size() > 4) throw nb::cast_error();
      list.push_back(x);
    } catch (const std::exception&) {
      throw UsageError(
          "wait_signal: each wait is an ncclrt.SignalWait or a (peer, signal_index, count, "
          "context) tuple; got " +
          nb::cast<std::string>(nb::repr(w)));
    }
  };
  if (nb::isinstance<SignalWait>(waits)) {
    one(waits);
  } else {
    try {
      for (nb::handle w : waits) one(w);
    } catch (const nb::python_error&) {
      throw UsageError("wait_signal: waits must be a SignalWait or a sequence of them");
    }
  }
  CUstream_st* st = read_stream(stream.ptr(), Buffer{}, -1);
  nb::gil_scoped_release release;
  c.wait_signal(list, st);
}

}  // namespace

void bind_operations(nb::class_<Communicator>& cls) {
  // The parameters every operation shares, and the collectives' per-call options.
  const Param kw{"*"}, stream{"stream", "None"}, count{"count", "None"}, dtype{"dtype", "None"},
      config{"config", "None"};
  const Param a_send{"send"}, a_recv{"recv"}, recv_opt{"recv", "None"}, root{"root", "0"};
  const nb::object sum = nb::cast(ReduceOp::kSum);
  g_sum = sum.ptr();  // the parameter's default keeps it
  const Param op{"op", "ncclrt.ReduceOp.SUM", sum};
  def_operation<&all_reduce>(cls, "all_reduce",
                             {a_send, recv_opt, op, kw, stream, count, dtype, config},
                             "recv=None reduces in place. Returns recv.");
  def_operation<&broadcast>(cls, "broadcast",
                            {a_send, recv_opt, root, kw, stream, count, dtype, config},
                            "recv=None is in place. Returns recv.");
  def_operation<&reduce>(cls, "reduce",
                         {a_send, recv_opt, op, root, kw, stream, count, dtype, config},
                         "recv=None is in place; recv matters on the root only.");
  def_operation<&all_gather>(cls, "all_gather", {a_send, a_recv, kw, stream, count, dtype, config},
                             "recv holds size x send elements.");
  def_operation<&reduce_scatter>(cls, "reduce_scatter",
                                 {a_send, a_recv, op, kw, stream, count, dtype, config},
                                 "send holds size x recv elements.");
  def_operation<&all_to_all>(cls, "all_to_all", {a_send, a_recv, kw, stream, count, dtype, config},
                             "Block p of send goes to rank p; count= (pointers) is per peer.");
  def_operation<&gather>(cls, "gather", {a_send, recv_opt, root, kw, stream, count, dtype, config},
                         "The root's recv holds size x send elements.");
  def_operation<&scatter>(cls, "scatter", {a_send, a_recv, root, kw, stream, count, dtype, config},
                          "The root's send holds size x recv elements.");
  const Param counts{"counts"}, displs{"displs", "None"};
  def_operation<&all_gatherv>(
      cls, "all_gatherv", {a_send, a_recv, counts, displs, kw, stream, count, dtype},
      "Rank r's counts[r] elements land at recv[displs[r]] (packed when displs=None).");
  def_operation<&reduce_scatterv>(
      cls, "reduce_scatterv", {a_send, a_recv, counts, displs, op, kw, stream, count, dtype},
      "Block r of send (counts[r] elements at displs[r]) is reduced into rank r's recv.");
  const Param buf{"buf"}, peer{"peer"};
  def_operation<&send>(cls, "send", {buf, peer, kw, stream, count, dtype});
  def_operation<&recv>(cls, "recv", {buf, peer, kw, stream, count, dtype});
  const Param signal_index{"signal_index", "0"}, context{"context", "0"};
  def_operation<&put_signal>(cls, "put_signal",
                             {{"local"},
                              peer,
                              {"window"},
                              {"offset", "0"},
                              signal_index,
                              context,
                              kw,
                              stream,
                              count,
                              dtype},
                             "ncclPutSignal (NCCL >= 2.29.2): local into peer's part of window at "
                             "byte offset, then a signal there.");
  def_operation<&signal>(cls, "signal", {peer, signal_index, context, kw, stream},
                         "ncclSignal (NCCL >= 2.29.2): a signal to peer without data.");
  def_operation<&wait_signal>(cls, "wait_signal", {{"waits"}, kw, stream},
                              "ncclWaitSignal (NCCL >= 2.29.2): the stream waits for every "
                              "SignalWait.");
}

}  // namespace ncclrt::py
