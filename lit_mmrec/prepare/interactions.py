"""Raw interactions -> MMRec's filtered, re-indexed, split interaction table.

The steps of MMRec's preprocessing (``../shared/reference/PROTOCOL.md``), each a function:

1. :func:`drop_duplicate_pairs`: one row per (user, item); the first row in file order is kept.
2. :func:`kcore_filter`: drop users and items with fewer than ``k`` interactions, repeatedly,
   until every remaining user and item has at least ``k`` (the k-core; MMRec uses ``k = 5``).
3. :func:`assign_ids`: contiguous ids from 0 (MMRec: users and items numbered in order of first
   appearance; ``order="sorted"`` numbers them by their raw id instead).
4. :func:`mmrec_split`: per user, the rows are put in a seeded random order (MMRec shuffles) or in
   time order (ties by item id); a user with ``n < 10`` rows gets ``n - 2`` train, 1 validation, 1 test; a user with
   ``n >= 10`` gets ``int(0.2 n)`` validation + test rows, validation half of them rounded down and
   test the rest. Deviation: a user with ``n < 3`` rows (impossible after a k-core with ``k >= 3``)
   keeps them all in train, where MMRec's rule would give no training row and drop the user.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

SplitOrder = Literal["random", "time"]
IdOrder = Literal["appearance", "sorted"]


@dataclass
class RawInteractions:
    """Interactions with raw (string) user and item ids, as codes into ``user_names`` / ``item_names``.

    Attributes:
        users, items: int64 codes, one per row.
        ratings: float64 rating of each row (1.0 for implicit feedback).
        timestamps: int64 time of each row (0 when the source has none).
        lines: the row's 1-based line number in its source file (for error messages).
        user_names, item_names: raw id of each code.
        source: the file the rows were read from.
    """

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    lines: np.ndarray
    user_names: list[str]
    item_names: list[str]
    source: str = ""

    def __len__(self) -> int:
        return int(self.users.size)

    def subset(self, mask: np.ndarray) -> RawInteractions:
        """The rows where ``mask`` is True (codes and names unchanged)."""
        return RawInteractions(
            self.users[mask],
            self.items[mask],
            self.ratings[mask],
            self.timestamps[mask],
            self.lines[mask],
            self.user_names,
            self.item_names,
            self.source,
        )

    def kept_item_codes(self) -> np.ndarray:
        """Codes of the items that still have at least one row, ascending."""
        return np.unique(self.items)

    def first_line_of_item(self) -> dict[int, int]:
        """Item code -> line of its first remaining row in the source file."""
        order = np.argsort(self.lines, kind="stable")
        codes, first = np.unique(self.items[order], return_index=True)
        return dict(zip(codes.tolist(), self.lines[order][first].tolist(), strict=True))


class InteractionCollector:
    """Accumulates rows while a raw file is streamed, interning user and item ids as integer codes."""

    def __init__(self, source: str = "") -> None:
        self.source = source
        self._user_codes: dict[str, int] = {}
        self._item_codes: dict[str, int] = {}
        self._users, self._items = array("q"), array("q")
        self._timestamps, self._lines = array("q"), array("q")
        self._ratings = array("d")

    def add(self, user: str, item: str, rating: float = 1.0, timestamp: int = 0, line: int = 0) -> None:
        """Append one interaction."""
        users, items = self._user_codes, self._item_codes
        self._users.append(users.setdefault(user, len(users)))
        self._items.append(items.setdefault(item, len(items)))
        self._ratings.append(rating)
        self._timestamps.append(timestamp)
        self._lines.append(line)

    def __len__(self) -> int:
        return len(self._users)

    def build(self) -> RawInteractions:
        """The collected rows as numpy arrays."""
        return RawInteractions(
            np.frombuffer(self._users, dtype=np.int64).copy(),
            np.frombuffer(self._items, dtype=np.int64).copy(),
            np.frombuffer(self._ratings, dtype=np.float64).copy(),
            np.frombuffer(self._timestamps, dtype=np.int64).copy(),
            np.frombuffer(self._lines, dtype=np.int64).copy(),
            list(self._user_codes),
            list(self._item_codes),
            self.source,
        )


def drop_duplicate_pairs(interactions: RawInteractions) -> tuple[RawInteractions, int]:
    """Keep the first row (in file order) of each (user, item) pair; returns the rows and how many were dropped."""
    keys = interactions.users * max(len(interactions.item_names), 1) + interactions.items
    _, first = np.unique(keys, return_index=True)
    if first.size == keys.size:
        return interactions, 0
    keep = np.zeros(keys.size, dtype=bool)
    keep[first] = True
    return interactions.subset(keep), int(keys.size - first.size)


def kcore_filter(interactions: RawInteractions, k: int) -> tuple[RawInteractions, int]:
    """The ``k``-core: repeatedly drop users and items with fewer than ``k`` rows until none is left.

    Returns the remaining rows and the number of rounds that removed something. ``k <= 1`` keeps all.
    """
    if k < 0:
        raise ValueError(f"k of the k-core must be >= 0, got {k}")
    rounds = 0
    while k > 1 and len(interactions):
        user_degree = np.bincount(interactions.users, minlength=len(interactions.user_names))
        item_degree = np.bincount(interactions.items, minlength=len(interactions.item_names))
        keep = (user_degree[interactions.users] >= k) & (item_degree[interactions.items] >= k)
        if keep.all():
            break
        interactions = interactions.subset(keep)
        rounds += 1
    return interactions, rounds


def _numeric_or_text_order(names: list[str], codes: np.ndarray) -> np.ndarray:
    keys = [names[c] for c in codes.tolist()]
    if all(key.lstrip("-").isdigit() for key in keys):
        return codes[np.argsort(np.array([int(key) for key in keys]), kind="stable")]
    return codes[np.argsort(np.array(keys, dtype=object), kind="stable")]


def _ids(codes: np.ndarray, names: list[str], order: IdOrder) -> tuple[np.ndarray, list[str]]:
    """New id of every row and the raw name of each new id."""
    if order == "appearance":
        present, first = np.unique(codes, return_index=True)
        ranked = present[np.argsort(first, kind="stable")]
    elif order == "sorted":
        ranked = _numeric_or_text_order(names, np.unique(codes))
    else:
        raise ValueError(f"id order must be 'appearance' or 'sorted', got {order!r}")
    lookup = np.full(len(names), -1, dtype=np.int64)
    lookup[ranked] = np.arange(ranked.size)
    return lookup[codes], [names[c] for c in ranked.tolist()]


@dataclass
class IndexedInteractions:
    """Interactions with contiguous ids and (after :func:`mmrec_split`) their ``x_label``."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    user_names: list[str]
    item_names: list[str]
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def num_users(self) -> int:
        """Users (ids ``0..num_users-1``)."""
        return len(self.user_names)

    @property
    def num_items(self) -> int:
        """Items (ids ``0..num_items-1``)."""
        return len(self.item_names)

    def reordered(self, order: np.ndarray, labels: np.ndarray | None = None) -> IndexedInteractions:
        """Rows permuted by ``order`` (labels taken from ``labels`` when given, else permuted too)."""
        return IndexedInteractions(
            self.users[order],
            self.items[order],
            self.ratings[order],
            self.timestamps[order],
            self.user_names,
            self.item_names,
            labels if labels is not None else (self.labels[order] if self.labels.size else self.labels),
        )


