import math

import pytest
import torch
from sklearn.decomposition import PCA

from lit_mmrec.init.options import SGURInitOptions
from lit_mmrec.init.sgurinit import initialise_user_table, pca_reduce, user_semantic_embeddings

pytestmark = pytest.mark.usefixtures("single_thread")  # tiny matrices: threads only add synchronisation


# Hand-made example: five items in 2-d forming two obvious clusters, A = {0, 1} around (2, 0) and
# B = {2, 3, 4} around (0, 12); three users with training interactions and a fourth with none.
ITEMS = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 10.0], [0.0, 12.0], [0.0, 14.0]])
TRAINING = {0: [0, 2], 1: [1, 3, 4], 2: [0, 1], 3: []}

# local_u = mean of the user's item features
LOCAL = torch.tensor([[0.5, 5.0], [1.0, 26 / 3], [2.0, 0.0], [0.0, 0.0]])
# cluster_on="item": centroids c_A = (2, 0), c_B = (0, 12); global_u = mean of the centroids of u's items
# u0: (c_A + c_B) / 2, u1: (c_A + 2 c_B) / 3, u2: c_A
GLOBAL_ITEM = torch.tensor([[1.0, 6.0], [2 / 3, 8.0], [2.0, 0.0], [0.0, 0.0]])
# cluster_on="user" on normalised local vectors: u0 and u1 point up, u2 points right
# -> clusters {u0, u1} and {u2}; global_u = mean of local over u's cluster
GLOBAL_USER = torch.tensor([[0.75, 41 / 6], [0.75, 41 / 6], [2.0, 0.0], [0.0, 0.0]])
# <F_i, global_u> for the items of each user, in the order of TRAINING
DOTS_ITEM = {0: [1.0, 60.0], 1: [2.0, 96.0, 112.0], 2: [2.0, 6.0]}
DOTS_USER = {0: [0.75, 10 * 41 / 6], 1: [3 * 0.75, 12 * 41 / 6, 14 * 41 / 6], 2: [2.0, 6.0]}
TEMPERATURE = 0.25  # peaked enough that attention and plain means differ clearly


def _interactions(training: dict[int, list[int]], n_items: int = 5) -> torch.Tensor:
    pairs = [(user, item) for user, items in training.items() for item in items]
    indices = torch.tensor(pairs, dtype=torch.long).T.reshape(2, -1)
    return torch.sparse_coo_tensor(
        indices, torch.ones(indices.shape[1]), (len(training), n_items), check_invariants=True
    ).coalesce()


def _attended_local(dots: dict[int, list[float]], global_: torch.Tensor) -> torch.Tensor:
    """sum_i softmax_i(sqrt(d) cos(F_i, global_u) / tau) F_i, written out per user."""
    rows = []
    for user, items in TRAINING.items():
        if not items:
            rows.append(torch.zeros(2))
            continue
        cosines = torch.tensor(dots[user]) / (ITEMS[items].norm(dim=1) * global_[user].norm())
        weights = torch.softmax(cosines * math.sqrt(2) / TEMPERATURE, dim=0)
        rows.append((weights[:, None] * ITEMS[items]).sum(dim=0))
    return torch.stack(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])  # the clusters are obvious: no seed may find others
@pytest.mark.parametrize("weight", [1.0, 0.5])
@pytest.mark.parametrize("fusion", ["sum", "attention"])
@pytest.mark.parametrize("cluster_on", ["item", "user"])
def test_hand_computed_example(cluster_on, fusion, weight, seed):
    embeddings, has_interactions = user_semantic_embeddings(
        _interactions(TRAINING), ITEMS,
        SGURInitOptions(n_clusters=2, cluster_on=cluster_on, fusion=fusion, weight=weight, temperature=TEMPERATURE,
                        user_repr="local"),
        generator=torch.Generator().manual_seed(seed),
    )

    global_ = GLOBAL_ITEM if cluster_on == "item" else GLOBAL_USER
    dots = DOTS_ITEM if cluster_on == "item" else DOTS_USER
    local = LOCAL if fusion == "sum" else _attended_local(dots, global_)
    torch.testing.assert_close(embeddings, local + weight * global_)
    assert has_interactions.tolist() == [True, True, True, False]


