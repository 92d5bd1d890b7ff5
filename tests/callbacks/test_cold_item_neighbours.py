"""Cold items represented by their warm feature-space neighbours: neighbours and weights by hand, and the
ColdItems callback replacing exactly those rows at evaluation time (never in training)."""

import math

import lightning as L
import pytest
import torch

from lit_mmrec.callbacks.cold_item_neighbours import cold_item_neighbours
from lit_mmrec.callbacks.cold_items import ColdItems
from lit_mmrec.data.datamodule import MMRecDataModule
from lit_mmrec.models.lightgcn import LightGCN

# Item 3 is cold (no training interaction); items 0, 1, 2, 4 are warm; item 4 has no features (zero row).
IMAGE = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.1], [0.0, 0.0]])
TEXT = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
COUNTS = torch.tensor([2, 1, 1, 0, 3])


def test_neighbours_and_weights_by_hand():
    # image cosines of item 3 with items 0, 1, 2, 4: 1/sqrt(1.01), 0.1/sqrt(1.01), 1.1/sqrt(2.02), 0
    image = [1 / math.sqrt(1.01), 0.1 / math.sqrt(1.01), 1.1 / math.sqrt(2.02), 0.0]
    only_image = cold_item_neighbours([IMAGE], COUNTS, k=2)
    assert only_image.cold.tolist() == [3] and only_image.neighbours.tolist() == [[0, 2]]
    torch.testing.assert_close(only_image.weights, torch.tensor([[0.5, 0.5]]))
    weighted = cold_item_neighbours([IMAGE], COUNTS, k=2, weighting="similarity")
    total = image[0] + image[2]
    torch.testing.assert_close(weighted.weights, torch.tensor([[image[0] / total, image[2] / total]]))
    # text cosines with items 0, 1, 2, 4: 1, 1, 0, 0; mean with image: item 0 first, then item 1
    both = cold_item_neighbours([IMAGE, TEXT], COUNTS, k=2, weighting="similarity")
    mean = [(image[0] + 1) / 2, (image[1] + 1) / 2]
    assert both.neighbours.tolist() == [[0, 1]]
    torch.testing.assert_close(both.weights, torch.tensor([[mean[0] / sum(mean), mean[1] / sum(mean)]]))


def test_apply_replaces_only_cold_rows():
    neighbours = cold_item_neighbours([IMAGE], COUNTS, k=2)
    item_repr = torch.arange(15, dtype=torch.float32).reshape(5, 3)
    filled = neighbours.apply(item_repr)
    torch.testing.assert_close(filled[3], (item_repr[0] + item_repr[2]) / 2)
    keep = [0, 1, 2, 4]
    assert torch.equal(filled[keep], item_repr[keep]) and not torch.equal(filled, item_repr)
    # items with at most one training interaction: 1 and 2 join item 3 (neighbours among 0 and 4)
    wider = cold_item_neighbours([IMAGE], COUNTS, k=1, max_interactions=1)
    assert wider.cold.tolist() == [1, 2, 3] and wider.neighbours.squeeze(1).tolist() == [0, 0, 0]


def test_no_cold_item_changes_nothing_and_bad_options_fail():
    none_cold = cold_item_neighbours([IMAGE], torch.ones(5, dtype=torch.long), k=2)
    item_repr = torch.randn(5, 3)
    assert none_cold.apply(item_repr) is item_repr
    with pytest.raises(ValueError, match="k must be"):
        cold_item_neighbours([IMAGE], COUNTS, k=0)
    with pytest.raises(ValueError, match="weighting"):
        cold_item_neighbours([IMAGE], COUNTS, weighting="max")
    with pytest.raises(ValueError, match="n_items=5"):
        cold_item_neighbours([IMAGE[:4]], COUNTS)


def test_callback_fills_cold_items_at_evaluation_only(tiny_dataset, tmp_path):
    datamodule = MMRecDataModule(str(tiny_dataset), batch_size=8)
    data = datamodule.dataset
    torch.manual_seed(0)
    model = LightGCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8)
    callback = ColdItems(k=2, keep_norm=False, own=False)  # the plain neighbour mean, checked by hand below
    trainer = L.Trainer(max_epochs=1, callbacks=[callback], logger=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=tmp_path,
                        use_distributed_sampler=False, enable_checkpointing=False)
    trainer.fit(model, datamodule=datamodule)
    counts = torch.bincount(data.split("train").items.long(), minlength=data.num_items)
    cold = (counts == 0).nonzero().squeeze(1)
    assert cold.numel() > 0 and callback.neighbours.cold.tolist() == cold.tolist()
    with torch.no_grad():
        _, plain = model.representations()
        _, ranked = model.evaluation_representations()
    expected = plain[callback.neighbours.neighbours].mean(dim=1)
    torch.testing.assert_close(ranked[cold], expected)
    warm = counts > 0
    assert torch.equal(ranked[warm], plain[warm])
    model.item_repr_override = None
    assert torch.equal(model.evaluation_representations()[1], plain)


def test_keep_norm_rescales_to_the_neighbours_mean_norm():
    neighbours = cold_item_neighbours([IMAGE], COUNTS, k=2, keep_norm=True)  # item 3 -> items 0 and 2
    item_repr = torch.tensor([[3.0, 0.0], [9.0, 9.0], [0.0, 1.0], [5.0, 5.0], [1.0, 1.0]])
    # mean (1.5, 0.5) rescaled to the mean of the norms 3 and 1
    mean = torch.tensor([1.5, 0.5])
    torch.testing.assert_close(neighbours.apply(item_repr)[3], mean / mean.norm() * 2.0)


def test_own_adds_the_items_deviation_from_the_mean_cold_item():
    # items 1, 2, 3 are cold (at most one training interaction); their only warm neighbour candidates: 0 and 4
    item_repr = torch.tensor([[3.0, 0.0], [1.0, 2.0], [3.0, 4.0], [5.0, 0.0], [1.0, 1.0]])
    neighbours = cold_item_neighbours([IMAGE], COUNTS, k=1, max_interactions=1, own=True)
    assert neighbours.neighbours.squeeze(1).tolist() == [0, 0, 0]
    cold_mean = torch.tensor([3.0, 2.0])
    filled = neighbours.apply(item_repr)
    torch.testing.assert_close(filled[[1, 2, 3]], item_repr[0] + item_repr[[1, 2, 3]] - cold_mean)
    # the cold items' order among themselves is the learned one: score differences are unchanged for any user
    user = torch.tensor([0.3, -1.2])
    torch.testing.assert_close(filled[[1, 2, 3]] @ user - filled[1] @ user, item_repr[[1, 2, 3]] @ user - item_repr[1] @ user)
    # k at least the number of warm items: a plain shift by (warm mean - cold mean)
    shift = cold_item_neighbours([IMAGE], COUNTS, k=100, max_interactions=1, own=True).apply(item_repr)
    warm_mean = item_repr[[0, 4]].mean(dim=0)
    torch.testing.assert_close(shift[[1, 2, 3]], item_repr[[1, 2, 3]] + warm_mean - cold_mean)
    assert torch.equal(shift[[0, 4]], item_repr[[0, 4]])



def test_callback_defaults_are_the_setting_chosen_on_validation():
    callback = ColdItems()
    assert (callback.k, callback.keep_norm, callback.own, callback.weighting, callback.max_interactions) == (
        20, True, True, "mean", 0)
