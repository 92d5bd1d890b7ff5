"""What the entry points (``train.py``, ``python -m lit_mmrec.prepare``, ``python -m lit_mmrec.experiments``)
print and set up: process-wide settings that a library import must not impose on its host
(:func:`setup_process`), and the one format of every metric ``train.py`` prints (:func:`format_metric`,
:func:`metrics_table`: ``fit``'s summary, ``validate`` and ``test`` alike)."""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Mapping

#: decimals of every metric value printed on the console
METRIC_DECIMALS = 4

#: notices a user can do nothing about; warnings about their data are not among them
FRAMEWORK_NOTICES = (
    # torch's beta notices for sparse CSR tensors, which lit-mmrec uses on purpose
    "Sparse CSR tensor support is in beta state",
    "Sparse invariant checks are implicitly disabled",
    # evaluation metrics are torchmetrics states already summed over ranks: syncing the logged value is moot
    r"It is recommended to use `self.log\('(val|test)/.*sync_dist=True",
    # predictions carry their user ids; Lightning's batch indices are not needed
    "Couldn't infer the batch indices fetched from your dataloader",
    # metrics are logged per epoch, never per step: the step logging interval does not matter
    "The number of training batches .* is smaller than the logging interval",
    # a deprecation inside Lightning's use of torch's pytree module, not in lit-mmrec's code
    ".*LeafSpec.*",
)


def setup_process() -> None:
    """Quiet the framework's notices and enable transparent huge pages (idempotent)."""
    # Transparent huge pages for torch's large CPU allocations (read by torch at its first large
    # allocation; set THP_MEM_ALLOC_ENABLE=0 to opt out). Every training step allocates tensors of
    # tens to hundreds of MB (dense gradients of fine-tuned feature tables, gathered feature rows);
    # with 4 KB pages their page faults took most of a FREEDOM step on the Baby shape (1.4 -> 0.8 s
    # per step measured with and without, benchmarks/benchmark.py's data).
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    for message in FRAMEWORK_NOTICES:
        warnings.filterwarnings("ignore", message=message)
    for name in ("lightning.fabric.utilities.seed", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_drop_chatter)


def _drop_chatter(record: logging.LogRecord) -> bool:
    """Lightning's "Seed set to N" (the seed is in the saved config.yaml) and its advertising tips."""
    message = str(record.msg)
    return not (message.startswith("Seed set to") or "Tip:" in message)


def format_metric(value: float) -> str:
    """A metric value as the console prints it: :data:`METRIC_DECIMALS` decimals."""
    return f"{float(value):.{METRIC_DECIMALS}f}"


def metrics_table(title: str, metrics: Mapping[str, float]) -> str:
    """``title`` and one line per metric (sorted by name, numbers in a name by value: ``users_3-9`` before
    ``users_10-12``), values by :func:`format_metric`."""
    width = max((len(name) for name in metrics), default=0)
    rows = [f"  {name:<{width}}  {format_metric(value)}" for name, value in sorted(metrics.items(), key=_natural)]
    return "\n".join([title, *rows])


def _natural(item: tuple[str, float]) -> list[tuple[int, int | str]]:
    """Sort key of a metric name: its runs of digits compare as numbers."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", item[0])]

