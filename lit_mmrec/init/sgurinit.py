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

CLUSTER_ON = ("item", "user")
FUSIONS = ("sum", "attention")
USER_REPRS = ("behaviour", "local")

#: Largest rank of the truncated SVD of the user-item matrix for ``user_repr="behaviour"`` (our choice).
BEHAVIOUR_DIM = 64
#: Power iterations of the randomised SVD / PCA (torch's default is 2; more is closer to exact, our choice).
LOWRANK_NITER = 4
#: Extra columns sampled by the randomised PCA beyond the requested rank (Halko et al. suggest 5-10).
PCA_OVERSAMPLING = 10


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


def user_semantic_embeddings(
    interactions: Tensor,
    item_features: Tensor,
    *,
    n_clusters: int = 20,
    cluster_on: str = "item",
    fusion: str = "sum",
    weight: float = 1.0,
    local_weight: float = 1.0,
    temperature: float = 1.0,
    user_repr: str = "behaviour",
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
        n_clusters: ``K >= 1``. Clipped to the number of rows being clustered (items for
            ``cluster_on="item"``, users with interactions for ``"user"``); with ``K`` equal to that
            number every row is its own cluster.
        cluster_on: ``"item"`` (K-Means on item features) or ``"user"`` (K-Means on users).
        fusion: ``"sum"`` or ``"attention"``.
        weight: :math:`\lambda`, weight of the cluster-level (global) term.
        local_weight: :math:`\mu`, weight of the item-level (local) term; 0 keeps only the global term
            (the cluster-only ablation).
        temperature: :math:`\tau > 0` of the attention softmax (unused by ``"sum"``).
        user_repr: what users are clustered on when ``cluster_on="user"``. ``"behaviour"`` (default, our
            choice): rows of the L2 row-normalised user-item matrix (L2 rather than by degree, our choice,
            so heavy users do not collapse towards the origin), reduced by :func:`torch.svd_lowrank` to
            ``r = max(1, min(64, n_items - 1, n_active_users - 1))`` dimensions (the rows' coordinates
            :math:`U S`), then L2-normalised again (as an LSA pipeline does; our choice). ``"local"``: the
            L2-normalised :math:`\text{local}_u`.
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
    if cluster_on not in CLUSTER_ON:
        raise ValueError(f"cluster_on must be one of {CLUSTER_ON}, got {cluster_on!r}")
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
    if user_repr not in USER_REPRS:
        raise ValueError(f"user_repr must be one of {USER_REPRS}, got {user_repr!r}")
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be >= 1, got {n_clusters}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
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
    device, dim = features.device, features.shape[1]
    users, items = _nonzero_coordinates(interactions, device)
    degree = torch.bincount(users, minlength=n_users)
    has_interactions = degree > 0
    if users.numel() == 0:
        return features.new_zeros(n_users, dim), has_interactions

    mean_over_items = _row_mean_matrix(users, items, n_users, n_items, features.dtype)
    local = torch.sparse.mm(mean_over_items, features)

    # global_u = sum_k cluster_weights[u, k] * cluster_vectors[k]: every global vector mixes the same K
    # cluster-level vectors, which also makes the attention scores cost O(K) per (user, item) pair, not O(d).
    if cluster_on == "item":
        item_clusters = kmeans(features, min(n_clusters, n_items), generator=generator, chunk_size=chunk_size)
        cluster_vectors = item_clusters.centroids
        membership = F.one_hot(item_clusters.labels, cluster_vectors.shape[0]).to(features.dtype)
        cluster_weights = torch.sparse.mm(mean_over_items, membership)  # share of u's items in each cluster
        labels = item_clusters.labels
    else:
        active = has_interactions.nonzero().squeeze(1)
        if user_repr == "local":
            points = F.normalize(local[active], dim=1)
        else:
            points = _behaviour_coordinates(users, items, degree, active, n_items, features.dtype, generator)
        user_clusters = kmeans(
            points, min(n_clusters, active.numel()), generator=generator, chunk_size=chunk_size
        )
        n_found = user_clusters.centroids.shape[0]
        members = torch.arange(active.numel(), device=device)
        mean_over_members = _row_mean_matrix(
            user_clusters.labels, members, n_found, active.numel(), features.dtype
        )
        cluster_vectors = torch.sparse.mm(mean_over_members, local[active])  # mean local vector per cluster
        cluster_weights = features.new_zeros(n_users, n_found)
        cluster_weights[active] = F.one_hot(user_clusters.labels, n_found).to(features.dtype)
        labels = user_clusters.labels
    if report is not None:
        report["cluster_sizes"] = torch.bincount(labels, minlength=cluster_vectors.shape[0]).tolist()
    global_ = cluster_weights @ cluster_vectors

    if fusion == "attention":
        # <F_i, global_u> = sum_k cluster_weights[u, k] * item_cluster_dots[i, k]; both sides are then
        # rescaled to norm sqrt(d) (see the module docstring), i.e. score = sqrt(d) cos(F_i, global_u) / tau.
        item_cluster_dots = features @ cluster_vectors.T
        tiny = torch.finfo(features.dtype).tiny
        item_scale = math.sqrt(dim) / (temperature * features.norm(dim=1).clamp_min(tiny))
        user_scale = 1.0 / global_.norm(dim=1).clamp_min(tiny)
        scores = torch.empty(users.numel(), dtype=features.dtype, device=device)
        for start in range(0, users.numel(), chunk_size):
            stop = start + chunk_size
            chunk_users, chunk_items = users[start:stop], items[start:stop]
            pair_dots = (item_cluster_dots[chunk_items] * cluster_weights[chunk_users]).sum(dim=1)
            scores[start:stop] = pair_dots * item_scale[chunk_items] * user_scale[chunk_users]
        attention = segment_softmax(scores, users, num_nodes=n_users)
        attended = torch.sparse_coo_tensor(
            torch.stack([users, items]), attention, (n_users, n_items), check_invariants=True
        )
        local = torch.sparse.mm(attended.coalesce().to_sparse_csr(), features)

    embeddings = local_weight * local + weight * global_
    return embeddings, has_interactions


def initialise_user_table(
    table: Tensor,
    modal_features: Sequence[Tensor],
    interactions: Tensor,
    report: list[dict[str, Any]] | None = None,
    **options: Any,
) -> Tensor:
    r"""SG-URInit rows for one user table: a new ``[n_users, d]`` tensor to copy into the embedding.

    For every modality :math:`m`, :func:`user_semantic_embeddings` gives :math:`e^m_u`; their mean
    :math:`\bar e_u = \frac{1}{M} \sum_m e^m_u` is rescaled to the mean row norm of ``table``,
    :math:`\rho = \frac{1}{n_{users}} \sum_u \lVert T_u \rVert`, i.e. :math:`\rho\, \bar e_u / \lVert
    \bar e_u \rVert`, so the optimiser starts in the regime of the random initialisation. Users without
    training interactions, and users whose :math:`\bar e_u` is exactly zero (nothing to point along),
    keep their row of ``table``.

    Args:
        table: ``[n_users, d]`` freshly (randomly) initialised user table; not modified.
        modal_features: one ``[n_items, d]`` tensor per modality, in the table's space.
        interactions: ``[n_users, n_items]`` sparse matrix of TRAINING interactions only.
        report: if given, one dict per modality is appended to it (see :func:`user_semantic_embeddings`).
        **options: keyword arguments of :func:`user_semantic_embeddings` (``n_clusters``, ``cluster_on``,
            ``fusion``, ``weight``, ``local_weight``, ``temperature``, ``user_repr``, ``generator``, ``chunk_size``). One
            generator (seed 0 when none is given) is shared by the modalities, in order.

    Returns:
        ``[n_users, d]`` tensor on ``table``'s device with ``table``'s dtype.
    """
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
    if options.get("generator") is None:
        options["generator"] = torch.Generator().manual_seed(0)

    table = table.detach()
    semantic = None
    has_interactions = None
    for features in modal_features:
        details: dict[str, Any] = {}
        embeddings, has_interactions = user_semantic_embeddings(
            interactions, features.detach().to(table.device), report=details, **options
        )
        if report is not None:
            report.append(details)
        semantic = embeddings if semantic is None else semantic + embeddings
    semantic = semantic / len(modal_features)

    target_norm = table.norm(dim=1).mean().to(semantic.dtype)
    norms = semantic.norm(dim=1)
    replace = has_interactions & (norms > 0)
    rescaled = semantic * (target_norm / norms.clamp_min(torch.finfo(norms.dtype).tiny))[:, None]
    return torch.where(replace[:, None], rescaled.to(table.dtype), table)


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
    values: two starts gave PCA features 40% apart on the synthetic data), so SG-URInit on CUDA did not
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
