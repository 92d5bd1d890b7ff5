"""The SG-URInit Callback: writes semantically initialised user tables into any backbone before epoch zero.

Configure it as a trainer callback (``configs/sgurinit/default.yaml``: the default recipe; the other fragments
there: the authors' published forms)::

    trainer:
      callbacks:
        - class_path: lit_mmrec.callbacks.SGURInit
          init_args: {n_clusters: 50}

What it does, once, at ``on_fit_start`` (after ``setup``, with the module on its training device):

1. asks the backbone for its user tables (``user_init_targets()``) and, for each, the item
   features in the space that table is compared against (raw, the backbone's own freshly
   initialised projection, or a PCA reduction of the raw features for ID tables);
2. computes the tables with :func:`lit_mmrec.init.sgurinit.initialise_user_table` from the
   TRAINING interactions only, on the module's device (the GPU when training on one);
3. under DDP, rank 0 computes and broadcasts; every rank copies the result into its parameters;
4. says on the console (rank 0) which tables it initialised, how many rows of each, and how long it took; a
   table of which it set no row although users have training interactions is an error.

``n_clusters`` above the number of rows K-Means clusters (items, or users with interactions) is clipped to
that number with a warning that says so, rather than refused: one sweep over ``K`` runs on every data set.

When the fit resumes from a checkpoint (``--ckpt_path``), or this callback's own restored state
says it already ran, nothing is recomputed: the checkpoint's weights win.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from lit_mmrec.errors import InputError
from lit_mmrec.init.options import SGURInitOptions
from lit_mmrec.init.sgurinit import aligned_item_table, initialise_user_table, pca_reduce, standardise_columns
from lit_mmrec.init.targets import UserInitTarget

log = logging.getLogger(__name__)


class SGURInit(L.Callback):
    """Semantically guaranteed user representation initialisation (training-free, model-agnostic).

    Every argument but ``modalities`` and ``seed`` is a field of
    :class:`lit_mmrec.init.options.SGURInitOptions`, which holds its default and validates it (maths in
    :mod:`lit_mmrec.init.sgurinit`). The arguments are spelt out here, each defaulting to
    ``SGURInitOptions.<field>``, so that LightningCLI shows every option, typed and documented, in ``--help``
    and ``--print_config`` and accepts ``--trainer.callbacks.init_args.<option>``; the constructor builds
    :attr:`options` from them, and nothing restates a default.

    The defaults are the product's recipe (chosen on validation, see ``docs/decisions.md``): the authors'
    ``item-sum`` with the tables that meet item features centred (``centre=True``,
    ``centre_tables="features"``). The authors' published forms, without centring, are the fragments
    ``configs/sgurinit/{item,user}-{sum,attention}.yaml``.

    Args:
        n_clusters: K of the K-Means over item features (``cluster_on=item``) or users (``cluster_on=user``).
        cluster_on: ``item``: cluster item features, a user's global term is the mean centroid of its
            items (the authors' figure); ``user``: cluster users by behaviour, the global term is the mean
            local vector of the user's cluster (the brief's description).
        fusion: ``sum``: local + weight x global; ``attention``: the cluster vector attends over the
            user's item features (parameter-free), then + weight x global.
        weight: lambda, the weight of the cluster-level (global) term (0: the local-only ablation).
        local_weight: mu, the weight of the item-level (local) term (0: the cluster-only ablation).
        blend: ``add``: local_weight x local + weight x global; ``convex``: (1 - weight) x local + weight x
            global, 0 <= weight <= 1.
        temperature: tau of the attention softmax (``fusion=attention`` only).
        modalities: modalities to use (default: every modality of the data set the table draws on).
        user_repr: what users are clustered on when ``cluster_on=user``: ``behaviour`` (truncated SVD of
            the row-normalised interaction matrix) or ``local`` (their normalised local vectors).
        local_norm: ``mean`` (D_u^-1 R F) or ``symmetric`` (D_u^-1/2 R D_i^-1/2 F) local term.
        preprocess: the space K-Means runs in: ``none``, ``standardise`` (z-scored columns; for ID tables
            also the raw features before PCA) or ``whiten`` (PCA-whitened).
        metric: K-Means metric: ``euclidean`` or ``cosine`` (L2-normalised rows).
        centre: remove the mean over users (the component shared by all users) before rescaling.
        decorrelate: ZCA-whiten the users' vectors (covariance to the identity, same basis) before rescaling;
            raises the table's effective rank (implies centre).
        centre_tables: which user tables centre / decorrelate apply to: ``all``, ``id`` (ID tables only) or
            ``features`` (only tables compared with item features); matters for VBPR and GRCN, which have both.
        scale: rescale rows to ``table`` (the user table's initial mean row norm) or ``items`` (the mean
            row norm of the item representations the table is compared with: the backbone's item ID
            table for an ID user table, the item features in the table's space otherwise).
        residual: None: replace the rows; alpha > 0: random row + alpha x the rescaled semantic row.
        residual_rescale: with ``residual``: rescale each such row to the norm of the semantic rows, so the
            start keeps the random table's row norm whatever alpha.
        align_items: ID tables only: also write the items' reduced features (rescaled to the item table's
            mean norm) into the backbone's item ID table, so both sides start in one space. The item
            table is the target's ``item_table``, else the module's ``item_embedding`` when its shape is
            ``[num_items, d]``.
        seed: seed of K-Means and PCA; the result is deterministic given it.
    """

    def __init__(
        self,
        n_clusters: int = SGURInitOptions.n_clusters,
        cluster_on: str = SGURInitOptions.cluster_on,
        fusion: str = SGURInitOptions.fusion,
        weight: float = SGURInitOptions.weight,
        local_weight: float = SGURInitOptions.local_weight,
        temperature: float = SGURInitOptions.temperature,
        modalities: list[str] | None = None,
        user_repr: str = SGURInitOptions.user_repr,
        seed: int = 999,
        blend: str = SGURInitOptions.blend,
        local_norm: str = SGURInitOptions.local_norm,
        preprocess: str = SGURInitOptions.preprocess,
        metric: str = SGURInitOptions.metric,
        centre: bool = SGURInitOptions.centre,
        decorrelate: bool = SGURInitOptions.decorrelate,
        centre_tables: str = SGURInitOptions.centre_tables,
        scale: str = SGURInitOptions.scale,
        residual: float | None = SGURInitOptions.residual,
        residual_rescale: bool = SGURInitOptions.residual_rescale,
        align_items: bool = SGURInitOptions.align_items,
    ) -> None:
        #: the recipe (logged, kept in checkpoints): every argument but ``modalities`` and ``seed``
        arguments = locals()
        try:
            self.options = SGURInitOptions(**{name: arguments[name] for name in SGURInitOptions.names()})
        except ValueError as error:
            raise ValueError(f"SG-URInit: {error}") from None
        if modalities is not None and (not modalities or not all(isinstance(m, str) and m for m in modalities)):
            raise ValueError(
                f"SG-URInit: modalities must be a non-empty list of modality names, got {modalities!r} "
                "(leave it out to use every modality of the data set)"
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"SG-URInit: seed must be an integer, got {seed!r}")
        self.modalities = modalities
        self.seed = seed
        self.done = False
        self.seconds: float | None = None
        #: members per K-Means cluster, by ``"<table>/<modality>"`` (rank 0 only)
        self.cluster_sizes: dict[str, list[int]] = {}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"done": self.done, "seconds": self.seconds, "options": dataclasses.asdict(self.options)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.done = bool(state_dict.get("done", False))
        self.seconds = state_dict.get("seconds")

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.done or trainer.ckpt_path is not None:
            rank_zero_info("SG-URInit: resuming from a checkpoint, its user tables are kept")
            self.done = True
            return
        targets = self._targets(pl_module)
        start = time.perf_counter()
        tables = self.compute(pl_module, trainer.datamodule.dataset, targets) if trainer.is_global_zero else None
        tables = trainer.strategy.broadcast(tables, src=0)
        written = []
        with torch.no_grad():
            active = int(torch.unique(trainer.datamodule.dataset.train.users).numel())
            for target in targets:
                new = tables[target.name].to(target.table.device, target.table.dtype)
                if active and not bool((target.table != new).any()):
                    changed = self.options.changed() or "the defaults"
                    raise InputError(
                        f"SG-URInit: set no row of user table {target.name}, though {active} users have training "
                        f"interactions (options: {changed}); the recipe gives no usable row"
                    )
                written.append(f"{target.name} ({_rows_changed(target.table, new)})")
                target.table.copy_(new)
                item_table = self._item_table(pl_module, target)
                if ITEM_KEY + target.name in tables and item_table is not None:
                    new = tables[ITEM_KEY + target.name].to(item_table.device, item_table.dtype)
                    written.append(f"the item table of {target.name} ({_rows_changed(item_table, new)})")
                    item_table.copy_(new)
        self.seconds = time.perf_counter() - start
        self.done = True
        changed = ", ".join(f"{k}={v}" for k, v in self.options.changed().items())
        rank_zero_info(
            f"SG-URInit: initialised user tables {', '.join(written)} in {self.seconds:.2f} s "
            f"({'options ' + changed if changed else 'default options'})"
        )
        for name, sizes in self.cluster_sizes.items():
            log.info("SG-URInit: %s cluster sizes %s", name, sizes)
        if trainer.logger is not None and trainer.is_global_zero:
            metrics = {"sgurinit/seconds": self.seconds}
            for name, sizes in self.cluster_sizes.items():
                metrics[f"sgurinit/{name}/smallest_cluster"] = min(sizes)
                metrics[f"sgurinit/{name}/largest_cluster"] = max(sizes)
            trainer.logger.log_metrics(metrics, step=0)

    # -------------------------------------------------------------- computing
    @staticmethod
    def _targets(pl_module: L.LightningModule) -> list[UserInitTarget]:
        declare = getattr(pl_module, "user_init_targets", None)
        targets = declare() if callable(declare) else []
        if not targets:  # a mistake in the configuration: train.py prints it as one line
            raise InputError(
                f"SG-URInit: {type(pl_module).__name__} declares no user table to initialise "
                "(its user_init_targets() returned nothing); remove the SGURInit callback or declare the tables"
            )
        return targets

    def compute(self, pl_module: L.LightningModule, dataset, targets: list[UserInitTarget]) -> dict[str, torch.Tensor]:
        """The new user tables by target name (CPU tensors), from the training interactions only; with
        ``align_items``, the new item ID tables too, under ``"item_table:<target name>"``."""
        device = pl_module.device
        interactions = dataset.train_csr().to(device)
        available = list(dataset.item_features)
        chosen = self.modalities if self.modalities is not None else available
        missing = [m for m in chosen if m not in available]
        if missing:
            raise ValueError(f"SG-URInit: modalities {missing} are not in the data set (it has {available})")
        results: dict[str, torch.Tensor] = {}
        for target in targets:
            modalities = [m for m in chosen if target.modalities is None or m in target.modalities]
            if not modalities:
                raise ValueError(f"SG-URInit: no modality left for user table {target.name} (asked for {chosen})")
            self._warn_if_clipped(target.name, dataset)
            generator = torch.Generator().manual_seed(self.seed)
            table = target.table.detach()
            features = [self._item_space(target, m, dataset.item_features[m].to(device), table.shape[1], generator)
                        for m in modalities]
            item_table = self._item_table(pl_module, target)
            if self.options.align_items and target.item_space == "none":
                if item_table is None:
                    raise ValueError(f"SG-URInit: align_items needs the item ID table of {target.name}; declare "
                                     "it as the target's item_table")
                item_table = aligned_item_table(item_table, features)
                results[ITEM_KEY + target.name] = item_table.cpu()
            reference = item_table if item_table is not None else features
            report: list[dict[str, Any]] = []
            new = initialise_user_table(
                table, features, interactions, self.options.for_table(id_table=target.item_space == "none"),
                report=report, item_reference=reference, generator=generator,
            )
            results[target.name] = new.cpu()
            for modality, details in zip(modalities, report, strict=True):
                self.cluster_sizes[f"{target.name}/{modality}"] = details["cluster_sizes"]
        return results

    def _warn_if_clipped(self, table: str, dataset) -> None:
        """Warn when ``n_clusters`` exceeds the rows K-Means clusters for ``table``, which clips it to them."""
        if self.options.cluster_on == "item":
            points, noun = int(dataset.num_items), "items"
        else:
            points, noun = int(torch.unique(dataset.train.users).numel()), "users with training interactions"
        if self.options.n_clusters > points:
            rank_zero_warn(
                f"SG-URInit: n_clusters {self.options.n_clusters} is above the {points} {noun} K-Means clusters "
                f"for user table {table}: it uses {points} clusters (every one its own cluster)"
            )

    @staticmethod
    def _item_table(pl_module: L.LightningModule, target: UserInitTarget) -> torch.Tensor | None:
        """The item ID table an ID user table is scored against: the target's ``item_table``, else the
        module's ``item_embedding`` (the name every ID backbone here uses) when it is ``[num_items, d]``."""
        if target.item_table is not None:
            return target.item_table
        if target.item_space != "none":
            return None
        candidate = getattr(pl_module, "item_embedding", None)
        candidate = candidate.weight if isinstance(candidate, torch.nn.Embedding) else candidate
        num_items = getattr(pl_module, "num_items", None)
        if isinstance(candidate, torch.Tensor) and tuple(candidate.shape) == (num_items, target.table.shape[1]):
            return candidate
        return None

    def _item_space(
        self, target: UserInitTarget, modality: str, raw: torch.Tensor, dim: int, generator: torch.Generator
    ) -> torch.Tensor:
        if callable(target.item_space):
            with torch.no_grad():
                return target.item_space(modality, raw).detach()
        if target.item_space == "raw":
            if raw.shape[1] != dim:
                raise ValueError(
                    f"SG-URInit: user table {target.name} is {dim}-d but {modality} features are {raw.shape[1]}-d; "
                    "declare a projection or 'none' (PCA) as its item space"
                )
            return raw
        if self.options.preprocess == "standardise":
            raw = standardise_columns(raw.float() if raw.dtype not in (torch.float32, torch.float64) else raw)
        return pca_reduce(raw, dim, generator=generator)


#: key prefix of the aligned item tables in :meth:`SGURInit.compute`'s result
ITEM_KEY = "item_table:"


def _rows_changed(old: torch.Tensor, new: torch.Tensor) -> str:
    """``"N rows"`` when every row of ``old`` changes, else ``"n of N rows"``."""
    changed = int((old != new).any(dim=1).sum())
    return f"{changed} rows" if changed == old.shape[0] else f"{changed} of {old.shape[0]} rows"
