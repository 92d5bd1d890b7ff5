r"""COHESION (Xu, Chen, Wang, Hu, Kim & Ngai, "COHESION: Composite Graph Convolutional Network with Dual-Stage
Fusion for Multimodal Recommendation", SIGIR 2025), as the authors run it (``Jinfeng-Xu/COHESION`` commit
3fccdaf, ``src/models/cohesion.py`` and ``src/configs/model/COHESION.yaml``; the same model in their
library ``Jinfeng-Xu/Multimodal-Recommendation-Library`` ``src/models/cohesion.py``, which builds the user
graph itself and searches a wider grid).

Branches ``b`` = the ID ("behaviour") modality and every feature modality, each 64-d. Early fusion: each
branch's item input is refined by the item ID embedding ``E_i`` (xavier-normal), elementwise

    z^b_i = MLP_b(f^b_i),     f^id = E_i, f^m = x^m (raw features),   MLP_b: D_b -> 256 -> leaky ReLU -> 64
    r^b_i = sqrt((E_i² + (z^b_i)²) / 2 + 1e-8)                                  (ID-refined early fusion)
    X_b = normalize([P_b; r^b])            (P_b [U, 64] a user preference table per branch, xavier-normal)

Layer-refined propagation per branch over the user-item graph ``Â`` (in training pruned each epoch as
FREEDOM's, ``dropout``; :class:`~lit_mmrec.nn.layer_refined.LayerRefinedConv`), the ego layer included:

    H_b = X_b + Σ_{l=1..L} x^(l),    x^(l)_n = cos(Â x^(l-1)_n, X_b,n) Â x^(l-1)_n

Late fusion concatenates the branches, ``h = [H_id ‖ H_m1 ‖ ...]`` (``64 (M + 1)`` wide); the composite
graph adds the homogeneous graphs, DRAGON's: the frozen item kNN graph ``S`` (binary, 0.1 image + 0.9
text, :mod:`lit_mmrec.nn.knn_graph`) and the user co-occurrence graph ``β`` (top 40 users, softmax over
shared-item counts, padded each epoch: :mod:`lit_mmrec.nn.user_graph`):

    item repr = h_i + S^{n_mm} h_i,        user repr = h_u + Σ_v β_uv h_v

Loss for a batch ``(u, i+, i-)``: the modality-adaptive scores of :mod:`lit_mmrec.nn.modality_adaptive_bpr`
(per-branch block scores weighted by ``1 - softmax`` of their margins, no gradient through the weights),
``-mean(log2 sigmoid(s+ - s-))``, plus ``reg_weight`` x Σ_m mean(P_m[u]²) over the feature modalities.

Defaults: COHESION.yaml fixes knn_k 10, mm_image_weight 0.1, n_mm_layers 1, dropout 0 and searches
learning_rate and reg_weight over {1e-1, 1e-2, 1e-3, 1e-4} and num_layer over 1-4 (the library: 1-2), with
no published winner: the defaults are the grid points lr 1e-3 (overall.yaml's rate), reg_weight 1e-3
(DRAGON's published Baby/Sports value, the model COHESION builds on) and 2 layers (in both grids).

Deviations from the authors' code:

- the ID branch trains: the original adds ``id_rep.data`` (detached), so the ID preference table and the ID
  MLP keep their random initial values and ``E_i`` learns only through the feature branches' fusion;
  ``detach_id_branch=True`` restores that;
- evaluation uses fresh representations over the full graph with deterministic user-graph weights (the
  original scores with the ``result_embed`` of the last training batch: one step stale, last epoch's
  pruned graph and padding), as DRAGON here;
- the unused ``weight_u`` (DRAGON's per-user modality weights, created and regularised but never used in
  a score) and its ``reg_weight x mean(weight_u²)`` term are left out, as are the unused trainable copies
  of the raw features;
- any number of feature modalities (the original handles image + text); item graph: safe cosine, cached
  keyed by ``k`` and the features' hash (the original caches ``mm_adj_{knn_k}.pt`` in the data folder
  whatever ``mm_image_weight`` or the features are), weights of the modalities present renormalised;
- the user graph is read from ``user_graph_dict.npy`` when it reads safely, else built from the training
  split (the original needs the file); degrees use no 1e-7 epsilon (empty nodes get no entries).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.knn_graph import mixing_weights
from lit_mmrec.nn.layer_refined import LayerRefinedConv
from lit_mmrec.nn.losses import bpr_loss
from lit_mmrec.nn.modal import select_modalities
from lit_mmrec.nn.modality_adaptive_bpr import modality_adaptive_scores
from lit_mmrec.nn.sum_conv import SumConv
from lit_mmrec.nn.user_graph import UserGraphMixin, check_user_graph_source

#: The name of the ID ("behaviour") branch beside the feature modalities.
ID_BRANCH = "id"
#: Added inside the square root of the early fusion (cohesion.py's 1e-8).
FUSION_EPSILON = 1e-8


def id_refined_fusion(id_rows: torch.Tensor, modal_rows: torch.Tensor) -> torch.Tensor:
    """``sqrt((id² + modal²) / 2 + 1e-8)``, elementwise: COHESION's early fusion of a branch's projected
    item rows with the item ID embedding."""
    return ((id_rows * id_rows + modal_rows * modal_rows) / 2 + FUSION_EPSILON).sqrt()


class COHESION(UserGraphMixin, RecommenderModule):
    """COHESION: ID-refined early fusion, layer-refined propagation per branch, late concatenation, composite
    user-user and item-item graphs, modality-adaptive BPR.

    Args:
        modalities: feature modalities to use; None = every modality of the data set.
        feature_hidden_dim: hidden width of each branch's item MLP (cohesion.py: 4 x 64 = 256).
        num_layers: layer-refined propagation layers (COHESION.yaml ``num_layer``, grid 1-4).
        dropout: fraction of user-item edges pruned degree-sensitively in each training epoch, in [0, 1)
            (COHESION.yaml: 0; the library's grid 0-0.4).
        knn_k: neighbours per item in the item kNN graphs (COHESION.yaml: 10).
        modality_weights: item-graph weight per modality; None = ``{image: 0.1, text: 0.9}``
            (``mm_image_weight``), renormalised over the modalities used.
        num_item_graph_layers: products with the item graph (COHESION.yaml ``n_mm_layers``: 1).
        user_graph_k: neighbours per user in the user graph (cohesion.py ``self.k``: 40).
        user_graph_source: ``auto`` (the data set's ``user_graph_dict.npy`` if it reads safely, else built
            from training data), ``file`` or ``build``.
        detach_id_branch: add the ID branch without gradient, as the original's ``id_rep.data``.
        reg_weight: weight of the feature modalities' preference penalty (COHESION.yaml grid 1e-1..1e-4).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``embedding_dim`` is every branch's width (64).
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        feature_hidden_dim: int = 256,
        num_layers: int = 2,
        dropout: float = 0.0,
        knn_k: int = 10,
        modality_weights: dict[str, float] | None = None,
        num_item_graph_layers: int = 1,
        user_graph_k: int = 40,
        user_graph_source: str = "auto",
        detach_id_branch: bool = False,
        reg_weight: float = 1e-3,
        **kwargs: Any,
    ) -> None:
        super().__init__(reg_weight=reg_weight, **kwargs)
        self.modalities = select_modalities("COHESION", self.feature_dims, modalities)
        if ID_BRANCH in self.modalities:
            raise ValueError(f"COHESION: {ID_BRANCH!r} names the ID branch and cannot be a feature modality")
        check_user_graph_source(user_graph_source)
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if min(knn_k, user_graph_k, feature_hidden_dim) <= 0 or num_item_graph_layers < 0:
            raise ValueError("knn_k, user_graph_k and feature_hidden_dim must be positive, num_item_graph_layers >= 0")
        self.graph_weights = mixing_weights(self.modalities, modality_weights, "COHESION")
        self.branches = [ID_BRANCH, *self.modalities]
        self.num_layers = num_layers
        self.dropout = dropout
        self.knn_k = knn_k
        self.num_item_graph_layers = num_item_graph_layers
        self.user_graph_k = user_graph_k
        self.user_graph_source = user_graph_source
        self.detach_id_branch = detach_id_branch
        self.conv = LayerRefinedConv(num_layers)
        self.graph_conv = SumConv()  # the item graph S and the user graph β

        d = self.embedding_dim
        widths = {ID_BRANCH: d, **self.feature_dims}
        self.item_embedding = nn.Parameter(nn.init.xavier_normal_(torch.empty(self.num_items, d)))
        self.preference = nn.ParameterDict(
            {b: nn.Parameter(nn.init.xavier_normal_(torch.empty(self.num_users, d))) for b in self.branches}
        )
        self.item_mlp = nn.ModuleDict(
            {
                b: nn.Sequential(nn.Linear(widths[b], feature_hidden_dim), nn.LeakyReLU(), nn.Linear(feature_hidden_dim, d))
                for b in self.branches
            }
        )

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        self.register_mixed_item_graph(dataset, self.graph_weights, self.knn_k)
        self.register_training_graph(dataset.train)
        self._pruned_adjacency: torch.Tensor | None = None
        self.build_user_graph(dataset, self.user_graph_k, self.user_graph_source)

    def resample_pruned_graph(self) -> None:
        """Draw this epoch's degree-sensitively pruned user-item graph (the original's ``pre_epoch_processing``)."""
        self._pruned_adjacency = self.pruned_adjacency(self.edge_weights, self.dropout)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self.resample_pruned_graph()

    # ------------------------------------------------------------- backbone API
    def branch_features(self, branch: str) -> torch.Tensor:
        """The item input ``f^b`` of ``branch``: the ID embedding or the raw features."""
        return self.item_embedding if branch == ID_BRANCH else self.item_features(branch)

    def fused_items(self, branch: str) -> torch.Tensor:
        """``r^b = sqrt((E_i² + MLP_b(f^b)²) / 2 + 1e-8)``, ``[I, d]``: the ID-refined item input of ``branch``."""
        return id_refined_fusion(self.item_embedding, self.item_mlp[branch](self.branch_features(branch)))

    def heterogeneous(self, adjacency: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h_users [U, (M + 1) d], h_items [I, (M + 1) d])``: the branches propagated over ``adjacency``,
        concatenated (ID first)."""
        blocks = []
        for branch in self.branches:
            detached = branch == ID_BRANCH and self.detach_id_branch
            with torch.set_grad_enabled(torch.is_grad_enabled() and not detached):
                x = F.normalize(torch.cat([self.preference[branch], self.fused_items(branch)]), dim=1)
                blocks.append(x + self.conv(x, adjacency))
        h = torch.cat(blocks, dim=1)
        return h[: self.num_users], h[self.num_users :]

    def composite(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add the homogeneous graphs: ``(h_u + Σ_v β_uv h_v, h_i + S^{n_mm} h_i)``."""
        side = items
        for _ in range(self.num_item_graph_layers):
            side = self.graph_conv(side, self.item_graph, transpose=self.item_graph_t)
        graph, graph_t = self.user_graph()
        return users + self.graph_conv(users, graph, transpose=graph_t), items + side

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Training mode: this epoch's pruned graph and padded user graph; evaluation: the full graph and the
        deterministic user-graph weights."""
        adjacency = self.adjacency
        if self.training:
            if getattr(self, "_pruned_adjacency", None) is None:
                self.resample_pruned_graph()
            adjacency = self._pruned_adjacency
        return self.composite(*self.heterogeneous(adjacency))

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        user_repr, item_repr = self.forward()
        u = user_repr.index_select(0, users)
        pos, neg = item_repr.index_select(0, torch.cat([positives, negatives])).split(users.numel())
        pos_scores, neg_scores = modality_adaptive_scores(u, pos, neg, len(self.branches))
        terms = {"bpr": bpr_loss(pos_scores, neg_scores) / math.log(2.0)}  # -mean(log2 sigmoid)
        if self.reg_weight:
            terms["reg"] = self.reg_weight * sum(self.preference[m][users].pow(2).mean() for m in self.modalities)
        return terms

    def user_init_targets(self) -> list[UserInitTarget]:
        # Each feature branch's preference table is normalised and propagated next to that branch's fused,
        # normalised item rows: compare it with the model's own (fresh) fused rows of the raw features. The ID
        # branch's table sits next to rows fused from ID embeddings: no feature space (PCA).
        def fused_space(modality: str, raw: torch.Tensor) -> torch.Tensor:
            items = self.item_embedding
            with torch.no_grad():
                projected = self.item_mlp[modality](raw.to(items.device, items.dtype))
                return F.normalize(id_refined_fusion(items, projected), dim=1)

        return [UserInitTarget(f"preference[{ID_BRANCH}]", self.preference[ID_BRANCH], item_space="none")] + [
            UserInitTarget(f"preference[{m}]", self.preference[m], item_space=fused_space, modalities=[m])
            for m in self.modalities
        ]
