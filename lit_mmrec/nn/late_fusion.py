r"""MMGCF's late fusion of an item's ID representation with its projected modal features (MMRec
``src/models/mmgcf.py``, ``MMGCF.fuse_item_embeddings``).

With ``e [N, D]`` the (propagated) ID rows and ``f_1 .. f_M [N, D_f]`` the projected modal features,
a *fusion* ``F`` combines a list of equally shaped tensors:

    mean:    F(x_1 .. x_k) = (x_1 + ... + x_k) / k
    sum:     F(x_1 .. x_k) = x_1 + ... + x_k
    concat:  F(x_1 .. x_k) = W [x_1 || ... || x_k] + b       (a learned ``nn.Linear`` per use)

and a *weighting* decides what is fused:

    equal:       F(e, F(f_1 .. f_M))    (with one modality: F(e, f_1))
    alpha:       F(a e, (1 - a) f_1, ..., (1 - a) f_M),   a = sigmoid(w), w a learned scalar (0 at start)
    normalized:  F(M e / |e|, f_1 / |f_1|, ..., f_M / |f_M|)      (row-wise L2 normalisation)

``mean`` and ``sum`` need ``D_f == D``; ``concat`` maps back to ``D`` (the modal-only concat of
``equal`` to ``D_f``). Output ``[N, D]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FUSIONS = ("mean", "sum", "concat")
WEIGHTINGS = ("equal", "alpha", "normalized")


class LateFusion(nn.Module):
    """Fuse ID rows with ``num_modalities`` projected feature tables.

    Args:
        num_modalities: ``M >= 1``.
        embedding_dim: width ``D`` of the ID rows and of the output.
        feature_dim: width ``D_f`` of each modal table (must equal ``D`` unless ``fusion="concat"``).
        fusion: ``"mean"``, ``"sum"`` or ``"concat"``.
        weighting: ``"equal"``, ``"alpha"`` or ``"normalized"``.
    """

    def __init__(
        self, num_modalities: int, embedding_dim: int, feature_dim: int, fusion: str = "mean", weighting: str = "equal"
    ) -> None:
        super().__init__()
        if num_modalities < 1:
            raise ValueError(f"num_modalities must be >= 1, got {num_modalities}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        if fusion != "concat" and feature_dim != embedding_dim:
            raise ValueError(
                f"fusion {fusion!r} adds the ID rows and the modal features element-wise: feature_dim "
                f"({feature_dim}) must equal embedding_dim ({embedding_dim}), or use fusion='concat'"
            )
        self.num_modalities = num_modalities
        self.fusion = fusion
        self.weighting = weighting
        self.alpha = nn.Parameter(torch.zeros(())) if weighting == "alpha" else None
        self.joint = self.modal = self.id_modal = None
        if fusion == "concat":
            if weighting == "equal":
                if num_modalities > 1:
                    self.modal = nn.Linear(num_modalities * feature_dim, feature_dim)
                self.id_modal = nn.Linear(embedding_dim + feature_dim, embedding_dim)
            else:
                self.joint = nn.Linear(embedding_dim + num_modalities * feature_dim, embedding_dim)

    def combine(self, tensors: list[torch.Tensor], layer: nn.Linear | None) -> torch.Tensor:
        """``F(tensors)``: their mean, sum, or ``layer`` of their concatenation."""
        if self.fusion == "concat":
            return layer(torch.cat(tensors, dim=-1))
        total = tensors[0]
        for tensor in tensors[1:]:
            total = total + tensor
        return total / len(tensors) if self.fusion == "mean" else total

    def forward(self, ids: torch.Tensor, features: list[torch.Tensor]) -> torch.Tensor:
        """``ids [N, D]`` and ``M`` tables ``[N, D_f]`` -> the fused rows ``[N, D]``."""
        if len(features) != self.num_modalities:
            raise ValueError(f"expected {self.num_modalities} modal tables, got {len(features)}")
        if self.weighting == "alpha":
            alpha = torch.sigmoid(self.alpha)
            return self.combine([ids * alpha] + [f * (1.0 - alpha) for f in features], self.joint)
        if self.weighting == "normalized":
            return self.combine([F.normalize(ids) * self.num_modalities] + [F.normalize(f) for f in features], self.joint)
        modal = self.combine(features, self.modal) if len(features) > 1 else features[0]
        return self.combine([ids, modal], self.id_modal)

    def extra_repr(self) -> str:
        return f"num_modalities={self.num_modalities}, fusion={self.fusion!r}, weighting={self.weighting!r}"
