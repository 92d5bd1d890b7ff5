"""Item cold start: test metrics restricted to items with few training interactions.

For a threshold N, an item is *cold* when it has at most N training interactions (N = 0: never seen
in training). The ground truth is a user's cold test items; users without one are not counted; each
counted user weighs equally (Recall@K divides by the number of the user's cold test items, NDCG@K's
ideal uses min(that number, K)). Two protocols rank differently:

* ``protocol="all"`` (the full-ranking protocol, unchanged): every item is a candidate, the user's
  training items excluded. A cold item has to beat every warm item, which a backbone that never saw
  it in training cannot do: Recall is 0 for items with no training interaction.
* ``protocol="cold"`` (the item cold-start literature's, e.g. CLCRec, Wei et al. 2021): only the cold
  items are candidates (training items still excluded), so the metric measures how well the cold items
  are ordered among themselves.

Users are ranked ``chunk_size`` at a time and only their top-``max(ks)`` items are kept (``"all"``: once
for all thresholds): a users x items matrix never exists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from lit_mmrec.data.pairs import UserItemIndex
from lit_mmrec.metrics.recall_ndcg import TopKMetrics
from lit_mmrec.metrics.retrieval import mask_items_

#: ``score(users, items)``: ``[len(users), len(items)]`` scores of a chunk of users for ``items`` (None: every item).
Scorer = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]

PROTOCOLS = ("all", "cold")


def item_train_counts(train: UserItemIndex) -> torch.Tensor:
    """``[num_items]`` number of training interactions (distinct users) of every item."""
    return torch.bincount(train.cols, minlength=train.num_items)


@torch.no_grad()
def cold_start_metrics(
    user_repr: torch.Tensor,
    item_repr: torch.Tensor,
    train: UserItemIndex,
    test: UserItemIndex,
    thresholds: Sequence[int] = (0, 1, 5, 10),
    ks: Sequence[int] = (10, 20),
    chunk_size: int = 2048,
    protocol: str = "all",
) -> dict[int, dict[str, float]]:
    """Test metrics per cold threshold N, from final ``user_repr [num_users, d]`` and ``item_repr [num_items, d]``.

    Args:
        train: training items per user (excluded from the ranking; they also define item counts).
        test: test items per user (the ground truth before restriction).
        thresholds: values of N (items with at most N training interactions are cold).
        ks: cut-offs of Recall / NDCG / Precision / MAP @K.
        chunk_size: users ranked at a time.
        protocol: ``"all"`` (every item a candidate) or ``"cold"`` (only the cold items; see above).

    Returns:
        ``{N: {"cold_items": ..., "test_interactions": ..., "users": ..., "recall@10": ..., ...}}``;
        ``cold_items`` counts the cold items that appear in test, ``test_interactions`` the test
        (user, cold item) pairs, ``users`` the users counted, and (``protocol="cold"``) ``candidates`` the
        cold items ranked (a uniformly random order has Recall@K of about K / candidates). Metrics are 0.0
        when no user is counted.
    """
    def score(users: torch.Tensor, items: torch.Tensor | None) -> torch.Tensor:
        return user_repr[users] @ (item_repr if items is None else item_repr[items]).T

    return cold_start_scored(score, train, test, thresholds, ks, chunk_size, protocol, user_repr.device)


@torch.no_grad()
def cold_start_scored(
    score: Scorer,
    train: UserItemIndex,
    test: UserItemIndex,
    thresholds: Sequence[int] = (0, 1, 5, 10),
    ks: Sequence[int] = (10, 20),
    chunk_size: int = 2048,
    protocol: str = "all",
    device: torch.device | str = "cpu",
) -> dict[int, dict[str, float]]:
    """:func:`cold_start_metrics` for any scoring of a chunk of users (``score``, see :data:`Scorer`): a backbone
    that scores without dense representations (e.g. a sparse history times a sparse item-item similarity), on
    ``device`` (where ``score`` returns its scores)."""
    if not thresholds or any(n < 0 for n in thresholds):
        raise ValueError(f"thresholds must be non-negative integers, got {list(thresholds)}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    train, test = train.to(device), test.to(device)
    counts = item_train_counts(train)
    cold = {n: counts <= n for n in thresholds}
    metrics = {n: TopKMetrics(list(ks)).to(device) for n in thresholds}
    users = test.users_with_items()
    max_k = max(ks)
    for start in range(0, users.numel(), chunk_size):
        chunk = users[start:start + chunk_size]
        rows, truth = test.entries(chunk)
        if protocol == "all":
            scores = mask_items_(score(chunk, None), chunk, train)
            _, items = torch.topk(scores, min(max_k, scores.shape[1]), dim=1)
            relevant = test.contains(chunk, items)
        for n, is_cold in cold.items():
            if protocol == "cold":
                items, ranked = _rank_among(score, chunk, is_cold, max_k, train)
                relevant = test.contains(chunk, items) & ranked
            num_cold = torch.bincount(rows[is_cold[truth]], minlength=chunk.numel())
            metrics[n].update(relevant & is_cold[items], num_cold)
    results = {}
    test_items = test.cols
    for n, metric in metrics.items():
        values = {name: float(v) for name, v in metric.compute().items()}
        results[n] = {
            "cold_items": int(torch.unique(test_items[cold[n][test_items]]).numel()),
            **({"candidates": int(cold[n].sum())} if protocol == "cold" else {}),
            "test_interactions": int(cold[n][test_items].sum()),
            "users": int(metric.users),
            **values,
        }
    return results


def _rank_among(
    score: Scorer, users: torch.Tensor, candidates: torch.Tensor, k: int, train: UserItemIndex,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` among the ``candidates`` (``[num_items]`` bool) for a chunk of users, training items excluded:
    ``(items [chunk, k'], ranked [chunk, k'])``, ``k' = min(k, #candidates)``; ``ranked`` is False where fewer
    than ``k'`` candidates were left to the user (those slots hold excluded items and are no hit)."""
    ids = candidates.nonzero().squeeze(1)
    position = torch.full_like(candidates, -1, dtype=torch.long)
    position[ids] = torch.arange(ids.numel(), device=ids.device)
    scores = score(users, ids)
    rows, items = train.entries(users)
    keep = position[items] >= 0
    scores[rows[keep], position[items[keep]]] = float("-inf")
    top, index = torch.topk(scores, min(k, ids.numel()), dim=1)
    return ids[index], torch.isfinite(top)


