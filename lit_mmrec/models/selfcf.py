"""SelfCF with embedding dropout, SELFCF_ed (Zhou, Yu, Miao, Shen, "SelfCF: A Simple Framework for
Self-supervised Collaborative Filtering", ACM TORS 2023), as MMRec runs it (``src/models/selfcfed_lgn.py``
with the ``LightGCN_Encoder`` of ``src/common/encoders.py``, ``src/configs/model/SELFCFED_LGN.yaml``;
MMRec snapshot e775373).

No negative items. The online encoder is LightGCN (xavier-uniform ``E^(0) = [E_user; E_item]``, ``L``
layers, layer mean) over ``Â``, the symmetric-normalised user-item adjacency. In training each step
propagates over an edge-dropped ``Â``: a rate ``r ~ U[0, max_edge_dropout)`` is drawn, every non-zero of
``Â`` is kept independently with probability ``1 - r`` and the kept values are scaled by ``1 / (1 - r)``
(the encoder's ``sparse_dropout``, BUIR's; the kept matrix need not be symmetric). For a batch of
training pairs ``(u, i)`` with online rows ``e_u, e_i``, a linear predictor ``g`` and the target branch
``t = dropout_p(stopgrad(e))`` (embedding dropout, rescaled by ``1 / (1 - p)``):

    L = 1/2 NC(g(e_u), t_i) + 1/2 NC(g(e_i), t_u) + reg_weight x 1/2 (||e_u||^2 + ||e_i||^2),

``NC`` the negative-cosine loss (:func:`lit_mmrec.nn.self_supervised.negative_cosine_loss`, mean over the
batch) and the regulariser MMRec's L2Loss of the batch's propagated rows (a batch sum). Ranking uses the
full graph and no dropout:

    score(u, i) = <g(e_u), e_i> + <e_u, g(e_i)>,

one dot product of ``[g(e_u), e_u]`` with ``[e_i, g(e_i)]`` (the representations are ``2D`` wide).

Defaults: MMRec's SELFCFED_LGN.yaml searches layers {1, 2}, dropout {0.1, 0.2, 0.5} and reg_weight
{1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 0}; the paper reports no per-data-set winner for MMRec's data sets, so
the defaults are the grid points 2, 0.1 and 1e-4. ``max_edge_dropout`` is the encoder's fixed
``drop_ratio`` 1.0.

Deviations from MMRec's code:

- the batches carry sampled negatives (the data module's one format); SelfCF ignores them (MMRec's
  ``use_neg_sampling: False`` loads only the pairs);
- the edge-dropout rate and mask come from torch's seeded generator (MMRec draws the rate with
  ``np.random``);
- the target branch's embedding dropout applies in training mode only (MMRec's ``F.dropout`` defaults to
  ``training=True``, but it is reached only in training);
- degrees use no 1e-7 epsilon (a node without edges gets no entries instead), as elsewhere here.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.light_conv import LightConv
from lit_mmrec.nn.losses import squared_l2_loss
from lit_mmrec.nn.normalisation import bipartite_adjacency
from lit_mmrec.nn.self_supervised import negative_cosine_loss
from lit_mmrec.nn.sparse import csr_pair, int32_csr
from lit_mmrec.nn.sum_conv import SumConv


class SelfCF(RecommenderModule):
    """SELFCF_ed: a LightGCN encoder, a linear predictor and an embedding-dropout target branch.

    Args:
        num_layers: LightGCN layers L of the encoder (MMRec ``n_layers``: 1 or 2).
        dropout: embedding dropout rate of the target branch, in [0, 1) (MMRec searches 0.1, 0.2, 0.5).
        max_edge_dropout: the encoder's edge dropout draws its rate uniformly from ``[0, max_edge_dropout)``
            at every training step, in [0, 1] (MMRec's ``drop_ratio``: 1.0); 0 trains on the full graph.
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``reg_weight`` weights MMRec's L2Loss of the batch's propagated rows (MMRec searches 1e-1 ... 1e-5, 0).
    """

    def __init__(
        self, num_layers: int = 2, dropout: float = 0.1, max_edge_dropout: float = 1.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if not 0.0 <= max_edge_dropout <= 1.0:
            raise ValueError(f"max_edge_dropout must be in [0, 1], got {max_edge_dropout}")
        self.num_layers = num_layers
        self.dropout = dropout
        self.max_edge_dropout = max_edge_dropout
        self.conv = LightConv(num_layers)
        self.dropped_conv = SumConv()
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, self.embedding_dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_items, self.embedding_dim)))
        self.predictor = nn.Linear(self.embedding_dim, self.embedding_dim)

    def build(self, dataset: MMRecDataset) -> None:
        train = dataset.train
        adjacency = bipartite_adjacency(train.users, train.items, self.num_users, self.num_items)
        self.register_data("adjacency", adjacency)
        # the non-zeros of Â as an edge list, for the per-step edge dropout
        self.register_data("adjacency_rows", torch.repeat_interleave(
            torch.arange(adjacency.shape[0]), adjacency.crow_indices().long().diff()))
        self.register_data("adjacency_cols", adjacency.col_indices().long())
        self.register_data("adjacency_values", adjacency.values())

    # ------------------------------------------------------------------ encoder
    def edge_dropped_adjacency(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(M, M^T)`` as CSR: ``Â`` with each non-zero kept with probability ``1 - r``, ``r ~
        U[0, max_edge_dropout)``, the kept values scaled by ``1 / (1 - r)``."""
        rate = float(torch.rand(()) * self.max_edge_dropout)
        keep = torch.rand(self.adjacency_values.numel(), device=self.adjacency_values.device) >= rate
        indices = torch.stack([self.adjacency_rows[keep], self.adjacency_cols[keep]])
        values = self.adjacency_values[keep] / (1.0 - rate)
        matrix, matrix_t = csr_pair(torch.sparse_coo_tensor(indices, values, self.adjacency.shape))
        return int32_csr(matrix), int32_csr(matrix_t)

    def encode(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The online encoder's ``(user rows, item rows)``: LightGCN's layer mean, over the edge-dropped
        graph in training (a fresh draw per call) and the full graph otherwise."""
        if not self.training or self.max_edge_dropout == 0.0:
            return self.conv.forward_split(self.user_embedding, self.item_embedding, self.adjacency)
        matrix, matrix_t = self.edge_dropped_adjacency()
        hidden = total = torch.cat([self.user_embedding, self.item_embedding])
        for _ in range(self.num_layers):
            hidden = self.dropped_conv(hidden, matrix, transpose=matrix_t)
            total = total + hidden
        total = total / (self.num_layers + 1)
        return total[: self.num_users], total[self.num_users :]

    # ------------------------------------------------------------- backbone API
    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``([g(e_u), e_u], [e_i, g(e_i)])``: their dot product is ``<g(e_u), e_i> + <e_u, g(e_i)>``."""
        users, items = self.encode()
        return torch.cat([self.predictor(users), users], 1), torch.cat([items, self.predictor(items)], 1)

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        user_rows, item_rows = self.encode()
        online_users, online_items = user_rows.index_select(0, users), item_rows.index_select(0, positives)
        with torch.no_grad():  # the target branch: embedding dropout of the detached online rows
            target_users = F.dropout(online_users, self.dropout, training=self.training)
            target_items = F.dropout(online_items, self.dropout, training=self.training)
        terms = {
            "ssl": negative_cosine_loss(self.predictor(online_users), target_items) / 2
            + negative_cosine_loss(self.predictor(online_items), target_users) / 2
        }
        if self.reg_weight:
            terms["reg"] = self.reg_weight * squared_l2_loss(online_users, online_items)
        return terms

    def user_init_targets(self) -> list[UserInitTarget]:
        # ID table compared with ID item embeddings: no feature space, SG-URInit uses PCA.
        return [UserInitTarget("user_embedding", self.user_embedding, item_space="none")]
