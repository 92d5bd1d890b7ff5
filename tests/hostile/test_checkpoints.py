"""Checkpoint mistakes: missing, a folder, empty, truncated, not a checkpoint, a malicious pickle,
another model class, another data set; each one line naming the file, nothing evaluated, nothing left."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_rows, write_inter
from hostile.support import Run, model_config


@pytest.mark.parametrize("subcommand", ["test", "validate", "predict"])
def test_last_without_a_checkpoint_evaluates_nothing(run: Run, tiny: Path, subcommand: str) -> None:
    """Lightning would warn and evaluate the untrained model with exit code 0."""
    config = run.config(model_config(tiny))
    run.refused(run.train, subcommand, "--config", str(config), "--ckpt_path", "last",
                names=("--ckpt_path last", "checkpoints/hostile/last.ckpt"))  # fmt: skip


@pytest.mark.parametrize("subcommand", ["fit", "test"])
def test_missing_checkpoint_file(run: Run, tiny: Path, subcommand: str) -> None:
    config = run.config(model_config(tiny))
    run.refused(run.train, subcommand, "--config", str(config), "--ckpt_path", "nope/epoch=3.ckpt",
                names=("nope/epoch=3.ckpt", "no such checkpoint"))  # fmt: skip


def test_checkpoint_path_is_a_folder(run: Run, tiny: Path) -> None:
    config = run.config(model_config(tiny))
    (run.folder / "ckpts").mkdir()
    run.refused(run.train, "test", "--config", str(config), "--ckpt_path", "ckpts", names=("ckpts is a folder",))


def pickle_bomb(path: Path, marker: Path) -> None:
    class Bomb:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"state_dict": {}, "payload": Bomb()}, path)


BROKEN = {
    "empty file": lambda path, good: path.write_bytes(b""),
    "truncated": lambda path, good: path.write_bytes(good.read_bytes()[: good.stat().st_size // 2]),
    "not a checkpoint": lambda path, good: torch.save([1, 2, 3], path),
    "a .npy file": lambda path, good: np.save(path.with_suffix(".npy"), np.ones(3)) or path.with_suffix(".npy").rename(path),
    "malicious pickle": lambda path, good: pickle_bomb(path, path.parent / "EXPLOITED"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BROKEN))
def test_unusable_checkpoint_file(run: Run, tiny: Path, trained: Path, case: str) -> None:
    config = run.config(model_config(tiny))
    path = run.folder / "broken.ckpt"
    BROKEN[case](path, trained)
    run.refused(run.train, "test", "--config", str(config), "--ckpt_path", str(path), names=(str(path),))
    assert not (run.folder / "EXPLOITED").exists()


def test_checkpoint_of_another_model_class(run: Run, tiny: Path, trained: Path) -> None:
    config = model_config(tiny)
    config["model"]["class_path"] = "lit_mmrec.models.vbpr.VBPR"
    path = run.config(config)
    run.refused(run.train, "test", "--config", str(path), "--ckpt_path", str(trained),
                names=(str(trained), "holds a lit_mmrec.models.lightgcn.LightGCN", "VBPR"))  # fmt: skip


def test_checkpoint_of_another_data_set(run: Run, tmp_path: Path, trained: Path) -> None:
    other = tmp_path / "other"
    write_inter(other, tiny_rows(num_users=9), name="other")
    shutil.copy(trained.parents[2] / "tiny" / "image_feat.npy", other)
    path = run.config(model_config(other))
    run.refused(run.train, "test", "--config", str(path), "--ckpt_path", str(trained),
                names=(str(trained), "trained on other data", "num_users 6 -> 9"))  # fmt: skip
    run.refused(run.train, "test", "--config", str(path), "--ckpt_path", str(trained), "--data_changed_ok", "true",
                names=(str(trained), "does not fit LightGCN with 9 users"))  # fmt: skip


MAPPINGS = {
    "short": ("asin\titemID\n" + "".join(f"B{i:03d}\t{i}\n" for i in range(6))).encode(),
    "not UTF-8": ("asin\titemID\n" + "".join(f"B{i:03d}\t{i}\n" for i in range(10))).encode() + b"\xff\t3\n",
}


@pytest.mark.parametrize("case, message", [("short", "no original id for 4 item(s)"), ("not UTF-8", "not UTF-8")])
def test_bad_item_id_mapping_at_predict(run: Run, trained: Path, case: str, message: str) -> None:
    data = trained.parents[2] / "tiny"
    mapping = data / "i_id_mapping.tsv"
    mapping.write_bytes(MAPPINGS[case])
    try:
        path = run.config(model_config(data))
        run.refused(run.train, "predict", "--config", str(path), "--ckpt_path", str(trained),
                    names=(str(mapping), message))  # fmt: skip
    finally:
        mapping.unlink()
    assert not (run.folder / "predictions").exists()
