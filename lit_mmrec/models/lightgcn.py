"""LightGCN (He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for
Recommendation", SIGIR 2020), as MMRec runs it (``src/models/lightgcn.py``).

With ``A`` the symmetric-normalised user-item adjacency ``D^-1/2 A D^-1/2`` of the training
interactions (no self-loops) and ``E^(0) = [E_user; E_item]`` (xavier-uniform initialised),

    E^(l+1) = A E^(l),        E = mean(E^(0), ..., E^(L)),        score(u, i) = <E_u, E_i>.

Loss: BPR on ``E`` + ``reg_weight`` x MMRec's EmbLoss (unsquared Frobenius norms / batch
size) of the batch's layer-0 rows (user, positive, negative).

Propagation: :class:`~lit_mmrec.nn.light_conv.LightConv`, PyG's ``LGConv`` stacked ``L`` times with
the layer mean; on the CPU the whole stack is one fused kernel with the backward ``A^T = A`` (PyG's
CSR backward re-transposes ``A`` every step, measured ~3x slower); the maths is identical.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.light_conv import LightConv
from lit_mmrec.nn.normalisation import bipartite_adjacency


class LightGCN(RecommenderModule):
    """LightGCN on the user-item graph.

    Args:
        num_layers: propagation layers L (MMRec's LightGCN.yaml searches 1-4; 2 in the protocol).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``reg_weight`` weights the EmbLoss regulariser (MMRec: 1e-4).
    """

    def __init__(self, num_layers: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        self.num_layers = num_layers
        self.conv = LightConv(num_layers)
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, self.embedding_dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_items, self.embedding_dim)))

    def build(self, dataset: MMRecDataset) -> None:
        train = dataset.train
        self.register_data("adjacency", bipartite_adjacency(train.users, train.items, self.num_users, self.num_items))

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.conv.forward_split(self.user_embedding, self.item_embedding, self.adjacency)

    def regularised(self, users, positives, negatives) -> list[torch.Tensor]:
        pos, neg = self.item_embedding.index_select(0, torch.cat([positives, negatives])).split(positives.numel())
        return [self.user_embedding.index_select(0, users), pos, neg]

    def user_init_targets(self) -> list[UserInitTarget]:
        # ID table scored against ID item embeddings: no feature space, SG-URInit uses PCA.
        return [UserInitTarget("user_embedding", self.user_embedding, item_space="none")]