def cold_start_from_module(
    module: torch.nn.Module, thresholds: Sequence[int] = (0, 1, 5, 10), chunk_size: int = 2048,
    protocol: str = "all", split: str = "test",
) -> dict[int, dict[str, float]]:
    """:func:`cold_start_metrics` of a :class:`~lit_mmrec.models.base.RecommenderModule` whose data set is
    attached (after ``setup`` / ``attach``) and whose weights are loaded, e.g. from a checkpoint. Items are
    represented as evaluation sees them (``evaluation_representations``: with a cold-item override, e.g.
    :class:`~lit_mmrec.callbacks.cold_items.ColdItems`, when one is set). ``split="valid"`` measures the
    validation items instead (to choose cold-start options without looking at test). A backbone without dense
    representations (``dense_representations`` False) is measured through its ``scores(users)``."""
    was_training = module.training
    module.eval()
    try:
        if not getattr(module, "dense_representations", True):
            def score(users: torch.Tensor, items: torch.Tensor | None) -> torch.Tensor:
                scores = module.scores(users)
                return scores if items is None else scores[:, items]

            return cold_start_scored(
                score, module.index("train"), module.index(split), thresholds, module.test_metrics.ks, chunk_size,
                protocol, module.device,
            )
        with torch.no_grad():
            represent = getattr(module, "evaluation_representations", module.representations)
            user_repr, item_repr = represent()
        return cold_start_metrics(
            user_repr, item_repr, module.index("train"), module.index(split), thresholds,
            module.test_metrics.ks, chunk_size, protocol,
        )
    finally:
        module.train(was_training)
