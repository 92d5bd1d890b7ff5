"""BM3 (Zhou, Zhou, Zhang, Liu, Zhang & Miao, "Bootstrap Latent Representations for Multi-modal
Recommendation", WWW 2023), as in the authors' code (enoche/BM3, ``src/models/bm3.py``, identical to
MMRec's ``src/models/bm3.py``) and MMRec's ``BM3.yaml``.

Notation: ``A`` the symmetric-normalised user-item adjacency ``D^-1/2 A D^-1/2`` of the training
interactions (no self-loops), ``E^(0) = [E_user; E_item]`` xavier-uniform ID embeddings, ``X_m`` the raw
features of modality ``m`` (fine-tuned, see :mod:`lit_mmrec.nn.modal`), ``W_m`` their projection
``nn.Linear(D_m, 64)`` (xavier-normal weight), ``f`` the shared predictor ``nn.Linear(64, 64)``
(xavier-normal weight), ``drop`` element-wise dropout with rate ``p``::

    [U; I] = mean(E^(0), A E^(0), ..., A^L E^(0));    u = U_u,   i = I_i + E_item,i,   t^m_i = W_m x^m_i

No negatives: for a batch of observed pairs ``(u, i)`` (the sampled negatives are ignored, MMRec's
``use_neg_sampling: False``), with targets that carry no gradient and are dropout views of the online
representations (the bootstrap: ``ū = drop(u)``, ``ī = drop(i)``, ``t̄^m = drop(t^m)``) and
``c(a, b) = 1 - mean cos(a, b)`` over the batch::

    L = c(f(u), ī) + c(f(i), ū) + reg_weight (|U|_F + |I + E_item|_F) / I
        + cl_weight Σ_m [ c(f(t^m_i), ī) + c(f(t^m_i), t̄^m_i) ]

with the regulariser MMRec's ``EmbLoss`` over *all* users' and items' online representations (divided
by the number of items), as in the code. Evaluation ranks with ``score(u, i) = <f(u), f(i)>``.

Deviations from the original code:

- any number of modalities (the sum above runs over those present), where the code handles image
  and/or text;
- the modal projections and the targets' dropout are computed for the batch's distinct items only
  (the code projects every item every step and keeps the batch's rows; same values, same gradient:
  repeated rows share one dropout mask, as they do there), unless they cover most of the catalogue;
  the predictor is applied to the batch's rows only, likewise;
- the targets' dropout applies in training only (the code calls ``F.dropout`` in its training loss
  only, where it is always on); a loss evaluated in evaluation mode is deterministic.
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
from lit_mmrec.nn.losses import embedding_norm_loss
from lit_mmrec.nn.modal import FeatureProjection
from lit_mmrec.nn.normalisation import bipartite_adjacency


def cosine_loss(online: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - mean cos(online, target)`` over rows, the target carrying no gradient."""
    return 1.0 - F.cosine_similarity(online, target.detach(), dim=-1).mean()


class BM3(RecommenderModule):
    """BM3: bootstrapped latent representations, no negative sampling.

    Args:
        modalities: modalities to use; None = every modality of the data set. Each must exist in the
            data (a clear error names a missing one).
        num_layers: LightGCN layers (``n_layers``; authors' best: 1 Baby and Sports, 2 Elec).
        dropout: dropout rate of the target views (``dropout``; authors' best: 0.5 Baby and Sports,
            0.3 Elec).
        cl_weight: weight of the modality alignment terms (``cl_weight``: 2.0).
        finetune_features: train the raw features as the original does (``freeze=False``).
        reg_weight: weight of the EmbLoss regulariser (``reg_weight``; authors' best: 0.1 Baby and Elec,
            0.01 Sports).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``embedding_dim`` is the width of the ID embeddings, the modal projections and the predictor
            (``embedding_size``: 64).
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        num_layers: int = 1,
        dropout: float = 0.5,
        cl_weight: float = 2.0,
        finetune_features: bool = True,
        reg_weight: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(reg_weight=reg_weight, **kwargs)
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.projection = FeatureProjection(
            "BM3",
            self.feature_dims,
            modalities,
            self.embedding_dim,
            self.num_items,
            finetune_features,
            nn.init.xavier_normal_,
        )
        self.modalities = self.projection.modalities
        self.num_layers = num_layers
        self.conv = LightConv(num_layers)
        self.dropout = dropout
        self.cl_weight = cl_weight
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, self.embedding_dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_items, self.embedding_dim)))
        self.predictor = nn.Linear(self.embedding_dim, self.embedding_dim)
        nn.init.xavier_normal_(self.predictor.weight)

    def build(self, dataset: MMRecDataset) -> None:
        self.register_item_features(dataset, self.modalities)
        train = dataset.train
        self.register_data("adjacency", bipartite_adjacency(train.users, train.items, self.num_users, self.num_items))

    # ------------------------------------------------------------- backbone API
    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The online representations ``(u, i)`` before the predictor."""
        users, items = self.conv.forward_split(self.user_embedding, self.item_embedding, self.adjacency)
        return users, items + self.item_embedding

    def representations(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Evaluation scores ``<f(u), f(i)>``."""
        users, items = self.forward()
        return self.predictor(users), self.predictor(items)

    def _target(self, online: torch.Tensor) -> torch.Tensor:
        """A dropout view of ``online`` without gradient (dropout in training only)."""
        return F.dropout(online.detach(), self.dropout, training=self.training)

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        user_repr, item_repr = self.forward()
        user_target = self._target(user_repr).index_select(0, users)
        item_target = self._target(item_repr).index_select(0, positives)
        online_users = self.predictor(user_repr.index_select(0, users))
        online_items = self.predictor(item_repr.index_select(0, positives))
        terms = {"bootstrap": cosine_loss(online_users, item_target) + cosine_loss(online_items, user_target)}
        if self.reg_weight:
            terms["reg"] = self.reg_weight * embedding_norm_loss(user_repr, item_repr)
        if self.cl_weight:
            unique, inverse = torch.unique(positives, return_inverse=True)
            modal = 0.0
            for modality in self.modalities:
                projected = self.projection(modality, self.item_features(modality), unique)
                online = self.predictor(projected).index_select(0, inverse)
                modal_target = self._target(projected).index_select(0, inverse)
                modal = modal + cosine_loss(online, item_target) + cosine_loss(online, modal_target)
            terms["modal"] = self.cl_weight * modal
        return terms

    def user_init_targets(self) -> list[UserInitTarget]:
        # Users are pulled towards the item representations, which the projected modal features are
        # pulled towards through the shared predictor: compare the user table with the model's own
        # freshly initialised projection of each modality.
        return [
            UserInitTarget(
                "user_embedding", self.user_embedding, item_space=self.projection.fresh, modalities=self.modalities
            )
        ]
