"""LightGCN on the tiny data set (the propagation itself: tests/nn/test_light_conv.py)."""

import torch

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.lightgcn import LightGCN


def test_lightgcn_loss_and_scores(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = LightGCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8)
    model.attach(data)
    users, items = model.forward()
    assert users.shape == (6, 8) and items.shape == (10, 8)
    terms = model.loss(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5]))
    assert set(terms) == {"bpr", "reg"} and all(torch.isfinite(v) for v in terms.values())
    # EmbLoss: unsquared norms of the ego rows, divided by the batch size
    expected_reg = (
        model.user_embedding[[0, 1]].norm() + model.item_embedding[[2, 3]].norm() + model.item_embedding[[4, 5]].norm()
    ) / 2
    assert torch.allclose(terms["reg"], 1e-4 * expected_reg)
