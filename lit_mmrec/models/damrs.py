"""DA-MRS (Xv, Zhang, Liu, Wang, Xiao, Chen, Ma, Sun, Huang, "Improving Multi-modal Recommender
Systems by Denoising and Aligning Multi-modal Content and User Feedback", KDD 2024) on a LightGCN
backbone, as MMRec runs it (``src/models/damrs.py``, commit 4bc866d; the authors' code
XMUDM/DA-MRS@7dee19e with its preprocessing script ``build_iib_graph.py``).

Denoised item graphs (:mod:`lit_mmrec.nn.cooccurrence`), built once from the data:

- per modality ``m``, the binary kNN graph ``A_m`` (k = ``knn_k``) over the pairs that every
  modality finds at least as similar as its average pair (cross-modal consistency);
- the behaviour graph ``A_b``: each item's ``cooccurrence_k`` items sharing the most training users,
  at least ``min_common_users`` of them, plus a self-loop (binary);

each normalised ``Â = D^-1/2 A D^-1/2`` with ``D`` the row sums (``A`` is not symmetric).

Representations. With ``E_u, E_i`` the ID embeddings (xavier-uniform), ``[U; I]`` LightGCN's layer
mean over ``num_layers`` user-item layers, and ``L_s`` = ``num_item_graph_layers``:

    h^g = Â_g^{L_s} E_i          for every graph g in G = (modalities..., behaviour)
    h̄ = mean_g h^g,     user repr = U_u,     item repr = I_i + h̄_i

Loss for a batch (u, i+, i-), with ``B_I`` its distinct items and ``B_U`` its distinct users
(:mod:`lit_mmrec.nn.denoising_losses` has the formulas):

    L = L_bpr(w+, w-) + kl_weight * L_kl + neighbor_weight * mean_g L_nd^g

- ``L_bpr``: BPR on the item repr, each triple weighted by the confidence weights ``w+, w-`` from
  the scores ``<U_u, h^g_i / |h^g_i|>`` of every graph (denoising the feedback);
- ``L_kl``: symmetric Bernoulli KL between ``σ(<U_u, I_i / |I_i|>)`` and ``σ(<U_u, h̄_i / |h̄_i|>)``
  for every ``(u, i)`` in ``B_U x B_I`` (aligning behaviour and content);
- ``L_nd^g``: neighbour discrimination of the rows ``h^g_{B_I}`` against all rows of ``h^g``, with
  ``num_pseudo_labels`` pseudo-labels agreed by all graphs and as many of graph ``g``'s own,
  temperature ``temperature``.

Defaults: MMRec's ``DAMRS.yaml`` (the authors' Baby settings): knn_k 10, n_ui_layers 2,
n_mm_layers 1, kl_weight 1, neighbor_weight 1e-3; ``build_iib_graph.py --topk 2`` with its fixed
threshold of 2 shared users; 10 pseudo-labels and temperature 0.2 are constants in the code.

Deviations from MMRec's code:

- the behaviour graph is built in :meth:`build` from the training interactions (sparse, chunked,
  cached under a key holding ``cooccurrence_k``, ``min_common_users`` and the interactions), where
  MMRec reads ``item_graph_dict_2.npy`` written by a separate script; ties among equal counts go to
  the smaller item id (``torch.topk`` leaves their order unspecified). As there, the stored counts do
  not weight the edges (MMRec's normalisation replaces the values by ones);
- any set of modalities: one kNN graph per modality present, consistency over those (MMRec requires
  image and text and fails without either); the unused ``image_trs``/``text_trs`` layers of MMRec
  (parameters that receive no gradient) are left out;
- consistent kNN: the pairs outside the consistency set are excluded from the top-k (MMRec sets
  their similarity to 0, which ranks them above consistent pairs of negative similarity, possible
  only when a modality's average cosine is negative); safe cosine (zero feature rows have no
  neighbours, MMRec divides by a zero norm);
- pseudo-labels: ``min(num_pseudo_labels, n_items // 2)`` of each kind, so both sets exist on
  catalogues of fewer than 20 items; computed without gradient (MMRec's ``topk`` indices carry none:
  same gradients);
- the KL and neighbour-discrimination terms are computed in closed form and log space (MMRec's
  ``log(p)`` and ``+ 1e-9`` guards give NaN or a biased value at saturation; same value elsewhere);
- as in MMRec, ``n̄`` in ``w-`` is the mean over the whole batch, not per triple; ``reg_weight`` is
  unused (MMRec reads it and adds no regulariser);
- the item graphs are multiplied with a precomputed transpose for the backward (same maths).
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
from lit_mmrec.nn.cooccurrence import (
    cached_consistent_knn_neighbours,
    cached_item_cooccurrence_neighbours,
    with_self_loops,
)
from lit_mmrec.nn.denoising_losses import (
    confidence_weighted_bpr,
    confidence_weights,
    cosine_matrix,
    label_distribution,
    neighbour_discrimination_loss,
    pseudo_labels,
    symmetric_bernoulli_kl,
)
from lit_mmrec.nn.knn_graph import normalised_knn_adjacency
from lit_mmrec.nn.light_conv import LightConv
from lit_mmrec.nn.modal import select_modalities
from lit_mmrec.nn.normalisation import bipartite_adjacency
from lit_mmrec.nn.sparse import csr_pair
from lit_mmrec.nn.sum_conv import SumConv

#: Name of the item co-occurrence graph among the item graphs.
BEHAVIOUR = "behaviour"


class DAMRS(RecommenderModule):
    """DA-MRS on LightGCN: denoised item graphs, confidence-weighted BPR, KL alignment, neighbour
    discrimination.

    Args:
        modalities: modalities to use; None = every modality of the data set.
        knn_k: neighbours per item in each modality's consistent kNN graph (MMRec ``knn_k``: 10).
        cooccurrence_k: neighbours per item in the behaviour graph (``build_iib_graph.py --topk``: 2).
        min_common_users: least number of shared training users for a behaviour edge (the script: 2).
        num_layers: user-item LightGCN layers (MMRec ``n_ui_layers``: 2).
        num_item_graph_layers: propagation steps over each item graph (MMRec ``n_mm_layers``: 1).
        kl_weight: weight of the KL alignment term (MMRec ``kl_weight``: 1).
        neighbor_weight: weight of the neighbour-discrimination term (MMRec ``neighbor_weight``: 1e-3).
        num_pseudo_labels: pseudo-labels of each kind per anchor item (MMRec: 10, in the code).
        temperature: temperature of the neighbour-discrimination loss (MMRec: 0.2, in the code).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`
            (``reg_weight`` is unused, as in MMRec).
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        knn_k: int = 10,
        cooccurrence_k: int = 2,
        min_common_users: int = 2,
        num_layers: int = 2,
        num_item_graph_layers: int = 1,
        kl_weight: float = 1.0,
        neighbor_weight: float = 1e-3,
        num_pseudo_labels: int = 10,
        temperature: float = 0.2,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.modalities = select_modalities("DAMRS", self.feature_dims, modalities)
        if knn_k <= 0 or cooccurrence_k <= 0 or num_pseudo_labels <= 0:
            raise ValueError("knn_k, cooccurrence_k and num_pseudo_labels must be positive")
        if min_common_users < 1:
            raise ValueError(f"min_common_users must be >= 1, got {min_common_users}")
        if num_layers < 0 or num_item_graph_layers < 0:
            raise ValueError("the layer counts must be non-negative")
        for name, value in (("kl_weight", kl_weight), ("neighbor_weight", neighbor_weight)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and non-negative, got {value}")
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be finite and positive, got {temperature}")
        self.knn_k = knn_k
        self.cooccurrence_k = cooccurrence_k
        self.min_common_users = min_common_users
        self.num_layers = num_layers
        self.num_item_graph_layers = num_item_graph_layers
        self.kl_weight = kl_weight
        self.neighbor_weight = neighbor_weight
        self.num_pseudo_labels = num_pseudo_labels
        self.temperature = temperature
        self.graph_names = [*self.modalities, BEHAVIOUR]
        self.user_item_conv = LightConv(num_layers)
        self.item_graph_conv = SumConv()
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, self.embedding_dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_items, self.embedding_dim)))

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        train = dataset.train
        self.register_data(
            "adjacency", bipartite_adjacency(train.users, train.items, self.num_users, self.num_items)
        )
        features = {m: dataset.item_features[m] for m in self.modalities}
        neighbours = dict(cached_consistent_knn_neighbours(features, self.knn_k))
        behaviour = cached_item_cooccurrence_neighbours(
            train.users, train.items, self.num_users, self.num_items, self.cooccurrence_k, self.min_common_users
        )
        neighbours[BEHAVIOUR] = with_self_loops(behaviour)
        for name in self.graph_names:
            graph, graph_t = csr_pair(normalised_knn_adjacency(neighbours[name]))
            self.register_data(f"graph_{name}", graph)
            self.register_data(f"graph_{name}_t", graph_t)

    def item_graph(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Â_g, Â_g^T)`` of item graph ``name`` (a modality or ``"behaviour"``)."""
        return getattr(self, f"graph_{name}"), getattr(self, f"graph_{name}_t")

    # ------------------------------------------------------------- backbone API
    def propagate(self) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """``(U, I, [h^g for g in graph_names])``: the LightGCN outputs and each item graph's view."""
        users, items = self.user_item_conv.forward_split(self.user_embedding, self.item_embedding, self.adjacency)
        views = []
        for name in self.graph_names:
            graph, graph_t = self.item_graph(name)
            view = self.item_embedding
            for _ in range(self.num_item_graph_layers):
                view = self.item_graph_conv(view, graph, transpose=graph_t)
            views.append(view)
        return users, items, views

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items, views = self.propagate()
        return users, items + torch.stack(views).mean(0)

    def loss(
        self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        user_repr, item_behaviour, views = self.propagate()
        content = torch.stack(views).mean(0)
        u = user_repr.index_select(0, users)

        def graph_logits(items: torch.Tensor) -> torch.Tensor:
            return torch.stack([(u * F.normalize(view.index_select(0, items), dim=1)).sum(-1) for view in views])

        pos_weight, neg_weight = confidence_weights(graph_logits(positives), graph_logits(negatives))
        pos, neg = (item_behaviour + content).index_select(0, torch.cat([positives, negatives])).split(users.numel())
        terms = {"bpr": confidence_weighted_bpr((u * pos).sum(-1), (u * neg).sum(-1), pos_weight, neg_weight)}

        batch_items = torch.unique(torch.cat([positives, negatives]))
        if self.kl_weight:
            batch_users = user_repr.index_select(0, torch.unique(users))
            behaviour_logits = batch_users @ F.normalize(item_behaviour.index_select(0, batch_items), dim=1).T
            content_logits = batch_users @ F.normalize(content.index_select(0, batch_items), dim=1).T
            terms["kl"] = self.kl_weight * symmetric_bernoulli_kl(behaviour_logits, content_logits)
        if self.neighbor_weight:
            # one cosine matrix per graph: the pseudo-labels' distributions (no gradient) and the loss
            cosines = [cosine_matrix(view.index_select(0, batch_items), view) for view in views]
            with torch.no_grad():
                distributions = [label_distribution(c) for c in cosines]
            labels = pseudo_labels(distributions, self.num_pseudo_labels)
            discrimination = 0.0
            for graph_cosines, (multimodal, single) in zip(cosines, labels, strict=True):
                discrimination = discrimination + neighbour_discrimination_loss(
                    graph_cosines, multimodal, single, self.temperature
                )
            terms["neighbour"] = self.neighbor_weight * discrimination / len(views)
        return terms

    def user_init_targets(self) -> list[UserInitTarget]:
        # ID table scored against ID-propagated item embeddings: no feature space, SG-URInit uses PCA.
        return [UserInitTarget("user_embedding", self.user_embedding, item_space="none")]
