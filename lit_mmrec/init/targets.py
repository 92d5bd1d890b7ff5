"""The model-agnostic contract between SG-URInit and a backbone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class UserInitTarget:
    """One user table SG-URInit may overwrite, and the item space it is compared against.

    Attributes:
        name: a readable name for logs (e.g. ``"user_embedding"``, ``"preference[image]"``).
        table: the ``[num_users, d]`` parameter to overwrite in place.
        item_space: how to obtain item features in the table's space, per modality:
            ``"raw"`` (the raw features, whose width must equal ``d``), a callable mapping the raw
            ``[num_items, D_m]`` features to ``[num_items, d]`` (the backbone's own freshly
            initialised projection), or ``"none"``: no such space exists (an ID table compared
            with ID item embeddings), and SG-URInit reduces the raw features to ``d`` dimensions
            by PCA.
        modalities: the modalities this table draws on; None = all the data set's.
        item_table: the ``[num_items, d]`` item ID table this user table is scored against, when there is
            one (used by SG-URInit's ``scale="items"`` and ``align_items``); None: the callback looks for
            the module's ``item_embedding`` for ID tables (``item_space="none"``).
    """

    name: str
    table: torch.nn.Parameter
    item_space: str | Callable[[str, torch.Tensor], torch.Tensor] = "none"
    modalities: list[str] | None = None
    item_table: torch.nn.Parameter | None = None

    def __post_init__(self) -> None:
        if isinstance(self.item_space, str) and self.item_space not in ("raw", "none"):
            raise ValueError(f"item_space must be 'raw', 'none' or a callable, got {self.item_space!r}")
        if self.table.dim() != 2:
            raise ValueError(f"user table {self.name} must be 2-d [num_users, d], got shape {tuple(self.table.shape)}")
