"""SG-URInit's recipe options, each against a value computed by hand on the example of
``test_sgurinit.py``: five 2-d items in two obvious clusters, users 0-2 with training items, user 3 without."""

import dataclasses
import math

import pytest
import torch
from init.test_sgurinit import GLOBAL_ITEM, ITEMS, LOCAL, TRAINING, _interactions

from lit_mmrec.init.options import SGURInitOptions
from lit_mmrec.init.sgurinit import (
    aligned_item_table,
    clustering_space,
    initialise_user_table,
    user_semantic_embeddings,
)

SQ2, SQ3, SQ6 = math.sqrt(2), math.sqrt(3), math.sqrt(6)


def embeddings(**options):
    result, _ = user_semantic_embeddings(
        _interactions(TRAINING), ITEMS, SGURInitOptions(n_clusters=2, **options),
    )
    return result


@pytest.mark.parametrize("weight", [0.0, 0.25, 1.0])
def test_convex_blend(weight):
    expected = (1 - weight) * LOCAL + weight * GLOBAL_ITEM
    torch.testing.assert_close(embeddings(blend="convex", weight=weight), expected)


def test_symmetric_local_term():
    # item degrees: items 0 and 1 have two users each, items 2, 3, 4 one; user degrees 2, 3, 2.
    # local_u = sum_i F_i / sqrt(|N_u| |N_i|)
    expected = torch.tensor([
        [1 / 2, 10 / SQ2],                 # F0 / sqrt(2*2) + F2 / sqrt(2*1)
        [3 / SQ6, (12 + 14) / SQ3],        # F1 / sqrt(3*2) + F3 / sqrt(3) + F4 / sqrt(3)
        [1 / 2 + 3 / 2, 0.0],              # F0 / 2 + F1 / 2
        [0.0, 0.0],
    ])
    torch.testing.assert_close(embeddings(local_norm="symmetric", weight=0.0), expected)
    # the global term keeps its mean over the user's items: symmetric local + 1 x the same GLOBAL_ITEM
    torch.testing.assert_close(embeddings(local_norm="symmetric"), expected + GLOBAL_ITEM)


def test_cosine_kmeans_clusters_directions_not_distances():
    # Two directions at two radii. Euclidean K = 2 separates the far points from the near ones
    # ({(10, 0)} or {(0, 10)} alone); cosine K-Means groups by direction.
    items = torch.tensor([[1.0, 0.0], [10.0, 0.0], [0.0, 1.0], [0.0, 10.0]])
    training = {0: [0], 1: [2], 2: [1, 3]}
    interactions = _interactions(training, n_items=4)
    for seed in range(3):
        generator = torch.Generator().manual_seed(seed)
        cluster_only, _ = user_semantic_embeddings(
            interactions, items, SGURInitOptions(n_clusters=2, local_weight=0.0, metric="cosine"),
            generator=generator,
        )
        # cluster-level vectors are the members' mean features in the table's space: (5.5, 0) and (0, 5.5)
        expected = torch.tensor([[5.5, 0.0], [0.0, 5.5], [2.75, 2.75]])
        torch.testing.assert_close(cluster_only, expected)
    euclidean, _ = user_semantic_embeddings(
        interactions, items, SGURInitOptions(n_clusters=2, local_weight=0.0),
    )
    assert not torch.allclose(euclidean, expected)


def test_standardise_and_whiten_by_hand():
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [2.0, 4.0]])  # column stds 1 and 2
    square = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])
    torch.testing.assert_close(clustering_space(x, "standardise"), square)
    # uncorrelated columns: whitening equals standardising up to the columns' order and signs, so the
    # pairwise distances (all K-Means sees) are the same
    torch.testing.assert_close(torch.cdist(clustering_space(x, "whiten"), clustering_space(x, "whiten")),
                               torch.cdist(square, square))
    torch.testing.assert_close(clustering_space(x, "none", "cosine").norm(dim=1)[1:], torch.ones(3))
    # correlated columns: whitened covariance is the identity
    skewed = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.5], [3.0, 2.0], [4.0, 5.0]])
    white = clustering_space(skewed, "whiten")
    torch.testing.assert_close(white.T @ white / 5, torch.eye(2), atol=1e-5, rtol=0)
    # a constant column is 0 after standardising, not NaN
    assert torch.equal(clustering_space(torch.tensor([[1.0, 3.0], [2.0, 3.0]]), "standardise")[:, 1], torch.zeros(2))


