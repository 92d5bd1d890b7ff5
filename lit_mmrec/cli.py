"""``train.py``: LightningCLI with fit / validate / test / predict.

Beyond stock LightningCLI:
- ``num_users``, ``num_items`` and ``feature_dims`` are linked from the data module into
  the model once the data module exists (``apply_on="instantiate"``);
- a ModelCheckpoint (best on ``val/recall@20`` + ``last``) under ``checkpoints/<experiment>/``
  and early stopping (:class:`~lit_mmrec.callbacks.early_stopping.StoppingRule`: MMRec's patience 20 by
  default; ``--early_stopping.rule``, ``.warmup``, ``.relative_min_delta``) are always present,
  configurable as ``--checkpoint.*`` and ``--early_stopping.*``;
- after ``fit``, the best-validation checkpoint is tested (the protocol's reported number);
- checkpoints are written atomically (:class:`~lit_mmrec.callbacks.AtomicCheckpointIO`) and the
  global random generators are reseeded from ``(seed, epoch)`` every epoch
  (:class:`~lit_mmrec.callbacks.EpochSeed`), so that ``--ckpt_path last`` resumes exactly;
- ``predict`` writes every user's top-K items through :class:`~lit_mmrec.callbacks.TopKWriter`
  (``--predictions.*``, files under ``predictions/<experiment>/`` by default) and keeps nothing in memory;
- configuration, data and checkpoint errors end the program with one line, not a traceback.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import torch
from lightning.fabric.plugins import CheckpointIO
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar, RichProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from lit_mmrec.callbacks.checkpoint_io import AtomicCheckpointIO, CheckpointError, unreadable
from lit_mmrec.callbacks.early_stopping import StoppingRule
from lit_mmrec.callbacks.epoch_seed import EpochSeed
from lit_mmrec.callbacks.prediction_writer import TopKWriter
from lit_mmrec.data.datamodule import MMRecDataModule
from lit_mmrec.data.loader import DataFormatError
from lit_mmrec.models.base import MONITOR, RecommenderModule


class MMRecCLI(LightningCLI):
    """LightningCLI wired for lit-mmrec's data modules and backbones."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--experiment", type=str, default="default", help="Run name: checkpoints/<experiment>/")
        parser.add_argument(
            "--test_after_fit", type=bool, default=True, help="Test the best-validation checkpoint after fit."
        )
        for source in ("num_users", "num_items", "feature_dims"):
            parser.link_arguments(f"data.{source}", f"model.init_args.{source}", apply_on="instantiate")
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
        # Lightning's EarlyStopping plus a warm-up, a relative min_delta and named rules (MMRec's is the default)
        parser.add_lightning_class_args(StoppingRule, "early_stopping")
        parser.set_defaults({"early_stopping.monitor": MONITOR, "early_stopping.mode": "max", "early_stopping.patience": 20})
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

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        if config.get("predictions") is not None and config.predictions.get("output_dir") is None:
            config.predictions.output_dir = f"predictions/{config.experiment}"

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except (DataFormatError, ValueError, FileNotFoundError) as error:
            fail(error)

    def _parse_ckpt_path(self) -> None:
        # LightningCLI reads the hyperparameters of a --ckpt_path file before anything else and lets
        # them override the configured model, class included: a checkpoint of another class is an error
        subcommand = self.config.get("subcommand")
        configured = model_class_path(self.config[subcommand]) if subcommand else None
        try:
            super()._parse_ckpt_path()
        except SystemExit:
            raise
        except Exception as error:
            fail(unreadable(self.config[subcommand].get("ckpt_path"), error))
        stored = model_class_path(self.config[subcommand]) if subcommand else None
        if configured and stored != configured:
            path = self.config[subcommand].get("ckpt_path")
            fail(CheckpointError(f"checkpoint {path} holds a {stored}, but the configuration builds a {configured}"))

    def _instantiate_trainer(self, config: dict, callbacks: list) -> Trainer:
        configured = config.get("callbacks") or []
        configured = configured if isinstance(configured, list) else [configured]
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in configured):
            callbacks = [*callbacks, RichProgressBar()]
        if not any(isinstance(c, EpochSeed) for c in configured):
            callbacks = [*callbacks, EpochSeed()]
        plugins = config.get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            config = {**config, "plugins": [*plugins, AtomicCheckpointIO()]}
        return super()._instantiate_trainer(config, callbacks)

    def _run_subcommand(self, subcommand: str) -> None:
        try:
            super()._run_subcommand(subcommand)
        except CheckpointError as error:
            fail(error)
        except RuntimeError as error:
            if "Error(s) in loading state_dict" not in str(error):
                raise
            fail(CheckpointError(incompatible(self.trainer.ckpt_path, self.model, error)))

    def predict(self, **kwargs: Any) -> Any:
        """``trainer.predict`` that keeps nothing in memory unless asked: the writer streams to files."""
        if kwargs.get("return_predictions") is None:
            kwargs["return_predictions"] = False
        return self.trainer.predict(**kwargs)

    def after_predict(self) -> None:
        writer = next((c for c in self.trainer.callbacks if isinstance(c, TopKWriter)), None)
        if writer is not None and self.trainer.is_global_zero:
            for path in writer.paths.values():
                print(f"Top-{writer.k} recommendations written to {path}")

    def after_fit(self) -> None:
        if not self.config[self.subcommand].get("test_after_fit", True) or self.trainer.fast_dev_run:
            return
        best = next(
            (c.best_model_path for c in self.trainer.checkpoint_callbacks if getattr(c, "monitor", None) == MONITOR), ""
        )
        results = self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best or None, verbose=False)
        if self.trainer.is_global_zero and results:
            where = f"best-validation checkpoint {best}" if best else "final weights (no checkpoint)"
            print(f"\nTest metrics at the {where}:")
            for name, value in sorted(results[0].items()):
                print(f"  {name:<16} {value:.4f}")


