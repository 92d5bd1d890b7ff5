"""Malformed configurations: one line leading with the configuration file and the cause, no usage text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile.support import Run, model_config


def edit(config: dict, path: str, value: object) -> dict:
    *parents, leaf = path.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return config


CASES = {
    "typo'd model argument": ("model.init_args.embeding_dim", 8, ["Option 'embeding_dim' is not accepted", "LightGCN"]),
    "wrong type": ("model.init_args.embedding_dim", "abc", ["model.embedding_dim", "abc"]),
    "unknown backbone": ("model.class_path", "lit_mmrec.models.lightgcn.LightGCNN", ["LightGCNN"]),
    "unknown top-level key": ("modle", 3, ["'modle'"]),
    "typo'd trainer option": ("trainer.max_epoch", 3, ["trainer.max_epoch"]),
    "NaN regulariser weight": ("model.init_args.reg_weight", float("nan"), ["reg_weight must be a finite number"]),
    "infinite learning rate": ("model.init_args.learning_rate", float("inf"), ["learning_rate must be a finite"]),
    "negative learning rate": ("model.init_args.learning_rate", -1e-3, ["learning_rate must be positive"]),
    "negative weight decay": ("model.init_args.weight_decay", -0.1, ["weight_decay must be non-negative"]),
    "zero top-k": ("model.init_args.topk", [0, 20], ["topk must be a non-empty list of positive integers"]),
    "zero batch size": ("data.init_args.batch_size", 0, ["batch_size and eval_chunk_size must be positive"]),
    "experiment escaping checkpoints/": ("experiment", "../../x", ["'../../x'", "checkpoints/"]),
    "absolute experiment": ("experiment", "/tmp/x", ["'/tmp/x'"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_config_mistake_is_one_line(run: Run, tiny: Path, case: str) -> None:
    key, value, names = CASES[case]
    config = run.config(edit(model_config(tiny), key, value))
    line = run.refused(run.train, "fit", "--config", str(config), names=(str(config), *names))
    assert line.startswith(f"error: configuration {config}"), line


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "model: [unclosed\n"], ids=["empty", "a list", "bad YAML"])
def test_unparsable_config_file(run: Run, text: str) -> None:
    config = run.folder / "config.yaml"
    config.write_text(text)
    run.refused(run.train, "fit", "--config", str(config), names=(str(config),))


def test_missing_data_folder_is_named(run: Run, tiny: Path) -> None:
    config = run.config(edit(model_config(tiny), "data.init_args.data_dir", "/nonexistent/folder"))
    run.refused(run.train, "fit", "--config", str(config), names=("data folder /nonexistent/folder does not exist",))


def test_command_line_mistake_names_the_option(run: Run, tiny: Path) -> None:
    config = run.config(model_config(tiny))
    line = run.refused(run.train, "fit", "--config", str(config), "--trainer.max_epochs", "many",
                       names=("trainer.max_epochs", "got many"))  # fmt: skip
    assert "usage" not in line
