"""ColdStartEvaluation: test metrics on cold items (at most N training interactions) after every ``test``.

It runs :func:`lit_mmrec.metrics.cold_start.cold_start_from_module` at the end of every ``test`` (after ``fit``:
the best-validation checkpoint) and writes the result as JSON. On any checkpoint::

    python train.py test --config configs/ml100k/lightgcn.yaml --ckpt_path checkpoints/<run>/best-epoch=N.ckpt \\
        "--trainer.callbacks+=lit_mmrec.callbacks.ColdStartEvaluation" \\
        --trainer.callbacks.init_args.thresholds "[0, 1, 5]" --trainer.callbacks.init_args.output cold.json

The experiment runner adds it to every run and reports the results in ``cold_start.md``
(:mod:`lit_mmrec.experiments.cold_start`).
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L

from lit_mmrec.errors import check_integer
from lit_mmrec.metrics.cold_start import PROTOCOLS, cold_start_from_module


class ColdStartEvaluation(L.Callback):
    """Test metrics on cold items (at most N training interactions) after every test; JSON to ``output``.

    The JSON has one entry per threshold N, ``"<N>"`` for ranking over all items (the full-ranking
    protocol) and ``"cold/<N>"`` for ranking within the cold items only (the item cold-start protocol,
    e.g. CLCRec's); see :mod:`lit_mmrec.metrics.cold_start`.

    Args:
        thresholds: the values of N (0: items never seen in training).
        output: JSON file to write (default: ``cold_start.json`` in the logger's folder).
        chunk_size: users ranked at a time.
        protocols: ``all`` and / or ``cold``.
        split: ``test`` (the reported numbers) or ``valid`` (for choosing options, e.g. of
            :class:`~lit_mmrec.callbacks.cold_items.ColdItems`, without looking at test).
    """

    def __init__(
        self, thresholds: list[int] | None = None, output: str | None = None, chunk_size: int = 2048,
        protocols: list[str] | None = None, split: str = "test",
    ) -> None:
        self.thresholds = [0, 1, 5, 10] if thresholds is None else list(thresholds)
        if not self.thresholds:
            raise ValueError("ColdStartEvaluation: thresholds is an empty list (leave it out for [0, 1, 5, 10])")
        for threshold in self.thresholds:
            check_integer("ColdStartEvaluation", "every threshold", threshold, 0)
        check_integer("ColdStartEvaluation", "chunk_size", chunk_size, 1)
        self.output = output
        self.chunk_size = chunk_size
        self.protocols = list(PROTOCOLS) if protocols is None else list(protocols)
        unknown = [p for p in self.protocols if p not in PROTOCOLS]
        if unknown or not self.protocols:
            raise ValueError(f"protocols must be a non-empty list of {PROTOCOLS}, got {self.protocols}")
        if split not in ("test", "valid"):
            raise ValueError(f"split must be 'test' or 'valid', got {split!r}")
        self.split = split
        self.results: dict[str, dict[str, float]] | None = None

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.results = {}
        for protocol in self.protocols:
            values = cold_start_from_module(pl_module, self.thresholds, self.chunk_size, protocol, self.split)
            self.results.update({cold_start_key(protocol, n): entry for n, entry in values.items()})
        if not trainer.is_global_zero:
            return
        output = Path(self.output) if self.output else Path(trainer.log_dir or ".") / "cold_start.json"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(self.results, indent=1) + "\n")


def cold_start_key(protocol: str, n: int | str) -> str:
    """The JSON key of threshold ``n`` under ``protocol``: ``"<n>"`` (all items) or ``"cold/<n>"``."""
    return str(n) if protocol == "all" else f"{protocol}/{n}"
