"""LOBSTER (Xu, Chen, Wang, Hu, Liu, Ngai, "LOBSTER: Bilateral global semantic enhancement for multimedia
recommendation", Information Fusion 2026, doi 10.1016/j.inffus.2025.103778), as its authors' library runs it
(Jinfeng-Xu/Multimodal-Recommendation-Library ``src/models/lobster.py`` and ``src/configs/model/LOBSTER.yaml``,
snapshot df1768a).

One layer-refined propagation per branch ``b``: the ID branch and one per modality ``m``. Every branch shares the
user table ``E_user`` and two sets of global factors (:class:`~lit_mmrec.nn.global_factors.GlobalFactors`,
``g_u = Σ_k F^u_k``, ``g_i = Σ_k F^i_k``); its items come through its own ``tanh(W_b · + c_b)`` of the item ID
table (``b = id``) or of the frozen raw features ``x^m``. With ``Â`` the (pruned or full) symmetric-normalised
user-item adjacency and ``L`` layers (:class:`~lit_mmrec.nn.layer_refined.LayerRefinedConv`):

    x_b^(0) = [E_user + g_u;  tanh(W_b E_item + c_b) + g_i]   (ID)   or   [E_user + g_u;  tanh(W_m x^m + c_m) + g_i]
    h^(l) = Â x^(l-1),   x^(l)_n = cos(h^(l)_n, x^(0)_n) h^(l)_n,   X_b = x_b^(0) + x_b^(1) + ... + x_b^(L)
    user repr = [X_id,u || X_m1,u || ...],   item repr = [X_id,i || X_m1,i || ...]   (width D x (1 + M))

Ranking scores ``<user repr, item repr>`` (the sum of the branch scores). Training weights the branches per
pair (:mod:`lit_mmrec.nn.modality_adaptive_bpr`): with ``s^±_b = <X_b,u, X_b,i±>`` and
``w_b = 1 - softmax_b(s^+_b - s^-_b)`` (no gradient through ``w``),

    BPR = sum_batch -log sigmoid(sum_b w_b (s^+_b - s^-_b))
    reg = reg_weight x 1/2 (||E_user,u||^2 + ||E_item,i+||^2 + ||E_item,i-||^2)   (the batch's ID rows, summed)

Training propagates over a pruned graph re-drawn at the start of every epoch, as LayerGCN (which this class
extends): ``int((1 - dropout) |E|)`` edges kept, drawn degree-sensitively (``1 / sqrt(d_u d_i)``) in even epochs
and uniformly in odd ones (``pruning="alternate"``, the original's flip), renormalised; evaluation uses the full
graph.

Defaults: the layer count is the original's fixed 4; LOBSTER.yaml gives 64-d embeddings and grids for the rest
(reg_weight {1e-1 .. 1e-4}, dropout {0 .. 0.3}, factor_num_u and factor_num_i {1 .. 8}); no per-data-set winner
is published, so the defaults are grid points: reg_weight 1e-4, dropout 0.1, one user and one item factor.

Deviations from the original code:

- the branches are the ID branch plus one per modality of the data set, any number (the original hard-codes
  image and text: ``num_modal = 3``); at least one modality is required;
- the layer count is an argument (the original's branch class fixes 4);
- inherited from :class:`~lit_mmrec.models.layergcn.LayerGCN`: the alternation follows the epoch index (the
  original flips a flag per ``pre_epoch_processing`` call), the uniform draw is ``torch.multinomial`` over equal
  weights (the original: Python's ``random.sample``, outside torch's seeded generator), degrees use no 1e-7
  epsilon, and the pruned graph of the first epoch exists before its first batch (the original's ``masked_adj``
  is None until its trainer calls ``pre_epoch_processing``).

Defect of the original kept as it is: the factors enter only through their sums ``g_u``, ``g_i``, so the ``K``
rows of each receive the same gradient; ``factor_num_*`` only rescales the initial ``g`` and its Adam step
(see :mod:`lit_mmrec.nn.global_factors`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.layergcn import LayerGCN
from lit_mmrec.nn.global_factors import GlobalFactors
from lit_mmrec.nn.losses import squared_l2_loss
from lit_mmrec.nn.modal import select_modalities
from lit_mmrec.nn.modality_adaptive_bpr import block_scores, modality_adaptive_bpr

ID_BRANCH = "id"


class LOBSTER(LayerGCN):
    """LOBSTER: layer-refined ID and modality branches sharing global factor embeddings, trained with
    modality-adaptive BPR over a per-epoch pruned user-item graph.

    Args:
        modalities: modalities with a branch each; None = every modality of the data set. Each must exist.
        num_user_factors: global user factor rows (``factor_num_u``, grid 1 .. 8).
        num_item_factors: global item factor rows (``factor_num_i``, grid 1 .. 8).
        num_layers: layer-refined layers per branch (the original's fixed 4).
        dropout: fraction of training edges pruned in each training epoch, in [0, 1) (grid 0, 0.1, 0.2, 0.3).
        pruning: ``"alternate"`` (the original: degree-sensitive and uniform draws in turn) or ``"degree"``.
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``reg_weight`` weights the L2Loss of the batch's ID rows (grid 1e-1, 1e-2, 1e-3, 1e-4).
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        num_user_factors: int = 1,
        num_item_factors: int = 1,
        num_layers: int = 4,
        dropout: float = 0.1,
        pruning: str = "alternate",
        **kwargs: Any,
    ) -> None:
        super().__init__(num_layers=num_layers, dropout=dropout, pruning=pruning, **kwargs)
        self.modalities = select_modalities("LOBSTER", self.feature_dims, modalities)
        if num_user_factors < 1 or num_item_factors < 1:
            raise ValueError(f"the factor counts must be >= 1, got {num_user_factors}, {num_item_factors}")
        self.user_factors = GlobalFactors(num_user_factors, self.embedding_dim)
        self.item_factors = GlobalFactors(num_item_factors, self.embedding_dim)
        widths = {ID_BRANCH: self.embedding_dim} | {m: self.feature_dims[m] for m in self.modalities}
        self.item_encoder = nn.ModuleDict(
            {branch: nn.Sequential(nn.Linear(width, self.embedding_dim), nn.Tanh()) for branch, width in widths.items()}
        )

    @property
    def branches(self) -> list[str]:
        return [ID_BRANCH, *self.modalities]

    def build(self, dataset: MMRecDataset) -> None:
        super().build(dataset)
        self.register_item_features(dataset, self.modalities)

    # ------------------------------------------------------------- backbone API
    def branch_items(self, branch: str) -> torch.Tensor:
        """The branch's layer-0 item rows before the factors: ``tanh(W_b · + c_b)`` of its item table."""
        table = self.item_embedding if branch == ID_BRANCH else self.item_features(branch)
        return self.item_encoder[branch](table)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The concatenated branches; training mode: this epoch's pruned graph, evaluation: the full graph."""
        adjacency = self.adjacency
        if self.training:
            if getattr(self, "_pruned_adjacency", None) is None:
                self.resample_pruned_graph(self.current_epoch)
            adjacency = self._pruned_adjacency
        users_0 = self.user_factors(self.user_embedding)
        users, items = [], []
        for branch in self.branches:
            items_0 = self.item_factors(self.branch_items(branch))
            refined_users, refined_items = self.conv.forward_split(users_0, items_0, adjacency)
            users.append(users_0 + refined_users)
            items.append(items_0 + refined_items)
        return torch.cat(users, dim=1), torch.cat(items, dim=1)

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        user_repr, item_repr = self.forward()
        u = user_repr.index_select(0, users)
        pos, neg = item_repr.index_select(0, torch.cat([positives, negatives])).split(users.numel())
        blocks = len(self.branches)
        terms = {"bpr": modality_adaptive_bpr(block_scores(u, pos, blocks), block_scores(u, neg, blocks))}
        if self.reg_weight:
            ego_pos, ego_neg = self.item_embedding.index_select(0, torch.cat([positives, negatives])).split(
                users.numel()
            )
            terms["reg"] = self.reg_weight * squared_l2_loss(self.user_embedding.index_select(0, users), ego_pos, ego_neg)
        return terms

    def user_init_targets(self) -> list[UserInitTarget]:
        # The user table is scored, in modality m's branch, against tanh(W_m x^m + c_m) (plus the shared item
        # factors): compare it with the model's own (freshly initialised) encoding of the raw features.
        def encode(modality: str, raw: torch.Tensor) -> torch.Tensor:
            encoder = self.item_encoder[modality]
            weight = encoder[0].weight
            with torch.no_grad():
                return encoder(raw.to(weight.device, weight.dtype))

        return [UserInitTarget("user_embedding", self.user_embedding, item_space=encode, modalities=self.modalities)]
