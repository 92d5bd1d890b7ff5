"""LATTICE (Zhang, Zhu, Liu, Wu, Wang & Wang, "Mining Latent Structures for Multimedia
Recommendation", ACM MM 2021), as in the authors' code (CRIPAC-DIG/LATTICE, ``codes/Models.py``,
``main.py``) and MMRec's port (``src/models/lattice.py``, ``src/configs/model/LATTICE.yaml``), with the
LightGCN downstream model both configure (``cf_model: lightgcn``).

Notation: ``U`` users, ``I`` items, ``M`` modalities, ``X_m [I, D_m]`` the raw features of modality
``m`` (fine-tuned, see :mod:`lit_mmrec.nn.modal`), ``P_m = X_m W_m + b_m [I, 64]`` their projection,
``w = softmax(α)`` learned modality weights (``α`` initialised equal).

*Item graph.* For a feature matrix ``Z``, ``kNN(Z)`` keeps, in every row of the cosine similarity
``s_ij``, the ``k = 10`` largest entries with their values (the item itself included) and
``N(A) = D^-1/2 A D^-1/2`` with ``D`` the row sums. Per modality the *original* graph
``Ŝ_m = N(kNN(X_m))`` is built once from the raw features; the *learned* graph is rebuilt from the
projections ``P_m`` at the first training batch of every epoch (gradients flow into ``W_m``, ``X_m``'s
offset and ``α`` through that batch only; the rest of the epoch uses it detached) and at evaluation::

    S = (1 - λ) N(Σ_m w_m kNN(P_m)) + λ Σ_m w_m Ŝ_m,        λ = 0.9
    h = S^{L_s} E_item                                       (L_s = 1 item-graph layer)

*User-item graph.* LightGCN over ``Â = D^-1 (A + I)``, the *row*-normalised user-item adjacency with
self-loops (both codes' ``norm_adj``; not LightGCN's symmetric one), ``E^(0) = [E_user; E_item]``
xavier-uniform, ``L = 2`` layers averaged::

    [U; I] = mean(E^(0), Â E^(0), ..., Â^L E^(0)),     user repr = U_u,   item repr = I_i + normalize(h_i)

Loss for a batch of ``B`` triples: BPR on those representations + ``reg_weight`` x
``(|u|^2 + |i+|^2 + |i-|^2) / 2B`` over the batch's *final* rows (both codes' ``bpr_loss``).
Learning rate ``lr x 0.96^(epoch / 50)`` (the authors' scheduler, MMRec's ``learning_rate_scheduler``).

Deviations from the original code:

- the learned kNN graph is built in chunks of rows (never the dense ``I x I`` similarity both codes
  form, which fails on large catalogues: a 63,000-item one needs 16 GB per modality); the selected
  entries' cosines are recomputed with gradient, which is the gradient ``torch.topk`` passes through
  (:func:`~lit_mmrec.nn.knn_graph.knn_cosine_edges`); the item-graph products are sparse;
- any number of modalities (``w`` over those used; one modality: ``w = 1``), where both codes handle
  image and/or text; safe cosine (a zero feature row has no neighbours, see
  :mod:`lit_mmrec.nn.knn_graph`) and non-positive row sums give no entries (the codes take
  ``rowsum^-0.5``, NaN for a negative sum); original graphs cached keyed by the features' hash;
- the regulariser divides by the actual batch size (the codes by the configured one, which differs
  for an epoch's last, smaller batch);
- ``cf_model: ngcf`` and ``mf`` (kept in the codes, never configured) are not offered.

Several processes: the item-graph parameters receive gradient in an epoch's first batch only, so DDP needs
``--trainer.strategy ddp_find_unused_parameters_true``; plain ``ddp`` is refused in one line saying so.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.errors import require_ddp_unused_parameters
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.knn_graph import (
    cached_knn_neighbours,
    knn_cosine_edges,
    normalised_knn_adjacency,
)
from lit_mmrec.nn.losses import bpr_loss, squared_l2_loss
from lit_mmrec.nn.modal import FeatureProjection, adam_with_decay
from lit_mmrec.nn.normalisation import symmetric_normalised_weights
from lit_mmrec.nn.sparse import csr_pair
from lit_mmrec.nn.sum_conv import SumConv


def random_walk_adjacency(users: torch.Tensor, items: torch.Tensor, num_users: int, num_items: int) -> torch.Tensor:
    """``D^-1 (A + I)`` of the user-item graph (users first), ``D`` the row sums of ``A + I``: LATTICE's
    ``norm_adj``, as a coalesced sparse COO ``[U + I, U + I]``."""
    n = num_users + num_items
    pairs = torch.unique(users.long() * num_items + items.long())
    user_nodes, item_nodes = pairs // num_items, pairs % num_items + num_users
    loops = torch.arange(n)
    rows = torch.cat([user_nodes, item_nodes, loops])
    cols = torch.cat([item_nodes, user_nodes, loops])
    degree = torch.bincount(rows, minlength=n).float()
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), 1.0 / degree[rows], (n, n)).coalesce()


class LATTICE(RecommenderModule):
    """LATTICE: learned + original multimodal item graphs on top of LightGCN.

    Args:
        modalities: modalities to use; None = every modality of the data set. Each must exist in the
            data (a clear error names a missing one).
        feat_embed_dim: width of the modality projections the learned graph is built from
            (``feat_embed_dim``: 64).
        knn_k: neighbours per item in the item graphs (``knn_k`` / ``--topk``: 10).
        lambda_coeff: weight λ of the original graph; the learned one gets ``1 - λ`` (0.9).
        num_layers: user-item LightGCN layers (``len(weight_size)``: 2).
        num_item_graph_layers: propagation steps over the item graph (``n_layers``: 1).
        finetune_features: train the raw features as the originals do (``freeze=False``).
        lr_decay: learning-rate factor per ``lr_decay_epochs`` epochs (authors and MMRec: 0.96).
        lr_decay_epochs: epochs over which the rate decays by ``lr_decay`` (50).
        reg_weight: weight of the squared-norm regulariser (authors' ``regs[0]``: 1e-5; MMRec searches
            0, 1e-5, 1e-4, 1e-3).
        learning_rate: Adam learning rate (authors: 5e-4; MMRec searches 1e-4, 5e-4, 1e-3, 5e-3).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`.
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        feat_embed_dim: int = 64,
        knn_k: int = 10,
        lambda_coeff: float = 0.9,
        num_layers: int = 2,
        num_item_graph_layers: int = 1,
        finetune_features: bool = True,
        lr_decay: float = 0.96,
        lr_decay_epochs: int = 50,
        reg_weight: float = 1e-5,
        learning_rate: float = 5e-4,
        **kwargs: Any,
    ) -> None:
        super().__init__(reg_weight=reg_weight, learning_rate=learning_rate, **kwargs)
        if knn_k <= 0 or feat_embed_dim <= 0 or num_layers < 0 or num_item_graph_layers < 0:
            raise ValueError("knn_k and feat_embed_dim must be positive, the layer counts non-negative")
        if not 0.0 <= lambda_coeff <= 1.0:
            raise ValueError(f"lambda_coeff must be in [0, 1], got {lambda_coeff}")
        if lr_decay <= 0 or lr_decay_epochs <= 0:
            raise ValueError("lr_decay and lr_decay_epochs must be positive")
        self.projection = FeatureProjection(
            "LATTICE", self.feature_dims, modalities, feat_embed_dim, self.num_items, finetune_features
        )
        self.modalities = self.projection.modalities
        self.knn_k = knn_k
        self.lambda_coeff = lambda_coeff
        self.num_layers = num_layers
        self.graph_conv = SumConv()  # the user-item random walk and this epoch's item graph
        self.num_item_graph_layers = num_item_graph_layers
        self.lr_decay = lr_decay
        self.lr_decay_epochs = lr_decay_epochs
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, self.embedding_dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_items, self.embedding_dim)))
        # the originals' modal_weight = [0.5, 0.5]: equal logits
        self.modal_weight = nn.Parameter(torch.full((len(self.modalities),), 1.0 / len(self.modalities)))
        self._epoch_graph: tuple[torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------ data
    def setup(self, stage: str) -> None:
        if stage == "fit":
            require_ddp_unused_parameters(
                "LATTICE", self.trainer, "trains its item-graph projections and modality weights in the first "
                "batch of each epoch only")
        super().setup(stage)

    def build(self, dataset: MMRecDataset) -> None:
        self.register_item_features(dataset, self.modalities)
        for modality in self.modalities:
            neighbours, similarity = cached_knn_neighbours(dataset.item_features[modality], self.knn_k)
            graph = normalised_knn_adjacency(neighbours, similarity)
            self.register_data(f"original_graph_indices_{modality}", graph.indices())
            self.register_data(f"original_graph_values_{modality}", graph.values())
        train = dataset.train
        adjacency = random_walk_adjacency(train.users, train.items, self.num_users, self.num_items)
        adjacency, adjacency_t = csr_pair(adjacency)
        self.register_data("adjacency", adjacency)
        self.register_data("adjacency_t", adjacency_t)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._epoch_graph = None  # rebuilt, with gradient, at the epoch's first batch

    # ------------------------------------------------------------- item graph
    def item_graph_edges(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``S`` as an edge list ``(rows, cols, values)``, differentiable in the projections, the
        fine-tuned features and the modality weights."""
        weights = torch.softmax(self.modal_weight, dim=0)
        learned, original = [], []
        for index, modality in enumerate(self.modalities):
            rows, cols, cosine = knn_cosine_edges(self.projection(modality, self.item_features(modality)), self.knn_k)
            learned.append((rows, cols, weights[index] * cosine))
            indices = getattr(self, f"original_graph_indices_{modality}")
            values = getattr(self, f"original_graph_values_{modality}")
            original.append((indices[0], indices[1], weights[index] * values))
        rows, cols, values = (torch.cat(part) for part in zip(*learned, strict=True))
        learned_values = symmetric_normalised_weights(rows, cols, values, self.num_items)
        o_rows, o_cols, o_values = (torch.cat(part) for part in zip(*original, strict=True))
        return (
            torch.cat([rows, o_rows]),
            torch.cat([cols, o_cols]),
            torch.cat([(1.0 - self.lambda_coeff) * learned_values, self.lambda_coeff * o_values]),
        )

    def item_graph_embedding(self) -> torch.Tensor:
        """``h = S^{L_s} E_item``: a fresh, differentiable ``S`` at evaluation and at an epoch's first
        training batch; that batch's ``S``, detached, for the rest of the epoch (as the originals)."""
        h = self.item_embedding
        if self.training and self._epoch_graph is not None:
            for _ in range(self.num_item_graph_layers):
                h = self.graph_conv(h, self._epoch_graph[0], transpose=self._epoch_graph[1])
            return h
        rows, cols, values = self.item_graph_edges()
        if self.training:
            graph = torch.sparse_coo_tensor(torch.stack([rows, cols]), values.detach(), (self.num_items,) * 2)
            self._epoch_graph = csr_pair(graph)
        for _ in range(self.num_item_graph_layers):
            h = self.graph_conv(h, torch.stack([cols, rows]), values, size=(self.num_items, self.num_items))
        return h

    # ------------------------------------------------------------- backbone API
    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        ego = torch.cat([self.user_embedding, self.item_embedding])
        total, hidden = ego, ego
        for _ in range(self.num_layers):
            hidden = self.graph_conv(hidden, self.adjacency, transpose=self.adjacency_t)
            total = total + hidden
        final = total / (self.num_layers + 1)
        items = final[self.num_users :] + F.normalize(self.item_graph_embedding(), dim=1)
        return final[: self.num_users], items

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        user_repr, item_repr = self.forward()
        u, pos, neg = user_repr[users], item_repr[positives], item_repr[negatives]
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))}
        if self.reg_weight:
            terms["reg"] = self.reg_weight * squared_l2_loss(u, pos, neg) / users.numel()
        return terms

    def user_init_targets(self) -> list[UserInitTarget]:
        # The user ID table is only ever scored against ID-based item representations (the modal
        # projections only shape the item graph): no feature space, SG-URInit reduces by PCA.
        return [UserInitTarget("user_embedding", self.user_embedding, item_space="none")]

    def configure_optimizers(self):
        return adam_with_decay(self, self.learning_rate, self.weight_decay, self.lr_decay, self.lr_decay_epochs)