def test_behaviour_clusters_users_with_similar_items():
    # Two disjoint groups of users over two disjoint groups of items.
    training = {0: [0, 1, 2], 1: [0, 1, 2], 2: [0, 1], 3: [3, 4], 4: [3, 4, 5]}
    features = torch.tensor([[1.0, 2.0], [0.0, 1.0], [4.0, 0.0], [-1.0, 3.0], [2.0, 2.0], [5.0, -1.0]])
    local = torch.stack([features[items].mean(dim=0) for items in training.values()])
    group_mean = torch.stack([local[:3].mean(dim=0)] * 3 + [local[3:].mean(dim=0)] * 2)

    embeddings, _ = user_semantic_embeddings(
        _interactions(training, n_items=6), features,
        SGURInitOptions(n_clusters=2, cluster_on="user", user_repr="behaviour"),
    )

    torch.testing.assert_close(embeddings, local + group_mean)


def test_every_row_its_own_cluster_when_n_clusters_exceeds_rows():
    interactions = _interactions(TRAINING)
    # More clusters than items (or active users) is clipped: every row is its own cluster, so the
    # cluster-level term equals the item feature (item) or the user's own local vector (user).
    by_item, _ = user_semantic_embeddings(
        interactions, ITEMS, SGURInitOptions(n_clusters=100, cluster_on="item"),
    )
    by_user, _ = user_semantic_embeddings(
        interactions, ITEMS, SGURInitOptions(n_clusters=100, cluster_on="user", user_repr="local"),
    )

    torch.testing.assert_close(by_item, 2 * LOCAL)
    torch.testing.assert_close(by_user, 2 * LOCAL)


def test_sparse_layouts_and_duplicates_agree():
    coo = _interactions(TRAINING)
    duplicated = torch.sparse_coo_tensor(
        torch.cat([coo.indices(), coo.indices()], dim=1),
        torch.ones(2 * coo._nnz()),
        coo.shape,
        check_invariants=True,
    )
    reference, _ = user_semantic_embeddings(coo, ITEMS, SGURInitOptions(n_clusters=2, fusion="attention"))
    for matrix in (coo.to_sparse_csr(), coo.to_dense(), duplicated):
        embeddings, _ = user_semantic_embeddings(
            matrix, ITEMS, SGURInitOptions(n_clusters=2, fusion="attention"),
        )
        torch.testing.assert_close(embeddings, reference)


@pytest.mark.parametrize("cluster_on", ["item", "user"])
def test_attention_chunking_does_not_change_the_result(cluster_on):
    interactions, features = _random_problem(n_users=60, n_items=40, dim=8)
    options = dict(n_clusters=4, cluster_on=cluster_on, fusion="attention")
    small, _ = user_semantic_embeddings(interactions, features, SGURInitOptions(**options), chunk_size=7)
    big, _ = user_semantic_embeddings(interactions, features, SGURInitOptions(**options), chunk_size=10_000)
    torch.testing.assert_close(small, big)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(cluster_on="items"), "cluster_on must be one of"),
        (dict(fusion="concat"), "fusion must be one of"),
        (dict(user_repr="graph"), "user_repr must be one of"),
        (dict(n_clusters=0), "n_clusters must be an integer >= 1"),
        (dict(temperature=0.0), "temperature must be > 0"),
    ],
)
def test_invalid_options_raise(options, message):
    with pytest.raises(ValueError, match=message):
        user_semantic_embeddings(_interactions(TRAINING), ITEMS, SGURInitOptions(**options))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="5 item columns but item_features has 4 rows"):
        user_semantic_embeddings(_interactions(TRAINING), ITEMS[:4])
    with pytest.raises(ValueError, match="must be \\[n_items, 3\\]"):
        initialise_user_table(torch.randn(4, 3), [ITEMS], _interactions(TRAINING))
    with pytest.raises(ValueError, match="n_users=5"):
        initialise_user_table(torch.randn(5, 2), [ITEMS], _interactions(TRAINING))
    with pytest.raises(ValueError, match="at least one"):
        initialise_user_table(torch.randn(4, 2), [], _interactions(TRAINING))


