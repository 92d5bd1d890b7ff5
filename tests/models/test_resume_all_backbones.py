"""Every backbone resumes exactly: through ``train.py``'s CLI, one epoch then ``--ckpt_path last`` for a second
ends with the weights of two uninterrupted epochs (SG-URInit on where the backbone has a user table, so a resumed
fit must not initialise again). Backbones are discovered, so a new one is covered without touching this file;
per-epoch state (re-drawn graphs, second optimisers, schedulers, the epoch seed) that the checkpoint misses shows
up here. A kill in the middle of an epoch is ``tests/test_resume.py``'s subject (on LightGCN)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import discover_backbones, fit_args, has_user_table
from test_resume import make_data, weights

from lit_mmrec.cli import main

BACKBONES = discover_backbones()

pytestmark = pytest.mark.usefixtures("isolated_cache", "single_thread")


def fit(backbone: type, data: Path, experiment: str, epochs: int, *extra: str) -> None:
    model = f"{backbone.__module__}.{backbone.__name__}"
    main([*fit_args(model, data, experiment, epochs, sgurinit=has_user_table(backbone), logger=False), *extra])


@pytest.mark.parametrize("backbone", BACKBONES, ids=lambda cls: cls.__name__)
def test_a_resumed_fit_ends_with_the_uninterrupted_weights(backbone, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = make_data(tmp_path / "data")
    fit(backbone, data, "full", 2)
    fit(backbone, data, "part", 1)
    fit(backbone, data, "part", 2, "--ckpt_path", "last")
    full, resumed = weights(Path("checkpoints/full/last.ckpt")), weights(Path("checkpoints/part/last.ckpt"))
    assert full.keys() == resumed.keys()
    differ = [name for name, value in full.items() if not torch.equal(value, resumed[name])]
    assert not differ, f"{backbone.__name__}: resumed weights differ from the uninterrupted fit's: {differ}"
