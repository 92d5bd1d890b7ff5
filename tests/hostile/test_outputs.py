"""Failures that would otherwise wait until training is over: output folders that cannot be made or written to, and
splits without rows. Each fails before the data load or at setup, before epoch 0, with one line."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from helpers import tiny_rows, write_inter
from hostile.support import Run, model_config

from lit_mmrec import cli


def test_a_file_where_the_checkpoint_folder_should_be(run: Run, tiny: Path) -> None:
    (run.folder / "checkpoints").mkdir()
    (run.folder / "checkpoints" / "hostile").write_text("")
    config = run.config(model_config(tiny))
    run.refused(run.train, "fit", "--config", str(config),
                names=("checkpoints/hostile", "a file is in its place", "--checkpoint.dirpath"))  # fmt: skip


def test_a_file_where_a_parent_of_the_checkpoint_folder_should_be(run: Run, tiny: Path) -> None:
    (run.folder / "checkpoints").write_text("")
    config = run.config(model_config(tiny))
    run.refused(run.train, "fit", "--config", str(config), names=("checkpoints/hostile", "a file is in the way"))


def test_experiment_name_too_long_for_the_file_system(run: Run, tiny: Path) -> None:
    config = run.config(model_config(tiny))
    name = "x" * 300
    run.refused(run.train, "fit", "--config", str(config), "--experiment", name,
                names=(f"checkpoints/{name}", "File name too long", "--experiment"))  # fmt: skip
    assert not (run.folder / "checkpoints").exists()


def test_read_only_checkpoint_folder(run: Run, tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only file system under checkpoints/ (injected: the tests may run as root, whom chmod does not stop)."""
    folder = run.folder / "checkpoints" / "hostile"
    folder.mkdir(parents=True)
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if Path(path).absolute().parent == folder and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    config = run.config(model_config(tiny))
    run.refused(run.train, "fit", "--config", str(config), names=("checkpoints/hostile", "Read-only file system"))


def test_a_file_where_the_log_folder_should_be(run: Run, trained: Path) -> None:
    """``test`` writes its metrics under logs/<experiment>/: checked before the checkpoint is evaluated."""
    (run.folder / "logs").mkdir()
    (run.folder / "logs" / "hostile").write_text("")
    config = run.config(model_config(trained.parents[2] / "tiny"))
    run.refused(run.train, "test", "--config", str(config), "--ckpt_path", str(trained),
                names=("logs/hostile", "--trainer.logger.init_args.save_dir"))  # fmt: skip


def test_a_file_where_the_predictions_folder_should_be(run: Run, trained: Path) -> None:
    (run.folder / "out").write_text("")
    config = run.config(model_config(trained.parents[2] / "tiny"))
    run.refused(run.train, "predict", "--config", str(config), "--ckpt_path", str(trained),
                "--predictions.output_dir", "out", names=("out", "--predictions.output_dir"))  # fmt: skip


def test_the_probe_leaves_no_folder_behind(run: Run, tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folders are made and written to, then removed again: a run refused later leaves no empty folders."""
    probed, probe = [], cli.probe_folder
    monkeypatch.setattr(cli, "probe_folder", lambda folder, option: probed.append(folder) or probe(folder, option))
    config = run.config(model_config(tiny, embedding_dim=-1))
    run.refused(run.train, "fit", "--config", str(config), names=("embedding_dim",))
    assert {str(p) for p in probed} == {"checkpoints/hostile", "logs/hostile"}
    assert list(run.folder.iterdir()) == [run.folder / "config.yaml"]


def data_without(tmp_path: Path, label: int) -> Path:
    """The tiny data set with no rows of split ``label`` (they become training rows)."""
    rows = [(u, i, r, t, 0 if x == label else x) for u, i, r, t, x in tiny_rows()]
    folder = tmp_path / "data" / "tiny"
    write_inter(folder, rows)
    return folder


@pytest.mark.parametrize("subcommand", ["fit", "validate"])
def test_no_validation_rows(run: Run, tmp_path: Path, trained: Path, subcommand: str) -> None:
    """Unchecked, fit ends in an EarlyStopping traceback after the first epoch."""
    config = run.config(model_config(data_without(tmp_path, 1)))
    checkpoint = ("--ckpt_path", str(trained), "--data_changed_ok", "true") if subcommand == "validate" else ()
    run.refused(run.train, subcommand, "--config", str(config), *checkpoint,
                names=("tiny.inter", "no validation rows (x_label 1)"))  # fmt: skip


@pytest.mark.parametrize("subcommand", ["fit", "test"])
def test_no_test_rows(run: Run, tmp_path: Path, trained: Path, subcommand: str) -> None:
    """Unchecked, fit trains to the end, then tests nothing and exits 0 with no metrics."""
    config = run.config(model_config(data_without(tmp_path, 2)))
    checkpoint = ("--ckpt_path", str(trained), "--data_changed_ok", "true") if subcommand == "test" else ()
    run.refused(run.train, subcommand, "--config", str(config), *checkpoint,
                names=("tiny.inter", "no test rows (x_label 2)"))  # fmt: skip
    assert not (run.folder / "checkpoints").exists()
