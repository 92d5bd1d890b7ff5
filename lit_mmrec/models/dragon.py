"""DRAGON (Zhou, Zhou, Zhang, Wang, Miao & Shen, "Enhancing Dyadic Relations with Homogeneous Graphs
for Multimodal Recommendation", ECAI 2023), as MMRec runs it (``src/models/dragon.py``, identical to
the authors' ``hongyurain/DRAGON``).

Heterogeneous graph, per modality ``m`` (all 64-d): a user preference table ``P_m`` (xavier-normal)
and item features through an MLP ``D_m -> 256 -> 64`` with a leaky ReLU between; both sides are
L2-normalised row-wise and propagated over the symmetric-normalised user-item graph ``A``, summing
the layers (not averaging):

    X_m = normalize([P_m; MLP_m(x^m)]),      H_m = X_m + A X_m + A^2 X_m      (L = 2 layers)

Users concatenate their modality blocks weighted by a learned per-user weight ``α_u`` (initialised
as a softmax over modalities); items concatenate them unweighted:

    u = [α_u1 H_1[u] ‖ ... ‖ α_uM H_M[u]],     i = [H_1[i] ‖ ... ‖ H_M[i]]          (64 M wide)

Homogeneous graphs: a frozen item kNN graph ``S`` (k = 10, 0.1 image + 0.9 text, as FREEDOM's; see
:mod:`lit_mmrec.nn.knn_graph`) and a user co-occurrence graph (each user's top 40 users by
number of shared training items, weighted by a softmax over those counts):

    item repr = i + S i,        user repr = u + Σ_v β_uv u_v,       score = <user repr, item repr>

Loss: ``-mean(log2 sigmoid(s+ - s-))`` (MMRec's DRAGON uses log base 2: BPR / ln 2) +
``reg_weight`` x (Σ_m mean of squares of ``P_m`` over the batch's user rows + mean of squares of
``α`` over all users).

User graph: read from the data set's ``user_graph_dict.npy`` (MMRec's file) when it exists and can be
read safely, otherwise built from the training interactions and cached (``user_graph_source``). In
each training epoch MMRec pads users with ``n < 40`` neighbours to 40 by repeatedly copying a
uniformly drawn entry of the growing list (a Pólya urn), so a neighbour copied ``c`` times gets
``c`` times its softmax share. :mod:`lit_mmrec.nn.user_graph` (shared with DualGNN) draws the same
distribution in one vectorised step: the copy counts minus one are Dirichlet(1)-multinomial. The
preference tables, item MLPs and modality weights are :mod:`lit_mmrec.nn.modal_preference`'s,
also shared with DualGNN.

Deviations from MMRec's code:

- evaluation uses fresh representations with deterministic user-graph weights (the softmax over the
  distinct neighbours, i.e. the padding's expected uniform copy counts), where MMRec scores with the
  ``result_embed`` left by the last training batch (one optimiser step stale, last epoch's padding);
  this makes evaluation reproducible from a checkpoint;
- one modality: no ``α`` (as MMRec); any number of modalities: ``α`` has one column per modality
  (MMRec's code handles exactly image + text);
- unused parts of MMRec's module are left out (``image_trs``/``text_trs``, the trainable copies of the
  raw features, ``MLP_v``/``MLP_t``/``MLP_user``, ``weight_i``, the never-used dropped-edge graphs);
- in training the user graph is applied to the batch's distinct users only (a weighted gather),
  or, when the batch covers a large share of the users, as one sparse product over all users; the
  item graph and the user-item graph are multiplied with precomputed transposes (same maths);
- item graph: safe cosine, chunked, cached keyed by the features' hash; modality weights of the
  modalities present, renormalised.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.knn_graph import mixed_knn_graph, mixing_weights
from lit_mmrec.nn.light_conv import LightConv
from lit_mmrec.nn.losses import bpr_loss
from lit_mmrec.nn.modal import select_modalities
from lit_mmrec.nn.modal_preference import ModalPreferenceMixin
from lit_mmrec.nn.normalisation import bipartite_adjacency
from lit_mmrec.nn.sparse import csr_pair
from lit_mmrec.nn.sum_conv import SumConv
from lit_mmrec.nn.user_graph import UserGraphMixin, check_user_graph_source

#: Users aggregated at once over the user graph when every user is needed (bounds the gather).
_USER_CHUNK = 4096
#: In training, apply the user graph to all users as one sparse product when the data set has at most
#: this many times as many users as the batch (cheaper there); otherwise gather for the batch's users.
_FULL_PRODUCT_RATIO = 4


class DRAGON(UserGraphMixin, ModalPreferenceMixin, RecommenderModule):
    """DRAGON: per-modality user-item GCNs + frozen item kNN graph + user co-occurrence graph.

    Args:
        modalities: modalities to use; None = every modality of the data set.
        feature_hidden_dim: hidden width of the item feature MLP (MMRec: 4 x 64 = 256).
        num_layers: user-item propagation steps, summed with the input (MMRec: 2).
        knn_k: neighbours per item in the item kNN graphs (MMRec: 10).
        modality_weights: item-graph weight per modality; None = MMRec's ``{image: 0.1, text: 0.9}``,
            renormalised over the modalities used.
        num_item_graph_layers: propagation steps over the item graph (MMRec ``n_mm_layers``: 1).
        user_graph_k: neighbours per user in the user graph (MMRec: 40).
        user_graph_source: ``auto`` (the data set's ``user_graph_dict.npy`` if it reads safely, else
            built from training data), ``file`` or ``build``.
        reg_weight: weight of the preference / modality-weight regulariser (authors: 1e-3 Baby and
            Sports, 0.1 Clothing).
        learning_rate: Adam learning rate (authors: 1e-4).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``embedding_dim`` is the width of each modality's preference table and item projection (MMRec:
            64).
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        feature_hidden_dim: int = 256,
        num_layers: int = 2,
        knn_k: int = 10,
        modality_weights: dict[str, float] | None = None,
        num_item_graph_layers: int = 1,
        user_graph_k: int = 40,
        user_graph_source: str = "auto",
        reg_weight: float = 1e-3,
        learning_rate: float = 1e-4,
        **kwargs: Any,
    ) -> None:
        super().__init__(reg_weight=reg_weight, learning_rate=learning_rate, **kwargs)
        self.modalities = select_modalities("DRAGON", self.feature_dims, modalities)
        check_user_graph_source(user_graph_source)
        if min(knn_k, user_graph_k, feature_hidden_dim) <= 0 or min(num_layers, num_item_graph_layers) < 0:
            raise ValueError("knn_k, user_graph_k and feature_hidden_dim must be positive, layer counts >= 0")
        self.graph_weights = mixing_weights(self.modalities, modality_weights, "DRAGON")
        self.num_layers = num_layers
        self.user_item_conv = LightConv(num_layers, combine="sum")
        self.graph_conv = SumConv()  # the item graph S and the user graph B
        self.knn_k = knn_k
        self.num_item_graph_layers = num_item_graph_layers
        self.user_graph_k = user_graph_k
        self.user_graph_source = user_graph_source

        self.init_modal_preferences(self.feature_dims, self.embedding_dim, feature_hidden_dim)

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        self.register_item_features(dataset, self.modalities)
        features = {m: dataset.item_features[m] for m in self.modalities}
        item_graph, item_graph_t = csr_pair(mixed_knn_graph(features, self.graph_weights, self.knn_k))
        self.register_data("item_graph", item_graph)
        self.register_data("item_graph_t", item_graph_t)
        train = dataset.train
        self.register_data(
            "adjacency", bipartite_adjacency(train.users, train.items, self.num_users, self.num_items)
        )
        self.build_user_graph(dataset, self.user_graph_k, self.user_graph_source)

    # ------------------------------------------------------------- backbone API
    def heterogeneous(self) -> tuple[torch.Tensor, torch.Tensor]:
        """User-item part: ``(u [num_users, 64 M], i + S i [num_items, 64 M])`` before the user graph."""
        total = self.user_item_conv(self.modal_inputs(), self.adjacency)
        users, items = total[: self.num_users], total[self.num_users :]
        if self.modality_weight is not None:
            users = users * self.modality_weight.repeat_interleave(self.embedding_dim, dim=1)
        side = items
        for _ in range(self.num_item_graph_layers):
            side = self.graph_conv(side, self.item_graph, transpose=self.item_graph_t)
        return users, items + side

    def aggregate_users(
        self, user_repr: torch.Tensor, users: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        """``Σ_v β_uv user_repr[v]`` over the user graph for ``users`` (``[len(users), D]``): a
        weighted gather over the distinct users (unused slots have weight 0)."""
        unique, inverse = torch.unique(users, return_inverse=True)
        neighbours = self.user_neighbours[unique].clamp_min(0)  # unused slots (-1) have weight 0
        mixed = F.embedding_bag(neighbours, user_repr, per_sample_weights=weights[unique], mode="sum")
        return mixed[inverse]

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        user_repr, item_repr = self.heterogeneous()
        weights = self.user_weights()
        all_users = torch.arange(self.num_users, device=user_repr.device)
        mixed = [
            self.aggregate_users(user_repr, chunk, weights) for chunk in torch.split(all_users, _USER_CHUNK)
        ]
        return user_repr + torch.cat(mixed), item_repr

    def loss(
        self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        user_repr, item_repr = self.heterogeneous()
        if self.training and self.num_users <= _FULL_PRODUCT_RATIO * users.numel():
            graph, graph_t = self.user_graph()
            u = (user_repr + self.graph_conv(user_repr, graph, transpose=graph_t))[users]
        else:
            u = user_repr[users] + self.aggregate_users(user_repr, users, self.user_weights())
        pos = (u * item_repr[positives]).sum(-1)
        neg = (u * item_repr[negatives]).sum(-1)
        terms = {"bpr": bpr_loss(pos, neg) / math.log(2.0)}  # MMRec's DRAGON: -mean(log2 sigmoid)
        if self.reg_weight:
            terms["reg"] = self.reg_weight * self.preference_penalty(users)
        return terms
