"""Sets of ``(row, col)`` index pairs (user-item interactions, graph edges): the one CSR builder and
the one membership test that the data, metrics and model code share.

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
