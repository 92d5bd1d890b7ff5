"""Fixtures of the hostile-input tests (helpers in support.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import make_tiny_dataset
from hostile.support import Run


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
