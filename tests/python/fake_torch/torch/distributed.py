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
