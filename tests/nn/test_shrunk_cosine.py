import pytest
import torch

from lit_mmrec.nn import shrunk_cosine
from lit_mmrec.nn.shrunk_cosine import shrunk_cosine_graph, shrunk_cosine_neighbours

pytestmark = pytest.mark.usefixtures("isolated_cache")


def dense_shrunk_knn(features, k, shrink):
    """MMRec's ``build_item_sim_matrix``: dense shrunk cosine, top-k per row scattered into zeros."""
    norms = features.norm(dim=1, keepdim=True)
    sim = (features @ features.T) / (norms * norms.T + shrink)
    values, index = sim.topk(k, dim=1)
    return torch.zeros_like(sim).scatter_(1, index, values)


@pytest.mark.parametrize("chunk_elements", [1 << 24, 7])  # one chunk; many chunks of one row
@pytest.mark.parametrize("shrink", [0.0, 10.0])
def test_graph_matches_dense_reference(monkeypatch, chunk_elements, shrink):
    monkeypatch.setattr(shrunk_cosine, "_SIMILARITY_CHUNK_ELEMENTS", chunk_elements)
    torch.manual_seed(0)
    features = torch.randn(25, 6) * torch.rand(25, 1) * 5  # spread norms: the shrink term matters
    graph = shrunk_cosine_graph(features, 4, shrink)
    assert graph.layout == torch.sparse_csr and graph.shape == (25, 25)
    assert torch.allclose(graph.to_dense(), dense_shrunk_knn(features, 4, shrink), atol=1e-6)
    assert (graph.crow_indices().diff() == 4).all()


def test_shrink_lowers_similarity_of_small_norm_items_and_zero_rows_give_zero():
    features = torch.tensor([[1.0, 0.0], [2.0, 0.0], [20.0, 0.0], [0.0, 0.0]])
    neighbours, similarity = shrunk_cosine_neighbours(features, 4, 1.0)
    # s_01 = 2 / (2 + 1), s_02 = 20 / (20 + 1): the longer neighbour ranks first
    assert neighbours[0, :2].tolist() == [2, 1]
    assert torch.allclose(similarity[0, :2], torch.tensor([20 / 21, 2 / 3]))
    neighbours, similarity = shrunk_cosine_neighbours(features, 2, 0.0)
    assert torch.isfinite(similarity).all() and (similarity[3] == 0).all()


def test_k_above_the_items_is_clipped_and_bad_arguments_are_refused():
    neighbours, _ = shrunk_cosine_neighbours(torch.randn(3, 2), 10, 1.0)
    assert neighbours.shape == (3, 3)
    with pytest.raises(ValueError, match="shrink"):
        shrunk_cosine_neighbours(torch.randn(3, 2), 2, float("nan"))
    with pytest.raises(ValueError, match="k must be positive"):
        shrunk_cosine_neighbours(torch.randn(3, 2), 0, 1.0)


def test_cache_key_holds_k_and_shrink():
    features = torch.randn(12, 3)
    first = shrunk_cosine_graph(features, 3, 1.0).to_dense()
    assert not torch.equal(shrunk_cosine_graph(features, 3, 5.0).to_dense(), first)
    assert not torch.equal(shrunk_cosine_graph(features, 4, 1.0).to_dense(), first)
    assert torch.equal(shrunk_cosine_graph(features, 3, 1.0).to_dense(), first)