def test_standardising_lets_a_small_scale_column_decide_the_clusters():
    # Column 0: evenly spread, large scale, no groups; columns 1 and 2: two clear groups at a small scale.
    # Raw euclidean K-Means cuts column 0 in halves; after standardising, the two groups are found.
    spread = torch.arange(12, dtype=torch.float32) * 10
    group = torch.tensor([0.0, 1.0] * 6)
    items = torch.stack([spread, group, group], dim=1)
    interactions = _interactions({0: [0], 1: [1]}, n_items=12)
    for seed in range(3):
        generator = torch.Generator().manual_seed(seed)
        cluster_only, _ = user_semantic_embeddings(
            interactions, items, SGURInitOptions(n_clusters=2, local_weight=0.0, preprocess="standardise"),
            generator=generator,
        )
        # user 0's item is in the even group (mean of 0, 20, ..., 100 = 50), user 1's in the odd one (60)
        torch.testing.assert_close(cluster_only, torch.tensor([[50.0, 0.0, 0.0], [60.0, 1.0, 1.0]]))
    raw, _ = user_semantic_embeddings(interactions, items, SGURInitOptions(n_clusters=2, local_weight=0.0))
    torch.testing.assert_close(raw[0], raw[1])  # items 0 and 1 fall in the same half of column 0


def test_centre_removes_the_shared_component_then_rescales():
    table = torch.randn(4, 2, generator=torch.Generator().manual_seed(7))
    initialised = initialise_user_table(
        table, [ITEMS], _interactions(TRAINING), SGURInitOptions(n_clusters=2, weight=0.0, centre=True),
    )
    shared = torch.tensor([7 / 6, 41 / 9])  # mean of LOCAL over users 0-2
    centred = LOCAL[:3] - shared
    expected = centred / centred.norm(dim=1, keepdim=True) * table.norm(dim=1).mean()
    torch.testing.assert_close(initialised[:3], expected)
    torch.testing.assert_close(initialised[3], table[3])
    uncentred = initialise_user_table(
        table, [ITEMS], _interactions(TRAINING), SGURInitOptions(n_clusters=2, weight=0.0, centre=False),
    )
    direction = LOCAL[:3] / LOCAL[:3].norm(dim=1, keepdim=True)
    torch.testing.assert_close(uncentred[:3], direction * table.norm(dim=1).mean())


def test_scale_to_the_items_and_residual_start():
    table = torch.randn(4, 2, generator=torch.Generator().manual_seed(8))
    interactions = _interactions(TRAINING)
    direction = LOCAL[:3] / LOCAL[:3].norm(dim=1, keepdim=True)
    # item norms 1, 3, 10, 12, 14: mean 8
    items_scaled = initialise_user_table(
        table, [ITEMS], interactions, SGURInitOptions(n_clusters=2, weight=0.0, centre=False, scale="items"),
        item_reference=ITEMS,
    )
    torch.testing.assert_close(items_scaled[:3], 8 * direction)
    residual = initialise_user_table(
        table, [ITEMS], interactions, SGURInitOptions(n_clusters=2, weight=0.0, centre=False, residual=0.5),
    )
    torch.testing.assert_close(residual[:3], table[:3] + 0.5 * table.norm(dim=1).mean() * direction)
    torch.testing.assert_close(residual[3], table[3])
    # residual_rescale: the same rows brought back to the semantic rows' norm (the table's mean row norm)
    kept = initialise_user_table(
        table, [ITEMS], interactions,
        SGURInitOptions(n_clusters=2, weight=0.0, centre=False, residual=0.5, residual_rescale=True),
    )
    norm = table.norm(dim=1).mean()
    torch.testing.assert_close(kept[:3], residual[:3] / residual[:3].norm(dim=1, keepdim=True) * norm)
    torch.testing.assert_close(kept[:3].norm(dim=1), norm.expand(3))
    torch.testing.assert_close(kept[3], table[3])
    with pytest.raises(ValueError, match="item_reference"):
        initialise_user_table(table, [ITEMS], interactions, SGURInitOptions(scale="items"))


def test_aligned_item_table():
    item_table = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # mean row norm 1.5
    image = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    text = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    aligned = aligned_item_table(item_table, [image, text])
    torch.testing.assert_close(aligned, torch.tensor([[0.9, 1.2], [0.0, 2.0]]))  # zero features: row kept


