r"""PGL (Penghang Yu, Zhiyi Tan, Guanming Lu and Bing-Kun Bao, "Mind Individual Information! Principal
Graph Learning for Multimedia Recommendation", AAAI 2025), as the authors' code runs it
(demonph10/PGL@dbc871c ``src/models/pgl.py``; MMRec's ``src/models/pgl.py`` at d9d793a is the same
file with another header).

FREEDOM's core on modal item embeddings: the item side has no ID table; item ``i`` is the
concatenation over the modalities ``m`` of ``x̃_i^m = normalize(W_m (x_i^m + Δ_i^m) + b_m)`` (raw
features fine-tuned through the learned offset ``Δ``, :class:`~lit_mmrec.nn.modal.FeatureProjection`),
user ``u`` the concatenation of one ``[U, D]`` table per modality (``user_image``, ``user_text``).
With ``E^(0) = [E_user; X̃]`` (``[U + I, M D]``), ``S = Σ_m w_m Â_m`` the frozen mixed kNN item graph
(0.1 image + 0.9 text, k = 10, :mod:`lit_mmrec.nn.knn_graph`), ``G`` the user-item graph propagated
over and ``L`` user-item layers, ``L_s`` item-graph layers:

    h = S^{L_s} X̃
    [U; I] = mean(E^(0), G E^(0), ..., G^L E^(0))
    user repr = U_u,   item repr = I_i + h_i,   score(u, i) = <U_u, I_i + h_i>

Evaluation propagates over the full normalised training graph ``Â``. Training propagates over the
*principal subgraph* ``G``, in one of two modes:

- ``local``: FREEDOM's degree-sensitive edge pruning, re-drawn at the start of every epoch: keep
  ``int((1 - edge_dropout) |E|)`` training edges drawn without replacement with probability
  proportional to ``1 / sqrt(d_u d_i)`` and renormalise them ``D^-1/2 A D^-1/2``
  (:mod:`lit_mmrec.nn.edge_pruning`);
- ``global``: a fixed low-rank reconstruction of the graph (:mod:`lit_mmrec.nn.low_rank_graph`). With
  ``R ≈ P diag(s) Q^T`` the truncated SVD of the normalised user-item block (``r = svd_rank``
  triplets, ``s`` decreasing) and ``p = principal_rank``, ``G = [[0, M], [M^T, 0]]`` with

      M = Σ_{j=1..p} s_j s_{r-p+j} P_j Q_j^T

  (the j-th largest singular value times the j-th of the p smallest of the r, the original's
  "product of the top and bottom singular values").

Loss for a batch (u, i+, i-): BPR on the scores above plus ``reg_weight`` x InfoNCE
(:func:`~lit_mmrec.nn.info_nce.dropout_views_info_nce`, τ = 0.2) between two dropout views
(``dropout``) of the batch's user rows, averaged with the same for the positive item rows.

How the original builds the global graph, and how this avoids the dense matrix: the original takes
``sparsesvd`` of the whole square ``(U + I)`` normalised adjacency with ``k = embedding_size = 64``,
multiplies the top ``int(0.25 k) = 16`` singular values elementwise with the bottom 16 of the 64,
forms ``ut.T[:, :16] diag(product) vt[:16]`` as a dense ``(U + I) x (U + I)`` array (5.6 GB in
float64 on Baby) and keeps its entries with ``|x| >= 1e-3`` as a sparse matrix. The singular values
of ``Â = [[0, R], [R^T, 0]]`` are those of ``R``, each twice, and each pair's components sum to
``[[0, s P_j Q_j^T], [s Q_j P_j^T, 0]]``; so ``k = 64`` of ``Â`` are ``r = 32`` of ``R``, its top and
bottom 16 are ``R``'s top 8 and bottom 8 of 32 in pairs, and the original's matrix equals ``M`` above
with ``r = 32, p = 8`` before the threshold (tested against the original's recipe on a dense
matrix). Here the SVD is of the sparse ``R`` (scipy ``svds``), ``M`` is kept as its factors and
applied as ``P (w ⊙ (Q^T x))``; ``svd_threshold > 0`` keeps the original's sparse thresholded graph
instead, its entries computed over chunks of users (never the whole matrix at once).

Defaults: PGL.yaml (lr 1e-3 decayed by 0.96 every 50 epochs, knn 10, image weight 0.1, n_ui 2,
n_mm 1, mode local); ``reg_weight`` 0.05 and ``dropout`` 0.2 are those of the authors' logs of their
published Baby runs (``log/local/PGL-baby-*.log``, ``log/global/PGL-baby-*.log``: test R@20 .1022
local, .1040 global); PGL.yaml itself ships ``reg_weight: [0]``, which switches the InfoNCE term off.

Deviations from the original code:

- global mode: ``M`` kept as factors (``svd_threshold = 0``, exact low rank) where the original
  zeroes the entries below 1e-3; ``svd_threshold=1e-3`` gives the original's graph. The SVD is of
  the sparse ``R`` rather than the square adjacency (same result in exact arithmetic, half the rank),
  by ARPACK rather than SVDLIBC; degrees have no 1e-7 epsilon;
- the InfoNCE temperature (0.2) and the local mode's kept share (0.3, hard-coded there) are
  arguments (``temperature``, ``edge_dropout``);
- the raw-feature fine-tuning is a learned offset (as :class:`~lit_mmrec.models.freedom.FREEDOM`);
  the item graph uses the safe cosine and the feature-keyed cache of :mod:`lit_mmrec.nn.knn_graph`
  (the original reuses ``mm_adj_freedomdsp_{k}_{w}.pt`` from the data folder whatever the features);
- InfoNCE uses ``logsumexp`` (the original: ``exp``, sum, ``log``; same value, no overflow);
- modalities: any non-empty subset of the data's (the original needs image and text); the modality
  weights are renormalised over those used.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.data.cache import cached
from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.data.pairs import pairs_to_csr
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.info_nce import dropout_views_info_nce
from lit_mmrec.nn.knn_graph import mixing_weights
from lit_mmrec.nn.light_conv import LightConv
from lit_mmrec.nn.losses import bpr_loss
from lit_mmrec.nn.low_rank_graph import (
    low_rank_entries,
    low_rank_propagate,
    normalised_interactions,
    truncated_svd,
)
from lit_mmrec.nn.modal import FeatureProjection, adam_with_decay
from lit_mmrec.nn.sparse import int32_csr
from lit_mmrec.nn.sum_conv import SumConv

MODES = ("local", "global")


def principal_weights(singular_values: torch.Tensor, principal_rank: int) -> torch.Tensor:
    """``w_j = s_j s_{r-p+j}``, ``j = 1..p``: the ``p`` largest of the ``r`` decreasing singular values
    times the ``p`` smallest, in order (PGL's global principal subgraph)."""
    return singular_values[:principal_rank] * singular_values[singular_values.numel() - principal_rank :]


class PGL(RecommenderModule):
    """PGL: principal graph learning (local degree-sensitive or global truncated-SVD subgraph) on
    FREEDOM's frozen item graph, with InfoNCE on dropout views.

    Args:
        modalities: modalities to use; None = every modality of the data set. Each must exist in the data.
        mode: the principal subgraph trained on: ``"local"`` (degree-sensitive edge sampling, re-drawn
            every epoch) or ``"global"`` (fixed truncated-SVD reconstruction) (PGL.yaml: local).
        knn_k: neighbours per item in the kNN graphs (PGL.yaml: 10).
        modality_weights: item-graph weight per modality; None = ``{image: 0.1, text: 0.9}``
            (``mm_image_weight``: 0.1). The weights of the modalities used are renormalised to sum to 1.
        num_item_graph_layers: propagation steps over the item graph (``n_mm_layers``: 1).
        num_layers: user-item propagation layers (``n_ui_layers``: 2).
        edge_dropout: local mode: fraction of training edges pruned each epoch (the original keeps 0.3).
        svd_rank: global mode: singular triplets ``r`` of the normalised user-item matrix computed (the
            original: ``embedding_size`` = 64 of the square adjacency, i.e. 32 of the user-item matrix).
        principal_rank: global mode: components ``p <= r`` of the low-rank graph (the original:
            ``int(0.25 * 64)`` = 16 of the square adjacency, i.e. 8).
        svd_threshold: global mode: 0 keeps the low-rank graph as factors (exact); a positive value keeps
            only its entries with ``|M_ui| >=`` it, as a sparse graph (the original: 1e-3).
        dropout: dropout rate of the two InfoNCE views (authors' Baby logs: 0.2).
        temperature: InfoNCE temperature (hard-coded 0.2 in the original).
        finetune_features: train the raw features as the original does (``freeze=False``).
        lr_decay: learning-rate factor per ``lr_decay_epochs`` epochs (``learning_rate_scheduler``: 0.96).
        lr_decay_epochs: epochs over which the rate decays by ``lr_decay`` (50).
        reg_weight: weight of the InfoNCE term (authors' Baby logs: 0.05; PGL.yaml ships 0).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``embedding_dim`` is the width of each modality's user table and item projection (64).
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        mode: str = "local",
        knn_k: int = 10,
        modality_weights: dict[str, float] | None = None,
        num_item_graph_layers: int = 1,
        num_layers: int = 2,
        edge_dropout: float = 0.7,
        svd_rank: int = 32,
        principal_rank: int = 8,
        svd_threshold: float = 0.0,
        dropout: float = 0.2,
        temperature: float = 0.2,
        finetune_features: bool = True,
        lr_decay: float = 0.96,
        lr_decay_epochs: int = 50,
        reg_weight: float = 0.05,
        **kwargs: Any,
    ) -> None:
        super().__init__(reg_weight=reg_weight, **kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if knn_k <= 0 or num_layers < 0 or num_item_graph_layers < 0:
            raise ValueError("knn_k must be positive and the layer counts non-negative")
        if not 0.0 <= edge_dropout < 1.0 or not 0.0 <= dropout < 1.0:
            raise ValueError(f"edge_dropout and dropout must lie in [0, 1), got {edge_dropout} and {dropout}")
        if not 0 < principal_rank <= svd_rank:
            raise ValueError(f"need 0 < principal_rank <= svd_rank, got {principal_rank} and {svd_rank}")
        if svd_threshold < 0 or temperature <= 0 or lr_decay <= 0 or lr_decay_epochs <= 0:
            raise ValueError("svd_threshold must be non-negative; temperature, lr_decay and lr_decay_epochs positive")
        self.projection = FeatureProjection(
            "PGL", self.feature_dims, modalities, self.embedding_dim, self.num_items, finetune_features
        )
        self.modalities = self.projection.modalities
        self.graph_weights = mixing_weights(self.modalities, modality_weights, "PGL")
        self.mode = mode
        self.knn_k = knn_k
        self.num_layers = num_layers
        self.num_item_graph_layers = num_item_graph_layers
        self.edge_dropout = edge_dropout
        self.svd_rank = svd_rank
        self.principal_rank = principal_rank
        self.svd_threshold = svd_threshold
        self.dropout = dropout
        self.temperature = temperature
        self.lr_decay = lr_decay
        self.lr_decay_epochs = lr_decay_epochs
        self.user_item_conv = LightConv(num_layers)
        self.item_graph_conv = SumConv()
        # user_image, user_text: one user table per modality, xavier-uniform
        self.user_preference = nn.ParameterDict(
            {
                m: nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, self.embedding_dim)))
                for m in self.modalities
            }
        )

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        self.register_mixed_item_graph(dataset, self.graph_weights, self.knn_k)
        train = dataset.train
        self.register_training_graph(train)
        self._subgraph: torch.Tensor | None = None
        if self.mode == "global":
            self._build_global_subgraph(train.users, train.items)

    def _build_global_subgraph(self, users: torch.Tensor, items: torch.Tensor) -> None:
        """The truncated SVD (cached, keyed by the training pairs, the graph's shape and ``svd_rank``) and
        the principal low-rank graph: as factors, or as its thresholded sparse entries."""
        limit = min(self.num_users, self.num_items) - 1
        if self.svd_rank > limit:
            raise ValueError(f"PGL: svd_rank ({self.svd_rank}) must be below min(num_users, num_items) = {limit + 1}")

        def build() -> dict[str, torch.Tensor]:
            matrix = normalised_interactions(users, items, self.num_users, self.num_items)
            left, values, right = truncated_svd(matrix, self.svd_rank)
            return {"user_factors": left, "singular_values": values, "item_factors": right}

        params = {"rank": self.svd_rank, "num_users": self.num_users, "num_items": self.num_items, "version": 1}
        svd = cached("user_item_svd", params, [users.long(), items.long()], build)
        p = self.principal_rank
        weights = principal_weights(svd["singular_values"], p)
        user_factors, item_factors = svd["user_factors"][:, :p].contiguous(), svd["item_factors"][:, :p].contiguous()
        if self.svd_threshold > 0:
            u, i, v = low_rank_entries(user_factors, weights, item_factors, self.svd_threshold)
            i = i + self.num_users
            n = self.num_users + self.num_items
            self.register_data(
                "principal_adjacency", int32_csr(pairs_to_csr(torch.cat([u, i]), torch.cat([i, u]), n, n, torch.cat([v, v])))
            )
        else:
            self.register_data("principal_user_factors", user_factors)
            self.register_data("principal_weights", weights)
            self.register_data("principal_item_factors", item_factors)

    def resample_subgraph(self) -> None:
        """Local mode: draw this epoch's degree-sensitively sampled user-item graph (the original's
        ``pre_epoch_processing``)."""
        self._subgraph = self.pruned_adjacency(self.edge_weights, self.edge_dropout)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        if self.mode == "local":
            self.resample_subgraph()

    # ------------------------------------------------------------- backbone API
    def item_modal_embeddings(self) -> torch.Tensor:
        """``[I, M D]``: the normalised projected features of every modality, concatenated."""
        return torch.cat(
            [F.normalize(self.projection(m, self.item_features(m)), dim=1) for m in self.modalities], dim=1
        )

    def _low_rank_conv(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer mean over the factored global graph ``[[0, M], [M^T, 0]]``."""
        total_users, total_items = users, items
        for _ in range(self.num_layers):
            users, items = low_rank_propagate(
                users, items, self.principal_user_factors, self.principal_weights, self.principal_item_factors
            )
            total_users, total_items = total_users + users, total_items + items
        return total_users / (self.num_layers + 1), total_items / (self.num_layers + 1)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Training: over the principal subgraph; evaluation: over the full training graph."""
        items = self.item_modal_embeddings()
        users = torch.cat([self.user_preference[m] for m in self.modalities], dim=1)
        item_side = items
        for _ in range(self.num_item_graph_layers):
            item_side = self.item_graph_conv(item_side, self.item_graph, transpose=self.item_graph_t)
        if not self.training:
            user_repr, item_repr = self.user_item_conv.forward_split(users, items, self.adjacency)
        elif self.mode == "local":
            if getattr(self, "_subgraph", None) is None:
                self.resample_subgraph()
            user_repr, item_repr = self.user_item_conv.forward_split(users, items, self._subgraph)
        elif self.svd_threshold > 0:
            user_repr, item_repr = self.user_item_conv.forward_split(users, items, self.principal_adjacency)
        else:
            user_repr, item_repr = self._low_rank_conv(users, items)
        return user_repr, item_repr + item_side

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        user_repr, item_repr = self.forward()
        u = user_repr.index_select(0, users)
        pos, neg = item_repr.index_select(0, torch.cat([positives, negatives])).split(positives.numel())
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))}
        if self.reg_weight:
            contrast = dropout_views_info_nce(u, self.dropout, self.temperature) + dropout_views_info_nce(
                pos, self.dropout, self.temperature
            )
            terms["info_nce"] = self.reg_weight * contrast / 2
        return terms

    def configure_optimizers(self):
        return adam_with_decay(self, self.learning_rate, self.weight_decay, self.lr_decay, self.lr_decay_epochs)

    def user_init_targets(self) -> list[UserInitTarget]:
        # each modality's user table is propagated with that modality's normalised projected features
        def project(modality: str, raw: torch.Tensor) -> torch.Tensor:
            return F.normalize(self.projection.fresh(modality, raw), dim=1)

        return [
            UserInitTarget(f"user_preference[{m}]", self.user_preference[m], item_space=project, modalities=[m])
            for m in self.modalities
        ]
