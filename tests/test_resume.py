"""Exact resume: a fit killed with SIGKILL mid-epoch and resumed with ``--ckpt_path last`` ends like
the uninterrupted fit (same weights, same validation history, same test metrics); and unusable
checkpoints end the program with one ``error:`` line naming the file."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import fit_args as cli_fit_args
from helpers import tiny_rows, write_inter
from probes import train_command, train_env

from lit_mmrec.cli import main


def make_data(folder: Path, num_items: int = 12) -> Path:
    """10 users, ``num_items`` items: 40 training interactions, i.e. 10 batches of 4 per epoch."""
    write_inter(folder, tiny_rows(10, num_items, per_user=6, seed=5))
    rng = np.random.default_rng(6)
    np.save(folder / "image_feat.npy", rng.normal(size=(num_items, 8)).astype(np.float32))
    np.save(folder / "text_feat.npy", rng.normal(size=(num_items, 4)).astype(np.float32))
    return folder


def fit_args(data: Path, experiment: str, epochs: int = 4, model: str = "lit_mmrec.models.lightgcn.LightGCN") -> list[str]:
    return cli_fit_args(model, data, experiment, epochs, embedding_dim=8)


def validation_history(logs: Path) -> dict[int, dict[str, float]]:
    """epoch -> val metrics, over every version folder of one experiment (a resumed run adds one)."""
    history = {}
    for path in sorted(logs.rglob("metrics.csv")):
        for row in csv.DictReader(open(path)):
            if row.get("val/recall@20"):
                history[int(row["epoch"])] = {k: float(v) for k, v in row.items() if k.startswith("val/") and v}
    return history


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=False)["state_dict"]


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path, monkeypatch):
    data = make_data(tmp_path / "data")
    flag = tmp_path / "paused"
    # epochs 0 and 1 complete (last.ckpt at the end of epoch 1), then killed in the middle of epoch 2
    killed = subprocess.Popen(
        train_command(*fit_args(data, "run"), "--trainer.callbacks+=probes.PauseAt",
                      "--trainer.callbacks.init_args.epoch", "2", "--trainer.callbacks.init_args.batch", "5",
                      "--trainer.callbacks.init_args.flag", str(flag)),
        cwd=tmp_path, env=train_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not flag.exists():
            assert killed.poll() is None, f"train.py exited early:\n{killed.stderr.read()}"
            assert time.monotonic() < deadline, "train.py never reached epoch 2"
            time.sleep(0.2)
        last = tmp_path / "checkpoints" / "run" / "last.ckpt"
        assert torch.load(last, weights_only=False)["epoch"] == 1
        os.kill(killed.pid, signal.SIGKILL)
    finally:
        killed.kill()
        killed.wait()
    assert killed.returncode == -signal.SIGKILL

    monkeypatch.chdir(tmp_path)
    resumed = main([*fit_args(data, "run"), "--ckpt_path", "last"])
    full = main(fit_args(data, "full"))

    assert resumed.trainer.current_epoch == full.trainer.current_epoch == 4
    a, b = weights(tmp_path / "checkpoints" / "run" / "last.ckpt"), weights(tmp_path / "checkpoints" / "full" / "last.ckpt")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    history = validation_history(tmp_path / "logs" / "run")
    assert sorted(history) == [0, 1, 2, 3]  # epochs 0-1 from the killed run, 2-3 from the resumed one
    assert history == validation_history(tmp_path / "logs" / "full")
    test = {k: float(v) for k, v in resumed.trainer.callback_metrics.items() if k.startswith("test/")}
    assert test and test == {k: float(v) for k, v in full.trainer.callback_metrics.items() if k.startswith("test/")}
    assert Path(resumed.trainer.checkpoint_callback.best_model_path).name == Path(
        full.trainer.checkpoint_callback.best_model_path).name


def test_resume_replays_global_randomness(tmp_path, monkeypatch):
    """FREEDOM prunes its user-item graph with the global generator in its own ``on_train_epoch_start``,
    so the reseeding must come first (dropout in ``forward``, as in LGMRec, draws from the same generator)."""
    data = make_data(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    freedom = ["--model.feat_embed_dim", "8", "--model.knn_k", "3", "--test_after_fit", "false"]
    for experiment, epochs, resume in (("part", 1, []), ("part", 2, ["--ckpt_path", "last"]), ("full", 2, [])):
        main([*fit_args(data, experiment, epochs, "lit_mmrec.models.freedom.FREEDOM"), *freedom, *resume])
    a, b = weights(tmp_path / "checkpoints" / "part" / "last.ckpt"), weights(tmp_path / "checkpoints" / "full" / "last.ckpt")
    for name in a:
        assert torch.equal(a[name], b[name]), name


# ----------------------------------------------------------------- unusable checkpoints
@pytest.fixture(scope="module")
def trained_once(tmp_path_factory) -> Path:
    """A 1-epoch LightGCN checkpoint on the 12-item data (checkpoints/ok/last.ckpt under the returned folder)."""
    root = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        main([*fit_args(make_data(root / "data"), "ok", epochs=1), "--test_after_fit", "false"])
    return root


@pytest.fixture
def trained(trained_once, tmp_path, monkeypatch) -> Path:
    """A copy of ``trained_once`` that a test may damage, as the working folder."""
    shutil.copytree(trained_once, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def error_line(capsys, args: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def validate_args(fit: list[str], ckpt: str | Path) -> list[str]:
    return ["validate", *fit[1:], "--ckpt_path", str(ckpt)]


@pytest.mark.parametrize("how", ["truncated", "garbage", "not a checkpoint"])
def test_corrupt_checkpoint_gives_one_clear_line(trained, capsys, how):
    good = trained / "checkpoints" / "ok" / "last.ckpt"
    bad = trained / "bad.ckpt"
    if how == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif how == "garbage":
        bad.write_bytes(b"not a torch file at all")
    else:
        torch.save({"weights": torch.zeros(2)}, bad)
    line = error_line(capsys, validate_args(fit_args(trained / "data", "x"), bad))
    assert str(bad) in line
    assert ("cannot read checkpoint" in line) if how != "not a checkpoint" else ("not a Lightning checkpoint" in line)


def test_truncated_last_checkpoint_on_resume(trained, capsys):
    last = trained / "checkpoints" / "ok" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    line = error_line(capsys, [*fit_args(trained / "data", "ok", epochs=2), "--ckpt_path", "last"])
    assert "cannot read checkpoint" in line and str(last) in line


def test_checkpoint_of_other_data_set(trained, capsys):
    other = make_data(trained / "other", num_items=14)
    args = validate_args(fit_args(other, "x"), trained / "checkpoints" / "ok" / "last.ckpt")
    line = error_line(capsys, args)
    assert "last.ckpt was trained on other data" in line and "num_items 12 -> 14" in line
    line = error_line(capsys, [*args, "--data_changed_ok", "true"])
    assert "last.ckpt does not fit LightGCN with 10 users and 14 items" in line
    assert "item_embedding" in line


@pytest.mark.parametrize("given", ["path", "last"])
def test_checkpoint_of_other_model_class(trained, capsys, given):
    ckpt = trained / "checkpoints" / "ok" / "last.ckpt"
    vbpr = fit_args(trained / "data", "ok", epochs=2, model="lit_mmrec.models.vbpr.VBPR")
    args = validate_args(vbpr, ckpt) if given == "path" else [*vbpr, "--ckpt_path", "last"]
    line = error_line(capsys, args)
    assert f"checkpoint {ckpt} holds a lit_mmrec.models.lightgcn.LightGCN" in line
    assert "configuration builds a lit_mmrec.models.vbpr.VBPR" in line
