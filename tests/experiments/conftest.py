"""Tiny configs for the experiment runner: LightGCN on the 6-user tiny data set, 3 epochs, beside the
repository's own SG-URInit fragments (``configs/sgurinit/``), which the runner composes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def tiny_configs(tiny_dataset: Path, tmp_path: Path) -> Path:
    """``<tmp>/configs/tiny/lightgcn.yaml``: 8-d LightGCN, batch 8, 3 epochs on the tiny data set, and a
    copy of ``configs/sgurinit/``."""
    folder = tmp_path / "configs" / "tiny"
    folder.mkdir(parents=True)
    (folder / "lightgcn.yaml").write_text(
        "model:\n  class_path: lit_mmrec.models.lightgcn.LightGCN\n  init_args: {embedding_dim: 8}\n"
        "data:\n  class_path: lit_mmrec.data.datamodule.MMRecDataModule\n"
        f"  init_args: {{data_dir: {tiny_dataset}, batch_size: 8}}\n"
        "trainer:\n  max_epochs: 3\n"
    )
    shutil.copytree(Path(__file__).resolve().parents[2] / "configs" / "sgurinit", folder.parent / "sgurinit")
    return folder.parent
