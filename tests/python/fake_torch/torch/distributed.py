"""torch.distributed, as far as ncclrt.torch uses it: the tests use stateless groups."""
import enum


class ReduceOp(enum.Enum):
    SUM = 0
    PRODUCT = 1
    MAX = 2
    MIN = 3
    AVG = 4


def is_initialized():
    return False


def isend(tensor, dst):  # only its identity matters: P2POp.op
    raise NotImplementedError


def irecv(tensor, src):
    raise NotImplementedError


class P2POp:
    def __init__(self, op, tensor, peer=None, group=None, tag=0, group_peer=None):
        self.op, self.tensor, self.peer, self.group_peer = op, tensor, peer, group_peer
