"""Full ranking of a chunk of users against every item.

Scores are only ever computed for a chunk of users (``chunk x num_items``), the user's
training items are masked to ``-inf``, and only the top-k survive the chunk: a
``num_users x num_items`` matrix never exists.
"""

from __future__ import annotations

import torch

from lit_mmrec.data.pairs import UserItemIndex


def mask_items_(scores: torch.Tensor, users: torch.Tensor, exclude: UserItemIndex | None) -> torch.Tensor:
    """Set ``scores[b, i] = -inf`` for every item ``i`` of user ``users[b]`` in ``exclude``, in place."""
    if exclude is not None:
        rows, items = exclude.entries(users)
        scores[rows, items] = float("-inf")
    return scores


def rank_top_k(
    user_repr: torch.Tensor,
    item_repr: torch.Tensor,
    users: torch.Tensor,
    k: int,
    exclude: UserItemIndex | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` items for a chunk of users by dot-product score.

    Args:
        user_repr: ``[chunk, d]`` representations of ``users``.
        item_repr: ``[num_items, d]``.
        users: ``[chunk]`` user ids (to look up ``exclude``).
        k: how many items to keep (clipped to ``num_items``).
        exclude: items never to return (the training items).

    Returns:
        ``(scores, items)``, both ``[chunk, k]``, best first.
    """
    scores = user_repr @ item_repr.T
    mask_items_(scores, users, exclude)
    return torch.topk(scores, min(k, scores.shape[1]), dim=1)
