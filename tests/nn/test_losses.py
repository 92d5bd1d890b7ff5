import pytest
import torch
import torch.nn.functional as F

from lit_mmrec.nn import losses
from lit_mmrec.nn.losses import bpr_loss, embedding_norm_loss, hypergraph_info_nce


def test_embedding_norm_loss_matches_autograd_of_vector_norms():
    xs = [torch.randn(5, 3, requires_grad=True), torch.zeros(4, 3, requires_grad=True), torch.randn(4, 2, requires_grad=True)]
    ys = [x.detach().clone().requires_grad_() for x in xs]
    value = embedding_norm_loss(*xs)
    reference = sum(torch.linalg.vector_norm(y) for y in ys) / 4  # MMRec's EmbLoss: / rows of the last
    assert torch.allclose(value, reference)
    (3 * value).backward()
    (3 * reference).backward()
    for x, y in zip(xs, ys, strict=True):
        assert torch.isfinite(x.grad).all()  # the zero tensor gets a zero gradient, not NaN
        assert torch.allclose(x.grad, torch.nan_to_num(y.grad))


def test_bpr_loss_is_mean_negative_log_sigmoid():
    pos, neg = torch.tensor([2.0, -1.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    expected = -torch.log(torch.sigmoid(pos - neg)).mean()
    assert torch.allclose(bpr_loss(pos, neg), expected)


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_info_nce_matches_original_formula(monkeypatch, chunk):
    monkeypatch.setattr(losses, "INFONCE_CHUNK_ELEMENTS", chunk)
    torch.manual_seed(0)
    assignment = torch.rand(30, 4, dtype=torch.float64, requires_grad=True)
    latent = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    anchors = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    index, weights = torch.tensor([0, 3, 7, 8, 29]), torch.tensor([1.0, 2.0, 1.0, 3.0, 1.0], dtype=torch.float64)
    got = hypergraph_info_nce(anchors, index, weights, assignment, latent, assignment @ latent, 0.2)
    got_grads = torch.autograd.grad(got, [assignment, latent, anchors])

    rows = torch.repeat_interleave(torch.arange(5), weights.long())  # the batch with its repeats
    embeddings = assignment @ latent
    n1, n2, na = F.normalize(anchors[rows]), F.normalize(embeddings[index[rows]]), F.normalize(embeddings)
    expected = -torch.log(torch.exp((n1 * n2).sum(1) / 0.2) / torch.exp(n1 @ na.T / 0.2).sum(1)).sum()
    expected_grads = torch.autograd.grad(expected, [assignment, latent, anchors])
    assert torch.allclose(got, expected)
    for a, b in zip(got_grads, expected_grads, strict=True):
        assert torch.allclose(a, b)
