"""End-to-end runs of train.py's CLI on tiny data (in-process)."""

import csv
import hashlib
import json
from pathlib import Path

import pytest
import torch

from lit_mmrec.callbacks.early_stopping import StoppingRule
from lit_mmrec.cli import main


def base_args(data_dir: Path, experiment: str, epochs: int) -> list[str]:
    return [
        "--model", "lit_mmrec.models.lightgcn.LightGCN",
        "--model.embedding_dim", "8",
        "--data", "lit_mmrec.data.datamodule.MMRecDataModule",
        "--data.data_dir", str(data_dir),
        "--data.batch_size", "8",
        "--experiment", experiment,
        "--trainer.max_epochs", str(epochs),
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--trainer.logger.init_args.save_dir", "logs",
    ]


def metric_lines(out: str, prefix: str) -> dict[str, str]:
    """``{name: printed value}`` of the metric lines ``  <prefix>/<name>  <value>`` in ``out``."""
    return dict(line.split() for line in out.splitlines() if line.startswith(f"  {prefix}/"))


def test_fit_then_test_best_checkpoint(tiny_dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cli = main(["fit", *base_args(tiny_dataset, "e2e", 3)])
    out = capsys.readouterr().out
    assert "Test metrics at the best-validation checkpoint" in out
    assert (tmp_path / "checkpoints" / "e2e" / "last.ckpt").is_file()
    assert cli.trainer.current_epoch == 3
    metrics = cli.trainer.callback_metrics
    assert 0.0 <= float(metrics["test/recall@20"]) <= 1.0
    # the default stopping rule is warmup50_patience50: patience 50, counted after 50 epochs
    stopping = next(c for c in cli.trainer.callbacks if isinstance(c, StoppingRule))
    assert (stopping.patience, stopping.warmup, stopping.relative_min_delta) == (50, 50, 0.0)
    # one line says how the run ended: the rule, the last epoch, the best value, its epoch and checkpoint
    best = cli.trainer.checkpoint_callback.best_model_path
    (line,) = [line for line in out.splitlines() if line.startswith("Training ended")]
    assert line == (
        "Training ended after epoch 2 without an early stop (rule warmup50_patience50: patience 50 after a "
        f"50-epoch warm-up); best val/recall@20 {float(stopping.best_score):.4f} at epoch {stopping.best_epoch}; "
        f"best checkpoint: {best}"
    )
    assert f"best-epoch={stopping.best_epoch:03d}.ckpt" in best
    printed = metric_lines(out, "test")
    assert printed and all(len(value.split(".")[1]) == 4 for value in printed.values())
    # beside metrics.csv: the checkpoint those test metrics come from, by path and content, and the data
    (metrics,) = (tmp_path / "logs").rglob("metrics.csv")
    record = json.loads((metrics.parent / "provenance.json").read_text())
    assert record["checkpoint"] == {"path": best, "sha256": hashlib.sha256(Path(best).read_bytes()).hexdigest()}
    assert record["resumed_from"] is None and record["data"]["dataset"] == "tiny"


def test_early_stop_is_reported_in_one_line(tiny_dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cli = main(["fit", *base_args(tiny_dataset, "stop", 40), "--test_after_fit", "false",
                "--early_stopping.warmup", "0", "--early_stopping.patience", "1", "--early_stopping.min_delta", "1"])
    out = capsys.readouterr().out
    stopping = next(c for c in cli.trainer.callbacks if isinstance(c, StoppingRule))
    assert stopping.stopped_epoch == 1 and stopping.best_epoch == 0  # nothing beats epoch 0 by a full 1.0
    (line,) = [line for line in out.splitlines() if line.startswith("Early stopping")]
    assert line.startswith(
        "Early stopping ended the run after epoch 1 (patience 1 from the first epoch, min_delta 1): "
        f"val/recall@20 did not improve for 1 validation; best val/recall@20 {float(stopping.best_score):.4f} "
        "at epoch 0; best checkpoint: "
    )
    assert line.endswith(str(tmp_path / "checkpoints" / "stop" / "best-epoch=000.ckpt"))


def test_validate_and_test_print_the_metrics_as_fit_does(tiny_dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["fit", *base_args(tiny_dataset, "evaluate", 2)])
    after_fit = metric_lines(capsys.readouterr().out, "test")
    best = next((tmp_path / "checkpoints" / "evaluate").glob("best-*.ckpt"))
    main(["test", *base_args(tiny_dataset, "evaluate", 2), "--ckpt_path", str(best)])
    out = capsys.readouterr().out
    assert f"Test metrics at checkpoint {best}:" in out
    assert metric_lines(out, "test") == after_fit  # the same checkpoint, the same digits
    assert "DataLoader 0" not in out  # Lightning's results table (every digit of a float) is not printed
    main(["validate", *base_args(tiny_dataset, "evaluate", 2), "--ckpt_path", str(best)])
    printed = metric_lines(capsys.readouterr().out, "val")
    assert "val/recall@20" in printed and all(len(value.split(".")[1]) == 4 for value in printed.values())
    main(["validate", *base_args(tiny_dataset, "evaluate", 2), "--ckpt_path", str(best), "--verbose", "false"])
    assert not metric_lines(capsys.readouterr().out, "val")


def test_experiment_names_the_log_folder(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "named.yaml"
    config.write_text("trainer:\n  logger:\n    class_path: lightning.pytorch.loggers.CSVLogger\n"
                      "    init_args: {save_dir: logs, name: from_config}\n")
    with pytest.warns(UserWarning, match="logger's name 'from_config' is replaced by the experiment's, 'mine'"):
        main(["fit", "--config", str(config), *base_args(tiny_dataset, "mine", 1), "--test_after_fit", "false"])
    assert (tmp_path / "logs" / "mine" / "version_0" / "metrics.csv").is_file()
    assert not (tmp_path / "logs" / "from_config").exists()
    # the experiment runner's explicit save_dir and name (the experiment's) are kept
    main(["fit", *base_args(tiny_dataset, "run1", 1), "--test_after_fit", "false",
          "--trainer.logger.init_args.save_dir", "study/logs", "--trainer.logger.init_args.name", "run1"])
    assert (tmp_path / "study" / "logs" / "run1" / "version_0" / "metrics.csv").is_file()


def test_model_help_shows_the_linked_arguments_as_not_required(capsys):
    config = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(config), "--model.help", "LightGCN"])
    out = capsys.readouterr().out
    assert "--model.embedding_dim" in out and "--model.num_users" in out
    assert "required" not in out


def test_help_lists_every_backbone_and_model_help_takes_a_class_name():
    """In a fresh interpreter (nothing imported beforehand), ``fit --help`` names every backbone class of
    ``lit_mmrec.models`` and ``--model.help`` resolves a bare class name."""
    import subprocess
    import sys

    from helpers import discover_backbones

    root = Path(__file__).resolve().parents[1]
    shown = subprocess.run([sys.executable, "train.py", "fit", "--help"], cwd=root, capture_output=True, text=True,
                           check=True).stdout
    missing = [cls.__name__ for cls in discover_backbones() if f"{cls.__module__}.{cls.__name__}" not in shown]
    assert not missing, missing
    one = subprocess.run([sys.executable, "train.py", "fit", "--model.help", "MMSSL"], cwd=root, capture_output=True,
                         text=True, check=True).stdout
    assert "--model.discriminator_negative_slope" in one


def test_mmrec_rule_by_name(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli = main(["fit", *base_args(tiny_dataset, "mmrec", 1), "--early_stopping.rule", "mmrec", "--test_after_fit",
                "false"])
    stopping = next(c for c in cli.trainer.callbacks if isinstance(c, StoppingRule))
    assert (stopping.patience, stopping.warmup) == (20, 0)
    # another named rule
    cli = main(["fit", *base_args(tiny_dataset, "warmup50", 1), "--early_stopping.rule", "warmup50",
                "--test_after_fit", "false"])
    stopping = next(c for c in cli.trainer.callbacks if isinstance(c, StoppingRule))
    assert (stopping.patience, stopping.warmup) == (20, 50)


def test_resume_from_last_continues(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(["fit", *base_args(tiny_dataset, "resume", 2), "--test_after_fit", "false"])
    first = torch.load(tmp_path / "checkpoints" / "resume" / "last.ckpt", weights_only=False)
    assert first["epoch"] == 1
    cli = main(["fit", *base_args(tiny_dataset, "resume", 4), "--test_after_fit", "false", "--ckpt_path", "last"])
    assert cli.trainer.current_epoch == 4
    second = torch.load(tmp_path / "checkpoints" / "resume" / "last.ckpt", weights_only=False)
    assert second["epoch"] == 3
    # the resumed run logged epochs 2 and 3 only
    logs = sorted((tmp_path / "logs").rglob("metrics.csv"))
    epochs = {int(r["epoch"]) for r in csv.DictReader(open(logs[-1])) if r.get("val/recall@20")}
    assert epochs == {2, 3}


def test_resume_takes_the_stopping_rule_given_now(tiny_dataset, tmp_path, monkeypatch):
    # A run stopped by patience 1 is extended under a longer patience given on resume: the counters (best value,
    # validations without improvement) come from the checkpoint, the rule from the command line.
    monkeypatch.chdir(tmp_path)
    args = [*base_args(tiny_dataset, "extend", 40), "--test_after_fit", "false", "--early_stopping.warmup", "0"]
    first = main(["fit", *args, "--early_stopping.patience", "1"])
    stopped = first.trainer.current_epoch
    assert stopped < 40  # patience 1 stopped it
    with pytest.warns(UserWarning, match="patience 1000.*checkpoint.*patience 1 "):
        resumed = main(["fit", *base_args(tiny_dataset, "extend", stopped + 3), "--test_after_fit", "false",
                        "--early_stopping.warmup", "0", "--early_stopping.patience", "1000", "--ckpt_path", "last"])
    rule = next(c for c in resumed.trainer.callbacks if isinstance(c, StoppingRule))
    assert rule.patience == 1000 and resumed.trainer.current_epoch == stopped + 3
    assert float(rule.best_score) >= float(next(c for c in first.trainer.callbacks
                                                 if isinstance(c, StoppingRule)).best_score)


def test_resumed_run_equals_uninterrupted(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    full = main(["fit", *base_args(tiny_dataset, "full", 4), "--test_after_fit", "false"])
    main(["fit", *base_args(tiny_dataset, "part", 2), "--test_after_fit", "false"])
    resumed = main(["fit", *base_args(tiny_dataset, "part", 4), "--test_after_fit", "false", "--ckpt_path", "last"])
    for a, b in zip(full.model.parameters(), resumed.model.parameters(), strict=False):
        assert torch.allclose(a, b, atol=1e-6)


def test_same_config_and_seed_give_identical_runs(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = []
    for name in ("first", "second"):
        torch.rand(1000)  # another global random state before each run: the configured seed alone decides
        cli = main([
            "fit", *base_args(tiny_dataset, name, 3), "--trainer.logger.init_args.name", name,
            "--trainer.callbacks+=lit_mmrec.callbacks.SGURInit", "--trainer.callbacks.init_args.n_clusters", "2",
        ])
        rows = list(csv.DictReader(open(next((tmp_path / "logs" / name).rglob("metrics.csv")))))
        history = [{k: v for k, v in r.items() if k.startswith("val/") and v} for r in rows if r.get("val/recall@20")]
        test = {k: float(v) for k, v in cli.trainer.callback_metrics.items() if k.startswith("test/")}
        runs.append((history, test, {k: v.clone() for k, v in cli.model.state_dict().items()}))
    (history_a, test_a, weights_a), (history_b, test_b, weights_b) = runs
    assert len(history_a) == 3 and history_a == history_b  # every epoch's validation metrics, as logged
    assert test_a and test_a == test_b
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


@pytest.mark.parametrize(
    "override, message",
    [
        (["--model.topk", "[0, 20]"], "topk must be a non-empty list of positive integers"),
        (["--data.data_dir", "/nonexistent/folder"], "data folder /nonexistent/folder does not exist; "
                                                     "`python -m lit_mmrec.prepare --help` makes one"),
    ],
)
def test_bad_config_gives_one_clear_line(tiny_dataset, tmp_path, monkeypatch, capsys, override, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *base_args(tiny_dataset, "bad", 1), *override])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any(line.startswith("error:") and message in line for line in err)
    assert "Traceback" not in "\n".join(err)


def test_unknown_model_is_rejected(tiny_dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = base_args(tiny_dataset, "bad", 1)
    args[1] = "lit_mmrec.models.NoSuchModel"
    with pytest.raises(SystemExit):
        main(["fit", *args])
    assert "NoSuchModel" in capsys.readouterr().err


def test_torch_state_dict_error_is_recognised():
    """cli.state_dict_mismatch matches torch's load_state_dict wording: if a torch upgrade changes
    it, a checkpoint of another data set would end in a traceback; this test says so first."""
    from lit_mmrec.cli import state_dict_mismatch

    with pytest.raises(RuntimeError) as error_info:
        torch.nn.Linear(2, 3).load_state_dict({"weight": torch.zeros(3, 3), "bias": torch.zeros(3)})
    assert state_dict_mismatch(error_info.value)
    assert not state_dict_mismatch(RuntimeError("CUDA out of memory"))


def test_lightning_cli_calls_the_subcommand_methods():
    """MMRecCLI.fit/validate/test/predict wrap the trainer's (checkpoint errors, streaming predict):
    LightningCLI must call a CLI method named after the subcommand, and take parser errors as
    exceptions when exit_on_error is False. If a Lightning upgrade stops either, this fails."""
    import inspect

    from jsonargparse import ArgumentError
    from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

    source = inspect.getsource(LightningCLI._run_subcommand)
    assert "getattr(self, subcommand" in source, "LightningCLI does not call MMRecCLI.fit/test/...: see cli.py"
    parser = LightningArgumentParser(exit_on_error=False)
    parser.add_argument("--epochs", type=int)
    with pytest.raises(ArgumentError, match="epochs"):
        parser.parse_args(["--epochs", "many"])


def test_error_chain_honours_raise_from_none():
    from lit_mmrec.errors import error_line, root_cause

    try:
        try:
            int("abc")
        except ValueError:
            raise ValueError("tiny.inter, line 5: column 'x_label' must hold 0/1/2 integers") from None
    except ValueError as error:
        assert root_cause(error) is error
        assert error_line(error) == "error: tiny.inter, line 5: column 'x_label' must hold 0/1/2 integers"


def test_console_shows_data_warnings_but_no_framework_notices(tiny_dataset, tmp_path, monkeypatch, capsys):
    """A normal fit: no torch/Lightning notice the user cannot act on (pytree's LeafSpec, the logging
    interval, sparse beta), no v_num in the progress bar; a warning about the user's data still shows."""
    import warnings

    from helpers import tiny_rows, write_inter

    from lit_mmrec.callbacks.progress import QuietProgressBar

    write_inter(tiny_dataset, tiny_rows() + [(8, 1, 1, 1, 0), (8, 2, 1, 1, 1)])  # users 6 and 7 never occur
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli = main(["fit", *base_args(tiny_dataset, "console", 1)[:-6], "--test_after_fit", "false"])
    messages = [str(w.message) for w in caught]
    assert any("userIDs 0..8 never occur" in m for m in messages), messages
    noise = ("LeafSpec", "logging interval", "Sparse", "sync_dist", "batch indices")
    assert not [m for m in messages if any(n in m for n in noise)], messages
    bar = next(c for c in cli.trainer.callbacks if isinstance(c, QuietProgressBar))
    assert "v_num" not in bar.get_metrics(cli.trainer, cli.model)


def test_metric_tables_sort_numbers_in_names_by_value():
    from lit_mmrec.console import metrics_table

    table = metrics_table("T", {"test/users_10-12/recall@20": 0.2, "test/users_3-9/recall@20": 0.1, "test/recall@20": 0.3})
    assert [line.split()[0] for line in table.splitlines()[1:]] == [
        "test/recall@20", "test/users_3-9/recall@20", "test/users_10-12/recall@20"]
