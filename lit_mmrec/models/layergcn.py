"""LayerGCN (Zhou, Lin, Liu, Miao, Shen, "Layer-refined Graph Convolutional Networks for
Recommendation", ICDE 2023), as MMRec runs it (``src/models/layergcn.py``, ``src/configs/model/LayerGCN.yaml``;
MMRec snapshot e775373).

With ``Â`` the symmetric-normalised user-item adjacency ``D^-1/2 A D^-1/2`` (no self-loops) and
``E^(0) = [E_user; E_item]`` (xavier-uniform initialised), ``L`` layer-refined layers
(:class:`~lit_mmrec.nn.layer_refined.LayerRefinedConv`):

    h^(l) = Â x^(l-1),   x^(l)_n = cos(h^(l)_n, E^(0)_n) h^(l)_n,   E = x^(1) + ... + x^(L),
    score(u, i) = <E_u, E_i>.

Training propagates over a pruned graph re-drawn at the start of every epoch: ``int((1 - dropout) |E|)``
training edges are kept, drawn without replacement, then renormalised ``D^-1/2 A D^-1/2`` over the kept
edges (FREEDOM's :mod:`lit_mmrec.nn.edge_pruning`, reused unchanged). MMRec alternates two draws: in
even epochs (the first included) with probability proportional to ``1 / sqrt(d_u d_i)`` (degree-sensitive:
edges between popular nodes go first), in odd epochs uniformly (``pruning="alternate"``);
``pruning="degree"`` draws degree-sensitively every epoch. The draw follows the epoch index, so a resumed
run keeps the alternation. Evaluation uses the full graph.

Loss for a batch ``(u, i+, i-)``, as MMRec sums it (not averaged over the batch):

    BPR = sum_b -log sigmoid(<E_u, E_i+> - <E_u, E_i->)
    reg = reg_weight x 1/2 (||E^(0)_u||^2 + ||E^(0)_i+||^2 + ||E^(0)_i-||^2)   (MMRec's L2Loss, batch sums)

Defaults (MMRec's LayerGCN.yaml): 4 layers; its grids are dropout {0, 0.1, 0.2} and reg_weight {1e-2,
1e-3, 1e-4, 1e-5}, for which the paper reports no per-data-set winner on MMRec's data sets (its own are
MOOC, Games, Food, Yelp): the defaults are the grid points 0.1 and 1e-4.

Deviations from MMRec's code:

- the alternation follows the epoch index (MMRec flips a flag on each ``pre_epoch_processing`` call,
  which restarts at the degree-sensitive draw when a run resumes);
- degrees use no 1e-7 epsilon (a node without edges gets no entries instead), as elsewhere here;
- the uniform draw is ``torch.multinomial`` over equal weights (MMRec: Python's ``random.sample``,
  outside torch's seeded generator): the same distribution, reproducible under ``seed_everything``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.layer_refined import LayerRefinedConv
from lit_mmrec.nn.losses import bpr_loss, squared_l2_loss

PRUNING = ("alternate", "degree")


class LayerGCN(RecommenderModule):
    """LayerGCN: layer-refined propagation over a per-epoch pruned user-item graph.

    Args:
        num_layers: layer-refined layers L (MMRec ``n_layers``: 4).
        dropout: fraction of training edges pruned in each training epoch, in [0, 1) (MMRec searches
            0, 0.1, 0.2).
        pruning: ``"alternate"`` (MMRec's code: degree-sensitive draws in even epochs, uniform in odd
            ones) or ``"degree"`` (degree-sensitive every epoch).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``reg_weight`` weights MMRec's L2Loss of the batch's layer-0 rows (MMRec searches 1e-2,
            1e-3, 1e-4, 1e-5).
    """

    def __init__(self, num_layers: int = 4, dropout: float = 0.1, pruning: str = "alternate", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if pruning not in PRUNING:
            raise ValueError(f"pruning must be one of {PRUNING}, got {pruning!r}")
        self.num_layers = num_layers
        self.dropout = dropout
        self.pruning = pruning
        self.conv = LayerRefinedConv(num_layers)
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, self.embedding_dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_items, self.embedding_dim)))

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        self.register_training_graph(dataset.train)
        self._pruned_adjacency: torch.Tensor | None = None

    def pruning_weights(self, epoch: int) -> torch.Tensor:
        """The weights edges are drawn with in ``epoch``: degree-sensitive, or equal (uniform) in the odd
        epochs of ``pruning="alternate"``."""
        if self.pruning == "alternate" and epoch % 2 == 1:
            return torch.ones_like(self.edge_weights)
        return self.edge_weights

    def resample_pruned_graph(self, epoch: int) -> None:
        """Draw the pruned user-item graph of training epoch ``epoch`` (MMRec's ``pre_epoch_processing``)."""
        self._pruned_adjacency = self.pruned_adjacency(self.pruning_weights(epoch), self.dropout)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self.resample_pruned_graph(self.current_epoch)

    # ------------------------------------------------------------- backbone API
    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Training mode: this epoch's pruned graph; evaluation: the full training graph."""
        adjacency = self.adjacency
        if self.training:
            if getattr(self, "_pruned_adjacency", None) is None:
                self.resample_pruned_graph(self.current_epoch)
            adjacency = self._pruned_adjacency
        return self.conv.forward_split(self.user_embedding, self.item_embedding, adjacency)

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        user_repr, item_repr = self.forward()
        u = user_repr.index_select(0, users)
        pos, neg = item_repr.index_select(0, torch.cat([positives, negatives])).split(users.numel())
        # MMRec sums the BPR terms over the batch
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1)) * users.numel()}
        if self.reg_weight:
            ego_pos, ego_neg = self.item_embedding.index_select(0, torch.cat([positives, negatives])).split(
                users.numel()
            )
            terms["reg"] = self.reg_weight * squared_l2_loss(self.user_embedding.index_select(0, users), ego_pos, ego_neg)
        return terms

    def user_init_targets(self) -> list[UserInitTarget]:
        # ID table scored (through the refined layers) against ID item embeddings: SG-URInit uses PCA.
        return [UserInitTarget("user_embedding", self.user_embedding, item_space="none")]
