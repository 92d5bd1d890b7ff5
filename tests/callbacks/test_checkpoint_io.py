"""AtomicCheckpointIO: a checkpoint path holds the old file or the new one, whole, whatever happens mid-write."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import torch

from lit_mmrec.callbacks import AtomicCheckpointIO, CheckpointError


def checkpoint(value: float) -> dict:
    return {"state_dict": {"w": torch.full((256, 256), value)}, "epoch": int(value)}


def half_written_save(obj, handle, *args, **kwargs):
    """torch.save that writes half a file, as a crash in the middle of the write would leave."""
    handle.write(b"PK\x03\x04" + b"\0" * 1000)
    handle.flush()


def test_save_replaces_and_leaves_nothing_else(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "sub" / "last.ckpt"
    io.save_checkpoint(checkpoint(1), path)
    io.save_checkpoint(checkpoint(2), path)
    assert io.load_checkpoint(path)["epoch"] == 2
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint(checkpoint(1), path)

    def failing_save(obj, handle, *args, **kwargs):
        half_written_save(obj, handle)
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*last\.ckpt \(the previous one is kept\): disk full"):
        io.save_checkpoint(checkpoint(2), path)
    monkeypatch.undo()
    assert io.load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


KILLED_MID_WRITE = """
import os, signal, sys
import torch
from lit_mmrec.callbacks import AtomicCheckpointIO

def killed_save(obj, handle, *args, **kwargs):
    handle.write(b"PK\\x03\\x04" + b"\\0" * 1000)
    handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)

checkpoint = {"state_dict": {"w": torch.full((256, 256), 2.0)}, "epoch": 2}
torch.save = killed_save
AtomicCheckpointIO().save_checkpoint(checkpoint, sys.argv[1])
"""


def test_sigkill_mid_write_keeps_the_previous_checkpoint(tmp_path):
    """A separate interpreter (not os.fork, which can deadlock on torch's thread pools) is
    SIGKILLed in the middle of writing checkpoint 2."""
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint(checkpoint(1), path)
    child = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, str(path)], timeout=120, capture_output=True)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert io.load_checkpoint(path)["epoch"] == 1
    # what the kill left: one hidden temporary file, which "last" never matches
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name != "last.ckpt")
    assert len(leftovers) == 1 and leftovers[0].startswith(".last.ckpt.") and leftovers[0].endswith(".tmp")
    # the next save of that checkpoint (the resumed run's first) removes it
    io.save_checkpoint(checkpoint(3), path)
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_unreadable_checkpoint_error_names_the_file(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint(checkpoint(1), path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match=f"cannot read checkpoint {path}"):
        io.load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        io.load_checkpoint(tmp_path / "missing.ckpt")
