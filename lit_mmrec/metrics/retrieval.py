"""Full ranking of a chunk of users against every item.

Scores are only ever computed for a chunk of users (``chunk x num_items``), the user's
training items are masked to ``-inf``, and only the top-k survive the chunk: a
``num_users x num_items`` matrix never exists.
"""

from __future__ import annotations

import torch

from lit_mmrec.data.pairs import contains_pairs, row_pointers


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
