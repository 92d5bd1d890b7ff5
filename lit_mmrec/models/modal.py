"""Pieces shared by the backbones that project raw modal features themselves (LATTICE, BM3, MGCN):
which modalities a model uses, the per-modality linear projection of the (fine-tuned) raw item
features, and Adam with MMRec's per-epoch learning-rate decay.

The originals keep the raw features trainable (``nn.Embedding.from_pretrained(feat, freeze=False)``).
:class:`FeatureProjection` does the same as a zero-initialised learned offset added to the raw
features (as :class:`~lit_mmrec.models.freedom.FREEDOM` does): with Adam and no weight decay its updates
are those of the fine-tuned table itself, and a checkpoint never stores the data set's own features.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

#: Project every item when the distinct items asked for exceed this share of the catalogue.
_FULL_PROJECTION_SHARE = 0.75


class FeatureProjection(nn.Module):
    """Per-modality ``nn.Linear(D_m, out_dim)`` over the raw item features plus a learned offset.

    Args:
        model: the backbone's name, for error messages.
        feature_dims: modality -> raw feature width (the data set's).
        modalities: modalities to use; None = all of ``feature_dims`` (sorted). Each must exist.
        out_dim: output width of every projection.
        num_items: number of items (rows of the fine-tuning offsets).
        finetune: learn the offsets (the originals' ``freeze=False``); False keeps the features fixed.
        init: in-place initialiser of each projection's weight (None: ``nn.Linear``'s default).
    """

    def __init__(
        self,
        model: str,
        feature_dims: dict[str, int],
        modalities: list[str] | None,
        out_dim: int,
        num_items: int,
        finetune: bool = True,
        init: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.modalities = sorted(feature_dims) if modalities is None else list(modalities)
        if not self.modalities:
            raise ValueError(f"{model} needs at least one modality, but the data set has no *_feat.npy features")
        missing = [m for m in self.modalities if m not in feature_dims]
        if missing:
            raise ValueError(f"{model} needs the {missing[0]!r} modality, but the data set has {sorted(feature_dims)}")
        if len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"{model}: modalities must be distinct, got {self.modalities}")
        self.finetune = finetune
        self.linear = nn.ModuleDict({m: nn.Linear(feature_dims[m], out_dim) for m in self.modalities})
        if init is not None:
            for layer in self.linear.values():
                init(layer.weight)
        self.offset = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(num_items, feature_dims[m])) for m in self.modalities if finetune}
        )

    def forward(self, modality: str, raw: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """``W_m (x_i + Δ_i) + b_m`` for every item (``items`` None) or for ``items``; the latter
        projects only the distinct items unless they cover most of the catalogue."""
        offset = self.offset[modality] if self.finetune else None
        layer = self.linear[modality]
        if items is not None:
            unique, inverse = torch.unique(items, return_inverse=True)
            if unique.numel() <= _FULL_PROJECTION_SHARE * raw.shape[0]:
                features = raw.index_select(0, unique)
                if offset is not None:
                    features = features + F.embedding(unique, offset)
                return layer(features).index_select(0, inverse)
        projected = layer(raw + offset if offset is not None else raw)
        return projected if items is None else projected.index_select(0, items)

    def fresh(self, modality: str, raw: torch.Tensor) -> torch.Tensor:
        """The projection of the raw features, without gradient (SG-URInit's ``item_space``)."""
        layer = self.linear[modality]
        with torch.no_grad():
            return layer(raw.to(layer.weight.device, layer.weight.dtype))


def adam_with_decay(
    module: nn.Module, learning_rate: float, weight_decay: float, decay: float = 1.0, every: int = 50
) -> torch.optim.Optimizer | dict:
    """Adam, with MMRec's ``learning_rate_scheduler: [decay, every]``: the rate of epoch ``e`` is
    ``learning_rate * decay ** (e / every)`` (``LambdaLR`` stepped once per epoch); ``decay == 1``: no
    scheduler. torch's fused Adam kernel where available (same update; the fine-tuned features make
    tens of millions of parameters, where the unfused step dominated FREEDOM's run time)."""
    try:
        optimizer = torch.optim.Adam(module.parameters(), lr=learning_rate, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):  # a device or torch version without the fused kernel
        optimizer = torch.optim.Adam(module.parameters(), lr=learning_rate, weight_decay=weight_decay)
    if decay == 1.0:
        return optimizer
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: decay ** (epoch / every))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
