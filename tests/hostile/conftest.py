"""Fixtures of the hostile-input tests (helpers in support.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from helpers import make_tiny_dataset
from hostile.support import Run, model_config

from lit_mmrec.cli import main as train_main


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> Run:
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "argv", ["train.py"])  # pytest's own arguments are not train.py's
    return Run(folder, capsys)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A fresh copy of the 6-user, 10-item data set (image 8-d, text 4-d) to break."""
    return make_tiny_dataset(tmp_path / "data")


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``last.ckpt`` of one epoch of LightGCN on the tiny data set."""
    folder = tmp_path_factory.mktemp("trained")
    data = make_tiny_dataset(folder)
    here, argv = Path.cwd(), sys.argv
    os.chdir(folder)
    sys.argv = ["train.py"]
    try:
        config = Run(folder, None).config(model_config(data))
        train_main(["fit", "--config", str(config), "--test_after_fit", "false"])
    finally:
        os.chdir(here)
        sys.argv = argv
    return folder / "checkpoints" / "hostile" / "last.ckpt"
