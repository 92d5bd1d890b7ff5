r"""SG-URInit: training-free user-embedding initialisation from the items' modal features.

Pure tensor functions (no Lightning); the callback that writes into a backbone lives in
``lit_mmrec.callbacks``. Method: Xu et al., "Well Begun is Half Done: Training-Free and Model-Agnostic
Semantically Guaranteed User Representation Initialization for Multimodal Recommendation", SIGIR 2026
(arXiv 2604.14839). The official code is not available to us; this follows
``shared/reference/SG-URINIT.md`` ("Our specification"), which covers both public descriptions.

For one modality with item features :math:`F \in \mathbb{R}^{I \times d}` and a user :math:`u` with
training items :math:`N_u`:

.. math::

    \text{local}_u = \frac{1}{|N_u|} \sum_{i \in N_u} F_i

* ``cluster_on="item"`` (the authors' figure): K-Means on the rows of :math:`F`,
  :math:`\text{global}_u = \frac{1}{|N_u|} \sum_{i \in N_u} c_{k(i)}`.
* ``cluster_on="user"`` (the project brief): K-Means on the users with interactions,
  :math:`\text{global}_u = \frac{1}{|C(u)|} \sum_{v \in C(u)} \text{local}_v` over the users
  :math:`C(u)` in :math:`u`'s cluster.

* ``fusion="sum"``: :math:`e_u = \text{local}_u + \lambda\, \text{global}_u`.
* ``local_weight`` :math:`\mu` (default 1) scales the local (item-level) term, :math:`e_u = \mu\,
  \text{local}_u + \lambda\, \text{global}_u` (for attention, :math:`\mu` scales the attended term):
  :math:`\mu = 0` is the cluster-only ablation, :math:`\lambda = 0` the local-only one (our addition).
* ``fusion="attention"``: :math:`a_{ui} = \operatorname{softmax}_{i \in N_u}
  \big(\langle \hat F_i, \hat g_u \rangle / (\tau \sqrt{d})\big)`,
  :math:`e_u = \sum_{i \in N_u} a_{ui} F_i + \lambda\, \text{global}_u`, where :math:`\hat F_i` and
  :math:`\hat g_u` are :math:`F_i` and :math:`\text{global}_u` rescaled to norm :math:`\sqrt d`, so the
  score is :math:`\sqrt d \cos(F_i, \text{global}_u) / \tau`.

  Deviation from the specification's plain :math:`\langle F_i, \text{global}_u \rangle / (\tau\sqrt d)`:
  scaled dot-product attention assumes unit-variance coordinates (norms near :math:`\sqrt d`), but the spaces
  SG-URInit works in have arbitrary scale (PCA of unit-norm sentence embeddings on ml100k: mean norm 0.6),
  where the plain scores are ~0.02 and the softmax is uniform: attention then equals "sum" (measured on
  ml100k: 0.14% relative difference between the two). Rescaling makes :math:`\tau` mean the same thing in
  every space and for every backbone.

:func:`initialise_user_table` averages :math:`e_u` over modalities and rescales every row to the mean row
norm of the freshly initialised table; users without training interactions keep their random rows.

Recipe options (:class:`~lit_mmrec.init.options.SGURInitOptions`, one function per strategy below; the
defaults are the recipe above, the figure's item-sum, with ``centre`` on the tables that meet item features,
chosen on validation: see ``docs/decisions.md``). The public descriptions leave these open and independent
re-implementations chose differently (``shared/reference/SG-URINIT.md``):

* ``blend="convex"``: :math:`e_u = (1 - \lambda)\,\text{local}_u + \lambda\,\text{global}_u`
  (:func:`fuse`).
* ``local_norm="symmetric"``: :math:`\text{local} = D_u^{-1/2} R D_i^{-1/2} F` (:func:`local_term`).
* ``preprocess`` (``standardise``, ``whiten``) and ``metric="cosine"``: the space K-Means runs in
  (:func:`clustering_space`); the cluster-level vectors stay means of features in the table's space.
  For ID tables ``standardise`` also z-scores the raw features before the PCA (done by the callback).
  Deviation: preprocessing is asked for "before PCA/K-Means"; whitening the PCA output itself would
  change the space the user rows live in, so whitening only shapes the clustering.
* ``centre``: remove the component shared by all users before rescaling (on the tables ``centre_tables``
  names: all, ID tables, or those compared with item features; see ``SGURInitOptions.for_table``);
  ``decorrelate``: ZCA-whiten the users' vectors (:func:`zca_whiten`) before rescaling; ``scale="items"``:
  rescale to the item representations' mean norm; ``residual`` :math:`\alpha`: :math:`T_u + \alpha s_u` instead of
  :math:`s_u` (:func:`initialise_user_table`), with ``residual_rescale`` brought back to the norm of
  :math:`s_u`; ``align_items``: write the reduced features into an ID
  backbone's item table (:func:`aligned_item_table`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import softmax as segment_softmax

from lit_mmrec.init.kmeans import kmeans
from lit_mmrec.init.options import SGURInitOptions

#: Largest rank of the truncated SVD of the user-item matrix for ``user_repr="behaviour"`` (our choice).
BEHAVIOUR_DIM = 64
#: Power iterations of the randomised SVD / PCA (torch's default is 2; more is closer to exact, our choice).
LOWRANK_NITER = 4
#: Extra columns sampled by the randomised PCA beyond the requested rank (Halko et al. suggest 5-10).
PCA_OVERSAMPLING = 10
#: Whitening drops the directions whose variance is below this fraction of the largest (rank deficiency).
WHITEN_RTOL = 1e-6


def pca_reduce(features: Tensor, dim: int, generator: torch.Generator | None = None) -> Tensor:
    r"""Project item features onto their top ``dim`` principal components (training-free).

    :math:`X_c = X - \bar X`, then :math:`X_c V_{:, :dim}` with :math:`V` the principal directions from
    :func:`torch.pca_lowrank` (randomised, with ``dim + 10`` oversampled columns and 4 power iterations).
    Each direction's sign is fixed so that its largest-magnitude loading is positive (as sklearn's
    ``svd_flip``), so the output does not depend on the sign the SVD happens to return.

    If the rank cannot reach ``dim`` (``D <= dim`` or ``n_items <= dim``) no reduction is needed: for
    ``D <= dim`` the centred features themselves are returned, and in both cases the missing columns are
    zero-padded to width ``dim``.

    Args:
        features: ``[n_items, D]`` raw features.
        dim: output width ``d >= 1``.
        generator: seeds the randomised PCA (one integer is drawn from it); ``None`` means a CPU
            generator seeded with 0. The global RNG state is left as it was.

    Returns:
        ``[n_items, dim]`` tensor, same device as ``features``, float32 unless the input is float64.
    """
    if features.dim() != 2:
        raise ValueError(f"features must be 2-D [n_items, D], got shape {tuple(features.shape)}")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    if features.dtype not in (torch.float32, torch.float64):
        features = features.float()
    n_items, n_features = features.shape
    centred = features - features.mean(dim=0, keepdim=True)
    if n_features <= dim:
        return F.pad(centred, (0, dim - n_features))

    rank = min(dim, n_items)
    q = min(rank + PCA_OVERSAMPLING, n_items, n_features)
    _, _, directions = _lowrank_svd(centred, q, _draw_seed(generator))
    directions = directions[:, :rank]
    strongest = directions.abs().argmax(dim=0)
    signs = torch.sign(directions[strongest, torch.arange(rank, device=directions.device)])
    directions = directions * torch.where(signs == 0, torch.ones_like(signs), signs)
    return F.pad(centred @ directions, (0, dim - rank))


def standardise_columns(x: Tensor) -> Tensor:
    r"""Every column to zero mean and unit (population) variance, :math:`(x - \bar x) / \sigma`; a constant
    column becomes 0 (its scale is taken as 1, as sklearn's ``StandardScaler``)."""
    centred = x - x.mean(dim=0, keepdim=True)
    std = centred.square().mean(dim=0).sqrt()
    return centred / torch.where(std > 0, std, torch.ones_like(std))


def whiten(x: Tensor) -> Tensor:
    r"""PCA whitening: :math:`(x - \bar x) V \Lambda^{-1/2}` with :math:`V \Lambda V^\top` the eigendecomposition
    of the population covariance, directions with variance below ``1e-6`` x the largest dropped. The
    columns of the result are uncorrelated with unit variance; euclidean distances in it are the
    Mahalanobis distances of ``x`` (so the eigenvectors' signs and order do not matter to K-Means)."""
    centred, directions, variances = _covariance_eigen(x)
    return (centred @ directions / variances.sqrt()).to(x.dtype)


def zca_whiten(x: Tensor) -> Tensor:
    r"""ZCA whitening, :math:`(x - \bar x)\, V \Lambda^{-1/2} V^\top` (directions as in :func:`whiten`): unit,
    uncorrelated variance in every direction, in the basis of ``x`` (the whitened data closest to the centred
    data), unlike :func:`whiten`, which rotates into the eigenbasis."""
    centred, directions, variances = _covariance_eigen(x)
    return (centred @ directions / variances.sqrt() @ directions.T).to(x.dtype)


def _covariance_eigen(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Centred ``x`` (float64), and the eigenvectors ``[d, r]`` and eigenvalues ``[r]`` of its population
    covariance whose eigenvalue is above ``WHITEN_RTOL`` x the largest."""
    centred = (x - x.mean(dim=0, keepdim=True)).double()
    variances, directions = torch.linalg.eigh(centred.T @ centred / x.shape[0])
    keep = variances > WHITEN_RTOL * variances.max().clamp_min(torch.finfo(torch.float64).tiny)
    return centred, directions[:, keep], variances[keep]


def clustering_space(points: Tensor, preprocess: str = "none", metric: str = "euclidean") -> Tensor:
    """The rows K-Means sees: ``points`` after ``preprocess`` (``none`` / ``standardise`` / ``whiten``),
    then L2-normalised for ``metric="cosine"`` (K-Means on the unit sphere, the usual cosine K-Means)."""
    if preprocess == "standardise":
        points = standardise_columns(points)
    elif preprocess == "whiten":
        points = whiten(points)
    if metric == "cosine":
        points = F.normalize(points, dim=1)
    return points


def user_semantic_embeddings(
    interactions: Tensor,
    item_features: Tensor,
    options: SGURInitOptions | None = None,
    *,
    generator: torch.Generator | None = None,
    chunk_size: int = 8192,
    report: dict[str, Any] | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Per-user SG-URInit vectors :math:`e_u` for one modality (see the module docstring for the maths).

    Args:
        interactions: ``[n_users, n_items]`` torch sparse (COO or CSR; dense is accepted too) matrix of
            TRAINING interactions only. Every stored non-zero counts as one interaction (values are
            binarised; duplicate COO entries count once).
        item_features: ``[n_items, d]`` item features of this modality, in the space of the user table.
        options: the recipe (``None``: the defaults); the options that shape :math:`e_u` are used
            (``n_clusters``, ``cluster_on``, ``fusion``, ``weight``, ``local_weight``, ``blend``,
            ``temperature``, ``user_repr``, ``local_norm``, ``preprocess``, ``metric``). ``n_clusters`` is
            clipped to the number of rows clustered (items for ``cluster_on="item"``, users with interactions
            for ``"user"``); with ``K`` equal to it every row is its own cluster.
        generator: seeds the K-Means and the randomised SVD; ``None`` means a CPU generator seeded with 0.
        chunk_size: rows per K-Means distance block, and (user, item) pairs per attention-score block
            (memory ``O(chunk_size * K)``).
        report: if given, filled with ``cluster_sizes`` (members per cluster, a list of ints: items for
            ``cluster_on="item"``, users for ``"user"``) for logging.

    Returns:
        ``(embeddings, has_interactions)``: ``[n_users, d]`` vectors :math:`e_u` (zero rows for users with no
        interaction) on ``item_features``' device, float32 unless ``item_features`` is float64; and the
        ``[n_users]`` bool mask of users with at least one interaction.
    """
    opts = options if options is not None else SGURInitOptions()
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if item_features.dim() != 2:
        raise ValueError(f"item_features must be 2-D [n_items, d], got shape {tuple(item_features.shape)}")
    if interactions.dim() != 2:
        raise ValueError(
            f"interactions must be 2-D [n_users, n_items], got shape {tuple(interactions.shape)}"
        )
    n_users, n_items = interactions.shape
    if item_features.shape[0] != n_items:
        raise ValueError(
            f"interactions has {n_items} item columns but item_features has {item_features.shape[0]} rows"
        )
    if generator is None:
        generator = torch.Generator().manual_seed(0)

    features = item_features if item_features.dtype == torch.float64 else item_features.float()
    users, items = _nonzero_coordinates(interactions, features.device)
    degree = torch.bincount(users, minlength=n_users)
    has_interactions = degree > 0
    if users.numel() == 0:
        return features.new_zeros(n_users, features.shape[1]), has_interactions

    mean_over_items = _row_mean_matrix(users, items, n_users, n_items, features.dtype)
    local = local_term(users, items, features, n_users, opts.local_norm, mean_over_items)
    # global_u = sum_k cluster_weights[u, k] * cluster_vectors[k]: every global vector mixes the same K
    # cluster-level vectors, which also makes the attention scores cost O(K) per (user, item) pair, not O(d).
    if opts.cluster_on == "item":
        cluster_weights, cluster_vectors, sizes = item_cluster_term(features, mean_over_items, opts, generator, chunk_size)
    else:
        cluster_weights, cluster_vectors, sizes = user_cluster_term(
            users, items, degree, local, n_items, opts, generator, chunk_size
        )
    if report is not None:
        report["cluster_sizes"] = sizes
    global_ = cluster_weights @ cluster_vectors
    if opts.fusion == "attention":
        local = attended_local_term(
            users, items, features, cluster_weights, cluster_vectors, global_, opts.temperature, chunk_size
        )
    return fuse(local, global_, opts), has_interactions


def local_term(
    users: Tensor, items: Tensor, features: Tensor, n_users: int, local_norm: str, mean_over_items: Tensor
) -> Tensor:
    r"""The item-level term, ``[n_users, d]``.

    ``"mean"``: :math:`\text{local}_u = \frac{1}{|N_u|} \sum_{i \in N_u} F_i` (``mean_over_items @ F``).
    ``"symmetric"``: :math:`\text{local}_u = \sum_{i \in N_u} F_i / \sqrt{|N_u|\,|N_i|}`, i.e.
    :math:`D_u^{-1/2} R D_i^{-1/2} F` with :math:`|N_i|` the item's training degree (a graph convolution's
    normalisation: popular items weigh less, and heavy users get longer vectors before the rescaling).
    """
    if local_norm == "mean":
        return torch.sparse.mm(mean_over_items, features)
    n_items = features.shape[0]
    user_degree = torch.bincount(users, minlength=n_users).to(features.dtype)
    item_degree = torch.bincount(items, minlength=n_items).to(features.dtype)
    values = (user_degree[users] * item_degree[items]).rsqrt()
    matrix = torch.sparse_coo_tensor(torch.stack([users, items]), values, (n_users, n_items), check_invariants=True)
    return torch.sparse.mm(matrix.coalesce().to_sparse_csr(), features)


def item_cluster_term(
    features: Tensor, mean_over_items: Tensor, opts: SGURInitOptions, generator: torch.Generator, chunk_size: int
) -> tuple[Tensor, Tensor, list[int]]:
    r"""``cluster_on="item"`` (the figure): K-Means on the items, :math:`\text{global}_u = \frac{1}{|N_u|}
    \sum_{i \in N_u} c_{k(i)}`.

    K-Means runs in :func:`clustering_space` (``preprocess``, ``metric``); the cluster-level vectors
    :math:`c_k` are the means of the member items' features in the table's space. With no preprocessing
    and the euclidean metric they are K-Means's own centroids (those means, at convergence).

    Returns:
        ``(cluster_weights [n_users, K]`` (share of u's items in each cluster), ``cluster_vectors [K, d]``,
        items per cluster).
    """
    n_items = features.shape[0]
    points = clustering_space(features, opts.preprocess, opts.metric)
    clusters = kmeans(points, min(opts.n_clusters, n_items), generator=generator, chunk_size=chunk_size)
    n_found = clusters.centroids.shape[0]
    if opts.preprocess == "none" and opts.metric == "euclidean":
        cluster_vectors = clusters.centroids
    else:
        members = torch.arange(n_items, device=features.device)
        cluster_vectors = torch.sparse.mm(
            _row_mean_matrix(clusters.labels, members, n_found, n_items, features.dtype), features
        )
    membership = F.one_hot(clusters.labels, n_found).to(features.dtype)
    cluster_weights = torch.sparse.mm(mean_over_items, membership)
    return cluster_weights, cluster_vectors, torch.bincount(clusters.labels, minlength=n_found).tolist()


def user_cluster_term(
    users: Tensor,
    items: Tensor,
    degree: Tensor,
    local: Tensor,
    n_items: int,
    opts: SGURInitOptions,
    generator: torch.Generator,
    chunk_size: int,
) -> tuple[Tensor, Tensor, list[int]]:
    r"""``cluster_on="user"`` (the brief): K-Means on the users with interactions,
    :math:`\text{global}_u = \frac{1}{|C(u)|} \sum_{v \in C(u)} \text{local}_v` over u's cluster.

    Users are represented by ``user_repr``: ``"behaviour"`` (default, our choice): rows of the L2
    row-normalised user-item matrix (L2 rather than by degree, our choice, so heavy users do not collapse
    towards the origin), reduced by :func:`torch.svd_lowrank` to ``r = max(1, min(64, n_items - 1,
    n_active_users - 1))`` dimensions (the rows' coordinates :math:`U S`), then L2-normalised again (as an
    LSA pipeline does; our choice); ``"local"``: the L2-normalised :math:`\text{local}_u`. Then
    :func:`clustering_space` (``preprocess``, ``metric``).

    Returns:
        ``(cluster_weights [n_users, K]`` (one-hot; zero rows for users without interactions),
        ``cluster_vectors [K, d]``, users per cluster).
    """
    active = (degree > 0).nonzero().squeeze(1)
    if opts.user_repr == "local":
        points = F.normalize(local[active], dim=1)
    else:
        points = _behaviour_coordinates(users, items, degree, active, n_items, local.dtype, generator)
    points = clustering_space(points, opts.preprocess, opts.metric)
    clusters = kmeans(points, min(opts.n_clusters, active.numel()), generator=generator, chunk_size=chunk_size)
    n_found = clusters.centroids.shape[0]
    members = torch.arange(active.numel(), device=local.device)
    mean_over_members = _row_mean_matrix(clusters.labels, members, n_found, active.numel(), local.dtype)
    cluster_vectors = torch.sparse.mm(mean_over_members, local[active])  # mean local vector per cluster
    cluster_weights = local.new_zeros(local.shape[0], n_found)
    cluster_weights[active] = F.one_hot(clusters.labels, n_found).to(local.dtype)
    return cluster_weights, cluster_vectors, torch.bincount(clusters.labels, minlength=n_found).tolist()


def attended_local_term(
    users: Tensor,
    items: Tensor,
    features: Tensor,
    cluster_weights: Tensor,
    cluster_vectors: Tensor,
    global_: Tensor,
    temperature: float,
    chunk_size: int,
) -> Tensor:
    r"""``fusion="attention"``: :math:`\sum_{i \in N_u} a_{ui} F_i` with :math:`a_{ui} = \operatorname{softmax}_{i
    \in N_u}(\sqrt d \cos(F_i, \text{global}_u) / \tau)` (see the module docstring for the rescaling).

    :math:`\langle F_i, \text{global}_u \rangle = \sum_k w_{uk} \langle F_i, c_k \rangle`: the scores cost
    O(K) per (user, item) pair, computed ``chunk_size`` pairs at a time.
    """
    n_users, (n_items, dim) = global_.shape[0], features.shape
    item_cluster_dots = features @ cluster_vectors.T
    tiny = torch.finfo(features.dtype).tiny
    item_scale = math.sqrt(dim) / (temperature * features.norm(dim=1).clamp_min(tiny))
    user_scale = 1.0 / global_.norm(dim=1).clamp_min(tiny)
    scores = torch.empty(users.numel(), dtype=features.dtype, device=features.device)
    for start in range(0, users.numel(), chunk_size):
        stop = start + chunk_size
        chunk_users, chunk_items = users[start:stop], items[start:stop]
        pair_dots = (item_cluster_dots[chunk_items] * cluster_weights[chunk_users]).sum(dim=1)
        scores[start:stop] = pair_dots * item_scale[chunk_items] * user_scale[chunk_users]
    attention = segment_softmax(scores, users, num_nodes=n_users)
    attended = torch.sparse_coo_tensor(
        torch.stack([users, items]), attention, (n_users, n_items), check_invariants=True
    )
    return torch.sparse.mm(attended.coalesce().to_sparse_csr(), features)


def fuse(local: Tensor, global_: Tensor, opts: SGURInitOptions) -> Tensor:
    r"""``blend="add"``: :math:`\mu\,\text{local} + \lambda\,\text{global}`; ``"convex"``:
    :math:`(1 - \lambda)\,\text{local} + \lambda\,\text{global}`."""
    if opts.blend == "convex":
        return (1.0 - opts.weight) * local + opts.weight * global_
    return opts.local_weight * local + opts.weight * global_


def initialise_user_table(
    table: Tensor,
    modal_features: Sequence[Tensor],
    interactions: Tensor,
    options: SGURInitOptions | None = None,
    *,
    report: list[dict[str, Any]] | None = None,
    item_reference: Tensor | Sequence[Tensor] | None = None,
    generator: torch.Generator | None = None,
    chunk_size: int = 8192,
) -> Tensor:
    r"""SG-URInit rows for one user table: a new ``[n_users, d]`` tensor to copy into the embedding.

    For every modality :math:`m`, :func:`user_semantic_embeddings` gives :math:`e^m_u`; their mean
    :math:`\bar e_u = \frac{1}{M} \sum_m e^m_u` is (with ``centre``) centred,
    :math:`\bar e_u - \frac{1}{|U^+|} \sum_{v \in U^+} \bar e_v` over the users :math:`U^+` with
    interactions, then rescaled to the norm :math:`\rho`, i.e. :math:`s_u = \rho\, \bar e_u / \lVert
    \bar e_u \rVert`. ``scale="table"``: :math:`\rho = \frac{1}{n_{users}} \sum_u \lVert T_u \rVert`,
    the mean row norm of ``table``, so the optimiser starts in the regime of the random initialisation;
    ``scale="items"``: the mean row norm of ``item_reference`` (averaged over its tensors). The new row is
    :math:`s_u`, or :math:`T_u + \alpha s_u` with ``residual`` :math:`= \alpha` (rescaled to the norm
    :math:`\rho` with ``residual_rescale``). Users without training interactions, and users whose
    :math:`\bar e_u` is exactly zero (nothing to point along), keep their row of ``table``.

    Args:
        table: ``[n_users, d]`` freshly (randomly) initialised user table; not modified.
        modal_features: one ``[n_items, d]`` tensor per modality, in the table's space.
        interactions: ``[n_users, n_items]`` sparse matrix of TRAINING interactions only.
        options: the recipe for this table (``None``: the defaults). ``centre`` / ``decorrelate`` apply to
            this table as given: ``centre_tables`` is applied by ``options.for_table``, and ``align_items`` by
            the callback.
        report: if given, one dict per modality is appended to it (see :func:`user_semantic_embeddings`).
        item_reference: the item representations the table is compared with (``[n_items, d]``, or one per
            modality); needed by ``scale="items"`` only.
        generator: one generator (seed 0 when none is given) shared by the modalities, in order.
        chunk_size: see :func:`user_semantic_embeddings`.

    Returns:
        ``[n_users, d]`` tensor on ``table``'s device with ``table``'s dtype.
    """
    opts = options if options is not None else SGURInitOptions()
    if table.dim() != 2:
        raise ValueError(f"table must be 2-D [n_users, d], got shape {tuple(table.shape)}")
    if len(modal_features) == 0:
        raise ValueError("modal_features must hold at least one [n_items, d] tensor")
    if interactions.dim() != 2 or interactions.shape[0] != table.shape[0]:
        raise ValueError(
            f"interactions must be [n_users={table.shape[0]}, n_items], got shape {tuple(interactions.shape)}"
        )
    for index, features in enumerate(modal_features):
        if features.dim() != 2 or features.shape[1] != table.shape[1]:
            raise ValueError(
                f"modal_features[{index}] must be [n_items, {table.shape[1]}], got shape {tuple(features.shape)}"
            )
    if opts.scale == "items" and item_reference is None:
        raise ValueError("scale='items' needs item_reference, the item representations the table is compared with")
    if generator is None:
        generator = torch.Generator().manual_seed(0)

    table = table.detach()
    semantic = None
    has_interactions = None
    for features in modal_features:
        details: dict[str, Any] = {}
        embeddings, has_interactions = user_semantic_embeddings(
            interactions, features.detach().to(table.device), opts, generator=generator, chunk_size=chunk_size,
            report=details,
        )
        if report is not None:
            report.append(details)
        semantic = embeddings if semantic is None else semantic + embeddings
    semantic = semantic / len(modal_features)
    if (opts.centre or opts.decorrelate) and bool(has_interactions.any()):
        shared = semantic[has_interactions].mean(dim=0, keepdim=True)
        semantic = torch.where(has_interactions[:, None], semantic - shared, semantic)
    if opts.decorrelate and int(has_interactions.sum()) > 1:
        semantic[has_interactions] = zca_whiten(semantic[has_interactions])

    if opts.scale == "table":
        target_norm = table.norm(dim=1).mean()
    else:
        target_norm = mean_row_norm(item_reference)
    target_norm = target_norm.to(device=semantic.device, dtype=semantic.dtype)
    norms = semantic.norm(dim=1)
    replace = has_interactions & (norms > 0)
    rescaled = rows_to_norm(semantic, target_norm).to(table.dtype)
    if opts.residual is not None:
        rescaled = table + opts.residual * rescaled
        if opts.residual_rescale:
            rescaled = rows_to_norm(rescaled, target_norm)
    return torch.where(replace[:, None], rescaled, table)


def aligned_item_table(item_table: Tensor, modal_features: Sequence[Tensor]) -> Tensor:
    r"""``align_items``: the item ID table in the users' reduced feature space.

    Row :math:`i` becomes :math:`\rho_I\, \bar F_i / \lVert \bar F_i \rVert`, with :math:`\bar F_i` the
    mean over modalities of the item's reduced features (the same :math:`F` the user rows were built from)
    and :math:`\rho_I` the mean row norm of ``item_table`` as initialised; items whose :math:`\bar F_i` is
    zero keep their row. Our addition (not in the paper): an ID user table initialised in the PCA space of
    the features is otherwise scored against random item embeddings, so its semantics only reach the
    items through training.

    Args:
        item_table: ``[n_items, d]`` freshly initialised item ID table; not modified.
        modal_features: one ``[n_items, d]`` tensor per modality, the reduced features.
    """
    item_table = item_table.detach()
    mean = torch.stack([f.detach().to(item_table.device, item_table.dtype) for f in modal_features]).mean(dim=0)
    if mean.shape != item_table.shape:
        raise ValueError(f"features are {tuple(mean.shape)}, the item table {tuple(item_table.shape)}")
    norms = mean.norm(dim=1)
    rescaled = rows_to_norm(mean, item_table.norm(dim=1).mean())
    return torch.where((norms > 0)[:, None], rescaled, item_table)


def rows_to_norm(rows: Tensor, norm: Tensor | float) -> Tensor:
    """``rows`` each rescaled to the norm ``norm`` (an all-zero row stays zero)."""
    return rows * (norm / rows.norm(dim=1).clamp_min(torch.finfo(rows.dtype).tiny))[:, None]


def mean_row_norm(tensors: Tensor | Sequence[Tensor]) -> Tensor:
    """Mean row norm of a ``[n, d]`` tensor, or the average of it over several tensors."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    return torch.stack([t.detach().norm(dim=1).mean().to(torch.float64) for t in tensors]).mean()


def _nonzero_coordinates(interactions: Tensor, device: torch.device) -> tuple[Tensor, Tensor]:
    """Row and column indices (``[nnz]`` long, sorted by row then column) of the non-zeros, on ``device``."""
    matrix = interactions.to(device)
    matrix = matrix.to_sparse_coo() if matrix.layout != torch.sparse_coo else matrix
    matrix = matrix.coalesce()
    keep = matrix.values() != 0
    rows, cols = matrix.indices()
    return rows[keep], cols[keep]


def _row_mean_matrix(rows: Tensor, cols: Tensor, n_rows: int, n_cols: int, dtype: torch.dtype) -> Tensor:
    """Sparse CSR ``[n_rows, n_cols]`` with ``1 / count(row)`` at each ``(row, col)``: ``M @ X`` averages
    the rows of ``X`` listed for each row (a zero row where none is listed). Pairs must be unique."""
    counts = torch.bincount(rows, minlength=n_rows).to(dtype)
    values = 1.0 / counts[rows]
    matrix = torch.sparse_coo_tensor(
        torch.stack([rows, cols]), values, (n_rows, n_cols), check_invariants=True
    )
    return matrix.coalesce().to_sparse_csr()


def _behaviour_coordinates(
    users: Tensor,
    items: Tensor,
    degree: Tensor,
    active: Tensor,
    n_items: int,
    dtype: torch.dtype,
    generator: torch.Generator,
) -> Tensor:
    """``[n_active, r]`` L2-normalised truncated-SVD coordinates of the active users' L2-normalised rows."""
    position = torch.full_like(degree, -1)
    position[active] = torch.arange(active.numel(), device=active.device)
    values = degree[users].to(dtype).rsqrt()
    behaviour = (
        torch.sparse_coo_tensor(
            torch.stack([position[users], items]), values, (active.numel(), n_items), check_invariants=True
        )
        .coalesce()
        .to_sparse_csr()
    )
    rank = max(1, min(BEHAVIOUR_DIM, n_items - 1, active.numel() - 1))
    left, singular, _ = _lowrank_svd(behaviour, rank, _draw_seed(generator))
    return F.normalize(left * singular, dim=1)


def _draw_seed(generator: torch.Generator | None) -> int:
    """One integer seed drawn from ``generator`` (a CPU generator seeded with 0 when it is ``None``)."""
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    return int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device))


