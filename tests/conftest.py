"""Shared fixtures (plain helpers live in helpers.py, importable from tests)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from helpers import make_tiny_dataset

warnings.filterwarnings("ignore", message=".*Sparse.*")


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """A 6-user, 10-item data set with image (8-d) and text (4-d) features."""
    return make_tiny_dataset(tmp_path)