def test_defaults_are_the_product_recipe():
    # item-sum with the tables that meet item features centred; tests/init/reference_tables.npz pins the tables
    default = SGURInitOptions()
    assert default.changed() == {}
    assert (default.cluster_on, default.fusion, default.centre, default.centre_tables) == ("item", "sum", True,
                                                                                           "features")
    default = embeddings()
    explicit = embeddings(blend="add", local_norm="mean", preprocess="none", metric="euclidean", weight=1.0,
                          local_weight=1.0)
    torch.testing.assert_close(default, LOCAL + GLOBAL_ITEM)
    assert torch.equal(default, explicit)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(blend="convex", weight=1.5), "0 <= weight <= 1"),
        (dict(blend="convex", local_weight=0.5), "leave local_weight at 1"),
        (dict(fusion="attention", local_norm="symmetric"), "local_norm must be 'mean'"),
        (dict(preprocess="pca"), "preprocess must be one of"),
        (dict(metric="manhattan"), "metric must be one of"),
        (dict(scale="unit"), "scale must be one of"),
        (dict(residual=0.0), "residual must be None"),
        (dict(residual_rescale=True), "set residual"),
        (dict(weight=0.0, local_weight=0.0), "both 0"),
        (dict(n_clusters=2.5), "n_clusters must be an integer >= 1"),
    ],
)
def test_invalid_recipes_are_rejected_in_one_place(options, message):
    with pytest.raises(ValueError, match=message):
        SGURInitOptions(**options)


def test_zca_whitening_by_hand():
    from lit_mmrec.init.sgurinit import zca_whiten

    # covariance [[2.5, -1.5], [-1.5, 2.5]]: eigenvalues 1 along (1, 1) and 4 along (1, -1), so
    # C^-1/2 = [[.75, .25], [.25, .75]] and each row x becomes x C^-1/2 (the same basis, unlike PCA whitening)
    x = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [2.0, -2.0], [-2.0, 2.0]])
    torch.testing.assert_close(zca_whiten(x), torch.tensor([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]]))
    # uncorrelated columns: ZCA is standardising
    square = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [2.0, 4.0]])
    torch.testing.assert_close(zca_whiten(square), torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]]))


def test_decorrelate_whitens_the_users_then_rescales():
    from lit_mmrec.init.sgurinit import zca_whiten

    table = torch.randn(4, 2, generator=torch.Generator().manual_seed(9))
    initialised = initialise_user_table(
        table, [ITEMS], _interactions(TRAINING), SGURInitOptions(n_clusters=2, weight=0.0, decorrelate=True),
    )
    white = zca_whiten(LOCAL[:3])  # three users in 2-d: rank 2, both directions kept
    expected = white / white.norm(dim=1, keepdim=True) * table.norm(dim=1).mean()
    torch.testing.assert_close(initialised[:3], expected)
    torch.testing.assert_close(initialised[3], table[3])
    centred_only = initialise_user_table(
        table, [ITEMS], _interactions(TRAINING), SGURInitOptions(n_clusters=2, weight=0.0, centre=True),
    )
    assert not torch.allclose(initialised, centred_only)


@pytest.mark.parametrize(
    "centre_tables,id_centred,features_centred", [("all", True, True), ("id", True, False), ("features", False, True)]
)
def test_centre_tables_chooses_the_tables_centre_applies_to(centre_tables, id_centred, features_centred):
    for decorrelate in (False, True):
        recipe = SGURInitOptions(centre=not decorrelate, decorrelate=decorrelate, centre_tables=centre_tables)
        id_options, feature_options = recipe.for_table(id_table=True), recipe.for_table(id_table=False)
        assert (id_options.centre or id_options.decorrelate) is id_centred
        assert (feature_options.centre or feature_options.decorrelate) is features_centred
        # everything else is the recipe's
        for options in (id_options, feature_options):
            assert dataclasses.replace(options, centre=recipe.centre, decorrelate=recipe.decorrelate) == recipe
    with pytest.raises(ValueError, match="centre_tables must be one of"):
        SGURInitOptions(centre=True, centre_tables="ids")
    # without centre or decorrelate it chooses nothing: every table keeps the uncentred rows
    plain = SGURInitOptions(centre=False, centre_tables=centre_tables)
    assert not any(plain.for_table(id_table=t).centre for t in (True, False))
