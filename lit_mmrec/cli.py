"""``train.py``: LightningCLI with fit / validate / test / predict.

Beyond stock LightningCLI:
- ``num_users``, ``num_items`` and ``feature_dims`` are linked from the data module into
  the model once the data module exists (``apply_on="instantiate"``), and ``--model.help`` shows them
  as linked rather than required;
- ``--experiment NAME`` names the run's folders: ``checkpoints/NAME/``, ``logs/NAME/version_N/`` (the
  logger's ``name``; its ``save_dir`` stays configurable) and ``predictions/NAME/``;
- a ModelCheckpoint (best on ``val/recall@20`` + ``last``) under ``checkpoints/<experiment>/``
  and early stopping (:class:`~lit_mmrec.callbacks.early_stopping.StoppingRule`: patience 50 after a 50-epoch
  warm-up by default, ``warmup50_patience50``; ``--early_stopping.rule mmrec`` for MMRec's rule;
  ``--early_stopping.rule``, ``.warmup``, ``.relative_min_delta``) are always present,
  configurable as ``--checkpoint.*`` and ``--early_stopping.*``;
- after ``fit``, one line says when and why the run ended (the stopping rule, the last epoch, the best
  value, its epoch and checkpoint), and the best-validation checkpoint is tested (the protocol's reported
  number); ``fit``, ``validate`` and ``test`` print their metrics in one format
  (:func:`~lit_mmrec.console.metrics_table`) instead of Lightning's results table;
- checkpoints are written atomically (:class:`~lit_mmrec.callbacks.AtomicCheckpointIO`) and the
  global random generators are reseeded from ``(seed, epoch)`` every epoch
  (:class:`~lit_mmrec.callbacks.EpochSeed`), so that ``--ckpt_path last`` resumes exactly;
- ``predict`` writes every user's top-K items through :class:`~lit_mmrec.callbacks.TopKWriter`
  (``--predictions.*``, files under ``predictions/<experiment>/`` by default) and keeps nothing in memory;
- a NaN or Inf training loss stops the run before it is validated or checkpointed
  (:class:`~lit_mmrec.callbacks.finite_loss.FiniteLoss`);
- configuration, data and checkpoint errors end the program with one line ``error: ...`` naming the
  file, and exit code 2 (:mod:`lit_mmrec.errors`): a ``--ckpt_path`` that does not exist is an error
  (only ``fit --ckpt_path last`` starts fresh when there is no checkpoint yet), and configuration
  errors lead with their cause, without the usage text (``--help`` shows it).
- provenance: ``validate``, ``test`` and ``predict`` evaluate trained weights only: without ``--ckpt_path``
  they refuse (one line saying how to name a checkpoint; ``--ckpt_path last`` is the experiment's
  ``last.ckpt``), rather than guess a checkpoint. Every checkpoint holds the data's fingerprint
  (:func:`~lit_mmrec.data.datamodule.data_fingerprint`: split sizes and hashes, feature shapes and hashes);
  resuming, validating, testing or predicting on data with another fingerprint is refused, naming what
  differs, unless ``--data_changed_ok true``. ``provenance.json`` beside the logger's ``metrics.csv`` and
  ``top<K>.provenance.json`` beside the recommendations record the checkpoint (path, SHA-256 of its content)
  and the data fingerprint that produced them. ``fit --trainer.max_epochs 0`` is refused unless
  ``--test_after_fit false`` (it then only runs the setup, e.g. SG-URInit), and so is any value below -1;
- before the data load, every output folder (checkpoints and logs for ``fit``, logs for ``validate`` and
  ``test``, the predictions' folder for ``predict``) is made and written to with a probe file
  (:func:`~lit_mmrec.errors.probe_folder`), so a file in the way, a read-only folder or a name too long
  fails at once; a split the command evaluates on without rows is refused at setup (``fit`` also checks
  the test split before training when it tests after);
- SIGTERM and SIGINT end a command with one line and exit code 128 + the signal's number (143, 130).
  Lightning's own SIGTERM handler (which this relies on) finishes the current batch and stops the loop with
  a ``SIGTERMException``, which would exit 0; its ``KeyboardInterrupt`` handling exits 1. ``last.ckpt``,
  written atomically at the end of every epoch, holds the last completed epoch, and ``fit --ckpt_path last``
  resumes from it exactly (the interrupted epoch is trained again);

Only LightningCLI's public hooks are overridden (``init_parser``, ``parse_arguments``,
``before_instantiate_classes``, ``instantiate_classes``, ``after_fit``/``after_predict``); the
progress bar, EpochSeed, FiniteLoss and AtomicCheckpointIO are added to the parsed configuration
unless one of their kind is configured. Two couplings remain, each pinned by a test in
``tests/test_cli.py`` that fails on an upgrade breaking it: LightningCLI runs a subcommand through
a CLI method of that name when there is one (``fit``/``validate``/``test``/``predict`` below), and
torch's ``load_state_dict`` refusal is recognised by its text (:func:`state_dict_mismatch`).
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import re
import shutil
import signal
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import torch
from jsonargparse import ArgumentError, Namespace
from lightning.fabric.plugins import CheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lit_mmrec.callbacks.checkpoint_io import AtomicCheckpointIO, CheckpointError, unreadable
from lit_mmrec.callbacks.early_stopping import DEFAULT_RULE, RULES, StoppingRule
from lit_mmrec.callbacks.epoch_seed import EpochSeed
from lit_mmrec.callbacks.finite_loss import FiniteLoss
from lit_mmrec.callbacks.prediction_writer import TopKWriter
from lit_mmrec.callbacks.progress import QuietProgressBar
from lit_mmrec.console import metrics_table, setup_process
from lit_mmrec.data.datamodule import MMRecDataModule, fingerprint_differences
from lit_mmrec.errors import InputError, error_line, probe_folder
from lit_mmrec.models.base import MONITOR, RecommenderModule


class ConfigError(InputError):
    """The command line or a configuration file does not parse; the message leads with the cause."""


#: lines of jsonargparse's messages that only restate the type being checked
_NOISE = re.compile(
    r"^(Does not validate against any of the Union subtypes|Subtypes: |Errors:$|Expected a <class 'NoneType'>|"
    r"Given value type: )"
)


def condense(message: str, source: str = "") -> str:
    """jsonargparse's nested message on one line, the cause first, then where it was found.

    ``Parser key "model": ... Problem with given class_path 'X': Parser key "embedding_dim":
    Expected a <class 'int'>. Got value: abc`` from ``source`` ``configuration c.yaml`` becomes
    ``configuration c.yaml: Expected a <class 'int'>. Got value: abc (at model.embedding_dim, class X)``.
    """
    keys, classes, causes = [], [], []
    for line in message.splitlines():
        line = line.strip().removeprefix("- ").strip()
        if not line or _NOISE.match(line):
            continue
        if key := re.match(r'^Parser key "([^"]+)":\s*(.*)$', line):
            keys.append(key.group(1))
            line = key.group(2)
        if klass := re.match(r"^Problem with given class_path '([^']+)':\s*(.*)$", line):
            classes.append(klass.group(1))
            line = klass.group(2)
        if line.startswith("Given value: "):
            value = line.removeprefix("Given value: ")
            line = "" if value.startswith("{") else f"(got {value[:60]})"  # a class's dict is not worth showing
        if line:
            causes.append(line)
    cause = " ".join(" ".join(causes).split()) or message.strip()
    cause = cause.replace('"<unicode string>"', "the configuration file")
    if cause.startswith("Unexpected config:"):
        cause = "a configuration file is empty or not a mapping of options"
    where = ([f"at {'.'.join(keys)}"] if keys else []) + ([f"class {classes[-1]}"] if classes else [])
    cause = f"{source}: {cause}" if source else cause
    return f"{cause} ({', '.join(where)})" if where else cause


class MMRecCLI(LightningCLI):
    """LightningCLI wired for lit-mmrec's data modules and backbones."""

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        # parse errors raise (main prints them as one line) instead of printing the usage text
        return super().init_parser(**{"exit_on_error": False, **kwargs})

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--experiment",
            type=str,
            default="default",
            help="Run name: checkpoints/<experiment>/, logs/<experiment>/ and predictions/<experiment>/",
        )
        parser.add_argument(
            "--test_after_fit", type=bool, default=True, help="Test the best-validation checkpoint after fit."
        )
        parser.add_argument(
            "--data_changed_ok", type=bool, default=False,
            help="Resume, validate, test or predict even though the data differ from the checkpoint's fingerprint.",
        )
        for source in ("num_users", "num_items", "feature_dims"):
            parser.link_arguments(f"data.{source}", f"model.init_args.{source}", apply_on="instantiate")
        show_links_in_class_help(parser, "model")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {"checkpoint.monitor": MONITOR, "checkpoint.mode": "max", "checkpoint.filename": "best-{epoch:03d}"}
        )
        # A second, unmonitored checkpoint rewritten every epoch: Lightning >= 2.5 refreshes the
        # `save_last` copy of a monitored checkpoint only when the monitor improved, which would
        # make `--ckpt_path last` resume from the best epoch rather than the last one.
        parser.add_lightning_class_args(ModelCheckpoint, "last_checkpoint")
        parser.set_defaults(
            {
                "last_checkpoint.monitor": None,
                "last_checkpoint.filename": "last",
                "last_checkpoint.save_top_k": 1,
                "last_checkpoint.enable_version_counter": False,
            }
        )
        for key in ("checkpoint", "last_checkpoint"):
            parser.link_arguments("experiment", f"{key}.dirpath", compute_fn=lambda name: f"checkpoints/{name}")
        # Lightning's EarlyStopping plus a warm-up, a relative min_delta and named rules; the default is
        # DEFAULT_RULE (patience 50 counted after 50 epochs; `--early_stopping.rule mmrec` is MMRec's rule exactly)
        parser.add_lightning_class_args(StoppingRule, "early_stopping")
        parser.set_defaults({"early_stopping.monitor": MONITOR, "early_stopping.mode": "max",
                             "early_stopping.patience": RULES[DEFAULT_RULE]["patience"],
                             "early_stopping.warmup": RULES[DEFAULT_RULE]["warmup"]})
        # present in every subcommand (so one config file serves fit and predict); acts only in predict
        parser.add_lightning_class_args(TopKWriter, "predictions")
        parser.set_defaults(
            {
                "trainer.max_epochs": 1000,
                "trainer.use_distributed_sampler": False,  # loaders shard exactly; no padding
                "trainer.num_sanity_val_steps": 0,
                "trainer.logger": {
                    "class_path": "lightning.pytorch.loggers.CSVLogger",
                    "init_args": {"save_dir": "logs"},
                },
            }
        )

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse, then refuse an experiment name outside ``checkpoints/`` and a ``--ckpt_path`` that
        is missing, unreadable or of another model class, before anything is built."""
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        if subcommand is None:
            return
        config = self.config[subcommand]
        check_experiment(config.experiment, configuration(self.config))
        if subcommand == "fit":
            check_max_epochs(config, configuration(self.config))
        elif config.get("ckpt_path") is None:
            raise ConfigError(
                f"{subcommand} evaluates trained weights: name them with --ckpt_path FILE (a .ckpt file), or "
                f"--ckpt_path last (checkpoints/{config.experiment}/last.ckpt of the last fit of this experiment)"
            )
        checkpoint = resolve_checkpoint(config, subcommand)
        #: the checkpoint file ``--ckpt_path`` names, and the data fingerprint it records
        self.checkpoint_file, self.checkpoint_fingerprint = checkpoint, None
        if checkpoint is not None:
            self.checkpoint_fingerprint = check_checkpoint(checkpoint, model_class_path(config))
            if subcommand == "fit":  # resuming: the folder holds this run's checkpoints, as it should
                warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
            if config.ckpt_path == "last" and subcommand != "fit":
                config.ckpt_path = str(checkpoint)  # Lightning would evaluate the untrained model if "last" vanished

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        if config.get("predictions") is not None and config.predictions.get("output_dir") is None:
            config.predictions.output_dir = f"predictions/{config.experiment}"
        check_data_folder(config, configuration(self.config))
        if rank_zero_only.rank == 0:  # the process that writes them (DDP's other ranks start later, and may race)
            for folder, option in output_folders(config, self.subcommand):
                probe_folder(folder, option)
        trainer = config.trainer
        name_loggers(trainer, config.experiment)
        if trainer.get("enable_progress_bar") is not False:
            add_unless_present(trainer, "callbacks", ProgressBar, QuietProgressBar)
        add_unless_present(trainer, "callbacks", EpochSeed, EpochSeed)
        add_unless_present(trainer, "callbacks", FiniteLoss, FiniteLoss)
        add_unless_present(trainer, "plugins", CheckpointIO, AtomicCheckpointIO)

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except (InputError, ConfigError):
            raise
        except (ValueError, FileNotFoundError) as error:  # a constructor refused its arguments
            raise ConfigError(f"{configuration(self.config)}: {error_line(error).removeprefix('error: ')}") from error

    def fit(self, **kwargs: Any) -> None:
        """``trainer.fit`` after the data are checked against a resumed checkpoint and the test split is
        checked to hold rows (when ``--test_after_fit``); SIGTERM or SIGINT ends it with exit code 128 + the
        signal's number (:meth:`interrupted`)."""
        self.check_data()
        if self.config[self.subcommand].get("test_after_fit", True) and hasattr(self.datamodule, "require_rows"):
            self.datamodule.require_rows("test")
        with self.interrupted(), self.checkpoint_errors():
            self.trainer.fit(**kwargs)

    def validate(self, **kwargs: Any) -> None:
        """``trainer.validate``, its metrics printed by :func:`~lit_mmrec.console.metrics_table` (``--verbose``)."""
        self.evaluate(self.trainer.validate, "Validation", **kwargs)

    def test(self, **kwargs: Any) -> None:
        """``trainer.test``, its metrics printed by :func:`~lit_mmrec.console.metrics_table` (``--verbose``)."""
        self.evaluate(self.trainer.test, "Test", **kwargs)

    def evaluate(self, run: Any, kind: str, verbose: bool = True, **kwargs: Any) -> None:
        """Run ``trainer.validate`` or ``trainer.test`` without Lightning's results table (``verbose=False``:
        it prints every digit of a float) and print ours when ``verbose``."""
        self.check_data()
        with self.interrupted(), self.checkpoint_errors():
            results = run(verbose=False, **kwargs)
        self.record_provenance(self.trainer.ckpt_path)
        if verbose and self.trainer.is_global_zero and results:
            print(metrics_table(f"{kind} metrics at checkpoint {self.trainer.ckpt_path}:", results[0]))

    def predict(self, **kwargs: Any) -> Any:
        """``trainer.predict`` that keeps nothing in memory unless asked: the writer streams to files."""
        if kwargs.get("return_predictions") is None:
            kwargs["return_predictions"] = False
        self.check_data()
        with self.interrupted(), self.checkpoint_errors():
            return self.trainer.predict(**kwargs)

    def check_data(self) -> None:
        """Refuse a checkpoint whose data fingerprint differs from the data given now, naming what differs,
        unless ``--data_changed_ok``. A checkpoint without a fingerprint is used with a warning."""
        ckpt_path = getattr(self, "checkpoint_file", None)
        stored = getattr(self, "checkpoint_fingerprint", None)
        current = getattr(self.datamodule, "fingerprint", None)
        if ckpt_path is None or current is None:
            return
        if stored is None:
            rank_zero_warn(f"checkpoint {ckpt_path} records no data fingerprint: the data cannot be checked against it")
            return
        differences = fingerprint_differences(stored, current)
        if not differences:
            return
        message = (f"checkpoint {ckpt_path} was trained on other data than {self.datamodule._data_folder()}: "
                   f"{'; '.join(differences)}")
        if not self.config[self.subcommand].get("data_changed_ok", False):
            raise CheckpointError(f"{message} (--data_changed_ok true uses it anyway)")
        rank_zero_warn(f"{message}; used anyway (--data_changed_ok)")

    def record_provenance(self, checkpoint: Any, resumed_from: Any = None) -> None:
        """Write ``provenance.json`` beside the logger's ``metrics.csv``: :func:`provenance` of this run."""
        logger = self.trainer.logger
        folder = getattr(logger, "log_dir", None) if logger is not None else None
        if folder is None or not self.trainer.is_global_zero or not Path(folder).is_dir():
            return
        record = provenance(self.subcommand, checkpoint, getattr(self.datamodule, "fingerprint", None), resumed_from)
        write_json(Path(folder) / "provenance.json", record)

    @contextlib.contextmanager
    def interrupted(self) -> Iterator[None]:
        """SIGTERM (Lightning's handler stops the loop with a ``SIGTERMException``, exit code 0 by itself) and
        SIGINT (Lightning's ``KeyboardInterrupt`` handling exits with code 1) end the program with one line
        saying which checkpoint to resume from and exit code 128 + the signal's number, as a shell reports a
        process ended by that signal."""
        try:
            yield
        except SIGTERMException:
            self.exit_on_signal(signal.SIGTERM)
        except SystemExit as error:
            if isinstance(error.__context__, KeyboardInterrupt):
                self.exit_on_signal(signal.SIGINT)
            raise
        except KeyboardInterrupt:
            self.exit_on_signal(signal.SIGINT)

    def exit_on_signal(self, number: signal.Signals) -> NoReturn:
        last = next((Path(c.dirpath) / f"{c.filename}{c.FILE_EXTENSION}" for c in self.trainer.checkpoint_callbacks
                     if isinstance(c, ModelCheckpoint) and c.dirpath and c.filename == "last"), None)
        if self.subcommand != "fit":
            resume = "nothing is written"
        elif last is not None and last.is_file():
            saved = torch.load(last, map_location="cpu", weights_only=True, mmap=True).get("epoch")
            resume = f"{last} holds epoch {saved}: --ckpt_path last resumes from it"
        else:
            resume = "no epoch was completed, so no checkpoint is written (fit starts afresh)"
        if self.trainer.is_global_zero:
            print(f"error: {self.subcommand} stopped by {number.name} during epoch {self.trainer.current_epoch}; "
                  f"{resume}", file=sys.stderr)
        raise SystemExit(128 + int(number))

    @contextlib.contextmanager
    def checkpoint_errors(self) -> Iterator[None]:
        """Around a trainer call: torch's ``load_state_dict`` error becomes one :class:`CheckpointError`
        line, and a ``logs/.../version_N`` a failed run left holding only its configuration is removed."""
        try:
            yield
        except Exception as error:
            remove_config_only_log_dir(self.trainer)
            if state_dict_mismatch(error):
                raise CheckpointError(incompatible(self.trainer.ckpt_path, self.model, error)) from error
            raise

    def after_predict(self) -> None:
        writer = next((c for c in self.trainer.callbacks if isinstance(c, TopKWriter)), None)
        if writer is not None and self.trainer.is_global_zero:
            record = provenance("predict", self.trainer.ckpt_path, getattr(self.datamodule, "fingerprint", None))
            for path in writer.paths.values():
                write_json(path.with_name(f"{path.name.split('.')[0]}.provenance.json"), record)
                print(f"Top-{writer.k} recommendations written to {path}")

    def after_fit(self) -> None:
        """Say when and why the run ended and which checkpoint is the best; then test that checkpoint."""
        if self.trainer.fast_dev_run:
            return
        best = next(
            (c.best_model_path for c in self.trainer.checkpoint_callbacks if getattr(c, "monitor", None) == MONITOR), ""
        )
        if self.trainer.is_global_zero:
            print(f"\n{fit_summary(self.trainer, best)}")
        if not self.config[self.subcommand].get("test_after_fit", True):
            self.record_provenance(None, resumed_from=getattr(self, "checkpoint_file", None))
            return
        with self.interrupted():
            results = self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best or None, verbose=False)
        self.record_provenance(best or None, resumed_from=getattr(self, "checkpoint_file", None))
        if self.trainer.is_global_zero and results:
            where = f"the best-validation checkpoint {best}" if best else "the final weights (no checkpoint)"
            print(metrics_table(f"Test metrics at {where}:", results[0]))