def _random_problem(n_users: int, n_items: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    dense = torch.rand(n_users, n_items, generator=generator) < 0.15
    dense[: n_users // 10] = False  # some users without training interactions
    features = torch.randn(n_items, dim, generator=generator)
    return dense.float().to_sparse_coo(), features


@pytest.mark.parametrize(
    "options",
    [
        dict(cluster_on="item", fusion="sum"),
        dict(cluster_on="item", fusion="attention"),
        dict(cluster_on="user", fusion="sum", user_repr="behaviour"),
        dict(cluster_on="user", fusion="attention", user_repr="local"),
    ],
)
def test_initialise_user_table_rows_and_norms(options):
    interactions, image = _random_problem(n_users=50, n_items=30, dim=6)
    text = torch.randn(30, 6, generator=torch.Generator().manual_seed(1))
    table = 0.1 * torch.randn(50, 6, generator=torch.Generator().manual_seed(2))
    original = table.clone()

    initialised = initialise_user_table(
        table, [image, text], interactions, SGURInitOptions(n_clusters=4, **options),
    )

    has_interactions = interactions.to_dense().sum(dim=1) > 0
    assert not has_interactions[:5].any() and has_interactions[5:].all()
    assert torch.equal(table, original)
    assert torch.equal(initialised[~has_interactions], table[~has_interactions])
    target = table.norm(dim=1).mean()
    torch.testing.assert_close(initialised[has_interactions].norm(dim=1), target.expand(45))
    # The same call again gives the same table, and so does an explicit generator with seed 0.
    again = initialise_user_table(
        table, [image, text], interactions, SGURInitOptions(n_clusters=4, **options),
    )
    seeded = initialise_user_table(
        table, [image, text], interactions, SGURInitOptions(n_clusters=4, **options),
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.equal(initialised, again) and torch.equal(initialised, seeded)


def test_initialise_user_table_averages_modalities():
    interactions = _interactions(TRAINING)
    table = torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    second = torch.tensor([[0.0, 1.0], [1.0, 1.0], [2.0, -1.0], [0.0, 0.0], [5.0, 0.0]])
    # Every item its own cluster: e_u = 2 local_u per modality, whatever the K-Means seeding.
    initialised = initialise_user_table(
        table, [ITEMS, second], interactions, SGURInitOptions(n_clusters=5, centre=False)
    )

    local_second = torch.stack([second[items].mean(dim=0) for items in list(TRAINING.values())[:3]])
    mean = (2 * LOCAL[:3] + 2 * local_second) / 2
    expected = mean / mean.norm(dim=1, keepdim=True) * table.norm(dim=1).mean()
    torch.testing.assert_close(initialised[:3], expected)
    torch.testing.assert_close(initialised[3], table[3])


def test_zero_semantic_vectors_keep_their_rows():
    table = torch.randn(4, 2, generator=torch.Generator().manual_seed(4))
    initialised = initialise_user_table(
        table, [torch.zeros(5, 2)], _interactions(TRAINING), SGURInitOptions(n_clusters=2),
    )
    assert torch.isfinite(initialised).all()
    assert torch.equal(initialised, table)


def test_initialise_user_table_keeps_device_and_dtype():
    table = torch.randn(4, 2, dtype=torch.float64)
    initialised = initialise_user_table(
        table, [ITEMS], _interactions(TRAINING), SGURInitOptions(n_clusters=2),
    )
    assert initialised.dtype == torch.float64 and initialised.device == table.device


def test_only_training_interactions_matter():
    # A split table (user, item, split) as the data module would hold it; only "train" rows become the
    # matrix. Changing validation / test rows, including adding items for cold users, changes nothing.
    generator = torch.Generator().manual_seed(5)
    n_users, n_items = 40, 25
    rows = [
        (u, i) for u in range(n_users) for i in range(n_items) if torch.rand(1, generator=generator) < 0.2
    ]
    splits = ["train" if torch.rand(1, generator=generator) < 0.7 else "valid" for _ in rows]
    splits = [s if torch.rand(1, generator=generator) < 0.5 or s == "train" else "test" for s in splits]
    features = torch.randn(n_items, 4, generator=generator)
    table = torch.randn(n_users, 4, generator=generator)

    def initialise(split_table: list[tuple[int, int, str]]) -> torch.Tensor:
        train = [(u, i) for u, i, split in split_table if split == "train"]
        indices = torch.tensor(train).T
        matrix = torch.sparse_coo_tensor(
            indices, torch.ones(len(train)), (n_users, n_items), check_invariants=True
        ).coalesce()
        return initialise_user_table(
            table, [features], matrix, SGURInitOptions(n_clusters=3, fusion="attention"),
        )

    split_table = [(u, i, s) for (u, i), s in zip(rows, splits, strict=True)]
    changed = [(u, (i + 7) % n_items if s != "train" else i, s) for u, i, s in split_table]
    changed += [(u, 0, "test") for u in range(n_users)]
    leaked = [(u, i, "train") for u, i, _ in split_table]

    assert torch.equal(initialise(split_table), initialise(changed))
    assert not torch.equal(initialise(split_table), initialise(leaked))


def test_pca_reduce_matches_sklearn_up_to_sign_and_is_deterministic():
    generator = torch.Generator().manual_seed(6)
    latent = torch.randn(200, 3, generator=generator) * torch.tensor([5.0, 3.0, 1.0])
    features = latent @ torch.randn(3, 12, generator=generator) + 0.01 * torch.randn(
        200, 12, generator=generator
    )
    state = torch.random.get_rng_state()

    reduced = pca_reduce(features, 3)

    assert torch.equal(torch.random.get_rng_state(), state)
    assert reduced.shape == (200, 3)
    assert torch.equal(reduced, pca_reduce(features, 3))
    assert torch.equal(reduced, pca_reduce(features, 3, generator=torch.Generator().manual_seed(0)))
    expected = torch.from_numpy(PCA(n_components=3).fit_transform(features.double().numpy())).float()
    torch.testing.assert_close(reduced.abs(), expected.abs(), rtol=1e-3, atol=1e-3)


def test_pca_reduce_pads_when_nothing_to_reduce():
    features = torch.tensor([[1.0, 2.0], [3.0, 6.0], [5.0, 1.0]])
    reduced = pca_reduce(features, 4)
    expected = torch.tensor([[-2.0, -1.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0], [2.0, -2.0, 0.0, 0.0]])
    torch.testing.assert_close(reduced, expected)
    # Fewer items than the requested width: the rank is at most n_items, the rest is zeros.
    assert pca_reduce(torch.randn(3, 10), 5)[:, 3:].abs().max() == 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(
    "options",
    [
        dict(cluster_on="item", fusion="sum"),
        dict(cluster_on="item", fusion="attention"),
        dict(cluster_on="user", fusion="attention", user_repr="local"),
    ],
)
def test_cuda_matches_cpu(options):
    interactions, features = _random_problem(n_users=300, n_items=120, dim=16)
    table = torch.randn(300, 16, generator=torch.Generator().manual_seed(7))

    on_cpu = initialise_user_table(
        table, [features], interactions, SGURInitOptions(n_clusters=5, **options),
    )
    on_cuda = initialise_user_table(
        table.cuda(), [features.cuda()], interactions.cuda(), SGURInitOptions(n_clusters=5, **options),
    )

    assert on_cuda.is_cuda
    torch.testing.assert_close(on_cuda.cpu(), on_cpu, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cluster_on", ["item", "user"])
def test_attention_does_not_depend_on_the_scale_of_the_feature_space(cluster_on):
    """Scaling the features scales e_u and nothing else: tau means the same in every space."""
    options = dict(n_clusters=2, cluster_on=cluster_on, fusion="attention", temperature=TEMPERATURE)
    small, _ = user_semantic_embeddings(
        _interactions(TRAINING), ITEMS / 100, SGURInitOptions(**options),
        generator=torch.Generator().manual_seed(0),
    )
    large, _ = user_semantic_embeddings(
        _interactions(TRAINING), ITEMS, SGURInitOptions(**options),
        generator=torch.Generator().manual_seed(0),
    )
    torch.testing.assert_close(small * 100, large)
    plain, _ = user_semantic_embeddings(
        _interactions(TRAINING), ITEMS, SGURInitOptions(n_clusters=2, cluster_on=cluster_on, fusion="sum"),
    )
    assert (plain - large)[:3].abs().max() > 0.1  # attention is not the plain mean here


@pytest.mark.parametrize("local_weight, weight", [(0.0, 1.0), (0.5, 2.0), (1.0, 0.0)])
@pytest.mark.parametrize("cluster_on", ["item", "user"])
def test_local_weight_scales_the_local_term(cluster_on, local_weight, weight):
    # local_weight 0: cluster-only ablation; weight 0: local-only ablation
    embeddings, _ = user_semantic_embeddings(
        _interactions(TRAINING), ITEMS,
        SGURInitOptions(n_clusters=2, cluster_on=cluster_on, weight=weight, local_weight=local_weight,
                        user_repr="local"),
        generator=torch.Generator().manual_seed(0),
    )
    global_ = GLOBAL_ITEM if cluster_on == "item" else GLOBAL_USER
    torch.testing.assert_close(embeddings, local_weight * LOCAL + weight * global_)
