"""``--trainer.logger TensorBoardLogger`` (the ``[tensorboard]`` extra): a run writes TensorBoard events with the
training and validation metrics. Skipped when tensorboard is not installed."""

import pytest

from lit_mmrec.cli import main

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def test_tensorboard_logger_writes_the_metrics(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main([
        "fit",
        "--model", "lit_mmrec.models.lightgcn.LightGCN", "--model.embedding_dim", "8",
        "--data", "lit_mmrec.data.datamodule.MMRecDataModule", "--data.data_dir", str(tiny_dataset),
        "--data.batch_size", "8",
        "--trainer.logger", "TensorBoardLogger",
        "--trainer.max_epochs", "2", "--trainer.log_every_n_steps", "1",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--experiment", "tensorboard",
    ])  # fmt: skip
    (folder,) = {path.parent for path in (tmp_path / "logs").rglob("events.out.tfevents.*")}
    events = EventAccumulator(str(folder))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "val/recall@20", "test/recall@20"} <= scalars, sorted(scalars)
    assert len(events.Scalars("val/recall@20")) == 2  # one per epoch
