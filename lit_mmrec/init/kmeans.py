"""K-Means in plain PyTorch, on whatever device the data lives on.

SG-URInit needs one K-Means per modality before epoch zero, on the training device and deterministic
given a seed. This is Lloyd's algorithm with greedy k-means++ seeding, written to follow
scikit-learn's ``KMeans(n_init=1)`` closely:

* seeding: greedy k-means++ (Arthur & Vassilvitskii, 2007, with sklearn's ``2 + floor(ln K)``
  local trials per centroid, keeping the candidate that lowers the potential most);
* distances: on centred data (as sklearn), ``||x||^2 - 2 x c^T + ||c||^2`` clamped at 0, computed for
  at most ``chunk_size`` rows at a time, so no more than a ``chunk_size x K`` slice of the ``n x K``
  distance matrix ever exists;
* centroid update: ``index_add_`` on CPU; on other devices, per chunk, ``one_hot(labels)^T @ x`` (a
  dense matmul, so the sums are reproducible there too, unlike atomic ``index_add_``);
* convergence: labels unchanged, or the summed squared centroid shift at most
  ``tol * mean_j Var(x[:, j])`` (sklearn's relative tolerance);
* empty clusters: an empty centroid is moved onto the point farthest from its own centroid, and that
  point leaves its old cluster (as sklearn's ``_relocate_empty_clusters``).

Random numbers are drawn from a generator on its own device (a CPU generator seeded with 0 when none is
given) and then moved to the data's device, so the same generator gives the same seeding on CPU and CUDA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class KMeansResult:
    """Outcome of :func:`kmeans`.

    Attributes:
        centroids: ``[K, d]`` cluster centres, on the input's device and in the computing dtype.
        labels: ``[n]`` long, index of the nearest centroid of every row.
        inertia: sum over rows of the squared distance to their centroid (accumulated in float64).
        n_iter: number of Lloyd updates performed.
    """

    centroids: Tensor
    labels: Tensor
    inertia: float
    n_iter: int


def kmeans(
    x: Tensor,
    n_clusters: int,
    *,
    max_iter: int = 100,
    tol: float = 1e-4,
    generator: torch.Generator | None = None,
    chunk_size: int = 8192,
) -> KMeansResult:
    r"""Cluster the rows of ``x`` into ``n_clusters`` groups.

    Minimises :math:`\sum_i \min_k \lVert x_i - c_k \rVert^2` by Lloyd's algorithm from a greedy
    k-means++ start.

    Args:
        x: ``[n, d]`` data. float32 and float64 are kept; any other dtype is computed in float32.
        n_clusters: ``K``, with ``1 <= K <= n``. ``K == n`` is allowed (every distinct row its own centre).
        max_iter: maximum number of Lloyd updates.
        tol: relative tolerance: stop once the summed squared shift of the centroids is at most
            ``tol`` times the mean per-feature variance of ``x``.
        generator: source of randomness for the seeding. ``None`` means a CPU generator seeded with 0.
        chunk_size: rows of ``x`` per distance block (memory is ``O(chunk_size * K)`` per block).

    Returns:
        A :class:`KMeansResult`.

    Raises:
        ValueError: on a non-2-D or empty ``x``, non-finite values, ``n_clusters`` outside ``[1, n]``,
            or a non-positive ``max_iter`` / ``chunk_size`` or negative ``tol``.
    """
    if x.dim() != 2:
        raise ValueError(f"kmeans expects a 2-D tensor [n, d], got shape {tuple(x.shape)}")
    n = x.shape[0]
    if n == 0:
        raise ValueError("kmeans needs at least one row to cluster, got an empty tensor")
    if not 1 <= n_clusters <= n:
        raise ValueError(
            f"n_clusters must be between 1 and the number of rows ({n}), got n_clusters={n_clusters}"
        )
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    # Work on centred data (a copy, as sklearn does): with a large common offset, typical of non-negative
    # CNN features, ||x||^2 - 2 x c + ||c||^2 would otherwise lose most of its float32 precision.
    mean = x.mean(dim=0)
    x = x - mean
    x_sq = torch.linalg.vector_norm(x, dim=1).square()
    if not bool(torch.isfinite(x_sq).all()):  # NaN / inf anywhere shows up in the squared norms
        raise ValueError("kmeans input contains NaN or infinite values (or values too large to square)")
    if generator is None:
        generator = torch.Generator().manual_seed(0)

    variance = float(x_sq.sum(dtype=torch.float64)) / (n * x.shape[1])  # mean per-feature variance
    tol_abs = tol * variance

    centroids = _kmeans_plusplus(x, x_sq, n_clusters, generator, chunk_size)
    labels, min_sq = _assign(x, x_sq, centroids, chunk_size)
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        new_centroids = _update(x, labels, min_sq, centroids, chunk_size)
        shift = float(((new_centroids - centroids) ** 2).sum())
        centroids = new_centroids
        new_labels, min_sq = _assign(x, x_sq, centroids, chunk_size)
        converged = torch.equal(new_labels, labels) or shift <= tol_abs
        labels = new_labels
        if converged:
            break

    inertia = float(min_sq.sum(dtype=torch.float64))
    return KMeansResult(centroids=centroids + mean, labels=labels, inertia=inertia, n_iter=n_iter)


def _squared_distances(x: Tensor, x_sq: Tensor, centres: Tensor, centres_sq: Tensor) -> Tensor:
    """``[m, k]`` squared distances between ``m`` rows and ``k`` centres, clamped at 0."""
    return torch.addmm(x_sq[:, None] + centres_sq[None, :], x, centres.T, alpha=-2.0).clamp_min_(0.0)


def _assign(x: Tensor, x_sq: Tensor, centroids: Tensor, chunk_size: int) -> tuple[Tensor, Tensor]:
    """Nearest centroid (``[n]`` long) and squared distance to it (``[n]``) for every row, by chunks."""
    centroids_sq = (centroids * centroids).sum(dim=1)
    labels = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    min_sq = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    for start in range(0, x.shape[0], chunk_size):
        stop = start + chunk_size
        distances = _squared_distances(x[start:stop], x_sq[start:stop], centroids, centroids_sq)
        min_sq[start:stop], labels[start:stop] = distances.min(dim=1)
    return labels, min_sq


def _update(x: Tensor, labels: Tensor, min_sq: Tensor, centroids: Tensor, chunk_size: int) -> Tensor:
    """New centroids as the means of their rows, relocating empty clusters first.

    ``min_sq`` is each row's squared distance to its (old) centroid; the rows farthest from their
    centroid are moved, one per empty cluster, to become that cluster's only member.
    """
    n_clusters = centroids.shape[0]
    sums = torch.zeros_like(centroids)
    if x.device.type == "cpu":
        sums.index_add_(0, labels, x)  # sequential on CPU, hence reproducible, and cheaper than a matmul
    else:
        # index_add_ accumulates with atomics on GPUs (order varies run to run); a matmul does not.
        for start in range(0, x.shape[0], chunk_size):
            stop = start + chunk_size
            one_hot = F.one_hot(labels[start:stop], n_clusters).to(x.dtype)
            sums += one_hot.T @ x[start:stop]
    counts = torch.bincount(labels, minlength=n_clusters)

    empty = (counts == 0).nonzero().squeeze(1)
    if empty.numel() > 0:
        farthest = torch.argsort(min_sq, descending=True, stable=True)[: empty.numel()]
        previous = labels[farthest]
        sums.index_add_(0, previous, -x[farthest])
        counts.index_add_(0, previous, -torch.ones_like(previous))
        sums[empty] = x[farthest]
        counts[empty] = 1

    # A cluster emptied by the relocation keeps its previous centre instead of dividing by zero.
    means = sums / counts.clamp_min(1).to(x.dtype)[:, None]
    return torch.where((counts > 0)[:, None], means, centroids)


def _kmeans_plusplus(
    x: Tensor, x_sq: Tensor, n_clusters: int, generator: torch.Generator, chunk_size: int
) -> Tensor:
    """Greedy k-means++: ``[K, d]`` initial centroids picked among the rows of ``x``.

    The first centre is a uniformly random row. Each next one: draw ``2 + floor(ln K)`` candidates with
    probability proportional to the squared distance to the nearest centre chosen so far, and keep the
    candidate that gives the lowest potential (sum of those squared distances).
    """
    n = x.shape[0]
    n_trials = 2 + int(math.log(n_clusters))
    first = torch.randint(n, (1,), generator=generator, device=generator.device).to(x.device)
    chosen = [first]
    closest_sq = _distances_to_rows(x, x_sq, first, chunk_size).squeeze(1)
    potential = closest_sq.sum(dtype=torch.float64)

    for _ in range(1, n_clusters):
        draws = torch.rand(n_trials, generator=generator, dtype=torch.float64, device=generator.device)
        targets = draws.to(x.device) * potential
        cumulative = torch.cumsum(closest_sq, dim=0, dtype=torch.float64)
        candidates = torch.searchsorted(cumulative, targets).clamp_max_(n - 1)
        candidate_sq = torch.minimum(_distances_to_rows(x, x_sq, candidates, chunk_size), closest_sq[:, None])
        candidate_potential = candidate_sq.sum(dim=0, dtype=torch.float64)
        best = torch.argmin(candidate_potential)
        chosen.append(candidates[best].reshape(1))
        closest_sq = candidate_sq[:, best]
        potential = candidate_potential[best]

    return x[torch.cat(chosen)].clone()


def _distances_to_rows(x: Tensor, x_sq: Tensor, rows: Tensor, chunk_size: int) -> Tensor:
    """``[n, len(rows)]`` squared distances from every row of ``x`` to the rows ``x[rows]``, by chunks.

    Only used with the few k-means++ candidates (``len(rows) <= 2 + ln K``), hence the full-height output.
    """
    centres, centres_sq = x[rows], x_sq[rows]
    out = torch.empty(x.shape[0], rows.numel(), dtype=x.dtype, device=x.device)
    for start in range(0, x.shape[0], chunk_size):
        stop = start + chunk_size
        out[start:stop] = _squared_distances(x[start:stop], x_sq[start:stop], centres, centres_sq)
    return out
