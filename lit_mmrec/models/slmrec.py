r"""SLMRec (Tao, Liu, Xia, Wang, Yang, Huang & Chua, "Self-supervised Learning for Multimedia
Recommendation", IEEE TMM 2022), as the authors' code (``zltao/SLMRec``, ``models/SLMRec.py``,
``conf/SLMRec.properties``) and MMRec's port (``src/models/slmrec.py``, ``SLMRec.yaml``) run it.

Notation: ``U`` users, ``I`` items, ``d`` the width (64), ``A`` the symmetric-normalised user-item
graph ``D^-1/2 A D^-1/2`` of the training interactions, ``F_m`` the raw features of modality ``m``
(L2-normalised row-wise once), ``M`` the number of modalities.

*Branches*: one LightGCN per branch ``b`` in ``(id, m_1, ..., m_M)``, all sharing the user ID table
``E_user``; the ID branch starts from the item ID table, branch ``m`` from the projected features
``V_m = W_m F_m + b_m``; each averages its ``L`` layers (3)::

    H_b = mean(X_b, A X_b, ..., A^L X_b),      X_id = [E_user; E_item],   X_m = [E_user; V_m]

*Fusion* (``concat``): users and items each concatenate their branches and go through their own
linear layer, ``u = Lin_u([H_id || H_m1 || ...][u])`` and ``i = Lin_i([...][i])``;
``score(u, i) = <u, i>`` (both codes rank ``sigmoid(<u, i>)``, the same order).

*Main loss*: in-batch InfoNCE between the batch's users and their positive items, on cosines with
temperature ``temperature`` (no sampled negatives: the other positives of the batch are the
negatives; ``CE`` is the cross-entropy with the diagonal as labels)::

    L_main = CE(normalize(u_B) normalize(i_B)^T / temperature)

*Self-supervised task* (``ssl_task``, weight ``ssl_alpha``, temperature ``ssl_temperature``):

- ``FAC`` (fine and coarse, the default of both codes): the modalities form a chain of spaces from
  fine to coarse (the authors' order: image, audio, text). The ID branch's item rows go up the chain
  by linear maps, each modality's item rows into its space by its own linear map, and each space
  contrasts the two (InfoNCE over the batch's positive items, plain dot products)::

      z_1 = g_1(H_id[i]),  z_k = g_k(z_{k-1}),   L_ssl = sum_k CE(z_k h_k(H_mk[i])^T / ssl_temperature)

  Spaces are ``d`` wide except the coarsest, ``d / 2`` (the authors' image 64, audio 64, text 32);
- ``FD`` (feature dropout): two views of every branch, each layer's output dropped out (rate
  ``dropout``) independently; ``FM`` (feature masking): two views, each with the item inputs of a
  different, uniformly drawn branch set to zero; ``FD+FM``: both. For each, fused and normalised,
  ``L_ssl = CE(users view 1 vs view 2) + CE(positive items view 1 vs view 2)``.

Loss: ``L_main + ssl_alpha L_ssl``, plus ``weight_decay`` (1e-4) as Adam's L2 term, as both codes.

Deviations from the original codes, all deliberate:

- *any number of modalities.* The authors' code needs image, audio and text (image alone on Kwai);
  MMRec's port image and text, and only ``FAC`` runs there (the other tasks read audio features it
  does not have). Here the branches are ``id`` plus the modalities in ``modalities`` order (by
  default the authors' fine-to-coarse order image, audio, text, then any other in alphabetical
  order), and the ``FAC`` chain has one space per modality. For image + text MMRec's chain keeps the
  unused audio step (``g_iv_iva``, a ``d x d`` linear map without a loss of its own) between the
  image and text spaces; ours maps image to text directly (a product of linear maps is linear:
  same function class, one matrix fewer);
- ``FM`` draws the two masked branches among all ``M + 1`` branches; the authors' Kwai variant
  draws among two slots of which one (audio) does not exist, so one of its views masks nothing;
- MMRec's ``reg`` hyperparameter is not offered: neither code uses it;
- evaluation recomputes the representations with the final weights (eval mode: no dropout); both
  codes rank with those of the last training batch;
- the ``M + 1`` branches are propagated as one ``[U + I, (M + 1) d]`` product (the branches side by
  side; same maths as one LightGCN per branch).
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
from lit_mmrec.nn.modal import require_modalities, select_modalities
from lit_mmrec.nn.normalisation import bipartite_adjacency
from lit_mmrec.nn.sum_conv import SumConv

SSL_TASKS = ("FAC", "FD", "FM", "FD+FM")
#: The authors' fine-to-coarse order of the modalities in the FAC chain.
FINE_TO_COARSE = ("image", "audio", "text")


def info_nce(anchors: torch.Tensor, candidates: torch.Tensor, temperature: float) -> torch.Tensor:
    """In-batch InfoNCE: ``CE(anchors candidates^T / temperature)`` with row ``b``'s positive at column ``b``."""
    logits = (anchors / temperature) @ candidates.T  # scaling the [B, d] side, not the [B, B] logits
    return F.cross_entropy(logits, torch.arange(anchors.shape[0], device=anchors.device))