def root_cause(error: BaseException) -> BaseException:
    """The innermost exception of a chain: jsonargparse wraps our own clear messages in its own."""
    seen = {id(error)}
    while (inner := error.__cause__ or error.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        error = inner
    return error


def model_class_path(config: Any) -> str | None:
    """The configured model's class path, if any."""
    model = config.get("model")
    path = model.get("class_path") if model is not None and hasattr(model, "get") else None
    return None if path == f"{RecommenderModule.__module__}.{RecommenderModule.__name__}" else path


def stored_class_path(path: Any) -> str | None:
    """The model class path a LightningCLI checkpoint records, if readable."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return checkpoint.get("hyper_parameters", {}).get("_class_path")
    except Exception:
        return None


def incompatible(path: Any, model: RecommenderModule, error: RuntimeError) -> str:
    """One line saying why checkpoint ``path`` does not fit ``model`` (from ``load_state_dict``'s message)."""
    configured = f"{type(model).__module__}.{type(model).__name__}"
    stored = stored_class_path(path)
    if stored and stored != configured:
        return f"checkpoint {path} holds a {stored}, but the configuration builds a {configured}"
    details = [line.strip().rstrip(".") for line in str(error).splitlines()[1:] if line.strip()]
    shown = "; ".join(details[:3]) + ("; ..." if len(details) > 3 else "")
    return (
        f"checkpoint {path} does not fit {type(model).__name__} with {model.num_users} users and "
        f"{model.num_items} items (another model class, data set or hyperparameters?): {shown}"
    )


def fail(error: BaseException) -> None:
    cause = root_cause(error)
    message = str(cause) if isinstance(cause, (ValueError, FileNotFoundError)) else str(error)
    if isinstance(error, CheckpointError):  # it names the file; what it wraps (torch's message) does not
        message = str(error)
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(args: list[str] | None = None) -> MMRecCLI:
    """Entry point of ``train.py``."""
    torch.set_float32_matmul_precision("high")
    # evaluation metrics are torchmetrics states already summed over ranks: syncing the logged value is moot
    warnings.filterwarnings("ignore", message=r"It is recommended to use `self.log\('(val|test)/.*sync_dist=True")
    # predictions carry their user ids; Lightning's batch indices are not needed
    warnings.filterwarnings("ignore", message="Couldn't infer the batch indices fetched from your dataloader")
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
    except DataFormatError as error:
        fail(error)
