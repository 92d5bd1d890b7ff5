"""Test helpers: tiny data sets written in the MMRec layout, the path of ../shared/data, the backbones."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import lit_mmrec.models
from lit_mmrec.models.base import RecommenderModule

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ML100K = SHARED_DATA / "ml100k"

warnings.filterwarnings("ignore", message=".*Sparse.*")


def write_inter(folder: Path, rows: list[tuple], name: str = "tiny", header: str = "userID\titemID\trating\ttimestamp\tx_label") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.inter"
    lines = [header] + ["\t".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def tiny_rows(num_users: int = 6, num_items: int = 10, per_user: int = 5, seed: int = 0) -> list[tuple]:
    """Rows (user, item, rating, timestamp, x_label): per user, 3 train, 1 valid, 1 test."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(num_users):
        items = rng.choice(num_items, size=per_user, replace=False)
        labels = [0] * (per_user - 2) + [1, 2]
        rows += [(user, int(i), 1, 100 + k, lab) for k, (i, lab) in enumerate(zip(items, labels, strict=False))]
    return rows


def make_tiny_dataset(tmp_path: Path) -> Path:
    """A 6-user, 10-item data set with image (8-d) and text (4-d) features; item 9 always appears."""
    rows = tiny_rows()
    rows.append((0, 9, 1, 99, 0)) if all(r[1] != 9 for r in rows) else None
    folder = tmp_path / "tiny"
    write_inter(folder, rows)
    rng = np.random.default_rng(1)
    np.save(folder / "image_feat.npy", rng.normal(size=(10, 8)).astype(np.float32))
    np.save(folder / "text_feat.npy", rng.normal(size=(10, 4)).astype(np.float32))
    return folder


requires_ml100k = pytest.mark.skipif(not (ML100K / "ml100k.inter").is_file(), reason="../shared/data/ml100k is absent")


def discover_backbones() -> list[type[RecommenderModule]]:
    """Every RecommenderModule subclass defined in a module of ``lit_mmrec.models``, by class name."""
    found = {}
    for info in pkgutil.iter_modules(lit_mmrec.models.__path__):
        module = importlib.import_module(f"lit_mmrec.models.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, RecommenderModule) and cls is not RecommenderModule and cls.__module__ == module.__name__:
                found[cls.__name__] = cls
    return [found[name] for name in sorted(found)]


def fit_args(model: str, data: Path, experiment: str, epochs: int, *, embedding_dim: int | None = None,
             sgurinit: bool = True, logger: bool = True) -> list[str]:
    """``train.py fit`` arguments for a small CLI run of ``model`` (a class path) on ``data``: batches of 4, a
    learning rate of 0.01, no progress bar; ``embedding_dim`` when given, SG-URInit (2 clusters) when ``sgurinit``,
    and a CSV log named after ``experiment`` when ``logger`` (otherwise no logger and no test after the fit)."""
    args = ["fit", "--model", model]
    if embedding_dim is not None:
        args += ["--model.embedding_dim", str(embedding_dim)]
    args += [
        "--model.learning_rate", "0.01",
        "--data", "lit_mmrec.data.datamodule.MMRecDataModule",
        "--data.data_dir", str(data),
        "--data.batch_size", "4",
        "--experiment", experiment,
        "--trainer.max_epochs", str(epochs),
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
    ]
    if logger:
        args += ["--trainer.logger.init_args.name", experiment]
    else:
        args += ["--trainer.logger", "false", "--test_after_fit", "false"]
    if sgurinit:
        args += ["--trainer.callbacks+=lit_mmrec.callbacks.SGURInit", "--trainer.callbacks.init_args.n_clusters", "2"]
    return args


def has_user_table(backbone: type[RecommenderModule]) -> bool:
    """Whether ``backbone`` declares a user table for SG-URInit (built on a small shape to ask it)."""
    return bool(backbone(num_users=10, num_items=12, feature_dims={"image": 8, "text": 4}).user_init_targets())


def dense_bipartite(users, items, num_users: int, num_items: int):
    """Dense ``D^-1/2 A D^-1/2`` of the user-item graph (users first): the reference for the sparse one."""
    import torch

    n = num_users + num_items
    a = torch.zeros(n, n)
    a[users, items + num_users] = 1
    a[items + num_users, users] = 1
    d = a.sum(1)
    inv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    return inv[:, None] * a * inv[None, :]
