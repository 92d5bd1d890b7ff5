"""BPR-MF: scores are the dot products of the two tables; the loss is MMRec's BPR plus EmbLoss."""

import pytest
import torch

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.bpr import BPR


def test_scores_and_loss_match_dense_reference(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    torch.manual_seed(0)
    model = BPR(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims,
                embedding_dim=8, reg_weight=0.5)
    model.attach(data)
    model.eval()
    users = torch.arange(data.num_users)
    scores, items = model.rank(users, data.num_items, exclude=model.exclusion([]))
    dense = model.user_embedding.detach() @ model.item_embedding.detach().T
    # every item ranked, best first, by its dense dot product
    assert torch.allclose(scores, dense.gather(1, items), atol=1e-6)
    assert torch.allclose(scores, dense.sort(1, descending=True).values, atol=1e-6)

    u, p, n = torch.tensor([0, 1, 1, 5]), torch.tensor([2, 3, 3, 9]), torch.tensor([4, 5, 6, 0])
    with torch.no_grad():
        terms = model.loss(u, p, n)
        pu, qp, qn = model.user_embedding[u], model.item_embedding[p], model.item_embedding[n]
        # MMRec's BPRLoss and EmbLoss, written out
        mf = -torch.log(1e-10 + torch.sigmoid((pu * qp).sum(1) - (pu * qn).sum(1))).mean()
        reg = (pu.norm() + qp.norm() + qn.norm()) / u.numel()
    assert set(terms) == {"bpr", "reg"}
    assert torch.allclose(terms["bpr"], mf, atol=1e-6)
    assert torch.allclose(terms["reg"], 0.5 * reg, atol=1e-7)


def test_xavier_normal_tables_and_sgurinit_target():
    torch.manual_seed(0)
    model = BPR(num_users=3000, num_items=1000, embedding_dim=64)
    # xavier-normal of a [n, 64] table: std sqrt(2 / (n + 64))
    assert model.user_embedding.std().item() == pytest.approx((2 / 3064) ** 0.5, rel=0.02)
    assert model.item_embedding.std().item() == pytest.approx((2 / 1064) ** 0.5, rel=0.02)
    (target,) = model.user_init_targets()
    assert target.table is model.user_embedding and target.item_space == "none"