def assign_ids(interactions: RawInteractions, order: IdOrder = "appearance") -> IndexedInteractions:
    """Contiguous user and item ids from 0, over the users and items that have rows.

    ``order="appearance"`` numbers them by first appearance in the rows (MMRec's re-indexing);
    ``"sorted"`` by raw id (numerically when every id is an integer), so that e.g. MovieLens user 1
    becomes user 0.
    """
    users, user_names = _ids(interactions.users, interactions.user_names, order)
    items, item_names = _ids(interactions.items, interactions.item_names, order)
    return IndexedInteractions(
        users, items, interactions.ratings, interactions.timestamps, user_names, item_names
    )


def split_sizes(n: int) -> tuple[int, int, int]:
    """``(train, valid, test)`` row counts of a user with ``n`` rows under MMRec's rule.

    ``int(0.2 * n)`` equals ``n // 5`` for every integer ``n`` (0.2 as a double is a hair above 1/5),
    so the integer form is used.
    """
    if n < 3:
        return n, 0, 0
    if n < 10:
        return n - 2, 1, 1
    held_out = n // 5
    valid = held_out // 2
    return n - held_out, valid, held_out - valid


def mmrec_split(
    data: IndexedInteractions, seed: int = 999, order: SplitOrder = "random"
) -> IndexedInteractions:
    """Label every row 0 (train), 1 (valid) or 2 (test) by MMRec's per-user rule.

    Returns the rows grouped by user (ascending), each user's rows in the order the rule consumed
    them (train, then validation, then test), with ``labels`` set.

    Args:
        data: re-indexed interactions.
        seed: seed of the per-user shuffle (``order="random"``).
        order: ``"random"``: each user's rows in a seeded random order, as MMRec; ``"time"``: by
            timestamp, ties by item id (so that the split does not depend on the file's row order), so
            validation and test hold each user's latest rows.
    """
    n = data.users.size
    if order == "random":
        tiebreak = np.random.default_rng(seed).permutation(n)
        rows = np.lexsort((tiebreak, data.users))
    elif order == "time":
        rows = np.lexsort((data.items, data.timestamps, data.users))
    else:
        raise ValueError(f"split order must be 'random' or 'time', got {order!r}")
    users = data.users[rows]
    counts = np.bincount(users, minlength=data.num_users)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    position = np.arange(n) - starts[users]
    per_user = counts[users]
    held_out = np.where(per_user < 10, 2, per_user // 5)
    held_out = np.where(per_user < 3, 0, held_out)
    valid = np.where(per_user < 10, (per_user >= 3).astype(np.int64), held_out // 2)
    train = per_user - held_out
    labels = np.where(position < train, 0, np.where(position < train + valid, 1, 2)).astype(np.int64)
    return data.reordered(rows, labels)


def group_by_user(data: IndexedInteractions) -> IndexedInteractions:
    """Rows sorted by user, then label, keeping file order otherwise (for splits given by a release)."""
    return data.reordered(np.lexsort((np.arange(data.users.size), data.labels, data.users)))
