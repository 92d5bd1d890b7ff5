"""Tiny configs for the experiment runner: LightGCN on the 6-user tiny data set, 3 epochs."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def tiny_configs(tiny_dataset: Path, tmp_path: Path) -> Path:
    """``<tmp>/configs/tiny/lightgcn.yaml``: 8-d LightGCN, batch 8, 3 epochs on the tiny data set."""
    folder = tmp_path / "configs" / "tiny"
    folder.mkdir(parents=True)
    (folder / "lightgcn.yaml").write_text(
        "model:\n  class_path: lit_mmrec.models.lightgcn.LightGCN\n  init_args: {embedding_dim: 8}\n"
        "data:\n  class_path: lit_mmrec.data.datamodule.MMRecDataModule\n"
        f"  init_args: {{data_dir: {tiny_dataset}, batch_size: 8}}\n"
        "trainer:\n  max_epochs: 3\n"
    )
    return folder.parent
