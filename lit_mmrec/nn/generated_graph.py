r"""User-item relation rows and the user-item graph generated from them (MMSSL's ``u_sim_calculation``,
``csr_norm(mean_flag=True)`` and its top-k graph rebuild, HKUDS/MMSSL ``main.py``).

With ``U, I`` user and item representations and ``R`` the binary training interactions:

- relation rows of users ``b``: ``ŝ_b = normalise_2( (U_b I^T) ⊙ (1 - R_b) )`` ``[B, num_items]``: the
  scores of the items a user has not interacted with, L2-normalised per row (what MMSSL's discriminator
  reads);
- the generated graph: per user the ``k`` items of highest score ``U_u I^T`` among those it has not
  interacted with (binary edges), computed in chunks of users (no users x items matrix is formed);
- the one-sided normalisation of a binary ``[n_rows, n_cols]`` matrix ``A``: ``D_rows^-1/2 A`` (MMSSL's
  ``csr_norm(mean_flag=True)``; rows without entries stay empty).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lit_mmrec.data.pairs import UserItemIndex, pairs_to_csr
from lit_mmrec.metrics.retrieval import mask_items_


def relation_rows(
    user_rows: torch.Tensor, item_repr: torch.Tensor, users: torch.Tensor, exclude: UserItemIndex
) -> torch.Tensor:
    """``normalise_2((U_b I^T) ⊙ (1 - R_b))`` ``[B, num_items]`` for ``user_rows`` ``[B, d]`` of ``users``;
    the items of ``exclude`` score 0 before the normalisation. Differentiable in both representations."""
    scores = user_rows @ item_repr.T
    rows, items = exclude.entries(users)
    keep = torch.ones_like(scores)
    keep[rows, items] = 0.0
    return F.normalize(scores * keep, p=2, dim=1)


@torch.no_grad()
def top_k_relations(
    user_repr: torch.Tensor, item_repr: torch.Tensor, exclude: UserItemIndex, k: int, chunk_size: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges ``(users, items)`` ``[num_users * k]``: per user its ``k`` best-scoring items among those not in
    ``exclude`` (``k`` clipped to the number of items)."""
    if k <= 0 or chunk_size <= 0:
        raise ValueError(f"k and chunk_size must be positive, got {k}, {chunk_size}")
    k = min(k, item_repr.shape[0])
    all_users = torch.arange(user_repr.shape[0], device=user_repr.device)
    items = []
    for chunk in all_users.split(chunk_size):
        scores = mask_items_(user_repr[chunk] @ item_repr.T, chunk, exclude)
        items.append(torch.topk(scores, k, dim=1).indices)
    return all_users.repeat_interleave(k), torch.cat(items).reshape(-1)


def row_normalised(rows: torch.Tensor, cols: torch.Tensor, num_rows: int, num_cols: int) -> torch.Tensor:
    """``D_rows^-1/2 A`` as a sparse CSR ``[num_rows, num_cols]`` float32 for the distinct binary edges
    ``(rows, cols)``, ``D_rows`` their row counts."""
    degree = torch.bincount(rows, minlength=num_rows).float()
    values = degree.clamp_min(1).rsqrt()[rows]
    return pairs_to_csr(rows, cols, num_rows, num_cols, values)
