"""MGCN (Yu, Tan, Lu & Bao, "Multi-View Graph Convolutional Network for Multimedia Recommendation",
ACM MM 2023), as in the authors' code (demonph10/MGCN, ``src/models/mgcn.py``, ``MGCN.yaml``) and
MMRec's port by the same authors (``src/models/mgcn.py``).

Notation: ``U`` users, ``I`` items, ``N = U + I``, ``M`` modalities, ``E_user, E_item`` xavier-uniform ID
embeddings (64-d), ``X_m`` the raw features of modality ``m`` (fine-tuned, see
:mod:`lit_mmrec.nn.modal`), ``P_m = X_m W_m + b_m`` their projection to 64-d, ``A`` the
symmetric-normalised user-item adjacency (no self-loops), ``R [U, I]`` its user-item block, ``S_m`` the
item kNN graph of modality ``m`` built once from ``X_m`` (``k = 10`` neighbours by cosine, edge weight
the cosine, ``D^-1/2 S D^-1/2`` with row sums ``D``; see :mod:`lit_mmrec.nn.knn_graph`).

*Behaviour-guided purifier*, per modality: ``Ẽ_m = E_item ⊙ σ(P_m W_g,m + b_g,m)``.

*User-item view* (behaviour): LightGCN, ``C = mean(E^(0), A E^(0), ..., A^L E^(0))``, ``L = 2``.

*Item-item view*, per modality: ``H_m,item = S_m^{L_s} Ẽ_m`` (``L_s = 1``), ``H_m,user = R H_m,item``,
``H_m = [H_m,user; H_m,item]``.

*Behaviour-aware fuser*, row-wise over the ``N`` nodes::

    a_m = softmax_m( q^T tanh(W_q H_m + b_q) )                 (attention over the modalities)
    common = Σ_m a_m H_m,        specific_m = σ(W_p,m C + b_p,m) ⊙ (H_m - common)
    side = (common + Σ_m specific_m) / (M + 1)
    final = C + side,            score(u, i) = <final_u, final_i>

Loss for a batch of ``B`` triples: BPR on ``final`` + ``reg_weight`` x ``(|u|^2 + |i+|^2 + |i-|^2) / 2B``
over the batch's final rows + ``cl_weight`` x [InfoNCE(side, C) over the batch's positive items +
InfoNCE(side, C) over its users], InfoNCE with cosine logits, temperature 0.2 and the other rows of the
batch as negatives. Learning rate ``lr x 0.96^(epoch / 50)`` (``learning_rate_scheduler``).

Deviations from the original code:

- any number of modalities: the fuser runs over the modalities present and divides by ``M + 1`` (the
  code's ``/ 3`` for image + text; with one modality ``common = H_1`` and ``side = H_1 / 2``), where the
  code needs both image and text;
- the attention is a softmax over each node's modalities, as in the paper and MMRec's port; the
  authors' repository (commit 09095cb) builds ``nn.Softmax(dim=0)``, a softmax over all nodes instead;
- safe cosine in the kNN graphs (see :mod:`lit_mmrec.nn.knn_graph`), built in chunks and cached
  keyed by the features' hash; the sparse products use precomputed transposes (same maths);
- the regulariser divides by the actual batch size (the code by the configured one, which differs for
  an epoch's last, smaller batch); the InfoNCE shifts its exponent by ``1 / t`` (same value, no overflow).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.knn_graph import (
    cached_knn_neighbours,
    normalised_knn_adjacency,
)
from lit_mmrec.nn.light_conv import LightConv
from lit_mmrec.nn.losses import bpr_loss, squared_l2_loss
from lit_mmrec.nn.modal import FeatureProjection, adam_with_decay
from lit_mmrec.nn.normalisation import bipartite_adjacency, user_item_block
from lit_mmrec.nn.sparse import csr_pair
from lit_mmrec.nn.sum_conv import SumConv


def info_nce(view: torch.Tensor, other: torch.Tensor, temperature: float) -> torch.Tensor:
    """``mean_b -log( exp(cos(v_b, o_b)/t) / Σ_c exp(cos(v_b, o_c)/t) )`` over the rows ``b`` of a batch.

    The logits are cosines / t, at most ``1 / t``: the exponent is shifted by that constant instead of
    a row maximum (no overflow, same value; measured 20% faster than ``logsumexp`` on a 2048 batch).
    """
    view, other = F.normalize(view, dim=1), F.normalize(other, dim=1)
    shift = 1.0 / temperature
    logits = view @ (other.T / temperature)
    positive = (view * other).sum(-1) / temperature
    return ((logits - shift).exp().sum(1).log() + shift - positive).mean()


def gate(width: int) -> nn.Sequential:
    """``σ(W x + b)``: the purifier's and the fuser's gates."""
    return nn.Sequential(nn.Linear(width, width), nn.Sigmoid())


class MGCN(RecommenderModule):
    """MGCN: purified modal features, user-item and item-item views, behaviour-aware fuser.

    Args:
        modalities: modalities to use; None = every modality of the data set. Each must exist in the
            data (a clear error names a missing one).
        knn_k: neighbours per item in the item graphs (``knn_k``: 10).
        num_layers: user-item LightGCN layers (``n_ui_layers``: 2).
        num_item_graph_layers: propagation steps over each item graph (``n_layers``: 1).
        cl_weight: weight of the InfoNCE terms (``cl_loss``: 0.01 in the authors' MGCN.yaml; MMRec
            searches 0.001, 0.01, 0.1).
        temperature: InfoNCE temperature (0.2, fixed in the code).
        finetune_features: train the raw features as the original does (``freeze=False``).
        lr_decay: learning-rate factor per ``lr_decay_epochs`` epochs (0.96).
        lr_decay_epochs: epochs over which the rate decays by ``lr_decay`` (50).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``embedding_dim`` is the width of the ID embeddings and of the modality projections
            (``embedding_size``: 64), ``reg_weight`` weights the squared-norm regulariser (``reg_weight``:
            1e-4).
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        knn_k: int = 10,
        num_layers: int = 2,
        num_item_graph_layers: int = 1,
        cl_weight: float = 0.01,
        temperature: float = 0.2,
        finetune_features: bool = True,
        lr_decay: float = 0.96,
        lr_decay_epochs: int = 50,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if knn_k <= 0 or num_layers < 0 or num_item_graph_layers < 0:
            raise ValueError("knn_k must be positive and the layer counts non-negative")
        if temperature <= 0 or lr_decay <= 0 or lr_decay_epochs <= 0:
            raise ValueError("temperature, lr_decay and lr_decay_epochs must be positive")
        self.projection = FeatureProjection(
            "MGCN", self.feature_dims, modalities, self.embedding_dim, self.num_items, finetune_features
        )
        self.modalities = self.projection.modalities
        self.knn_k = knn_k
        self.num_layers = num_layers
        self.user_item_conv = LightConv(num_layers)
        self.graph_conv = SumConv()  # the item graphs and the user <- item block
        self.num_item_graph_layers = num_item_graph_layers
        self.cl_weight = cl_weight
        self.temperature = temperature
        self.lr_decay = lr_decay
        self.lr_decay_epochs = lr_decay_epochs
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, self.embedding_dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_items, self.embedding_dim)))
        self.purifier = nn.ModuleDict({m: gate(self.embedding_dim) for m in self.modalities})  # gate_v, gate_t
        self.preference = nn.ModuleDict({m: gate(self.embedding_dim) for m in self.modalities})  # gate_*_prefer
        self.query = nn.Sequential(  # query_common
            nn.Linear(self.embedding_dim, self.embedding_dim), nn.Tanh(), nn.Linear(self.embedding_dim, 1, bias=False)
        )

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        self.register_item_features(dataset, self.modalities)
        for modality in self.modalities:
            neighbours, similarity = cached_knn_neighbours(dataset.item_features[modality], self.knn_k)
            graph, graph_t = csr_pair(normalised_knn_adjacency(neighbours, similarity))
            self.register_data(f"item_graph_{modality}", graph)
            self.register_data(f"item_graph_t_{modality}", graph_t)
        train = dataset.train
        adjacency = bipartite_adjacency(train.users, train.items, self.num_users, self.num_items)
        self.register_data("adjacency", adjacency)
        user_item, user_item_t = csr_pair(user_item_block(adjacency, self.num_users, self.num_items))
        self.register_data("user_item", user_item)
        self.register_data("user_item_t", user_item_t)

    # ------------------------------------------------------------- backbone API
    def views(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(C, side)``, both ``[N, d]``: the user-item view and the fused item-item views."""
        ego = torch.cat([self.user_embedding, self.item_embedding])
        content = self.user_item_conv(ego, self.adjacency)
        modal = []
        for modality in self.modalities:
            purified = self.item_embedding * self.purifier[modality](
                self.projection(modality, self.item_features(modality))
            )
            graph, graph_t = getattr(self, f"item_graph_{modality}"), getattr(self, f"item_graph_t_{modality}")
            for _ in range(self.num_item_graph_layers):
                purified = self.graph_conv(purified, graph, transpose=graph_t)
            users = self.graph_conv(purified, self.user_item, transpose=self.user_item_t)
            modal.append(torch.cat([users, purified]))
        stacked = torch.stack(modal, dim=1)  # [N, M, d]
        attention = torch.softmax(self.query(stacked), dim=1)  # [N, M, 1]
        common = (attention * stacked).sum(1)
        side = common
        for modality, view in zip(self.modalities, modal, strict=True):
            side = side + self.preference[modality](content) * (view - common)
        return content, side / (len(self.modalities) + 1)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        content, side = self.views()
        final = content + side
        return final[: self.num_users], final[self.num_users :]

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        content, side = self.views()
        final = content + side
        u = final.index_select(0, users)
        pos = final.index_select(0, positives + self.num_users)
        neg = final.index_select(0, negatives + self.num_users)
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))}
        if self.reg_weight:
            terms["reg"] = self.reg_weight * squared_l2_loss(u, pos, neg) / users.numel()
        if self.cl_weight:
            items = positives + self.num_users
            terms["cl"] = self.cl_weight * (
                info_nce(side[items], content[items], self.temperature)
                + info_nce(side[users], content[users], self.temperature)
            )
        return terms

    def user_init_targets(self) -> list[UserInitTarget]:
        # The user ID table is scored against item ID embeddings (the modal projections only gate
        # them): no feature space, SG-URInit reduces the raw features by PCA.
        return [UserInitTarget("user_embedding", self.user_embedding, item_space="none")]

    def configure_optimizers(self):
        return adam_with_decay(self, self.learning_rate, self.weight_decay, self.lr_decay, self.lr_decay_epochs)
