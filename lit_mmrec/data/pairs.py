"""Sets of ``(row, col)`` index pairs (user-item interactions, graph edges): the one CSR builder, the
one membership test, and :class:`UserItemIndex` (one split's per-user item sets) that the data,
metrics and model code share.

A pair is keyed by ``row * num_cols + col`` (int64); sorting by the key sorts by row, then column,
which is CSR order.
"""

from __future__ import annotations

import torch


def row_pointers(rows: torch.Tensor, num_rows: int) -> torch.Tensor:
    """CSR row pointers ``[num_rows + 1]`` (int64) of entries whose row ids are ``rows`` (any order):
    ``crow[r + 1] - crow[r]`` is the number of entries in row ``r``."""
    crow = torch.zeros(num_rows + 1, dtype=torch.long, device=rows.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=num_rows), 0)
    return crow


def pairs_to_csr(
    rows: torch.Tensor, cols: torch.Tensor, num_rows: int, num_cols: int, values: torch.Tensor | None = None
) -> torch.Tensor:
    """Sparse CSR ``[num_rows, num_cols]`` with ``values[e]`` (None: float32 ones) at ``(rows[e], cols[e])``.

    The pairs need not be sorted but must be distinct (a repeated pair would be two entries).
    """
    order = torch.argsort(rows * num_cols + cols)
    if values is None:
        values = torch.ones(cols.numel(), dtype=torch.float32, device=cols.device)
    else:
        values = values[order]
    return torch.sparse_csr_tensor(row_pointers(rows, num_rows), cols[order], values, size=(num_rows, num_cols))


def contains_pairs(keys: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, num_cols: int) -> torch.Tensor:
    """Whether each ``(rows, cols)`` pair is in the set of sorted keys ``keys`` (``row * num_cols + col``).

    ``rows`` and ``cols`` broadcast against each other; the result has their broadcast shape.
    A binary search per pair (``torch.searchsorted``), on any device.
    """
    query = rows * num_cols + cols
    if keys.numel() == 0:
        return torch.zeros_like(query, dtype=torch.bool)
    flat = query.reshape(-1)
    position = torch.searchsorted(keys, flat).clamp_(max=keys.numel() - 1)
    return (keys[position] == flat).view_as(query)


class UserItemIndex:
    """Per-user item sets of one split, for vectorised lookups on any device.

    Holds the CSR row pointers and column indices of the binary user-item matrix, and
    the sorted keys ``user * num_items + item`` for membership tests.
    """

    def __init__(self, users: torch.Tensor, items: torch.Tensor, num_users: int, num_items: int) -> None:
        self.num_users = num_users
        self.num_items = num_items
        keys = users.long() * num_items + items.long()
        self.keys = torch.unique(keys)  # sorted, duplicates removed
        sorted_users = torch.div(self.keys, num_items, rounding_mode="floor")
        self.cols = self.keys - sorted_users * num_items
        self.crow = row_pointers(sorted_users, num_users)

    def to(self, device: torch.device | str) -> UserItemIndex:
        for name in ("keys", "cols", "crow"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def counts(self, users: torch.Tensor) -> torch.Tensor:
        """Number of items of each user in ``users``."""
        return self.crow[users + 1] - self.crow[users]

    def users_with_items(self) -> torch.Tensor:
        """Ids of the users that have at least one item, ascending."""
        return torch.nonzero(self.crow[1:] > self.crow[:-1]).squeeze(1)

    def entries(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(row position in ``users``, item) for every item of every user in ``users``."""
        starts, counts = self.crow[users], self.counts(users)
        rows = torch.repeat_interleave(torch.arange(users.numel(), device=users.device), counts)
        offsets = torch.arange(int(counts.sum()), device=users.device) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts
        )
        return rows, self.cols[torch.repeat_interleave(starts, counts) + offsets]

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Boolean tensor shaped like ``items``: is ``items[b, j]`` in the set of ``users[b]``."""
        return contains_pairs(self.keys, users.view(-1, *([1] * (items.dim() - 1))), items, self.num_items)
