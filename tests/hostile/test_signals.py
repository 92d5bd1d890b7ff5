"""SIGTERM (a real process) and SIGINT (in-process) during ``fit``: exit code 128 + the signal's number (Lightning alone exits
0 on SIGTERM, and a scheduler takes a killed run for a success), one line naming the checkpoint to resume from, and that
checkpoint resumes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from hostile.support import Run, assert_one_error_line, model_config
from hostile.test_faults import python

from lit_mmrec.cli import main as train_main

SIGNALLED_IN_EPOCH_2 = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever this process inherited
number = getattr(signal, sys.argv[1])
from lit_mmrec.models.lightgcn import LightGCN
loss = LightGCN.loss
def signalled(self, *args):
    if self.current_epoch == 2:
        os.kill(os.getpid(), number)
    return loss(self, *args)
LightGCN.loss = signalled
sys.argv = ["train.py"]
from lit_mmrec.cli import main
main(["fit", "--config", "config.yaml", "--trainer.max_epochs", "6"])
"""


def test_sigterm_during_fit(run: Run, tiny: Path) -> None:
    """A real process: SIGTERM's exit code is what a scheduler sees."""
    run.config(model_config(tiny))
    child = python(["-c", SIGNALLED_IN_EPOCH_2, "SIGTERM"], run.folder)
    assert child.returncode == 128 + signal.SIGTERM, child.stderr
    last = run.folder / "checkpoints" / "hostile" / "last.ckpt"
    # Lightning's own notices ("GPU available", "Received SIGTERM") come first: the last line is the one error line
    assert [line for line in child.stderr.splitlines() if line.startswith("error:")] == child.stderr.splitlines()[-1:]
    assert_one_error_line(child.stderr.splitlines()[-1], "stopped by SIGTERM during epoch 2", f"{last} holds epoch 1",
                          "--ckpt_path last resumes from it")  # fmt: skip
    assert torch.load(last, weights_only=True)["epoch"] == 1
    assert not list(run.folder.rglob(".*.tmp"))
    resumed = train_main(["fit", "--config", "config.yaml", "--trainer.max_epochs", "3", "--ckpt_path", "last",
                          "--test_after_fit", "false"])  # fmt: skip
    assert resumed.trainer.current_epoch == 3


def test_sigint_during_fit(run: Run, tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process (Ctrl+C raises KeyboardInterrupt here as in a terminal): exit code 130, not Lightning's 1."""
    from lit_mmrec.models.lightgcn import LightGCN

    loss = LightGCN.loss

    def interrupted(self, *args):
        if self.current_epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return loss(self, *args)

    monkeypatch.setattr(LightGCN, "loss", interrupted)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        config = run.config(model_config(tiny))
        line = run.refused(run.train, "fit", "--config", str(config), "--trainer.max_epochs", "4", code=130,
                           keep=("checkpoints/hostile/last.ckpt", "checkpoints/hostile/best-epoch=000.ckpt",
                                 "logs/hostile/version_0/config.yaml", "logs/hostile/version_0/metrics.csv",
                                 "logs/hostile/version_0/hparams.yaml"))  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores SIGINT once interrupted
    assert "stopped by SIGINT during epoch 1" in line and "holds epoch 0" in line
