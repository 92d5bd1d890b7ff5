"""ColdItems: represent items unseen in training by their feature-space neighbours at evaluation and predict time.

Configure it as a trainer callback (training is unchanged; validation, test, predict and the cold-start
evaluation see the replaced rows)::

    trainer:
      callbacks:
        - class_path: lit_mmrec.callbacks.cold_items.ColdItems
          init_args: {k: 20, keep_norm: true, own: true}   # the defaults

The maths is in :mod:`lit_mmrec.callbacks.cold_item_neighbours`. The neighbours are found once, at ``setup``, from the
data set's item features and TRAINING interactions; the module's ``item_repr_override`` (a hook of
:class:`~lit_mmrec.models.base.RecommenderModule`) then applies them to every evaluation's item
representations. Removing the callback switches it off.

The defaults (``k=20, keep_norm=True, own=True``) were chosen on validation by a rule written before the runs
(``studies/cold_items_compare.py``; ``docs/results/cold_items_all/cold_items.md``: 40
checkpoints of the 12 backbones on ml100k, 12 settings; validation Recall@20 on never-seen items ranked over
all items .142 against .0003 without ColdItems).
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch

from lit_mmrec.callbacks.cold_item_neighbours import WEIGHTINGS, ColdItemNeighbours, cold_item_neighbours
from lit_mmrec.errors import check_integer, require_dense_representations

log = logging.getLogger(__name__)


class ColdItems(L.Callback):
    """Cold items ranked through the mean of their ``k`` nearest warm items' learned representations.

    Args:
        k: neighbours per cold item (cosine similarity of the item features, mean over modalities).
        max_interactions: items with at most this many training interactions are replaced (0: only
            items never seen in training).
        weighting: ``mean`` (plain mean of the neighbours) or ``similarity`` (weighted by cosine).
        modalities: feature modalities used for the neighbours (default: all the data set's).
        keep_norm: rescale each filled row to its neighbours' mean norm (a mean of vectors is shorter,
            and ranks low among all items).
        own: add each cold item's own learned deviation from the mean cold item (keeps the backbone's order
            of the cold items among themselves; see :mod:`lit_mmrec.callbacks.cold_item_neighbours`).
    """

    def __init__(
        self, k: int = 20, max_interactions: int = 0, weighting: str = "mean", modalities: list[str] | None = None,
        keep_norm: bool = True, own: bool = True,
    ) -> None:
        check_integer("ColdItems", "k", k, 1)
        check_integer("ColdItems", "max_interactions", max_interactions, 0)
        if weighting not in WEIGHTINGS:
            raise ValueError(f"ColdItems: weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        if modalities is not None and not modalities:
            raise ValueError("ColdItems: modalities is an empty list (leave it out to use every modality)")
        self.k = k
        self.max_interactions = max_interactions
        self.weighting = weighting
        self.modalities = modalities
        self.keep_norm = keep_norm
        self.own = own
        self.neighbours: ColdItemNeighbours | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        require_dense_representations("ColdItems", pl_module)
        if self.neighbours is None:
            self.neighbours = dataset_neighbours(
                trainer.datamodule.dataset, self.modalities, k=self.k, max_interactions=self.max_interactions,
                weighting=self.weighting, keep_norm=self.keep_norm, own=self.own,
            )
        pl_module.item_repr_override = self.neighbours.apply


def dataset_neighbours(
    dataset: Any, modalities: list[str] | None = None, *, k: int, max_interactions: int = 0,
    weighting: str = "mean", keep_norm: bool, own: bool,
) -> ColdItemNeighbours:
    """:func:`~lit_mmrec.callbacks.cold_item_neighbours.cold_item_neighbours` of a loaded data set: its item features
    (``modalities``, default all) and its TRAINING interactions decide which items are cold and who
    stands in for them (the arguments are :class:`ColdItems`'s)."""
    modalities = modalities if modalities is not None else list(dataset.item_features)
    missing = [m for m in modalities if m not in dataset.item_features]
    if missing or not modalities:
        raise ValueError(f"ColdItems: modalities {missing or modalities} not in the data set "
                         f"(it has {list(dataset.item_features)})")
    counts = torch.bincount(dataset.split("train").items.long(), minlength=dataset.num_items)
    neighbours = cold_item_neighbours(
        [dataset.item_features[m] for m in modalities], counts, k, max_interactions, weighting, keep_norm=keep_norm,
        own=own,
    )
    log.info("ColdItems: %d items with at most %d training interactions represented by their %d nearest "
             "warm items (%s)", neighbours.cold.numel(), max_interactions, k, modalities)
    return neighbours
