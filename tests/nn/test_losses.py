import torch

from lit_mmrec.nn.losses import bpr_loss, embedding_norm_loss


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
