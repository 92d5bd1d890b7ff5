"""Results from weights nobody can name: evaluating without a checkpoint, training zero or a negative number of
epochs, results that do not say which checkpoint and data made them, and checkpoints used on data other than
their own. Each one line naming the option or the file, nothing evaluated, nothing left."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hostile.support import Run, model_config


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def data_copy(trained: Path, folder: Path) -> Path:
    """A copy of the data ``trained`` was trained on, to change."""
    return Path(shutil.copytree(trained.parents[2] / "tiny", folder / "data"))


@pytest.mark.parametrize("subcommand", ["test", "validate", "predict"])
def test_evaluating_without_a_checkpoint_is_refused(run: Run, tiny: Path, subcommand: str) -> None:
    """Lightning would evaluate (or export the recommendations of) the untrained model, with exit code 0."""
    config = run.config(model_config(tiny))
    run.refused(run.train, subcommand, "--config", str(config),
                names=("--ckpt_path FILE", "--ckpt_path last", "checkpoints/hostile/last.ckpt"))  # fmt: skip


@pytest.mark.parametrize("epochs, message", [("0", "trains nothing"), ("-3", "is not a number of epochs")])
def test_max_epochs_below_one_is_refused(run: Run, tiny: Path, epochs: str, message: str) -> None:
    """Unchecked, 0 prints the untrained model's test metrics as the run's result and -3 ends in Lightning's traceback."""
    config = run.config(model_config(tiny))
    run.refused(run.train, "fit", "--config", str(config), "--trainer.max_epochs", epochs,
                names=(f"--trainer.max_epochs {epochs}", message))  # fmt: skip


def test_checkpoint_records_the_data_fingerprint(trained: Path) -> None:
    checkpoint = torch.load(trained, weights_only=True)
    (state,) = [value for value in checkpoint.values() if isinstance(value, dict) and "fingerprint" in value]
    fingerprint = state["fingerprint"]
    assert fingerprint["dataset"] == "tiny" and (fingerprint["num_users"], fingerprint["num_items"]) == (6, 10)
    assert {name: split["rows"] for name, split in fingerprint["splits"].items()} == {"train": 18, "valid": 6, "test": 6}
    assert fingerprint["features"]["image"]["shape"] == [10, 8] and len(fingerprint["features"]["text"]["sha256"]) == 64


def test_fit_records_its_data_beside_its_metrics(trained: Path) -> None:
    (metrics,) = (trained.parents[2] / "logs").rglob("metrics.csv")
    record = json.loads((metrics.parent / "provenance.json").read_text())
    assert record["command"] == "fit" and record["checkpoint"] is None and record["resumed_from"] is None
    assert record["data"]["splits"]["train"]["rows"] == 18


def test_test_records_the_checkpoint_and_data_beside_its_metrics(run: Run, trained: Path) -> None:
    config = run.config(model_config(trained.parents[2] / "tiny"))
    run.succeeds("test", "--config", str(config), "--ckpt_path", str(trained))
    (metrics,) = (run.folder / "logs").rglob("metrics.csv")
    record = json.loads((metrics.parent / "provenance.json").read_text())
    assert record["checkpoint"] == {"path": str(trained), "sha256": sha256(trained)}
    assert record["command"] == "test" and record["data"]["dataset"] == "tiny"


def test_predict_records_the_checkpoint_and_data_beside_the_recommendations(run: Run, trained: Path) -> None:
    config = run.config(model_config(trained.parents[2] / "tiny"))
    run.succeeds("predict", "--config", str(config), "--ckpt_path", str(trained))
    folder = run.folder / "predictions" / "hostile"
    assert sorted(p.name for p in folder.iterdir()) == ["top20.csv", "top20.provenance.json"]
    record = json.loads((folder / "top20.provenance.json").read_text())
    assert record["checkpoint"]["sha256"] == sha256(trained) and record["data"]["num_items"] == 10


def move_training_rows_to_test(data: Path) -> None:
    inter = data / "tiny.inter"
    lines = inter.read_text().splitlines()
    moved = [lines[0]] + [line[:-1] + "2" if i in (1, 6) and line.endswith("0") else line
                          for i, line in enumerate(lines[1:], start=1)]
    assert moved != lines
    inter.write_text("\n".join(moved) + "\n")


@pytest.mark.parametrize("subcommand", ["test", "validate", "predict"])
def test_checkpoint_used_on_changed_splits_is_refused(run: Run, trained: Path, subcommand: str) -> None:
    """Training rows moved to test: the checkpoint's metrics would count items it was trained on."""
    data = data_copy(trained, run.folder.parent)
    move_training_rows_to_test(data)
    config = run.config(model_config(data))
    run.refused(run.train, subcommand, "--config", str(config), "--ckpt_path", str(trained),
                names=(str(trained), "split train (18 -> 16 rows)", "split test (6 -> 8 rows)",
                       "--data_changed_ok"))  # fmt: skip


def test_checkpoint_used_on_changed_features_is_refused(run: Run, trained: Path) -> None:
    """Same shape, other values: only the content hash tells them apart."""
    data = data_copy(trained, run.folder.parent)
    np.save(data / "image_feat.npy", np.load(data / "image_feat.npy")[::-1].copy())
    config = run.config(model_config(data))
    run.refused(run.train, "test", "--config", str(config), "--ckpt_path", str(trained),
                names=("modality image (same size, other content)",))  # fmt: skip


def test_resuming_on_changed_data_is_refused(run: Run, trained: Path) -> None:
    """Unchecked, ``fit --ckpt_path last`` continues without a word on data that changed under it."""
    data = data_copy(trained, run.folder.parent)
    move_training_rows_to_test(data)
    folder = run.folder / "checkpoints" / "hostile"
    folder.mkdir(parents=True)
    shutil.copy(trained, folder / "last.ckpt")
    config = run.config(model_config(data))
    run.refused(run.train, "fit", "--config", str(config), "--ckpt_path", "last", "--trainer.max_epochs", "2",
                names=(str(folder / "last.ckpt"), "split train"))  # fmt: skip
    assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt"]


def test_data_changed_ok_uses_the_checkpoint_and_says_so(run: Run, trained: Path) -> None:
    data = data_copy(trained, run.folder.parent)
    move_training_rows_to_test(data)
    config = run.config(model_config(data))
    with pytest.warns(UserWarning, match="split train .*used anyway"):
        err = run.succeeds("test", "--config", str(config), "--ckpt_path", str(trained), "--data_changed_ok", "true")
    assert "error" not in err
