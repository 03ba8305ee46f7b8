# Owns the public face of the daemon package: the monerod client, its typed
# replies and errors. Must not add logic.
"""The monerod client and the decoding of its replies."""

from .blocks_reply import MAX_BLOCKS_PER_REPLY, BlocksReply
from .client import (
    SEND_REJECTION_FLAGS,
    Daemon,
    DaemonInfo,
    FeeEstimate,
    HardForkInfo,
    NetworkMismatch,
    OutEntry,
    OutputDistribution,
    OutputHistogramEntry,
    SendResult,
)

__all__ = [
    "MAX_BLOCKS_PER_REPLY",
    "SEND_REJECTION_FLAGS",
    "BlocksReply",
    "Daemon",
    "DaemonInfo",
    "FeeEstimate",
    "HardForkInfo",
    "NetworkMismatch",
    "OutEntry",
    "OutputDistribution",
    "OutputHistogramEntry",
    "SendResult",
]
