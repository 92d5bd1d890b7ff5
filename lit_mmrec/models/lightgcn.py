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
        num_users: number of users (linked from the data module).
        num_items: number of items (linked from the data module).
        feature_dims: modality -> feature width (linked; unused by this ID-only model).
        embedding_dim: size of user/item embeddings (MMRec: 64).
        num_layers: propagation layers L (MMRec's LightGCN.yaml searches 1-4; 2 in the protocol).
        reg_weight: weight of the EmbLoss regulariser (MMRec: 1e-4).
        learning_rate: Adam learning rate.
        weight_decay: Adam weight decay.
        topk: cut-offs of the ranking metrics.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        feature_dims: dict[str, int] | None = None,
        embedding_dim: int = 64,
        num_layers: int = 2,
        reg_weight: float = 1e-4,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        topk: list[int] | None = None,
    ) -> None:
        super().__init__(num_users, num_items, feature_dims, embedding_dim, reg_weight, learning_rate, weight_decay, topk)
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        self.num_layers = num_layers
        self.conv = LightConv(num_layers)
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(num_users, embedding_dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(num_items, embedding_dim)))

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
