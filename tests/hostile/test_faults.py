"""Injected faults: a full disk and a kill during a checkpoint write, a diverging loss, a killed
``prepare``; and the quickstart's evaluation command run as a real process."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hostile.support import Run, assert_one_error_line, model_config

from lit_mmrec.cli import main as train_main

ROOT = Path(__file__).resolve().parents[2]


def python(code_or_script: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *code_or_script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def tmp_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".*.tmp"))


def test_disk_full_during_a_checkpoint_write(run: Run, tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One line naming the checkpoint; the previous last.ckpt is kept whole; no temporary file."""
    save, writes = torch.save, []

    def fill_the_disk(obj, handle, *args, **kwargs):
        writes.append(handle.name)
        if len(writes) > 2:  # epoch 0's two checkpoints fit, epoch 1's do not
            handle.write(b"PK\x03\x04 half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(torch, "save", fill_the_disk)
    config = run.config(model_config(tiny))
    last = run.folder / "checkpoints" / "hostile" / "last.ckpt"
    line = run.refused(run.train, "fit", "--config", str(config), "--trainer.max_epochs", "3",
                       names=("cannot write checkpoint", "previous one is kept", "No space left on device"),
                       keep=("checkpoints/hostile/last.ckpt", "checkpoints/hostile/best-epoch=000.ckpt",
                             "logs/hostile/version_0/config.yaml", "logs/hostile/version_0/metrics.csv",
                             "logs/hostile/version_0/hparams.yaml"))  # fmt: skip
    assert "\n" not in line and "Traceback" not in line
    monkeypatch.undo()
    assert torch.load(last, weights_only=False)["epoch"] == 0
    assert not tmp_files(run.folder)


KILLED_DURING_SAVE = """
import os, signal, sys, torch
save, count = torch.save, [0]
def killed(obj, handle, *args, **kwargs):
    count[0] += 1
    if count[0] == 4:  # epoch 1's last.ckpt: half written, then SIGKILL
        handle.write(b"PK\\x03\\x04" + b"\\0" * 4096)
        handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return save(obj, handle, *args, **kwargs)
torch.save = killed
sys.argv = ["train.py"]
from lit_mmrec.cli import main
main(sys.argv[1:] + ["fit", "--config", "config.yaml", "--trainer.max_epochs", "3", "--test_after_fit", "false",
                     "--checkpoint.save_top_k", "-1"])
"""


def test_kill_during_a_checkpoint_write_then_resume(run: Run, tiny: Path) -> None:
    """The kill leaves epoch 0's last.ckpt and a hidden temporary file; the resumed run's first
    save removes that file, and the run completes."""
    run.config(model_config(tiny))
    child = python(["-c", KILLED_DURING_SAVE], run.folder)
    assert child.returncode == -signal.SIGKILL, child.stderr
    folder = run.folder / "checkpoints" / "hostile"
    assert len(tmp_files(folder)) == 1
    assert torch.load(folder / "last.ckpt", weights_only=False)["epoch"] == 0
    cli = train_main(
        ["fit", "--config", "config.yaml", "--trainer.max_epochs", "3", "--test_after_fit", "false", "--ckpt_path", "last"]
    )
    assert cli.trainer.current_epoch == 3
    assert not tmp_files(run.folder)
    assert torch.load(folder / "last.ckpt", weights_only=False)["epoch"] == 2


def test_diverging_loss_stops_before_any_checkpoint(run: Run, tiny: Path) -> None:
    """A NaN loss used to train on, be validated, saved as the best checkpoint and tested."""
    config = run.config(model_config(tiny, learning_rate=1e30))
    run.refused(run.train, "fit", "--config", str(config), "--data.init_args.batch_size", "4",
                "--trainer.max_epochs", "3", names=("training loss is nan at epoch 0, batch 1",))  # fmt: skip
    assert not (run.folder / "checkpoints").exists()


def test_diverging_loss_keeps_earlier_checkpoints(run: Run, tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NaN in epoch 2: the checkpoints of epochs 0 and 1 stay, the best is one of them, none of epoch 2."""
    from lit_mmrec.models.lightgcn import LightGCN

    loss = LightGCN.loss

    def nan_in_epoch_2(self, *args):
        terms = loss(self, *args)
        return {k: v * float("nan") for k, v in terms.items()} if self.current_epoch == 2 else terms

    monkeypatch.setattr(LightGCN, "loss", nan_in_epoch_2)
    config = run.config(model_config(tiny))
    code, err = run.train("fit", "--config", str(config), "--trainer.max_epochs", "4")
    assert code == 2
    assert_one_error_line(err, "training loss is nan at epoch 2, batch 0")
    checkpoints = run.folder / "checkpoints" / "hostile"
    assert torch.load(checkpoints / "last.ckpt", weights_only=False)["epoch"] == 1
    best = [p.name for p in checkpoints.glob("best-*.ckpt")]
    assert best and all("epoch=002" not in name for name in best), best


KILLED_PREPARE = """
import os, signal, sys
import lit_mmrec.prepare.layout as layout
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
layout.write_mapping = killed  # after <name>.inter is written
from lit_mmrec.prepare.__main__ import main
main(["movielens", sys.argv[1], "--out", "out", "--no-text", "--kcore", "0"])
"""


def test_killed_prepare_leaves_nothing_the_loader_accepts(run: Run, tmp_path: Path) -> None:
    from prepare.conftest import random_ml100k

    raw = random_ml100k(tmp_path / "ml-100k")
    child = python(["-c", KILLED_PREPARE, str(raw)], run.folder)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert not (run.folder / "out").exists()
    run.refused(run.prepare, "check", "out", names=("out",))
    assert run.prepare("movielens", str(raw), "--out", "out", "--no-text", "--kcore", "0")[0] == 0
    assert sorted(p.name for p in run.folder.iterdir() if p.name.startswith(".")) == []  # staging removed


def test_test_last_in_a_fresh_folder_is_one_line(tmp_path: Path) -> None:
    """The quickstart's evaluation command, as a real process: test --ckpt_path last with no checkpoint."""
    child = python([str(ROOT / "train.py"), "test", "--config", str(ROOT / "configs" / "quickstart.yaml"),
                    "--ckpt_path", "last"], tmp_path)  # fmt: skip
    assert child.returncode == 2
    assert_one_error_line(child.stderr, "checkpoints/quickstart/last.ckpt")
    assert list(tmp_path.iterdir()) == []