def _lowrank_svd(matrix: Tensor, q: int, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """``torch.svd_lowrank(matrix, q, niter=LOWRANK_NITER)`` (Halko et al. 2009, Algorithm 5.1, step for
    step as torch computes it), its random start drawn from a CPU generator seeded with ``seed`` and then
    moved to ``matrix``'s device. torch draws it from the device's own generator, whose CUDA stream differs
    from the CPU's for the same seed, and the result depends on the start (nearly equal trailing singular
    values: two starts give PCA features 40% apart on the synthetic data), so SG-URInit on CUDA would not
    reproduce the CPU's tables. On the CPU the result is bit-identical to torch's under
    ``torch.manual_seed(seed)``."""
    tall = matrix.shape[0] >= matrix.shape[1]
    a = matrix if tall else matrix.mH
    dtype = a.dtype if a.dtype in (torch.float32, torch.float64) else torch.float32
    start = torch.randn(a.shape[-1], q, dtype=dtype, generator=torch.Generator().manual_seed(seed))
    basis = torch.linalg.qr(torch.matmul(a, start.to(a.device))).Q
    for _ in range(LOWRANK_NITER):
        basis = torch.linalg.qr(torch.matmul(a.mH, basis)).Q
        basis = torch.linalg.qr(torch.matmul(a, basis)).Q
    u, s, vh = torch.linalg.svd(torch.matmul(basis.mH, a), full_matrices=False)
    u, v = basis.matmul(u), vh.mH
    return (u, s, v) if tall else (v, s, u)