def fit_summary(trainer: Any, best_checkpoint: str) -> str:
    """One line after ``fit``: when and why training ended (the stopping rule's :meth:`StoppingRule.summary`),
    and the best checkpoint's path."""
    stopper = next((c for c in trainer.callbacks if isinstance(c, StoppingRule)), None)
    last_epoch = max(trainer.current_epoch - 1, 0)  # Lightning counts the epoch after the last one trained
    line = stopper.summary(last_epoch) if stopper is not None else f"Training ended after epoch {last_epoch}"
    return f"{line}; best checkpoint: {best_checkpoint or 'none (no checkpoint monitors ' + MONITOR + ')'}"


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's content, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(command: str, checkpoint: Any, data: dict[str, Any] | None, resumed_from: Any = None) -> dict[str, Any]:
    """What produced a result: the command, the checkpoint whose weights were evaluated (its path and
    the SHA-256 of its content; None after a ``fit`` that tests nothing), the checkpoint a ``fit`` resumed from
    (``resumed_from``) and the data's fingerprint (:func:`~lit_mmrec.data.datamodule.data_fingerprint`)."""

    def described(path: Any) -> dict[str, str] | None:
        if path is None or not Path(str(path)).is_file():
            return None
        return {"path": str(path), "sha256": file_sha256(path)}

    record = {"command": command, "checkpoint": described(checkpoint), "data": data}
    if command == "fit":
        record["resumed_from"] = described(resumed_from)
    return record


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` to ``path`` through a temporary file beside it (never half-written)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(temporary, path)


def check_max_epochs(config: Namespace, source: str) -> None:
    """``fit``'s ``--trainer.max_epochs``: at least 1, or -1 (Lightning's "until the stopping rule ends it");
    0 trains nothing and is accepted only with ``--test_after_fit false`` (it runs the setup, e.g. SG-URInit,
    and reports no metrics)."""
    epochs = config.trainer.get("max_epochs")
    if epochs is None or epochs >= 1 or epochs == -1:
        return
    if epochs == 0 and not config.get("test_after_fit", True):
        return
    why = ("trains nothing, and the test after fit would report the untrained model (with --test_after_fit false "
           "it only runs the setup)") if epochs == 0 else "is not a number of epochs (-1: until the stopping rule ends the run)"
    raise ConfigError(f"{source}: --trainer.max_epochs {epochs} {why}")


def output_folders(config: Namespace, subcommand: str) -> list[tuple[Path, str]]:
    """The folders ``subcommand`` writes into, each with the option that names it: the checkpoint folders
    (``fit``), the loggers' folders (``fit``, ``validate``, ``test``) and the predictions' folder (``predict``)."""
    folders: list[tuple[Path, str]] = []
    if subcommand == "fit":
        for key in ("checkpoint", "last_checkpoint"):
            dirpath = (config.get(key) or Namespace()).get("dirpath")
            if isinstance(dirpath, str | Path) and "://" not in str(dirpath):
                folders.append((Path(dirpath), f"--{key}.dirpath, --experiment"))
    if subcommand in ("fit", "validate", "test"):
        value = config.trainer.get("logger")
        for entry in value if isinstance(value, list) else [value]:
            init_args = entry.get("init_args") if isinstance(entry, Namespace) else None
            save_dir = init_args.get("save_dir") if init_args is not None else None
            if isinstance(save_dir, str | Path) and "://" not in str(save_dir):
                folders.append((Path(save_dir) / config.experiment, "--trainer.logger.init_args.save_dir, --experiment"))
    if subcommand == "predict" and config.get("predictions") is not None:
        output_dir = config.predictions.get("output_dir")
        if isinstance(output_dir, str | Path):
            folders.append((Path(output_dir), "--predictions.output_dir"))
    return list(dict.fromkeys(folders))


def show_links_in_class_help(parser: LightningArgumentParser, key: str) -> None:
    """Let ``--<key>.help CLASS`` show the arguments linked into ``key`` as linked, not as required.

    jsonargparse builds that help from a fresh parser of the class, without the links that
    ``link_arguments`` recorded on ``key``'s own action (``sub_add_kwargs["linked_targets"]``); the help
    action takes the same options, so it is given that set too.
    """
    actions = {action.dest: action for action in parser._actions}
    linked = getattr(actions.get(key), "sub_add_kwargs", {}).get("linked_targets")
    help_action = actions.get(f"{key}.help")
    if linked and help_action is not None and hasattr(help_action, "sub_add_kwargs"):
        help_action.sub_add_kwargs = {**help_action.sub_add_kwargs, "linked_targets": set(linked)}


def check_data_folder(config: Namespace, source: str) -> None:
    """A configured ``data_dir`` that does not exist is an error that says how data folders are made."""
    data = config.get("data")
    data_dir = data.get("init_args", Namespace()).get("data_dir") if isinstance(data, Namespace) else None
    if isinstance(data_dir, str | Path) and not Path(data_dir).expanduser().is_dir():
        raise ConfigError(
            f"{source}: data folder {data_dir} does not exist; `python -m lit_mmrec.prepare --help` makes one "
            f"from a public release (README, \"Preparing data\")"
        )


def name_loggers(trainer: Namespace, experiment: str) -> None:
    """Give every configured logger that takes a ``name`` the experiment's name, so that ``--experiment``
    separates logs (``logs/<experiment>/version_N``) as it separates checkpoints; a different name set in
    the configuration is replaced, with a warning."""
    value = trainer.get("logger")
    for entry in value if isinstance(value, list) else [value]:
        if not isinstance(entry, Namespace) or not isinstance(entry.get("class_path"), str):
            continue  # True, False, None: Lightning's own default logger or none
        module, _, name = entry.class_path.rpartition(".")
        try:
            parameters = inspect.signature(getattr(__import__(module, fromlist=[name]), name)).parameters
        except (ImportError, AttributeError, TypeError, ValueError):
            continue  # an unknown class is reported when it is built
        if "name" not in parameters:
            continue
        init_args = entry.get("init_args") or Namespace()
        given = init_args.get("name")
        if given not in (None, experiment, parameters["name"].default):
            rank_zero_warn(f"the logger's name {given!r} is replaced by the experiment's, {experiment!r} "
                           f"(--experiment names checkpoints/, logs/ and predictions/)")
        init_args["name"] = experiment
        entry["init_args"] = init_args


def state_dict_mismatch(error: BaseException) -> bool:
    """Whether ``error`` is torch's ``load_state_dict`` refusal (a checkpoint of other shapes or keys).

    torch raises a bare RuntimeError, recognisable only by its text: the one coupling to another
    library's wording, tested in ``tests/test_cli.py``.
    """
    return isinstance(error, RuntimeError) and "Error(s) in loading state_dict" in str(error)


def remove_config_only_log_dir(trainer: Any) -> None:
    """Remove the logger's ``version_N`` folder if the run wrote nothing into it but its configuration."""
    logger = getattr(trainer, "logger", None)
    folder = Path(logger.log_dir) if logger is not None and getattr(logger, "log_dir", None) else None
    if trainer.is_global_zero and folder is not None and folder.is_dir():
        if {p.name for p in folder.iterdir()} <= {"config.yaml", "hparams.yaml"}:
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):  # and the logger's name folder, if that run was its only one
                folder.parent.rmdir()


def add_unless_present(trainer: Namespace, key: str, kind: type, default: type) -> None:
    """Append ``default`` to the trainer's ``callbacks`` or ``plugins`` unless one of ``kind`` is configured."""
    value = trainer.get(key)
    entries = [] if value is None else list(value) if isinstance(value, list) else [value]
    if any(isinstance(entry, kind) or _configured_subclass(entry, kind) for entry in entries):
        return
    trainer[key] = [*entries, Namespace(class_path=f"{default.__module__}.{default.__qualname__}", init_args=Namespace())]


def _configured_subclass(entry: Any, kind: type) -> bool:
    class_path = entry.get("class_path") if hasattr(entry, "get") else None
    if not isinstance(class_path, str) or "." not in class_path:
        return False
    module, _, name = class_path.rpartition(".")
    try:
        klass = getattr(__import__(module, fromlist=[name]), name)
    except (ImportError, AttributeError):
        return False
    return isinstance(klass, type) and issubclass(klass, kind)


def configuration_files(args: list[str]) -> str:
    """The configuration files named on a command line, for error messages."""
    files = [value for flag, value in zip(args, args[1:], strict=False) if flag in ("-c", "--config")]
    files += [arg.partition("=")[2] for arg in args if arg.startswith("--config=")]
    return f"configuration {', '.join(files)}" if files else "command line"


def configuration(config: Namespace) -> str:
    """Where the configuration came from, for error messages: its files, or the command line."""
    files = [str(path) for path in (config.get("config") or [])]
    subcommand = config.get("subcommand")
    if subcommand is not None:
        files += [str(path) for path in (config[subcommand].get("config") or [])]
    return f"configuration {', '.join(files)}" if files else "command line"


def check_experiment(name: str, source: str) -> None:
    """``--experiment`` names a folder under ``checkpoints/``, ``logs/`` and ``predictions/``: no
    absolute path, no ``..``."""
    parts = Path(name).parts
    if not name or Path(name).is_absolute() or ".." in parts or name.startswith("~"):
        raise ConfigError(
            f"{source}: experiment {name!r} must be a relative name without '..': it names the folder "
            f"checkpoints/<experiment>/, which it must not leave"
        )


def resolve_checkpoint(config: Namespace, subcommand: str) -> Path | None:
    """The checkpoint file ``--ckpt_path`` names, checked to exist; None when there is none to load.

    ``last`` is ``checkpoints/<experiment>/last.ckpt``; only ``fit`` may start fresh without it.
    """
    value = config.get("ckpt_path")
    if value is None or value in ("best", "hpc", "registry") or "://" in str(value):
        return None
    if value == "last":
        folder = Path(config.last_checkpoint.dirpath or f"checkpoints/{config.experiment}").absolute()
        path = folder / f"{config.last_checkpoint.filename or 'last'}{ModelCheckpoint.FILE_EXTENSION}"
        if path.is_file():
            return path
        if subcommand == "fit":
            return None
        raise CheckpointError(
            f"--ckpt_path last: there is no checkpoint {path} yet (train with fit first, or give a checkpoint file)"
        )
    path = Path(value)
    if path.is_dir():
        raise CheckpointError(f"--ckpt_path {value} is a folder, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"--ckpt_path {value}: no such checkpoint file")
    return path


def check_checkpoint(path: Path, configured: str | None) -> dict[str, Any] | None:
    """Read ``path`` (memory-mapped, tensors only, nothing unpickled), check it is a checkpoint of the
    configured model class and return the data fingerprint it records (None if it records none)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:
        raise unreadable(path, error) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not a Lightning checkpoint (it holds no state_dict)")
    stored = (checkpoint.get("hyper_parameters") or {}).get("_class_path")
    if configured and stored and stored != configured:
        raise CheckpointError(f"checkpoint {path} holds a {stored}, but the configuration builds a {configured}")
    states = (value for value in checkpoint.values() if isinstance(value, dict) and "fingerprint" in value)
    return next((state["fingerprint"] for state in states if isinstance(state["fingerprint"], dict)), None)


def model_class_path(config: Any) -> str | None:
    """The configured model's class path, if any."""
    model = config.get("model")
    path = model.get("class_path") if model is not None and hasattr(model, "get") else None
    return None if path == f"{RecommenderModule.__module__}.{RecommenderModule.__name__}" else path


def incompatible(path: Any, model: RecommenderModule, error: RuntimeError) -> str:
    """One line saying why checkpoint ``path`` does not fit ``model`` (from ``load_state_dict``'s message)."""
    details = [line.strip().rstrip(".") for line in str(error).splitlines()[1:] if line.strip()]
    shown = "; ".join(details[:3]) + ("; ..." if len(details) > 3 else "")
    return (
        f"checkpoint {path} does not fit {type(model).__name__} with {model.num_users} users and "
        f"{model.num_items} items (another model class, data set or hyperparameters?): {shown}"
    )


def import_backbones() -> list[str]:
    """Import every module of :mod:`lit_mmrec.models`, so that ``--help`` lists every backbone among the known
    subclasses and ``--model`` / ``--model.help`` take a class name (``--model.help MMSSL``); their names."""
    import importlib
    import pkgutil

    import lit_mmrec.models as models

    names = [info.name for info in pkgutil.iter_modules(models.__path__)]
    for name in names:
        importlib.import_module(f"{models.__name__}.{name}")
    return names


def main(args: list[str] | None = None) -> MMRecCLI:
    """Entry point of ``train.py``: any mistake in the data, configuration or checkpoint ends the
    program with one line ``error: ...`` on stderr and exit code 2."""
    setup_process()
    import_backbones()
    torch.set_float32_matmul_precision("high")
    try:
        return MMRecCLI(
            RecommenderModule,
            MMRecDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            seed_everything_default=999,
            save_config_kwargs={"overwrite": True},
            args=args,
            auto_configure_optimizers=False,
        )
    except ArgumentError as error:
        where = configuration_files(sys.argv[1:] if args is None else args)
        fail(ConfigError(f"{condense(str(error), where).rstrip('.')}; --help lists the options"))
    except InputError as error:
        fail(error)


def fail(error: BaseException) -> NoReturn:
    """Print ``error: <message>`` (one line) on stderr and exit with code 2."""
    print(error_line(error), file=sys.stderr)
    raise SystemExit(2)
