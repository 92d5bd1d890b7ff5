"""BPR-MF (Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009), as
MMRec runs it (``src/models/bpr.py``, ``src/configs/model/BPR.yaml``).

Matrix factorisation: a user table ``P [U, D]`` and an item table ``Q [I, D]``, both xavier-normal
initialised (MMRec's ``xavier_normal_initialization`` of its ``nn.Embedding`` tables), and

    score(u, i) = <P_u, Q_i>.

Loss for a batch ``(u, i+, i-)`` of size ``B``:

    BPR = mean_b -log sigmoid(<P_u, Q_i+> - <P_u, Q_i->)
    reg = reg_weight x (||P_batch||_F + ||Q_pos||_F + ||Q_neg||_F) / B     (MMRec's EmbLoss)

Both are the base module's default loss (:meth:`RecommenderModule.loss`): this file supplies only the
tables and the rows the regulariser penalises.

Deviations from MMRec's code:

- the BPR term is ``-logsigmoid`` (:func:`lit_mmrec.nn.losses.bpr_loss`) where MMRec computes
  ``-log(1e-10 + sigmoid)``: equal to float32 rounding except for score differences below about -23,
  where MMRec's clamps the loss at 23.03 and its gradient at 0;
- MMRec's ``forward(dropout)`` offers an embedding dropout that its BPR never uses (rate 0): absent here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule


class BPR(RecommenderModule):
    """Matrix factorisation trained with the BPR loss.

    Args:
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``reg_weight`` weights the EmbLoss regulariser of the batch's rows (MMRec's BPR.yaml
            searches 2, 1, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.user_embedding = nn.Parameter(nn.init.xavier_normal_(torch.empty(self.num_users, self.embedding_dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_normal_(torch.empty(self.num_items, self.embedding_dim)))

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_embedding, self.item_embedding

    def regularised(self, users, positives, negatives) -> list[torch.Tensor]:
        pos, neg = self.item_embedding.index_select(0, torch.cat([positives, negatives])).split(positives.numel())
        return [self.user_embedding.index_select(0, users), pos, neg]

    def user_init_targets(self) -> list[UserInitTarget]:
        # ID table scored against ID item embeddings: no feature space, SG-URInit uses PCA.
        return [UserInitTarget("user_embedding", self.user_embedding, item_space="none")]
