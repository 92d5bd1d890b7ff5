"""Pieces shared by the backbones that read raw modal features: which modalities a model uses
(:func:`select_modalities`, :func:`require_modalities`), the per-modality linear projection of the
(fine-tuned) raw item features (:class:`FeatureProjection` for LATTICE, BM3 and MGCN; its parts for
FREEDOM and GRCN, whose checkpoints name their parameters otherwise), and Adam with MMRec's
per-epoch learning-rate decay.

The originals keep the raw features trainable (``nn.Embedding.from_pretrained(feat, freeze=False)``).
:class:`FeatureProjection` does the same as a zero-initialised learned offset added to the raw
features (as :class:`~lit_mmrec.models.freedom.FREEDOM` does): with Adam and no weight decay its updates
are those of the fine-tuned table itself, and a checkpoint never stores the data set's own features.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

#: Project every item when the distinct items asked for exceed this share of the catalogue.
_FULL_PROJECTION_SHARE = 0.75


def require_modalities(model: str, available: Iterable[str], modalities: Iterable[str], data: str = "the data set") -> None:
    """Raise ``ValueError`` naming the first of ``modalities`` not in ``available``.

    Args:
        model: the backbone's name, for the message.
        available: the modalities the data has (feature widths or features by modality).
        modalities: the modalities the model needs.
        data: how the message names the data (e.g. ``"data set baby"``).
    """
    missing = [m for m in modalities if m not in available]
    if missing:
        raise ValueError(f"{model} needs the {missing[0]!r} modality, but {data} has {sorted(available)}")


def select_modalities(model: str, feature_dims: dict[str, int], modalities: list[str] | None) -> list[str]:
    """The modalities a model uses: ``modalities`` (each must exist, no repeats) or, for None, every
    modality of ``feature_dims`` sorted by name; at least one.

    Args:
        model: the backbone's name, for error messages.
        feature_dims: modality -> raw feature width (the data set's).
        modalities: the modalities asked for; None = all of ``feature_dims``.
    """
    selected = sorted(feature_dims) if modalities is None else list(modalities)
    if not selected:
        raise ValueError(f"{model} needs at least one modality, but the data set has no *_feat.npy features")
    require_modalities(model, feature_dims, selected)
    if len(set(selected)) != len(selected):
        raise ValueError(f"{model}: modalities must be distinct, got {selected}")
    return selected


def modal_linears(
    feature_dims: dict[str, int],
    modalities: list[str],
    out_dim: int,
    init: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> nn.ModuleDict:
    """``nn.Linear(D_m, out_dim)`` per modality, created in ``modalities`` order, then each weight
    initialised in place by ``init`` (None: ``nn.Linear``'s default), in the same order."""
    linear = nn.ModuleDict({m: nn.Linear(feature_dims[m], out_dim) for m in modalities})
    if init is not None:
        for layer in linear.values():
            init(layer.weight)
    return linear


def feature_offsets(
    feature_dims: dict[str, int], modalities: list[str], num_items: int, finetune: bool = True
) -> nn.ParameterDict:
    """Zero-initialised learned offsets ``[num_items, D_m]`` of the raw features per modality (the
    fine-tuned features are raw + offset); empty when ``finetune`` is False."""
    return nn.ParameterDict(
        {m: nn.Parameter(torch.zeros(num_items, feature_dims[m])) for m in modalities if finetune}
    )


def project_features(
    layer: nn.Linear, raw: torch.Tensor, offset: torch.Tensor | None, items: torch.Tensor | None = None
) -> torch.Tensor:
    """``layer(raw + offset)`` (``offset`` None: ``layer(raw)``) for every item (``items`` None) or
    for ``items``; the latter projects only the distinct items unless they cover most of the
    catalogue (then the whole table: a dense product without gather)."""
    if items is not None:
        unique, inverse = torch.unique(items, return_inverse=True)
        if unique.numel() <= _FULL_PROJECTION_SHARE * raw.shape[0]:
            if offset is not None:  # the gathered offset rows are a fresh tensor: add the raw rows in place
                features = F.embedding(unique, offset).add_(raw.index_select(0, unique))
            else:
                features = raw.index_select(0, unique)
            return layer(features).index_select(0, inverse)
    projected = layer(raw + offset if offset is not None else raw)
    return projected if items is None else projected.index_select(0, items)


def fresh_projection(layer: nn.Module, raw: torch.Tensor) -> torch.Tensor:
    """``layer(raw)`` without gradient, ``raw`` moved to the layer's device and dtype (SG-URInit's
    ``item_space`` for a table scored against projected features)."""
    weight = layer.weight
    with torch.no_grad():
        return layer(raw.to(weight.device, weight.dtype))


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
        self.modalities = select_modalities(model, feature_dims, modalities)
        self.finetune = finetune
        self.linear = modal_linears(feature_dims, self.modalities, out_dim, init)
        self.offset = feature_offsets(feature_dims, self.modalities, num_items, finetune)

    def forward(self, modality: str, raw: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """``W_m (x_i + Δ_i) + b_m`` for every item (``items`` None) or for ``items``; the latter
        projects only the distinct items unless they cover most of the catalogue."""
        offset = self.offset[modality] if self.finetune else None
        return project_features(self.linear[modality], raw, offset, items)

    def fresh(self, modality: str, raw: torch.Tensor) -> torch.Tensor:
        """The projection of the raw features, without gradient (SG-URInit's ``item_space``)."""
        return fresh_projection(self.linear[modality], raw)


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
