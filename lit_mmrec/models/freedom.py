"""FREEDOM (Zhou & Shen, "A Tale of Two Graphs: Freezing and Denoising Graph Structures for
Multimodal Recommendation", ACM MM 2023), as MMRec runs it (``src/models/freedom.py``).

Two graphs:

- a frozen item-item graph ``S = Σ_m w_m Â_m`` built once from the raw features: per modality the
  normalised binary kNN graph (k = 10, cosine; see :mod:`lit_mmrec.nn.knn_graph`), mixed
  0.1 image + 0.9 text (MMRec's ``mm_image_weight``);
- the user-item graph, denoised in training by degree-sensitive edge pruning: at the start of each
  epoch ``int((1 - dropout) |E|)`` training edges are drawn without replacement with probability
  proportional to ``1 / sqrt(d_u d_i)`` and the kept graph is renormalised ``D^-1/2 A D^-1/2``;
  evaluation uses the full graph.

With ``E_u, E_i`` the ID embeddings (xavier-uniform), ``A`` the (pruned or full) normalised
user-item adjacency, ``L`` user-item layers and ``L_s`` item-graph layers:

    h_i = (S^{L_s} E_item)_i
    [U; I] = mean(E^(0), A E^(0), ..., A^L E^(0)),   E^(0) = [E_user; E_item]
    user repr = U_u,   item repr = I_i + h_i,   score(u, i) = <U_u, I_i + h_i>

Loss for a batch (u, i+, i-): BPR on the scores above plus ``reg_weight`` x Σ_m BPR with the item side
replaced by the projected raw features ``W_m x_i^m + b_m`` (``nn.Linear(D_m, 64)``), the user side
being the same ``U_u``. MMRec keeps the raw features trainable (``nn.Embedding.from_pretrained(...,
freeze=False)``); so does this module (``finetune_features``), as a zero-initialised learned offset
added to the raw features.

Deviations from MMRec's code:

- the raw-feature fine-tuning is a learned offset ``Δ_m`` (features = raw + ``Δ_m``), zero at start:
  with Adam and no weight decay its updates are those of the fine-tuned table itself, and a checkpoint
  never stores the data set's own features (it stores ``Δ_m``);
- the modality BPR terms project only the batch's distinct items unless they are most of the
  catalogue (MMRec projects every item every step);
- Adam runs as torch's fused kernel (same update rule; the unfused step dominated the run time with
  the ~30M fine-tuned feature values of Baby);
- item graph: safe cosine (zero-feature items have no neighbours), chunked, cached keyed by the
  features' hash (MMRec caches ``mm_adj_freedomdsp_*.pt`` in the data folder whatever the features);
- modality weights: those of the modalities present, renormalised (text only: 1.0 text), where MMRec
  uses whichever single graph exists;
- the (non-symmetric) item graph is multiplied with a precomputed transpose for the backward, the
  symmetric user-item graphs through :class:`~lit_mmrec.nn.light_conv.LightConv` (same maths);
  degrees use no 1e-7 epsilon (empty nodes get no entries instead).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.knn_graph import mixing_weights
from lit_mmrec.nn.light_conv import LightConv
from lit_mmrec.nn.losses import bpr_loss
from lit_mmrec.nn.modal import (
    feature_offsets,
    fresh_projection,
    modal_linears,
    project_features,
    select_modalities,
)
from lit_mmrec.nn.sum_conv import SumConv


class FREEDOM(RecommenderModule):
    """FREEDOM: frozen multimodal item kNN graph + denoised user-item graph.

    Args:
        modalities: modalities to use; None = every modality of the data set. Each must exist in the
            data (a clear error names a missing one).
        feat_embed_dim: output width of the per-modality projection used in the modality BPR terms
            (MMRec ``feat_embed_dim``: 64; must equal ``embedding_dim`` since users are scored against it).
        knn_k: neighbours per item in the kNN graphs (MMRec: 10).
        modality_weights: item-graph weight per modality; None = MMRec's ``{image: 0.1, text: 0.9}``.
            The weights of the modalities used are renormalised to sum to 1.
        num_item_graph_layers: propagation steps over the item graph (MMRec ``n_mm_layers``: 1).
        num_layers: user-item propagation layers (MMRec ``n_ui_layers``: 2).
        dropout: fraction of user-item edges pruned in each training epoch (MMRec searches 0.8, 0.9).
        finetune_features: train the raw features as MMRec does (``freeze=False``); False keeps them fixed.
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``reg_weight`` weights the modality BPR terms (MMRec searches 0, 1e-5, 1e-4, 1e-3).
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        feat_embed_dim: int = 64,
        knn_k: int = 10,
        modality_weights: dict[str, float] | None = None,
        num_item_graph_layers: int = 1,
        num_layers: int = 2,
        dropout: float = 0.8,
        finetune_features: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.modalities = select_modalities("FREEDOM", self.feature_dims, modalities)
        if feat_embed_dim != self.embedding_dim:
            raise ValueError(
                f"feat_embed_dim ({feat_embed_dim}) must equal embedding_dim ({self.embedding_dim}): "
                "users are scored against the projected features"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if knn_k <= 0 or num_layers < 0 or num_item_graph_layers < 0:
            raise ValueError("knn_k must be positive and the layer counts non-negative")
        self.graph_weights = mixing_weights(self.modalities, modality_weights, "FREEDOM")
        self.knn_k = knn_k
        self.num_item_graph_layers = num_item_graph_layers
        self.num_layers = num_layers
        self.user_item_conv = LightConv(num_layers)
        self.item_graph_conv = SumConv()
        self.dropout = dropout
        self.finetune_features = finetune_features

        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, self.embedding_dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_items, self.embedding_dim)))
        self.projection = modal_linears(self.feature_dims, self.modalities, feat_embed_dim)
        self.feature_offset = feature_offsets(self.feature_dims, self.modalities, self.num_items, finetune_features)

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        self.register_mixed_item_graph(dataset, self.graph_weights, self.knn_k)
        self.register_training_graph(dataset.train)
        self._pruned_adjacency: torch.Tensor | None = None

    def resample_pruned_graph(self) -> None:
        """Draw this epoch's degree-sensitively pruned user-item graph (MMRec's ``pre_epoch_processing``)."""
        self._pruned_adjacency = self.pruned_adjacency(self.edge_weights, self.dropout)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self.resample_pruned_graph()

    # ------------------------------------------------------------- backbone API
    def projected_features(self, modality: str, items: torch.Tensor) -> torch.Tensor:
        """``W_m (x_i^m + Δ_i^m) + b_m`` for ``items``: only the batch's distinct items, unless they
        cover most of the catalogue (then the whole table: a dense product without gather/scatter)."""
        offset = self.feature_offset[modality] if self.finetune_features else None
        return project_features(self.projection[modality], self.item_features(modality), offset, items)

    def propagate(self, adjacency: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(user repr, item repr)`` over the user-item graph ``adjacency`` and the frozen item graph."""
        item_side = self.item_embedding
        for _ in range(self.num_item_graph_layers):
            item_side = self.item_graph_conv(item_side, self.item_graph, transpose=self.item_graph_t)
        users, items = self.user_item_conv.forward_split(self.user_embedding, self.item_embedding, adjacency)
        return users, items + item_side

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Training mode: this epoch's pruned graph; evaluation: the full training graph."""
        if self.training:
            if getattr(self, "_pruned_adjacency", None) is None:
                self.resample_pruned_graph()
            return self.propagate(self._pruned_adjacency)
        return self.propagate(self.adjacency)

    def loss(
        self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        user_repr, item_repr = self.forward()
        u = user_repr.index_select(0, users)
        pos, neg = item_repr.index_select(0, torch.cat([positives, negatives])).split(positives.numel())
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))}
        if self.reg_weight:
            items = torch.cat([positives, negatives])
            modal = 0.0
            for modality in self.modalities:
                pos, neg = self.projected_features(modality, items).split(positives.numel())
                modal = modal + bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))
            terms["modal_bpr"] = self.reg_weight * modal
        return terms

    def user_init_targets(self) -> list[UserInitTarget]:
        # The user ID table is scored against the projected modal features in the modality BPR
        # terms: compare it with the model's own (freshly initialised) projection of the raw features.
        def project(modality: str, raw: torch.Tensor) -> torch.Tensor:
            return fresh_projection(self.projection[modality], raw)

        return [
            UserInitTarget(
                "user_embedding", self.user_embedding, item_space=project, modalities=self.modalities
            )
        ]
