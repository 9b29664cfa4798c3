"""Communicators for the CPU tests of ncclrt.ops (which name communicators and call their
methods), where no GPU can run NCCL:

- SimComm plays `size` ranks that all hold the same input, so every collective's result is known
  on the one rank here (all_reduce sums to size * x, all_gather repeats x, ...): the ops' values,
  gradients and compiled graphs can be checked against eager.
- PointerComm passes a CPU tensor's address, count and type to a real ncclrt.Communicator (the
  extension refuses host memory as a buffer), here one of the recording stand-in: what reaches
  "NCCL" and what the flight recorder keeps are then the real thing.
"""
import ncclrt

R = ncclrt.ReduceOp


class SimComm:
    def __init__(self, size=2, rank=0):
        self.size, self.rank = size, rank
        self.calls = []

    def _reduce(self, t, op):
        return {R.SUM: t * self.size, R.PROD: t ** self.size, R.MAX: t, R.MIN: t, R.AVG: t}[op]

    # Each returns its output, as the extension's methods do, and checks sizes as they do.
    def _sizes(self, what, big, small):
        if big.numel() != small.numel() * self.size:
            raise ncclrt.UsageError(f"{what}: sizes do not fit {self.size} ranks")

    def all_reduce(self, send, recv=None, op=R.SUM, **kw):
        self.calls.append("all_reduce")
        out = send if recv is None else recv
        return out.copy_(self._reduce(send, op))

    def all_gather(self, send, recv, **kw):
        self.calls.append("all_gather")
        self._sizes("all_gather", recv, send)
        recv.view(-1).copy_(send.reshape(-1).repeat(self.size))
        return recv

    def reduce_scatter(self, send, recv, op=R.SUM, **kw):
        self.calls.append("reduce_scatter")
        self._sizes("reduce_scatter", send, recv)
        n = recv.numel()
        recv.view(-1).copy_(self._reduce(send.reshape(-1)[self.rank * n:(self.rank + 1) * n], op))
        return recv

    def all_gatherv(self, send, recv, counts, displs=None, **kw):
        self.calls.append("all_gatherv")
        at = 0
        for c in counts:
            recv.view(-1)[at:at + c].copy_(send.reshape(-1)[:c])
            at += c
        return recv

    def reduce_scatterv(self, send, recv, counts, displs=None, op=R.SUM, **kw):
        self.calls.append("reduce_scatterv")
        at, c = sum(counts[:self.rank]), counts[self.rank]
        recv.view(-1).copy_(self._reduce(send.reshape(-1)[at:at + c], op))
        return recv

    def broadcast(self, send, recv=None, root=0, **kw):
        self.calls.append(("broadcast", root))
        if recv is None:
            return send
        return recv.copy_(send)

    def all_to_all(self, send, recv, **kw):
        self.calls.append("all_to_all")
        mine = send.reshape(self.size, -1)[self.rank]  # what every rank sends this one
        recv.view(self.size, -1).copy_(mine.expand(self.size, -1))
        return recv

    def send(self, buf, peer, **kw):
        self.calls.append(("send", peer))

    def recv(self, buf, peer, **kw):
        self.calls.append(("recv", peer))
        buf.fill_(peer + 1)


class PointerComm:
    def __init__(self, comm):
        self.comm_ = comm
        self.size, self.rank = comm.size, comm.rank

    @staticmethod
    def _p(t):
        return None if t is None else t.data_ptr()

    def all_reduce(self, send, recv=None, op=R.SUM, **kw):
        self.comm_.all_reduce(send.data_ptr(), self._p(recv), op, count=send.numel(),
                              dtype=send.dtype)

    def all_gather(self, send, recv, **kw):
        self.comm_.all_gather(send.data_ptr(), recv.data_ptr(), count=send.numel(),
                              dtype=send.dtype)

    def reduce_scatter(self, send, recv, op=R.SUM, **kw):
        self.comm_.reduce_scatter(send.data_ptr(), recv.data_ptr(), op, count=recv.numel(),
                                  dtype=send.dtype)

    def broadcast(self, send, recv=None, root=0, **kw):
        self.comm_.broadcast(send.data_ptr(), self._p(recv), root, count=send.numel(),
                             dtype=send.dtype)

    def all_to_all(self, send, recv, **kw):
        self.comm_.all_to_all(send.data_ptr(), recv.data_ptr(), count=send.numel() // self.size,
                              dtype=send.dtype)

    def send(self, buf, peer, **kw):
        self.comm_.send(buf.data_ptr(), peer, count=buf.numel(), dtype=buf.dtype)

    def recv(self, buf, peer, **kw):
        self.comm_.recv(buf.data_ptr(), peer, count=buf.numel(), dtype=buf.dtype)
