"""Test-only helpers: callbacks loaded by ``train.py`` subprocesses (``PYTHONPATH=tests``, ``--trainer.callbacks+=probes.X``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import torch


class RecordEvaluation(L.Callback):
    """Each rank saves what it saw: SG-URInit's user tables, the users it evaluated, its metric's user count.

    Files in ``out_dir``: ``sgurinit_rank<R>.pt`` (``{"before": ..., "after": ...}`` per table) and
    ``<stage>_rank<R>.pt`` (``{"users": evaluated user ids, "counted": the metric's local user count}``);
    the first also names the strategy's checkpoint I/O class.
    Must come after ``SGURInit`` in the callback list (its ``on_fit_start`` runs first).
    """

    def __init__(self, out_dir: str = "probe") -> None:
        self.out_dir = Path(out_dir)
        self.before: dict[str, torch.Tensor] = {}
        self.users: list[torch.Tensor] = []

    def _save(self, trainer: L.Trainer, name: str, value: object) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        torch.save(value, self.out_dir / f"{name}_rank{trainer.global_rank}.pt")

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.before = {t.name: t.table.detach().clone() for t in pl_module.user_init_targets()}

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        after = {t.name: t.table.detach().clone() for t in pl_module.user_init_targets()}
        io = type(trainer.strategy.checkpoint_io).__name__
        self._save(trainer, "sgurinit", {"before": self.before, "after": after, "checkpoint_io": io})

    def _start(self, *args: object) -> None:
        self.users = []

    def _batch(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.users.append(batch.detach().cpu())

    def _end(self, trainer: L.Trainer, metrics, stage: str) -> None:
        # callbacks' epoch-end hooks run before the module's, which computes and resets the metric
        users = torch.cat(self.users) if self.users else torch.empty(0, dtype=torch.long)
        self._save(trainer, stage, {"users": users, "counted": float(metrics.users)})

    on_validation_epoch_start = on_test_epoch_start = _start
    on_validation_batch_end = on_test_batch_end = _batch

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._end(trainer, pl_module.val_metrics, "validate")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._end(trainer, pl_module.test_metrics, "test")


class PauseAt(L.Callback):
    """At training batch ``batch`` of epoch ``epoch``: touch ``flag`` and sleep, waiting to be killed."""

    def __init__(self, epoch: int, batch: int, flag: str = "paused") -> None:
        self.epoch, self.batch, self.flag = epoch, batch, Path(flag)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module, batch, batch_idx: int) -> None:
        if (trainer.current_epoch, batch_idx) == (self.epoch, self.batch):
            self.flag.write_text(f"epoch {self.epoch} batch {self.batch}\n")
            time.sleep(3600)


REPO = Path(__file__).resolve().parents[1]


def train_command(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "train.py"), *args]


def train_env() -> dict[str, str]:
    """The environment of a ``train.py`` subprocess: this folder importable, one thread like the suite."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PL_", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests"), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = str(torch.get_num_threads())
    return env


def run_train(*args: str, cwd: Path, timeout: float = 300) -> str:
    """Run ``train.py *args`` in ``cwd``; return its output, failing with it if the exit code is not 0."""
    done = subprocess.run(
        train_command(*args), cwd=cwd, env=train_env(), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"train.py {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr
