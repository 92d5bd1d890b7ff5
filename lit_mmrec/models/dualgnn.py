r"""DualGNN (Wang, Wei, Yin, Li, Zhu & Nie, "DualGNN: Dual Graph Neural Network for Multimedia
Recommendation", IEEE TMM 2021), as the authors' code (``wqf321/dualgnn``, ``Model.py``) and MMRec's
port (``src/models/dualgnn.py``, ``DualGNN.yaml``) run it.

*Single-modal representation learning*, per modality ``m`` (all ``d = 64`` wide): a user preference
table ``P_m`` (xavier-normal) and the item features through an MLP ``D_m -> 4d -> d`` with a leaky
ReLU between; every row is L2-normalised and propagated over the symmetric-normalised user-item
graph ``A = D^-1/2 A D^-1/2`` of the training interactions, summing (not averaging) two layers::

    X_m = normalize([P_m; MLP_m(F_m)]),       H_m = X_m + A X_m + A^2 X_m

*Multi-modal fusion* ("weighted_sum" construction): items sum their modalities; users weigh them
with a learned per-user weight ``alpha_u`` (initialised as a softmax over modalities)::

    i = sum_m H_m[i],                        u = sum_m alpha_um H_m[u]

*User co-occurrence graph*: each user's ``k = 40`` users sharing the most training items, weighted
by a softmax over those counts (``beta``); the user-graph layer adds their representations::

    user repr = u + sum_v beta_uv u_v,       score(u, i) = <user repr, i>

Loss: ``-mean(log2 sigmoid(s+ - s-))`` (both codes use log base 2: BPR / ln 2) + ``reg_weight`` x
(``sum_m mean(P_m[u]^2)`` over the batch's users + ``mean(alpha^2)`` over all users).

User graph: MMRec's ``user_graph_dict.npy`` when the data set has it and it reads safely, otherwise
built from the training interactions and cached (``user_graph_source``;
:func:`lit_mmrec.nn.user_graph.user_cooccurrence_graph`, shared with DRAGON). In each training
epoch users with fewer than ``k`` neighbours are padded to ``k`` as both codes do (a neighbour
copied ``c`` times weighs ``c exp(count)``; :mod:`lit_mmrec.nn.user_graph`, shared with DRAGON,
as are the preference tables, item MLPs and ``alpha``: :mod:`lit_mmrec.nn.modal_preference`).

Deviations from the original codes, all deliberate:

- *users weigh the modalities' own representations.* MMRec's port sums the modalities in place
  (``representation += t_rep`` with ``representation`` the image tensor itself), so its users see
  ``alpha_image (H_image + H_text) + alpha_text H_text``; the authors' code (out of place) gives
  ``sum_m alpha_um H_m``, which is what this module computes;
- *any number of modalities*: ``alpha`` has one column per modality; with one modality there is no
  ``alpha`` (MMRec keeps an unused 2-column one, the authors' code needs image, audio and text);
- unused parts are left out: the per-modality "dropped-edge" graphs (built, never read), the item
  weights ``weight_i`` (never read; both codes still add ``mean(weight_i^2)`` to the loss, which
  only shrinks them), ``MLP_v``/``MLP_t``/``MLP_user`` (other constructions);
- evaluation recomputes the representations with the final weights and deterministic user-graph
  weights (the softmax over the distinct neighbours, the padding's expectation); both codes rank
  with the ``result_embed`` of the last training batch (one update stale, that epoch's padding);
- the user graph is one sparse product (``beta`` as a ``[U, U]`` matrix rebuilt each epoch, with a
  precomputed transpose for the backward), the two layers one product over the modalities stacked
  side by side (same maths as PyG's ``add`` aggregation with ``deg^-1/2`` weights).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.light_conv import LightConv
from lit_mmrec.nn.losses import bpr_loss
from lit_mmrec.nn.modal import select_modalities
from lit_mmrec.nn.modal_preference import ModalPreferenceMixin
from lit_mmrec.nn.normalisation import bipartite_adjacency
from lit_mmrec.nn.sum_conv import SumConv
from lit_mmrec.nn.user_graph import UserGraphMixin, check_user_graph_source


class DualGNN(UserGraphMixin, ModalPreferenceMixin, RecommenderModule):
    """DualGNN: per-modality user-item GCNs fused per user, plus a user co-occurrence graph layer.

    Args:
        modalities: modalities to use; None = every modality of the data set (sorted).
        feature_hidden_dim: hidden width of the item feature MLP (both codes: 4 x 64 = 256).
        num_layers: user-item propagation steps, summed with the input (both codes: 2).
        user_graph_k: neighbours per user in the user graph (both codes: 40).
        user_graph_source: ``auto`` (the data set's ``user_graph_dict.npy`` if it reads safely, else
            built from the training interactions), ``file`` or ``build``.
        reg_weight: weight of the preference / modality-weight regulariser (authors' default: 0.1;
            MMRec searches 1e-5 ... 0.1).
        learning_rate: Adam learning rate (authors' default: 1e-4; MMRec searches 1e-5 ... 0.1).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``embedding_dim`` is the width d of the preference tables and item projections (both codes:
            64).
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        feature_hidden_dim: int = 256,
        num_layers: int = 2,
        user_graph_k: int = 40,
        user_graph_source: str = "auto",
        reg_weight: float = 0.1,
        learning_rate: float = 1e-4,
        **kwargs: Any,
    ) -> None:
        super().__init__(reg_weight=reg_weight, learning_rate=learning_rate, **kwargs)
        self.modalities = select_modalities("DualGNN", self.feature_dims, modalities)
        check_user_graph_source(user_graph_source)
        if user_graph_k <= 0 or feature_hidden_dim <= 0 or num_layers < 0:
            raise ValueError("user_graph_k and feature_hidden_dim must be positive, num_layers >= 0")
        self.num_layers = num_layers
        self.user_item_conv = LightConv(num_layers, combine="sum")
        self.user_graph_conv = SumConv()
        self.user_graph_k = user_graph_k
        self.user_graph_source = user_graph_source

        self.init_modal_preferences(self.feature_dims, self.embedding_dim, feature_hidden_dim)

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        self.register_item_features(dataset, self.modalities)
        train = dataset.train
        self.register_data("adjacency", bipartite_adjacency(train.users, train.items, self.num_users, self.num_items))
        self.build_user_graph(dataset, self.user_graph_k, self.user_graph_source)

    # ------------------------------------------------------------- backbone API
    def modal_representations(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(u [U, d], i [I, d])``: the fused user-item representations before the user graph."""
        stacked = self.modal_inputs()  # one propagation for every modality, side by side
        summed = self.user_item_conv(stacked, self.adjacency)
        blocks = summed.split(self.embedding_dim, dim=1)
        items = sum(block[self.num_users :] for block in blocks)
        if self.modality_weight is None:
            return blocks[0][: self.num_users], items
        users = sum(self.modality_weight[:, k : k + 1] * block[: self.num_users] for k, block in enumerate(blocks))
        return users, items

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items = self.modal_representations()
        graph, graph_t = self.user_graph()
        return users + self.user_graph_conv(users, graph, transpose=graph_t), items

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        user_repr, item_repr = self.forward()
        u = user_repr.index_select(0, users)
        pos, neg = item_repr.index_select(0, positives), item_repr.index_select(0, negatives)
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1)) / math.log(2.0)}
        if self.reg_weight:
            terms["reg"] = self.reg_weight * self.preference_penalty(users)
        return terms
