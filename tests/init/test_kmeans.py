import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from lit_mmrec.init.kmeans import _update, kmeans


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_recovers_well_separated_blobs_like_sklearn():
    points, truth = make_blobs(n_samples=2000, centers=5, n_features=8, cluster_std=0.5, random_state=0)
    result = kmeans(torch.tensor(points, dtype=torch.float32), 5, generator=_seeded(0))
    reference = KMeans(n_clusters=5, n_init=1, random_state=0).fit(points)

    assert adjusted_rand_score(truth, result.labels.numpy()) > 0.99
    assert adjusted_rand_score(reference.labels_, result.labels.numpy()) > 0.99
    assert result.inertia == pytest.approx(reference.inertia_, rel=1e-3)


def test_inertia_on_overlapping_blobs_within_one_percent_of_sklearn():
    # 20 heavily overlapping blobs: a single run of either implementation lands in a local minimum that
    # depends on its seeding, so both get the same number of restarts (5) and we compare the best.
    points, _ = make_blobs(
        n_samples=5000, centers=20, n_features=16, cluster_std=8.0, center_box=(-10.0, 10.0), random_state=0
    )
    data = torch.tensor(points, dtype=torch.float32)
    ours = min(kmeans(data, 20, generator=_seeded(seed)).inertia for seed in range(5))
    reference = KMeans(n_clusters=20, n_init=5, random_state=0).fit(points).inertia_

    assert ours <= 1.01 * reference


def test_large_common_offset_does_not_cost_precision():
    # Non-negative CNN features sit far from the origin; float32 distance expansions need centring.
    points, truth = make_blobs(n_samples=3000, centers=6, n_features=32, random_state=1)
    points = points + 1000.0
    result = kmeans(torch.tensor(points, dtype=torch.float32), 6, generator=_seeded(0))
    reference = KMeans(n_clusters=6, n_init=1, random_state=0).fit(points)

    assert adjusted_rand_score(truth, result.labels.numpy()) > 0.99
    assert result.inertia == pytest.approx(reference.inertia_, rel=1e-3)
    assert result.centroids.mean().item() == pytest.approx(points.mean(), rel=1e-4)


def test_result_is_consistent():
    data = torch.randn(500, 6, generator=_seeded(1))
    result = kmeans(data, 7, generator=_seeded(0))

    assert result.centroids.shape == (7, 6)
    assert result.labels.shape == (500,) and result.labels.dtype == torch.long
    nearest = torch.cdist(data, result.centroids).argmin(dim=1)
    assert torch.equal(result.labels, nearest)
    # Each centroid is the mean of its points (the last step was an update followed by an assignment).
    for cluster in range(7):
        members = data[result.labels == cluster]
        torch.testing.assert_close(result.centroids[cluster], members.mean(dim=0), rtol=1e-4, atol=1e-4)
    inertia = ((data - result.centroids[result.labels]) ** 2).sum().item()
    assert result.inertia == pytest.approx(inertia, rel=1e-4)
    assert 1 <= result.n_iter <= 100


def test_chunk_size_does_not_change_the_result():
    points, _ = make_blobs(n_samples=3000, centers=8, n_features=5, random_state=3)
    data = torch.tensor(points, dtype=torch.float32)
    small = kmeans(data, 8, generator=_seeded(0), chunk_size=97)
    big = kmeans(data, 8, generator=_seeded(0), chunk_size=100_000)

    assert torch.equal(small.labels, big.labels)
    torch.testing.assert_close(small.centroids, big.centroids)
    assert small.n_iter == big.n_iter


def test_deterministic_given_the_generator():
    data = torch.randn(1000, 4, generator=_seeded(2))
    first = kmeans(data, 10, generator=_seeded(5))
    second = kmeans(data, 10, generator=_seeded(5))
    default = kmeans(data, 10)
    seed_zero = kmeans(data, 10, generator=_seeded(0))

    assert torch.equal(first.centroids, second.centroids) and torch.equal(first.labels, second.labels)
    assert torch.equal(default.centroids, seed_zero.centroids)


def test_duplicate_points_give_empty_clusters_that_are_repaired():
    # Two distinct points, three clusters: k-means++ must reuse a location, so a cluster goes empty.
    data = torch.tensor([[0.0, 0.0]] * 10 + [[5.0, 5.0]] * 3)
    result = kmeans(data, 3, generator=_seeded(0))

    assert torch.isfinite(result.centroids).all()
    assert result.inertia == pytest.approx(0.0, abs=1e-4)
    assert result.labels[0] != result.labels[-1]


def test_empty_cluster_takes_the_farthest_point():
    data = torch.tensor([[0.0], [1.0], [10.0]])
    centroids = torch.tensor([[0.0], [5.0], [100.0]])
    labels = torch.tensor([0, 0, 1])  # nobody is nearest to 100: cluster 2 is empty
    distance_to_own = torch.tensor([0.0, 1.0, 25.0])

    updated = _update(data, labels, distance_to_own, centroids, chunk_size=2)

    # Point 10 (farthest from its centroid) becomes cluster 2; cluster 1, emptied, keeps its centre.
    torch.testing.assert_close(updated, torch.tensor([[0.5], [5.0], [10.0]]))


def test_as_many_clusters_as_points():
    data = torch.randn(12, 3, generator=_seeded(4))
    result = kmeans(data, 12)

    assert sorted(result.labels.tolist()) == list(range(12))
    assert result.inertia == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("n_clusters", [0, 11])
def test_invalid_number_of_clusters_raises(n_clusters):
    with pytest.raises(ValueError, match="n_clusters must be between 1 and the number of rows"):
        kmeans(torch.randn(10, 2), n_clusters)


def test_invalid_input_raises():
    with pytest.raises(ValueError, match="2-D"):
        kmeans(torch.randn(10), 2)
    with pytest.raises(ValueError, match="NaN or infinite"):
        kmeans(torch.tensor([[0.0], [float("nan")]]), 1)


def test_non_float_input_is_computed_in_float32():
    result = kmeans(torch.tensor([[0], [1], [10], [11]]), 2)
    assert result.centroids.dtype == torch.float32
    assert sorted(result.centroids.squeeze(1).tolist()) == [0.5, 10.5]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    points, _ = make_blobs(n_samples=4000, centers=10, n_features=12, random_state=7)
    data = torch.tensor(points, dtype=torch.float32)
    on_cpu = kmeans(data, 10, generator=_seeded(0))
    on_cuda = kmeans(data.cuda(), 10, generator=_seeded(0))

    assert on_cuda.centroids.is_cuda
    assert torch.equal(on_cpu.labels, on_cuda.labels.cpu())
    torch.testing.assert_close(on_cpu.centroids, on_cuda.centroids.cpu(), rtol=1e-4, atol=1e-4)
    assert on_cpu.inertia == pytest.approx(on_cuda.inertia, rel=1e-4)
