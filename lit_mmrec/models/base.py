"""The contract every backbone honours, and the training/evaluation it inherits.

A backbone subclasses :class:`RecommenderModule` and supplies:

- ``build(dataset)``: the non-learnable structures it derives from the training data
  (normalised adjacency, item-item graphs); registered as non-persistent buffers, so
  they follow the module's device and never enter a checkpoint;
- ``forward()``: the final ``(user_repr, item_repr)`` used for ranking;
- ``loss(users, positives, negatives)``: a dict of loss terms whose sum is minimised
  (the default is BPR on ``forward()`` plus ``reg_weight`` x MMRec's ``EmbLoss`` on the
  rows returned by ``regularised``);
- ``user_init_targets()``: the user tables SG-URInit may initialise (see
  :mod:`lit_mmrec.init.targets`).

The base class owns the optimiser, the per-epoch representation cache at evaluation,
chunked full ranking, the metrics and their logging.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch

from lit_mmrec.data.loader import Interactions, MMRecDataset
from lit_mmrec.data.pairs import UserItemIndex
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.metrics.recall_ndcg import TopKMetrics
from lit_mmrec.metrics.retrieval import rank_top_k
from lit_mmrec.nn.edge_pruning import degree_sensitive_keep, degree_sensitive_weights
from lit_mmrec.nn.knn_graph import mixed_knn_graph
from lit_mmrec.nn.losses import bpr_loss, embedding_norm_loss
from lit_mmrec.nn.modal import adam_with_decay, require_modalities
from lit_mmrec.nn.normalisation import bipartite_adjacency
from lit_mmrec.nn.sparse import csr_pair

MONITOR = "val/recall@20"


def check_hyperparameters(model: str, hparams: dict[str, Any]) -> None:
    """Refuse a NaN or infinite number anywhere in a model's hyperparameters (every backbone's, as
    ``save_hyperparameters`` collected them), and a learning rate that is not positive or a weight
    that is negative: each would train garbage rather than fail."""
    for name, value in hparams.items():
        values = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise ValueError(f"{model}: {name} must be a finite number, got {value}")
    rules = {"learning_rate": (lambda v: v > 0, "positive"), "weight_decay": (lambda v: v >= 0, "non-negative"),
             "reg_weight": (lambda v: v >= 0, "non-negative")}
    for name, (holds, what) in rules.items():
        if isinstance(hparams.get(name), int | float) and not holds(hparams[name]):
            raise ValueError(f"{model}: {name} must be {what}, got {hparams[name]}")


class RecommenderModule(L.LightningModule):
    """Base LightningModule of every backbone.

    Its arguments are the hyperparameters every backbone shares; a backbone's constructor takes its
    own arguments and forwards these through ``**kwargs`` (a backbone that needs another default for
    one of them declares it with that default and passes it on). The CLI's ``--model.help`` and
    ``--print_config`` list them with each backbone's own, and ``save_hyperparameters`` records both.

    Args:
        num_users: number of users (linked from the data module by the CLI).
        num_items: number of items (linked from the data module by the CLI).
        feature_dims: modality -> raw feature width (linked from the data module by the CLI; ID-only
            backbones ignore it).
        embedding_dim: width of the user and item ID embeddings (MMRec ``embedding_size``: 64).
        reg_weight: weight of the backbone's regulariser: by default MMRec's ``EmbLoss`` on the rows
            :meth:`regularised` returns; a backbone that weights another term names it in its
            docstring (MMRec's ``reg_weight``).
        learning_rate: Adam learning rate (MMRec: 1e-3).
        weight_decay: Adam weight decay (MMRec: 0).
        topk: cut-offs K of Recall/NDCG/Precision/MAP@K; None = [10, 20, 50].
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        feature_dims: dict[str, int] | None = None,
        embedding_dim: int = 64,
        reg_weight: float = 1e-4,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        topk: list[int] | None = None,
    ) -> None:
        super().__init__()
        if num_users <= 0 or num_items <= 0:
            raise ValueError(f"num_users and num_items must be positive, got {num_users}, {num_items}")
        if embedding_dim <= 0:
            raise ValueError(f"embedding_dim must be positive, got {embedding_dim}")
        cutoffs = [10, 20, 50] if topk is None else list(topk)
        if not cutoffs or any(k <= 0 for k in cutoffs):
            raise ValueError(f"topk must be a non-empty list of positive integers, got {topk}")
        self.save_hyperparameters()
        check_hyperparameters(type(self).__name__, self.hparams)
        self.num_users = num_users
        self.num_items = num_items
        self.feature_dims = dict(feature_dims or {})
        self.embedding_dim = embedding_dim
        self.reg_weight = reg_weight
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.val_metrics = TopKMetrics(cutoffs)
        self.test_metrics = TopKMetrics(cutoffs)
        self._indexes: dict[str, UserItemIndex] = {}
        self._eval_repr: tuple[torch.Tensor, torch.Tensor] | None = None
        self._built = False

    # ------------------------------------------------------------------ data
    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule if self.trainer is not None else None
        if datamodule is None or not hasattr(datamodule, "dataset"):
            raise RuntimeError(f"{type(self).__name__} needs an MMRecDataModule (trainer.fit(model, datamodule=...))")
        self.attach(datamodule.dataset)

    def attach(self, dataset: MMRecDataset) -> None:
        """Check the data set matches this model, then build the data-derived structures once."""
        if (dataset.num_users, dataset.num_items) != (self.num_users, self.num_items):
            raise ValueError(
                f"data set {dataset.name} has {dataset.num_users} users and {dataset.num_items} items, "
                f"the model was built for {self.num_users} and {self.num_items}"
            )
        if dataset.feature_dims != self.feature_dims and self.feature_dims:
            raise ValueError(f"data set features {dataset.feature_dims} differ from the model's {self.feature_dims}")
        if self._built:
            return
        for split in ("train", "valid", "test"):
            part = dataset.split(split)
            self._indexes[split] = UserItemIndex(part.users, part.items, self.num_users, self.num_items)
        self.build(dataset)
        self._built = True

    def build(self, dataset: MMRecDataset) -> None:
        """Derive non-learnable structures (graphs, features) from the training data. Override."""

    def register_data(self, name: str, tensor: torch.Tensor) -> None:
        """Register a data-derived tensor: follows the module's device, never saved in checkpoints.

        Every DDP rank builds it identically from the data, so DDP neither broadcasts nor syncs it
        (torch's DDP reads ``_ddp_params_and_buffers_to_ignore``; sparse tensors cannot be broadcast).
        """
        self.register_buffer(name, tensor, persistent=False)
        ignored = self.__dict__.setdefault("_ddp_params_and_buffers_to_ignore", [])
        if name not in ignored:
            ignored.append(name)

    def index(self, split: str) -> UserItemIndex:
        return self._indexes[split].to(self.device)

    def item_features(self, modality: str) -> torch.Tensor:
        """The raw features of ``modality`` (registered by :meth:`register_item_features`)."""
        return getattr(self, f"features_{modality}")

    def register_mixed_item_graph(self, dataset: MMRecDataset, weights: dict[str, float], knn_k: int) -> None:
        """The item features of ``self.modalities`` and their weighted kNN item graph, as ``item_graph`` and
        ``item_graph_t`` (FREEDOM's frozen graph, shared by the backbones built on it)."""
        self.register_item_features(dataset, self.modalities)
        features = {m: dataset.item_features[m] for m in self.modalities}
        item_graph, item_graph_t = csr_pair(mixed_knn_graph(features, weights, knn_k))
        self.register_data("item_graph", item_graph)
        self.register_data("item_graph_t", item_graph_t)

    def register_training_graph(self, train: Interactions) -> None:
        """The training edges (``train_users``, ``train_items``), their normalised user-item ``adjacency`` and
        each edge's ``1 / sqrt(d_u d_i)`` (``edge_weights``, the degree-sensitive pruning probabilities of
        FREEDOM's edge dropout, shared by the backbones built on it)."""
        self.register_data("train_users", train.users.long())
        self.register_data("train_items", train.items.long())
        self.register_data("adjacency", bipartite_adjacency(train.users, train.items, self.num_users, self.num_items))
        self.register_data(
            "edge_weights", degree_sensitive_weights(train.users, train.items, self.num_users, self.num_items)
        )

    def pruned_adjacency(self, weights: torch.Tensor, rate: float) -> torch.Tensor:
        """One draw of the degree-sensitively pruned training graph: the normalised adjacency of the edges
        :func:`~lit_mmrec.nn.edge_pruning.degree_sensitive_keep` keeps when it drops ``rate`` of them with
        probabilities ``weights`` (MMRec's ``pre_epoch_processing``); the whole graph when ``rate`` is 0."""
        if rate <= 0.0:
            return self.adjacency
        keep = degree_sensitive_keep(weights, rate)
        return bipartite_adjacency(
            self.train_users[keep].cpu(), self.train_items[keep].cpu(), self.num_users, self.num_items
        ).to(self.device)

    def register_item_features(self, dataset: MMRecDataset, modalities: list[str] | None = None) -> None:
        """Register the data set's raw item features as buffers ``features_<modality>``."""
        modalities = list(dataset.item_features) if modalities is None else modalities
        require_modalities(type(self).__name__, dataset.item_features, modalities, f"data set {dataset.name}")
        for modality in modalities:
            self.register_data(f"features_{modality}", dataset.item_features[modality])

    # ------------------------------------------------------------- backbone API
    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final ``(user_repr [num_users, D], item_repr [num_items, D])``."""
        raise NotImplementedError

    def regularised(
        self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor
    ) -> list[torch.Tensor]:
        """Rows penalised by ``reg_weight`` x EmbLoss (default: none)."""
        return []

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms for one batch; their sum is minimised. Default: BPR + regulariser."""
        user_repr, item_repr = self.forward()
        # index_select, one gather for both item sides: its backward is one index_add per table
        # (indexing's is an accumulating index_put per use)
        u = user_repr.index_select(0, users)
        pos, neg = item_repr.index_select(0, torch.cat([positives, negatives])).split(users.numel())
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))}
        rows = self.regularised(users, positives, negatives)
        if rows and self.reg_weight:
            terms["reg"] = self.reg_weight * embedding_norm_loss(*rows)
        return terms

    def user_init_targets(self) -> list[UserInitTarget]:
        """User tables SG-URInit may initialise, with the item space each is compared against."""
        return []

    def representations(self) -> tuple[torch.Tensor, torch.Tensor]:
        """What evaluation ranks with; by default ``forward()``."""
        return self.forward()

    #: False for a backbone that scores without dense user and item representations (ItemKNNCBF: a sparse
    #: history times a sparse item-item similarity); callbacks that read representation rows refuse it.
    dense_representations: bool = True

    #: Set by :class:`lit_mmrec.callbacks.cold_items.ColdItems`: maps the item representations that
    #: evaluation and predict rank with (e.g. fills items unseen in training from their feature-space
    #: neighbours); None leaves them as ``representations()`` returns them. Training never sees it.
    item_repr_override: Callable[[torch.Tensor], torch.Tensor] | None = None

    def evaluation_representations(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``representations()`` with ``item_repr_override`` applied to the items: what is ranked."""
        user_repr, item_repr = self.representations()
        if self.item_repr_override is not None:
            item_repr = self.item_repr_override(item_repr)
        return user_repr, item_repr

    # --------------------------------------------------------------- training
    #: Set by :class:`lit_mmrec.callbacks.MirrorGradient` (itself: ``alpha1``, ``alpha2``, ``mirrored(batch_idx)``)
    #: for the fit it is part of, which it also switches to manual optimisation; None: Lightning's automatic
    #: optimisation of the loss.
    mirror_gradient: Any = None

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        users, positives, negatives = batch
        terms = self.loss(users, positives, negatives)
        total = sum(terms.values())
        if self.mirror_gradient is not None:
            self.mirror_gradient_step(total, batch, batch_idx)
        size = users.numel()
        self.log("train/loss", total, prog_bar=True, on_step=False, on_epoch=True, batch_size=size)
        if len(terms) > 1:
            self.log_dict({f"train/{k}": v for k, v in terms.items()}, on_step=False, on_epoch=True, batch_size=size)
        return total

    def mirror_gradient_step(self, loss: torch.Tensor, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        """The optimiser steps of one batch under Mirror Gradient (manual optimisation; the maths in
        :mod:`lit_mmrec.callbacks.mirror_gradient`): on a mirrored batch a step on ``alpha1 x loss``, then
        the batch's loss recomputed and ``-alpha2`` x it back-propagated; otherwise ``loss``. The last step
        follows gradient clipping by the Trainer's ``gradient_clip_val`` and ``gradient_clip_algorithm``."""
        mirror, optimizer = self.mirror_gradient, self.optimizers()
        optimizer.zero_grad()
        if mirror.mirrored(batch_idx):
            self.manual_backward(mirror.alpha1 * loss)
            optimizer.step()
            optimizer.zero_grad()
            self.manual_backward(-mirror.alpha2 * sum(self.loss(*batch).values()))
        else:
            self.manual_backward(loss)
        self.clip_gradients(optimizer)
        optimizer.step()

    def configure_optimizers(self) -> torch.optim.Optimizer | dict:
        """Adam (torch's fused kernel where the device has one: same update rule, one pass over
        each tensor instead of about ten; measured ~20% of a LightGCN step on the Baby shape)."""
        return adam_with_decay(self, self.learning_rate, self.weight_decay)

    # ------------------------------------------------------------- evaluation
    def _cache_representations(self) -> None:
        user_repr, item_repr = self.evaluation_representations()
        self._eval_repr = (user_repr.detach(), item_repr.detach())

    def rank(self, users: torch.Tensor, k: int, exclude: UserItemIndex | None = None):
        """Top-``k`` ``(scores, items)`` for ``users``, excluding training items by default."""
        if self._eval_repr is None:
            self._cache_representations()
        user_repr, item_repr = self._eval_repr
        exclude = self.index("train") if exclude is None else exclude
        return rank_top_k(user_repr[users], item_repr, users, k, exclude)

    def _evaluate(self, users: torch.Tensor, split: str, metrics: TopKMetrics) -> dict[str, torch.Tensor]:
        """Rank a chunk of users, add it to ``metrics``, and return what callbacks may read of it (the step's
        output: ``users``, ``hits`` ``[B, max_k]`` and ``num_relevant`` ``[B]``, e.g. for per-group metrics)."""
        _, items = self.rank(users, metrics.max_k)
        truth = self.index(split)
        hits, num_relevant = truth.contains(users, items), truth.counts(users)
        metrics.update(hits, num_relevant)
        return {"users": users, "hits": hits, "num_relevant": num_relevant}

    def _log_metrics(self, prefix: str, metrics: TopKMetrics) -> dict[str, torch.Tensor]:
        values = {f"{prefix}/{name}": value for name, value in metrics.compute().items()}
        metrics.reset()
        self._eval_repr = None
        if not self.trainer.sanity_checking:
            for name, value in values.items():  # already reduced across ranks by the metric
                self.log(name, value, prog_bar=name.endswith("recall@20"))
        return values

    def on_validation_epoch_start(self) -> None:
        self._cache_representations()

    def validation_step(self, users: torch.Tensor, batch_idx: int) -> dict[str, torch.Tensor]:
        return self._evaluate(users, "valid", self.val_metrics)

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val", self.val_metrics)

    def on_test_epoch_start(self) -> None:
        self._cache_representations()

    def test_step(self, users: torch.Tensor, batch_idx: int) -> dict[str, torch.Tensor]:
        return self._evaluate(users, "test", self.test_metrics)

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test", self.test_metrics)

    def on_predict_epoch_start(self) -> None:
        self._cache_representations()

    # set by lit_mmrec.callbacks.TopKWriter: how many items, and whose items are never recommended
    predict_k: int | None = None  # None: the largest metric cut-off
    predict_exclude: tuple[str, ...] = ("train",)

    def predict_step(self, users: torch.Tensor, batch_idx: int) -> dict[str, Any]:
        """Top-``predict_k`` ``items`` and ``scores`` of a chunk of ``users``, best first.

        Items of the ``predict_exclude`` splits score ``-inf``: they can only appear, last, when
        fewer than ``predict_k`` other items exist, and writers drop them.
        """
        k = self.predict_k or self.val_metrics.max_k
        scores, items = self.rank(users, k, self.exclusion(self.predict_exclude))
        return {"users": users, "items": items, "scores": scores}

    def exclusion(self, splits: tuple[str, ...] | list[str]) -> UserItemIndex:
        """The items of every split in ``splits`` per user, as one index (cached)."""
        key = "+".join(sorted(set(splits)))
        if key not in self._indexes:
            keys = torch.cat([self._indexes[s].keys.cpu() for s in set(splits)] or [torch.empty(0, dtype=torch.long)])
            users = torch.div(keys, self.num_items, rounding_mode="floor")
            self._indexes[key] = UserItemIndex(users, keys - users * self.num_items, self.num_users, self.num_items)
        return self.index(key)

    def on_train_epoch_start(self) -> None:
        self._eval_repr = None
