import lightning as L
import pytest
import torch

from lit_mmrec.callbacks import SGURInit
from lit_mmrec.data.datamodule import SyntheticDataModule
from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.data.synthetic import SyntheticSpec
from lit_mmrec.errors import InputError
from lit_mmrec.models.itemknncbf import ItemKNNCBF

pytestmark = pytest.mark.usefixtures("isolated_cache", "single_thread")


def dense_scores(data, k, shrink, modalities=("image", "text")):
    """MMRec's construction: dense shrunk cosine of the concatenated features, top-k per item, R @ W."""
    features = torch.cat([data.item_features[m] for m in modalities], dim=1)
    norms = features.norm(dim=1, keepdim=True)
    sim = (features @ features.T) / (norms * norms.T + shrink)
    values, index = sim.topk(k, dim=1)
    weights = torch.zeros_like(sim).scatter_(1, index, values)
    history = torch.zeros(data.num_users, data.num_items)
    history[data.train.users, data.train.items] = 1.0
    return history @ weights


@pytest.mark.parametrize("modalities", [None, ["text"]])
def test_scores_and_ranking_equal_the_dense_reference(tiny_dataset, modalities):
    data = load_mmrec_dataset(tiny_dataset)
    model = ItemKNNCBF(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims,
                       knn_k=3, shrink=2.0, modalities=modalities)
    model.attach(data)
    expected = dense_scores(data, 3, 2.0, modalities or ("image", "text"))
    users = torch.arange(data.num_users)
    assert torch.allclose(model.scores(users), expected, atol=1e-6)
    scores, items = model.rank(users, 4)
    history = torch.zeros_like(expected, dtype=torch.bool)
    history[data.train.users, data.train.items] = True
    reference = expected.masked_fill(history, float("-inf")).topk(4, dim=1)
    assert torch.allclose(scores, reference.values, atol=1e-6)
    finite = torch.isfinite(reference.values) & (reference.values.diff(dim=1, prepend=reference.values[:, :1] + 1) != 0)
    assert torch.equal(items[finite], reference.indices[finite])  # ties may order either way


def test_hyperparameters_are_validated():
    for bad in ({"knn_k": 0}, {"shrink": -1.0}, {"shrink": float("nan")}, {"modalities": ["audio"]}):
        with pytest.raises(ValueError):
            ItemKNNCBF(num_users=3, num_items=4, feature_dims={"image": 2}, **bad)


def test_fit_runs_no_step_validates_and_sgurinit_is_refused(tmp_path):
    spec = SyntheticSpec(num_users=40, num_items=30, mean_interactions_per_user=8, modalities={"image": 8, "text": 4})
    datamodule = SyntheticDataModule(spec, cache_dir=str(tmp_path), batch_size=16)
    data = datamodule.dataset
    model = ItemKNNCBF(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims)
    assert not list(model.parameters()) and model.user_init_targets() == []
    trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=datamodule)
    assert trainer.current_epoch == 2 and not model.state_dict()  # nothing learnt, nothing to checkpoint
    assert 0.0 < float(trainer.callback_metrics["val/recall@20"]) <= 1.0

    refused = ItemKNNCBF(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims)
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path, callbacks=[SGURInit(n_clusters=4)])
    with pytest.raises(InputError, match="ItemKNNCBF declares no user table"):
        trainer.fit(refused, datamodule=datamodule)


def test_a_multi_process_fit_is_refused_in_one_line():
    model = ItemKNNCBF(num_users=3, num_items=4, feature_dims={"image": 2})
    model.trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False)
    with pytest.raises(InputError, match="fit it on one device"):
        model.setup("fit")
