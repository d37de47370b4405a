"""Checkpoint evidence read from pickles and headers alone: tensor names, dtypes, shapes, metadata, unsafe globals."""

from trainaudit.evidence.checkpoints.model import Checkpoint, StorageRef, TensorInfo, UnsafeGlobal
from trainaudit.evidence.checkpoints.reader import CHECKPOINT_SUFFIXES, read_checkpoint, sniff

__all__ = ["CHECKPOINT_SUFFIXES", "Checkpoint", "StorageRef", "TensorInfo", "UnsafeGlobal", "read_checkpoint",
           "sniff"]
