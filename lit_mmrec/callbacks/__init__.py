"""Lightning callbacks (and the checkpoint I/O plugin) of lit-mmrec."""

from lit_mmrec.callbacks.checkpoint_io import AtomicCheckpointIO, CheckpointError
from lit_mmrec.callbacks.epoch_seed import EpochSeed
from lit_mmrec.callbacks.prediction_writer import TopKWriter
from lit_mmrec.callbacks.sgurinit import SGURInit

__all__ = ["AtomicCheckpointIO", "CheckpointError", "EpochSeed", "SGURInit", "TopKWriter"]
