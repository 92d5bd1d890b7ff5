"""MENTOR (Xu, Chen, Yang, Li, Wang & Ngai, "MENTOR: Multi-level Self-supervised Learning for Multimodal
Recommendation", AAAI 2025); the authors' code ``Jinfeng-Xu/MENTOR@1581d27`` ``src/models/mentor.py`` and
``src/configs/model/MENTOR.yaml`` (also ported to the authors' Multimodal-Recommendation-Library).

DRAGON's heterogeneous core (:mod:`lit_mmrec.models.dragon`), per modality ``m`` and one more branch for
item IDs: a user preference table ``P_m`` and item inputs through an MLP ``D_m -> 256 -> 64`` (the ID
branch feeds a learned item table ``E [I, 64]`` to its MLP), L2-normalised and propagated over the
symmetric-normalised user-item graph ``A``, the layers summed:

    X_m = normalize([P_m; MLP_m(x^m)]),      H_m = X_m + A X_m + A^2 X_m      (L = 2 layers)

Fused representation: users ``[α_u1 H_1[u] ‖ ... ‖ α_uM H_M[u]]`` (``α`` learned per user, as DRAGON),
items ``i + S^K i`` with ``i = [H_1[i] ‖ ... ‖ H_M[i]]`` and ``S`` the frozen item kNN graph (k = 10,
0.1 image + 0.9 text, :mod:`lit_mmrec.nn.knn_graph`; ``K`` = ``n_mm_layers`` = 1). Scores are
``<user, item>`` of the fused representation; the BPR term is ``-mean(log2 sigmoid(s+ - s-))``.

Self-supervised terms (all over every user and every item, as the original):

- graph-noise contrast (``mask_g``): two more copies of the per-modality GCN (their own parameters, as
  the original's ``v_gcn_n1``/``v_gcn_n2``) add SimGCL noise after each layer,
  ``h <- h + ε sign(h) ⊙ normalize(U)`` with ``U ~ Uniform[0, 1)`` per row and modality and ``ε = 0.1``;
  fused like the main branch into ``Z¹, Z²``; loss
  ``w_g (InfoNCE_τ(Z¹_users, Z²_users) + InfoNCE_τ(Z¹_items, Z²_items))`` (:mod:`lit_mmrec.nn.info_nce`);
- feature mask (``mask_f``): a linear predictor ``f`` (``M·64 -> M·64``) against a dropout view of the
  fused representation, ``w_f Σ_{users, items} (1 - mean_b cos(dropout_p(Z)_b, f(Z)_b))``;
- alignment (``align``): :func:`~lit_mmrec.nn.alignment.mean_variance_alignment` over the fused
  ``Z``, the ID guide ``[G ‖ ... ‖ G]`` and each modality's ``[H_m ‖ ... ‖ H_m]`` (users unweighted,
  items with their ``S^K`` term), each ``[U + I, M·64]``, weighted by ``w_a``;
- ``reg_weight`` x (Σ_m mean of squares of ``P_m`` over the batch's users + mean of squares of ``α``).

Defaults: MENTOR.yaml (lr 1e-4, reg 1e-3, dropout 0.5, mask_f 1.5, align 0.1, knn 10, image weight 0.1,
``n_mm_layers`` 1) and mentor.py's constants (64-d, 256 hidden, 2 layers, ``ε = 0.1``). MENTOR.yaml
searches ``mask_weight_g`` {1e-4, 1e-3} and ``temp`` {0.2, 0.4, 0.6} and the authors' README gives no
per-data-set best, so the defaults are the first grid point of each (1e-4, 0.2).

Deviations from the authors' code:

- **feature-mask gradient** (defect of the original, and of the library's port): the original computes
  both views under ``torch.no_grad()``, so its ``mask_f`` term is a constant that trains nothing (not
  even its predictor). The default here (``feature_mask_grad=True``) is the fix, so that the term does
  what the paper describes and every parameter trains: the predictor branch ``f(Z)`` keeps its gradient
  and the dropout view is the target under a stop-gradient (SimSiam's negative cosine,
  :func:`~lit_mmrec.nn.self_supervised.negative_cosine_loss`, plus the constant 1).
  ``feature_mask_grad=False`` is the original's form (the predictor then stays a fixed random map);
  the shipped configs choose it: the published numbers come from it, its weight 1.5 is tuned with the
  term inert, and on ml100k (30 epochs, text only) it reaches validation Recall@20 .184 against .154
  with the gradient;
- **user graph**: the original loads ``user_graph_dict.npy`` (made beforehand by its
  ``preprocessing/dualgnn-gen-u-u-matrix.py``; the run fails without it) and resamples DRAGON's
  40-neighbour user graph every epoch, but its ``forward`` never uses it: the scores are those of the
  fused representation above. So no user graph is read or built here, and no ``user_graph_dict.npy``
  is needed;
- evaluation uses fresh representations (the original scores with the ``result_embed`` of the last
  training batch); this makes evaluation reproducible from a checkpoint;
- any number of modalities (the original handles exactly image + text): ``α``, the predictor and the
  duplicated guide/modality blocks are ``M`` wide; with one modality the fused and the modality
  representation coincide, so the alignment is over the fused and the guide representations only;
- noise is drawn on the model's device (the original calls ``.cuda()``); the noise is normalised per
  modality block, as the original's per-modality GCN;
- unused parts of the original are left out: the dropped-edge graphs ``edge_index_dropv/t`` (built,
  never read), ``weight_i``, ``MLP_user``, ``image_trs``/``text_trs`` and the trainable copies of the
  raw features (the kNN graph uses the raw features, as the original builds it once before training);
- item graph and adjacency as DRAGON's here (safe cosine, chunked, cached keyed by the features'
  hash);
- ``contrast_rows="batch"`` (an option; the default ``"all"`` is the original) runs the graph-noise
  InfoNCE over the batch's distinct users and distinct positive items only, as SimGCL does, instead of
  over every user and every item. The all-row form costs ``O((U² + I²) M d)`` per step, which dominates
  training beyond small data: at the Baby shape (19,445 users) one CPU epoch takes longer than 5 minutes
  (``docs/benchmarks.md``). The batch form changes the loss (fewer negatives per row), so its numbers
  are not the paper's.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.alignment import mean_variance_alignment
from lit_mmrec.nn.info_nce import info_nce
from lit_mmrec.nn.knn_graph import mixing_weights
from lit_mmrec.nn.light_conv import LightConv
from lit_mmrec.nn.losses import bpr_loss
from lit_mmrec.nn.modal import select_modalities
from lit_mmrec.nn.modal_preference import ModalPreferenceMixin
from lit_mmrec.nn.normalisation import bipartite_adjacency
from lit_mmrec.nn.self_supervised import negative_cosine_loss
from lit_mmrec.nn.sum_conv import SumConv


class _ModalBranch(nn.Module):
    """Preference tables and item MLPs of one extra GCN branch (a noise branch or the ID guide)."""

    def __init__(self, num_users: int, input_dims: dict[str, int], embedding_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.preference = nn.ParameterDict(
            {m: nn.Parameter(nn.init.xavier_normal_(torch.empty(num_users, embedding_dim))) for m in input_dims}
        )
        self.item_mlp = nn.ModuleDict(
            {
                m: nn.Sequential(nn.Linear(dim, hidden_dim), nn.LeakyReLU(), nn.Linear(hidden_dim, embedding_dim))
                for m, dim in input_dims.items()
            }
        )

    def inputs(self, item_inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """``X_m = normalize([P_m; MLP_m(x^m)])`` per modality, ``[U + I, d]`` each."""
        return [
            F.normalize(torch.cat([self.preference[m], self.item_mlp[m](x)]), dim=1) for m, x in item_inputs.items()
        ]


class MENTOR(ModalPreferenceMixin, RecommenderModule):
    """MENTOR: DRAGON's per-modality GCNs and item kNN graph with graph-noise contrast, a feature-mask
    SimSiam loss and mean/variance alignment against an ID-guide branch.

    Args:
        modalities: modalities to use; None = every modality of the data set.
        feature_hidden_dim: hidden width of the item MLPs (mentor.py: 4 x 64 = 256).
        num_layers: user-item propagation steps, summed with the input (mentor.py: 2).
        knn_k: neighbours per item in the item kNN graphs (MENTOR.yaml: 10).
        modality_weights: item-graph weight per modality; None = MENTOR.yaml's ``{image: 0.1, text: 0.9}``,
            renormalised over the modalities used.
        num_item_graph_layers: propagation steps over the item graph (MENTOR.yaml ``n_mm_layers``: 1).
        dropout: drop probability of the feature-mask view (MENTOR.yaml: 0.5).
        noise_magnitude: ``ε`` of the noise branches' perturbation (mentor.py: 0.1).
        temperature: InfoNCE temperature ``τ`` of the graph-noise contrast (MENTOR.yaml grid {0.2, 0.4,
            0.6}: 0.2).
        mask_g_weight: weight of the graph-noise contrast (MENTOR.yaml grid {1e-4, 1e-3}: 1e-4).
        mask_f_weight: weight of the feature-mask loss (MENTOR.yaml: 1.5).
        align_weight: weight of the mean/variance alignment (MENTOR.yaml: 0.1).
        feature_mask_grad: True: the feature-mask loss trains the predictor and the representation
            (stop-gradient on the dropout view); False: computed without gradient, as the original (it
            trains nothing, the predictor stays fixed).
        contrast_rows: rows of the graph-noise contrast: ``all`` users and items, as the original, or the
            ``batch``'s distinct users and positive items (cheaper on large data; not the paper's loss).
        reg_weight: weight of the preference / modality-weight regulariser (MENTOR.yaml: 1e-3).
        learning_rate: Adam learning rate (MENTOR.yaml: 1e-4).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``embedding_dim`` is the width of each branch's tables and projections (mentor.py: 64).
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        feature_hidden_dim: int = 256,
        num_layers: int = 2,
        knn_k: int = 10,
        modality_weights: dict[str, float] | None = None,
        num_item_graph_layers: int = 1,
        dropout: float = 0.5,
        noise_magnitude: float = 0.1,
        temperature: float = 0.2,
        mask_g_weight: float = 1e-4,
        mask_f_weight: float = 1.5,
        align_weight: float = 0.1,
        feature_mask_grad: bool = True,
        contrast_rows: Literal["all", "batch"] = "all",
        reg_weight: float = 1e-3,
        learning_rate: float = 1e-4,
        **kwargs: Any,
    ) -> None:
        super().__init__(reg_weight=reg_weight, learning_rate=learning_rate, **kwargs)
        self.modalities = select_modalities("MENTOR", self.feature_dims, modalities)
        if min(knn_k, feature_hidden_dim) <= 0 or min(num_layers, num_item_graph_layers) < 0:
            raise ValueError("knn_k and feature_hidden_dim must be positive, layer counts >= 0")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if not temperature > 0.0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        for name, value in (
            ("noise_magnitude", noise_magnitude),
            ("mask_g_weight", mask_g_weight),
            ("mask_f_weight", mask_f_weight),
            ("align_weight", align_weight),
        ):
            if not value >= 0.0:  # refuses NaN too
                raise ValueError(f"{name} must be >= 0, got {value}")
        if contrast_rows not in ("all", "batch"):
            raise ValueError(f"contrast_rows must be 'all' or 'batch', got {contrast_rows!r}")
        self.contrast_rows = contrast_rows
        self.graph_weights = mixing_weights(self.modalities, modality_weights, "MENTOR")
        self.num_layers = num_layers
        self.knn_k = knn_k
        self.num_item_graph_layers = num_item_graph_layers
        self.dropout = dropout
        self.noise_magnitude = noise_magnitude
        self.temperature = temperature
        self.mask_g_weight = mask_g_weight
        self.mask_f_weight = mask_f_weight
        self.align_weight = align_weight
        self.feature_mask_grad = feature_mask_grad
        self.user_item_conv = LightConv(num_layers, combine="sum")
        self.graph_conv = SumConv()

        d = self.embedding_dim
        dims = {m: self.feature_dims[m] for m in self.modalities}
        self.init_modal_preferences(self.feature_dims, d, feature_hidden_dim)
        self.noise_branches = nn.ModuleList(
            [_ModalBranch(self.num_users, dims, d, feature_hidden_dim) for _ in range(2)]
        )
        self.item_id = nn.Parameter(nn.init.xavier_normal_(torch.empty(self.num_items, d)))
        self.guide = _ModalBranch(self.num_users, {"id": d}, d, feature_hidden_dim)
        width = d * len(self.modalities)
        self.predictor = nn.Linear(width, width)
        self.predictor.requires_grad_(feature_mask_grad)  # the original's form never trains it

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        self.register_mixed_item_graph(dataset, self.graph_weights, self.knn_k)
        train = dataset.train
        self.register_data(
            "adjacency", bipartite_adjacency(train.users, train.items, self.num_users, self.num_items)
        )

    # ------------------------------------------------------------ propagation
    def item_side(self, items: torch.Tensor) -> torch.Tensor:
        """``i + S^K i`` over the item kNN graph."""
        side = items
        for _ in range(self.num_item_graph_layers):
            side = self.graph_conv(side, self.item_graph, transpose=self.item_graph_t)
        return items + side

    def noisy_propagate(self, x: torch.Tensor) -> torch.Tensor:
        """``x + h_1 + ... + h_L`` with ``h_l = A h_{l-1} + ε sign(·) ⊙ normalize(U)``, per modality
        block of ``x [U + I, M d]``."""
        total, hidden = x, x
        blocks = len(self.modalities)
        for _ in range(self.num_layers):
            hidden = self.user_item_conv.propagate(self.adjacency, x=hidden, edge_weight=None)
            noise = F.normalize(torch.rand_like(hidden).view(hidden.shape[0], blocks, -1), dim=-1)
            hidden = hidden + self.noise_magnitude * torch.sign(hidden) * noise.view_as(hidden)
            total = total + hidden
        return total

    def fuse(self, total: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Users weighted by ``α``, items with their item-graph term, from ``[U + I, M d]``."""
        users, items = total[: self.num_users], total[self.num_users :]
        if self.modality_weight is not None:
            users = users * self.modality_weight.repeat_interleave(self.embedding_dim, dim=1)
        return users, self.item_side(items)

    def modality_blocks(self) -> torch.Tensor:
        """The main branch's propagated ``[H_1 ‖ ... ‖ H_M]``, ``[U + I, M d]``."""
        return self.user_item_conv(self.modal_inputs(), self.adjacency)

    def noise_views(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The two noise branches' fused ``(users, items)``."""
        raw = {m: self.item_features(m) for m in self.modalities}
        return [self.fuse(self.noisy_propagate(torch.cat(branch.inputs(raw), dim=1))) for branch in self.noise_branches]

    def guide_blocks(self) -> torch.Tensor:
        """The ID guide's propagated ``G``, ``[U + I, d]``."""
        return self.user_item_conv(self.guide.inputs({"id": self.item_id})[0], self.adjacency)

    # ------------------------------------------------------------- backbone API
    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fuse(self.modality_blocks())

    def feature_mask_loss(self, rows: torch.Tensor) -> torch.Tensor:
        """``1 - mean_b cos(dropout_p(rows)_b, f(rows)_b)``; with gradient through ``f(rows)`` only when
        ``feature_mask_grad``, without any gradient otherwise (the original)."""
        with torch.set_grad_enabled(self.feature_mask_grad and torch.is_grad_enabled()):
            target = F.dropout(rows, self.dropout, training=True)
            return 1.0 + negative_cosine_loss(self.predictor(rows), target)

    def loss(
        self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        blocks = self.modality_blocks()
        user_repr, item_repr = self.fuse(blocks)
        u = user_repr[users]
        pos = (u * item_repr[positives]).sum(-1)
        neg = (u * item_repr[negatives]).sum(-1)
        terms = {"bpr": bpr_loss(pos, neg) / math.log(2.0)}  # the original: -mean(log2 sigmoid)
        if self.reg_weight:
            terms["reg"] = self.reg_weight * self.preference_penalty(users)
        if self.mask_f_weight:
            terms["mask_f"] = self.mask_f_weight * (
                self.feature_mask_loss(user_repr) + self.feature_mask_loss(item_repr)
            )
        if self.align_weight:
            count = len(self.modalities)
            fused = torch.cat([user_repr, item_repr])
            guide = self.guide_blocks()
            unfused = [guide] if count == 1 else [guide] + list(blocks.split(self.embedding_dim, dim=1))
            representations = [fused] + [
                torch.cat([h[: self.num_users], self.item_side(h[self.num_users :])]).repeat(1, count)
                for h in unfused
            ]
            terms["align"] = self.align_weight * mean_variance_alignment(representations)
        if self.mask_g_weight:
            (users1, items1), (users2, items2) = self.noise_views()
            if self.contrast_rows == "batch":
                rows, columns = torch.unique(users), torch.unique(positives)
                users1, users2, items1, items2 = users1[rows], users2[rows], items1[columns], items2[columns]
            terms["mask_g"] = self.mask_g_weight * (
                info_nce(users1, users2, self.temperature) + info_nce(items1, items2, self.temperature)
            )
        return terms
