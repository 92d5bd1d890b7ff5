"""VBPR (He & McAuley, "VBPR: Visual Bayesian Personalized Ranking from Implicit Feedback",
AAAI 2016), as MMRec runs it (``src/models/vbpr.py``): all modalities' features go through one
linear projection.

With ``f_i = [f_i^(1) || ... || f_i^(M)]`` the concatenated raw features of item ``i``,

    user u:  [p_u || theta_u]                          (2 x d: ID part, visual-preference part)
    item i:  [q_i || W f_i + b]                        (2 x d: ID part, projected features)
    score(u, i) = <p_u, q_i> + <theta_u, W f_i + b>

``p, q`` are xavier-uniform initialised, ``W`` xavier-normal with ``b = 0``. Loss: BPR +
``reg_weight`` x MMRec's EmbLoss (unsquared Frobenius norms / batch size) of the batch's full
2d-wide user, positive and negative vectors (projected part included). As in MMRec, and unlike the
paper, there are no item bias terms (``beta_i``, ``beta'^T f_i``) and ``W`` reads every modality,
not only the visual one.

Deviations from MMRec's code:

- the 2d-wide user table is held as two ``[num_users, d]`` parameters, ``user_embedding``
  (the ID part) and ``user_preference`` (the part scored against projected features), so that
  SG-URInit can initialise each against its own item space. They are cut from one xavier-uniform
  ``[num_users, 2d]`` draw, so the initial distribution is MMRec's;
- a training step projects only the distinct items of its batch when the catalogue is larger than
  twice the batch, not the whole catalogue (the same loss: MMRec discards the other rows); BPR is
  computed from the score difference, ``softplus(-<u, pos - neg>)`` (same value and gradient,
  fewer passes over the batch's rows);
- the modalities are concatenated in the order of ``modalities`` (default: the data set's,
  sorted by name, i.e. image before text; MMRec puts text first). The order only permutes the
  columns of ``W``, whose initialisation is exchangeable, so the model is the same in distribution;
- any number of modalities works (MMRec handles image and/or text).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.losses import embedding_norm_loss
from lit_mmrec.nn.modal import require_modalities, select_modalities


class VBPR(RecommenderModule):
    """Matrix factorisation plus a user preference over linearly projected item features.

    Args:
        modalities: modalities whose features are concatenated and projected; None uses every
            modality of the data set (sorted by name).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``embedding_dim`` is the width d of the ID part and of the projected-feature part (user and
            item vectors are 2d wide), ``reg_weight`` weights the EmbLoss regulariser (MMRec searches 2.0,
            1.0, 0.1, ..., 1e-5).
    """

    def __init__(self, modalities: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.modalities = select_modalities(type(self).__name__, self.feature_dims, modalities)
        widths = [self.feature_dims[m] for m in self.modalities]
        # column range of each modality inside the concatenated features (and W)
        offsets = torch.cumsum(torch.tensor([0, *widths]), 0).tolist()
        self.feature_columns = {m: (offsets[k], offsets[k + 1]) for k, m in enumerate(self.modalities)}

        user_table = nn.init.xavier_uniform_(torch.empty(self.num_users, 2 * self.embedding_dim))
        self.user_embedding = nn.Parameter(user_table[:, : self.embedding_dim].clone())
        self.user_preference = nn.Parameter(user_table[:, self.embedding_dim :].clone())
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_items, self.embedding_dim)))
        self.item_projection = nn.Linear(offsets[-1], self.embedding_dim)
        nn.init.xavier_normal_(self.item_projection.weight)
        nn.init.zeros_(self.item_projection.bias)

    def build(self, dataset: MMRecDataset) -> None:
        require_modalities("VBPR", dataset.item_features, self.modalities, f"data set {dataset.name}")
        features = torch.cat([dataset.item_features[m] for m in self.modalities], dim=1)
        self.register_data("item_raw_features", features)

    # ------------------------------------------------------------------ model
    def user_vectors(self, users: torch.Tensor | None = None) -> torch.Tensor:
        """``[p_u || theta_u]`` of ``users`` (all users when None), ``[n, 2d]``."""
        if users is None:
            return torch.cat([self.user_embedding, self.user_preference], dim=1)
        return torch.cat([self.user_embedding.index_select(0, users), self.user_preference.index_select(0, users)], 1)

    def item_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """``[q_i || W f_i + b]`` of ``items`` (all items when None), ``[n, 2d]``."""
        if items is None:
            return torch.cat([self.item_embedding, self.item_projection(self.item_raw_features)], dim=1)
        projected = self.item_projection(self.item_raw_features.index_select(0, items))
        return torch.cat([self.item_embedding.index_select(0, items), projected], dim=1)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_vectors(), self.item_vectors()

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = users.numel()
        if 2 * batch >= self.num_items:  # small catalogue: projecting every item is cheaper than finding the batch's
            item_vectors = self.item_vectors()
            pos, neg = item_vectors.index_select(0, positives), item_vectors.index_select(0, negatives)
        else:  # project only the distinct items of the batch
            items, where = torch.unique(torch.cat([positives, negatives]), return_inverse=True)
            item_vectors = self.item_vectors(items)
            pos, neg = item_vectors.index_select(0, where[:batch]), item_vectors.index_select(0, where[batch:])
        u = self.user_vectors(users)
        # BPR depends on the score difference only: softplus(<u, neg> - <u, pos>) = bpr_loss(pos, neg),
        # computed with one product instead of two (the step is memory-bound on the CPU)
        terms = {"bpr": F.softplus(-(u * (pos - neg)).sum(-1)).mean()}
        if self.reg_weight:
            terms["reg"] = self.reg_weight * embedding_norm_loss(u, pos, neg)  # MMRec's EmbLoss
        return terms

    # ------------------------------------------------------------ SG-URInit
    def project_modality(self, modality: str, raw_features: torch.Tensor) -> torch.Tensor:
        """Modality ``m``'s share of the item projection: ``f^(m) W_m^T + b / M``.

        ``W_m`` is the block of ``W``'s columns that reads modality ``m``; the shares of all
        modalities sum to the projection ``W f + b`` that ``theta_u`` is scored against.
        """
        if modality not in self.feature_columns:
            raise ValueError(f"VBPR projects the modalities {self.modalities}, not {modality!r}")
        start, stop = self.feature_columns[modality]
        weight = self.item_projection.weight[:, start:stop]
        return raw_features @ weight.T + self.item_projection.bias / len(self.modalities)

    def user_init_targets(self) -> list[UserInitTarget]:
        return [
            # the ID part meets item ID embeddings: no feature space, SG-URInit reduces by PCA
            UserInitTarget("user_embedding", self.user_embedding, item_space="none"),
            # the preference part meets the projected features: use the freshly initialised projection
            UserInitTarget(
                "user_preference", self.user_preference, item_space=self.project_modality, modalities=list(self.modalities)
            ),
        ]

