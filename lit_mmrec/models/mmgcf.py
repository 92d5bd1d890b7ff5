"""MMGCF (Spillo et al., "Multimodal Graph Collaborative Filtering for Recommendation with Graph
Convolutional Networks", UMAP 2026, doi 10.1145/3774935.3806158), as MMRec runs it (``src/models/mmgcf.py``,
``src/configs/model/MMGCF.yaml``; MMRec snapshot e775373, pull request #62).

LightGCN over the user-item graph, then a late fusion of each item's propagated ID row with its projected
modal features; users keep their LightGCN rows. With ``E^(0) = [E_user; E_item]`` (xavier-uniform), ``Â`` the
symmetric-normalised user-item adjacency, ``L`` layers, and per modality ``m`` the frozen raw features
``x^m`` projected by ``f^m = W_m x^m + b_m`` (``nn.Linear(D_m, feat_embed_dim)``, default init):

    [U; I] = mean(E^(0), Â E^(0), ..., Â^L E^(0))
    user repr = U_u,   item repr = Fuse(I_i, f^1_i, ..., f^M_i),   score(u, i) = <U_u, item repr_i>

``Fuse`` is :class:`~lit_mmrec.nn.late_fusion.LateFusion` (fusion mean | sum | concat, weighting equal |
alpha | normalized; e.g. mean + equal: ``(I_i + (f^1_i + ... + f^M_i) / M) / 2``).

Training propagates over a pruned graph re-drawn at the start of every epoch: ``int((1 - dropout) |E|)``
training edges drawn without replacement with probability proportional to ``1 / sqrt(d_u d_i)``
(degree-sensitive: FREEDOM's :mod:`lit_mmrec.nn.edge_pruning`, every epoch), renormalised over the kept
edges; evaluation uses the full graph.

Loss for a batch ``(u, i+, i-)`` of size ``B``:

    BPR = mean_b -log sigmoid(<U_u, item_i+> - <U_u, item_i->)
    reg = reg_weight x (||E^(0)_u||^2 + ||E^(0)_i+||^2 + ||E^(0)_i-||^2) / (2 B)      (layer-0 ID rows only)

Defaults: MMGCF.yaml gives one value for ``embedding_size`` and ``feat_embed_dim`` (64) and search grids
for the rest (n_ui_layers {1, 2, 3}, reg_weight {1e-1 .. 1e-4}, fusion_mode {mean, sum, concat}, weighting
{equal, alpha, normalized}, dropout {0.2, 0.5, 0.8}); no per-data-set winner is published, so the defaults
are grid points: 2 layers, reg_weight 1e-4, mean fusion, equal weighting (the yaml's "recommended
default"), dropout 0.5.

Deviations from MMRec's code:

- the modalities are those of the data set (any number; MMRec reads image and text only) and at least one
  is required (MMRec's model with no features is LightGCN);
- ``feat_embed_dim != embedding_dim`` with a non-concat fusion is refused in the constructor (MMRec fails
  at the first forward);
- the pruned graph of the first epoch is drawn at the epoch start (MMRec's ``masked_adj`` is None until
  its trainer calls ``pre_epoch_processing``); degrees use no 1e-7 epsilon (a node without edges gets no
  entries instead), as elsewhere here;
- the mean/sum fusion adds the tensors left to right (MMRec stacks them and reduces): equal to rounding.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.late_fusion import LateFusion
from lit_mmrec.nn.light_conv import LightConv
from lit_mmrec.nn.losses import bpr_loss, squared_l2_loss
from lit_mmrec.nn.modal import fresh_projection, modal_linears, select_modalities


class MMGCF(RecommenderModule):
    """MMGCF: LightGCN with a late fusion of the item ID rows and the projected modal features.

    Args:
        modalities: modalities to use; None = every modality of the data set. Each must exist in the data.
        feat_embed_dim: output width of the per-modality projections (MMRec ``feat_embed_dim``: 64); must
            equal ``embedding_dim`` unless ``fusion="concat"``.
        num_layers: LightGCN layers over the user-item graph (MMRec ``n_ui_layers``, grid 1, 2, 3).
        fusion: ``"mean"``, ``"sum"`` or ``"concat"`` (MMRec ``fusion_mode``).
        weighting: ``"equal"``, ``"alpha"`` or ``"normalized"`` (MMRec ``weighting``).
        dropout: fraction of training edges pruned degree-sensitively in each training epoch, in [0, 1)
            (MMRec grid 0.2, 0.5, 0.8).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``reg_weight`` weights the squared L2 norm of the batch's layer-0 ID rows over ``2 B`` (MMRec
            grid 1e-1 .. 1e-4).
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        feat_embed_dim: int = 64,
        num_layers: int = 2,
        fusion: str = "mean",
        weighting: str = "equal",
        dropout: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.modalities = select_modalities("MMGCF", self.feature_dims, modalities)
        if feat_embed_dim <= 0 or num_layers < 0:
            raise ValueError(f"feat_embed_dim must be positive and num_layers >= 0, got {feat_embed_dim}, {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.num_layers = num_layers
        self.dropout = dropout
        self.conv = LightConv(num_layers)
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, self.embedding_dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_items, self.embedding_dim)))
        self.projection = modal_linears(self.feature_dims, self.modalities, feat_embed_dim)
        self.fusion = LateFusion(len(self.modalities), self.embedding_dim, feat_embed_dim, fusion, weighting)

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        self.register_item_features(dataset, self.modalities)
        self.register_training_graph(dataset.train)
        self._pruned_adjacency: torch.Tensor | None = None

    def resample_pruned_graph(self) -> None:
        """Draw this epoch's degree-sensitively pruned user-item graph (MMRec's ``pre_epoch_processing``)."""
        self._pruned_adjacency = self.pruned_adjacency(self.edge_weights, self.dropout)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self.resample_pruned_graph()

    # ------------------------------------------------------------- backbone API
    def propagate(self, adjacency: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(user repr, fused item repr)`` over the user-item graph ``adjacency``."""
        users, items = self.conv.forward_split(self.user_embedding, self.item_embedding, adjacency)
        features = [self.projection[m](self.item_features(m)) for m in self.modalities]
        return users, self.fusion(items, features)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Training mode: this epoch's pruned graph; evaluation: the full training graph."""
        if self.training:
            if getattr(self, "_pruned_adjacency", None) is None:
                self.resample_pruned_graph()
            return self.propagate(self._pruned_adjacency)
        return self.propagate(self.adjacency)

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        user_repr, item_repr = self.forward()
        u = user_repr.index_select(0, users)
        items = torch.cat([positives, negatives])
        pos, neg = item_repr.index_select(0, items).split(users.numel())
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))}
        if self.reg_weight:
            ego_pos, ego_neg = self.item_embedding.index_select(0, items).split(users.numel())
            rows = (self.user_embedding.index_select(0, users), ego_pos, ego_neg)
            terms["reg"] = self.reg_weight * squared_l2_loss(*rows) / users.numel()
        return terms

    def user_init_targets(self) -> list[UserInitTarget]:
        if self.fusion.fusion == "concat":
            # the fused item rows pass through a learned map: no item space of the user table's width
            return [UserInitTarget("user_embedding", self.user_embedding, item_space="none")]

        # mean/sum fusion adds the projected features to the item rows the user table is scored against:
        # compare it with the model's own (freshly initialised) projection of the raw features
        def project(modality: str, raw: torch.Tensor) -> torch.Tensor:
            return fresh_projection(self.projection[modality], raw)

        return [UserInitTarget("user_embedding", self.user_embedding, item_space=project, modalities=self.modalities)]
