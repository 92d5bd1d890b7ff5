"""Lightning callbacks (and the checkpoint I/O plugin) of lit-mmrec."""

from lit_mmrec.callbacks.checkpoint_io import AtomicCheckpointIO, CheckpointError
from lit_mmrec.callbacks.cold_items import ColdItems
from lit_mmrec.callbacks.cold_start_evaluation import ColdStartEvaluation
from lit_mmrec.callbacks.early_stopping import StoppingRule
from lit_mmrec.callbacks.epoch_seed import EpochSeed
from lit_mmrec.callbacks.epoch_timer import EpochTimer
from lit_mmrec.callbacks.finite_loss import FiniteLoss, NonFiniteLossError
from lit_mmrec.callbacks.mirror_gradient import MirrorGradient
from lit_mmrec.callbacks.prediction_writer import TopKWriter
from lit_mmrec.callbacks.progress import QuietProgressBar
from lit_mmrec.callbacks.sgurinit import SGURInit
from lit_mmrec.callbacks.user_groups import UserGroupMetrics
from lit_mmrec.callbacks.user_table_diagnostics import UserTableDiagnostics

__all__ = [
    "AtomicCheckpointIO",
    "CheckpointError",
    "ColdItems",
    "ColdStartEvaluation",
    "EpochSeed",
    "EpochTimer",
    "FiniteLoss",
    "MirrorGradient",
    "NonFiniteLossError",
    "QuietProgressBar",
    "SGURInit",
    "StoppingRule",
    "TopKWriter",
    "UserGroupMetrics",
    "UserTableDiagnostics",
]
