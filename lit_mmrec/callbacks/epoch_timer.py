"""EpochTimer: logs the wall-clock seconds since the fit started with every validation result."""

from __future__ import annotations

import time
from typing import Any

import lightning as L

#: the logged key of the seconds since the fit started
ELAPSED = "time/elapsed_s"


class EpochTimer(L.Callback):
    """Logs ``time/elapsed_s``, seconds since ``on_fit_start``, at the end of every validation epoch.

    Put it before SGURInit in the callback list so that the time includes the initialisation. The
    elapsed time is kept in checkpoints, so a run resumed with ``--ckpt_path`` continues counting
    from what it had reached at its last checkpoint (time lost to the interruption is not counted).
    """

    def __init__(self) -> None:
        self.offset = 0.0
        self.start: float | None = None

    def elapsed(self) -> float:
        return self.offset + (time.perf_counter() - self.start if self.start is not None else 0.0)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            pl_module.log(ELAPSED, self.elapsed())

    def state_dict(self) -> dict[str, Any]:
        return {"elapsed": self.elapsed()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.offset = float(state_dict.get("elapsed", 0.0))