def fine_to_coarse(modalities: list[str]) -> list[str]:
    """``modalities`` in the authors' order image, audio, text; any other after them, alphabetically."""
    return sorted(modalities, key=lambda m: (FINE_TO_COARSE.index(m) if m in FINE_TO_COARSE else len(FINE_TO_COARSE), m))


class SLMRec(RecommenderModule):
    """SLMRec: LightGCN branches over ID and modal item inputs, concatenated and fused, trained by
    in-batch InfoNCE plus a self-supervised task.

    Args:
        modalities: modalities to use, in the FAC chain's fine-to-coarse order; None = every modality
            of the data set in the authors' order (image, audio, text, then others alphabetically).
        num_layers: LightGCN layers of each branch (both codes ``layer_num``: 3).
        ssl_task: ``FAC`` (both codes' default), ``FD``, ``FM`` or ``FD+FM``.
        ssl_alpha: weight of the self-supervised loss (authors: 0.1; MMRec searches 0.01 ... 1.0).
        ssl_temperature: temperature of the self-supervised InfoNCE (authors: 0.2; MMRec searches 0.1 ... 1.0).
        temperature: temperature of the main InfoNCE (both codes ``temp``: 0.2).
        dropout: feature-dropout rate of ``FD`` and ``FD+FM`` (both codes: 0.3).
        learning_rate: Adam learning rate (authors: 0.01; MMRec searches 1e-4 ... 0.1).
        weight_decay: Adam weight decay (both codes: 1e-4).
        reg_weight: 0, the only value accepted: neither code uses MMRec's ``reg`` (it is an argument so that
            configs and checkpoints that state it load).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``embedding_dim`` is the width d of every branch and of the output (both codes ``recdim``: 64).
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        num_layers: int = 3,
        ssl_task: str = "FAC",
        ssl_alpha: float = 0.1,
        ssl_temperature: float = 0.2,
        temperature: float = 0.2,
        dropout: float = 0.3,
        learning_rate: float = 0.01,
        weight_decay: float = 1e-4,
        reg_weight: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if reg_weight != 0:
            raise ValueError(f"SLMRec: reg_weight must be 0 (neither original uses it), got {reg_weight}")
        super().__init__(reg_weight=reg_weight, learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        resolved = select_modalities("SLMRec", self.feature_dims, modalities)
        self.modalities = fine_to_coarse(resolved) if modalities is None else resolved
        if ssl_task not in SSL_TASKS:
            raise ValueError(f"ssl_task must be one of {SSL_TASKS}, got {ssl_task!r}")
        if temperature <= 0 or ssl_temperature <= 0:
            raise ValueError(f"temperatures must be positive, got {temperature}, {ssl_temperature}")
        if not 0.0 <= dropout < 1.0 or num_layers < 0:
            raise ValueError(f"dropout must be in [0, 1) and num_layers >= 0, got {dropout}, {num_layers}")
        self.num_layers = num_layers
        self.conv = LightConv(num_layers)
        self.layer = SumConv(symmetric=True)  # one Â step, for the layer-wise dropout
        self.ssl_task = ssl_task
        self.ssl_alpha = ssl_alpha
        self.ssl_temperature = ssl_temperature
        self.temperature = temperature
        self.dropout = dropout

        def linear(inputs: int, outputs: int) -> nn.Linear:
            layer = nn.Linear(inputs, outputs)
            nn.init.xavier_uniform_(layer.weight)  # both codes: xavier-uniform weights, torch's default bias
            return layer

        d, branches = self.embedding_dim, len(self.modalities) + 1
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, d)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_items, d)))
        self.dense = nn.ModuleDict({m: linear(self.feature_dims[m], d) for m in self.modalities})
        self.user_fusion = linear(branches * d, d)
        self.item_fusion = linear(branches * d, d)
        if ssl_task == "FAC":
            widths = [d] * (len(self.modalities) - 1) + [d // 2 if len(self.modalities) > 1 else d]
            self.fac_chain = nn.ModuleList(linear(a, b) for a, b in zip([d, *widths[:-1]], widths, strict=True))
            self.fac_heads = nn.ModuleDict({m: linear(d, w) for m, w in zip(self.modalities, widths, strict=True)})

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        require_modalities("SLMRec", dataset.item_features, self.modalities, f"data set {dataset.name}")
        for modality in self.modalities:  # both codes normalise the raw features once
            self.register_data(f"features_{modality}", F.normalize(dataset.item_features[modality].float(), dim=1))
        train = dataset.train
        self.register_data("adjacency", bipartite_adjacency(train.users, train.items, self.num_users, self.num_items))

    # ------------------------------------------------------------- backbone API
    def branch_inputs(self, masked: int | None = None) -> torch.Tensor:
        """``[X_id || X_m1 || ...]``, ``[U + I, (M + 1) d]``; branch ``masked`` gets zero item inputs."""
        items = [self.item_embedding] + [self.dense[m](self.item_features(m)) for m in self.modalities]
        if masked is not None:
            items[masked] = torch.zeros_like(items[masked])
        users = self.user_embedding.repeat(1, len(items))
        return torch.cat([users, torch.cat(items, dim=1)])

    def propagate(self, x: torch.Tensor, dropout: bool = False) -> torch.Tensor:
        """Every branch's layer mean; with ``dropout``, each layer's output is dropped out (``FD``)."""
        if not dropout:
            return self.conv(x, self.adjacency)
        total, hidden = x, x
        for _ in range(self.num_layers):
            hidden = F.dropout(self.layer(hidden, self.adjacency), self.dropout, self.training)
            total = total + hidden
        return total / (self.num_layers + 1)

    def fuse(self, branches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Lin_u(users' branches), Lin_i(items' branches))``."""
        return self.user_fusion(branches[: self.num_users]), self.item_fusion(branches[self.num_users :])

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fuse(self.propagate(self.branch_inputs()))

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        """In-batch InfoNCE on (user, positive) pairs plus the self-supervised task; ``negatives`` are
        not used (both codes train from (user, positive) pairs only)."""
        branches = self.propagate(self.branch_inputs())
        user_repr, item_repr = self.fuse(branches)
        u = F.normalize(user_repr.index_select(0, users), dim=1)
        i = F.normalize(item_repr.index_select(0, positives), dim=1)
        terms = {"infonce": info_nce(u, i, self.temperature)}
        if self.ssl_alpha:
            if self.ssl_task == "FAC":
                ssl = self.fine_and_coarse(branches[self.num_users :].index_select(0, positives))
            else:
                ssl = self.two_views(users, positives)
            terms["ssl"] = self.ssl_alpha * ssl
        return terms

    def fine_and_coarse(self, item_branches: torch.Tensor) -> torch.Tensor:
        """``FAC`` over the batch's item rows of every branch, ``[B, (M + 1) d]``."""
        blocks = item_branches.split(self.embedding_dim, dim=1)
        total, z = item_branches.new_zeros(()), blocks[0]
        for step, head, block in zip(self.fac_chain, self.fac_heads.values(), blocks[1:], strict=True):
            z = step(z)
            total = total + info_nce(z, head(block), self.ssl_temperature)
        return total

    def two_views(self, users: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        """``FD`` / ``FM`` / ``FD+FM``: InfoNCE between two augmented views of the batch's users and items."""
        masking, dropout = "FM" in self.ssl_task, "FD" in self.ssl_task
        masked: list[int | None] = [None, None]
        if masking:  # two distinct branches, uniformly
            count = len(self.modalities) + 1
            first = int(torch.randint(count, ()))
            masked = [first, (first + 1 + int(torch.randint(count - 1, ()))) % count]
        views = [self.fuse(self.propagate(self.branch_inputs(m), dropout=dropout)) for m in masked]
        total = 0.0
        for side, rows in ((0, users), (1, positives)):
            a, b = (F.normalize(view[side].index_select(0, rows), dim=1) for view in views)
            total = total + info_nce(a, b, self.ssl_temperature)
        return total

    # ------------------------------------------------------------ SG-URInit
    def user_init_targets(self) -> list[UserInitTarget]:
        # The user ID table is propagated next to the projected features in every modality branch
        # (and next to item IDs in the ID branch): compare it with the model's own fresh projection.
        def project(modality: str, raw: torch.Tensor) -> torch.Tensor:
            layer = self.dense[modality]
            with torch.no_grad():
                return layer(F.normalize(raw.to(layer.weight.device, layer.weight.dtype), dim=1))

        return [UserInitTarget("user_embedding", self.user_embedding, item_space=project, modalities=self.modalities)]
