import lightning as L
import numpy as np
import pytest
import torch

from lit_mmrec.callbacks import TopKWriter, UserGroupMetrics
from lit_mmrec.callbacks.user_groups import activity_groups
from lit_mmrec.data.datamodule import SyntheticDataModule
from lit_mmrec.data.synthetic import SyntheticSpec
from lit_mmrec.metrics.recall_ndcg import GroupedTopKMetrics, TopKMetrics
from lit_mmrec.models.lightgcn import LightGCN

pytestmark = pytest.mark.usefixtures("isolated_cache", "single_thread")


def test_quantile_groups_have_about_equal_sizes_and_keep_equal_degrees_together():
    degrees = torch.tensor([1, 1, 2, 2, 3, 3, 4, 4, 5, 50, 0])
    bounds = activity_groups(degrees, groups=5)
    assert bounds.tolist() == [1, 2, 3, 4, 50]
    group = torch.searchsorted(bounds, degrees[degrees > 0])
    assert torch.bincount(group).tolist() == [2, 2, 2, 2, 2]
    # many users with one degree: fewer groups, never a degree split across two
    assert activity_groups(torch.tensor([3] * 9 + [7]), groups=4).tolist() == [3, 7]


def test_thresholds_are_inclusive_upper_bounds_with_a_last_open_group():
    degrees = torch.tensor([1, 5, 6, 10, 11, 40])
    assert activity_groups(degrees, thresholds=[5, 10, 20]).tolist() == [5, 10, 20, 40]
    assert activity_groups(degrees, thresholds=[5, 100]).tolist() == [5, 40]


def test_grouped_metrics_equal_the_metrics_of_each_group_alone():
    generator = torch.Generator().manual_seed(0)
    hits = torch.rand(30, 20, generator=generator) < 0.2
    relevant = torch.randint(0, 6, (30,), generator=generator)
    groups = torch.randint(0, 3, (30,), generator=generator)
    grouped = GroupedTopKMetrics(3, [5, 20])
    grouped.update(hits[:17], relevant[:17], groups[:17])
    grouped.update(hits[17:], relevant[17:], groups[17:])
    for g, values in enumerate(grouped.compute()):
        alone = TopKMetrics([5, 20])
        alone.update(hits[groups == g], relevant[groups == g])
        assert values["users"] == ((groups == g) & (relevant > 0)).sum()
        for name, value in alone.compute().items():
            assert values[name] == pytest.approx(value.item(), abs=1e-7), (g, name)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="groups"):
        UserGroupMetrics(groups=0)
    with pytest.raises(ValueError, match="thresholds"):
        UserGroupMetrics(thresholds=[10, 5])


def test_groups_add_up_to_the_overall_metric_and_per_user_file_matches(tmp_path):
    spec = SyntheticSpec(num_users=80, num_items=50, mean_interactions_per_user=8, modalities={"image": 8})
    datamodule = SyntheticDataModule(spec, cache_dir=str(tmp_path), batch_size=64, eval_chunk_size=32)
    data = datamodule.dataset
    torch.manual_seed(0)
    model = LightGCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims,
                     embedding_dim=8)
    groups = UserGroupMetrics(groups=3, per_user=str(tmp_path / "per_user.npz"))
    trainer = L.Trainer(max_epochs=1, callbacks=[groups], logger=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=tmp_path,
                        enable_checkpointing=False)
    trainer.fit(model, datamodule=datamodule)
    (results,) = trainer.test(model, datamodule=datamodule, verbose=False)
    names = groups.names
    assert len(names) == 3
    users = [results[f"test/{n}/users"] for n in names]
    weighted = sum(u * results[f"test/{n}/recall@20"] for u, n in zip(users, names, strict=True)) / sum(users)
    assert weighted == pytest.approx(results["test/recall@20"], abs=1e-6)
    saved = np.load(tmp_path / "per_user.npz")
    assert len(saved["users"]) == sum(users)
    assert saved["recall@20"].mean() == pytest.approx(results["test/recall@20"], abs=1e-6)
    assert (saved["train_interactions"] == groups.degrees[saved["users"]].numpy()).all()


def test_predict_summary_repeats_the_test_groups_and_stays_silent_when_test_items_are_excluded(tmp_path, capsys):
    spec = SyntheticSpec(num_users=60, num_items=40, mean_interactions_per_user=8, modalities={"image": 8})
    datamodule = SyntheticDataModule(spec, cache_dir=str(tmp_path), batch_size=64, eval_chunk_size=16)
    data = datamodule.dataset
    torch.manual_seed(0)
    model = LightGCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims,
                     embedding_dim=8)

    def trainer(*callbacks):
        return L.Trainer(max_epochs=1, callbacks=list(callbacks), logger=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=tmp_path,
                         enable_checkpointing=False)

    trainer().fit(model, datamodule=datamodule)
    (results,) = trainer(UserGroupMetrics(groups=2)).test(model, datamodule=datamodule, verbose=False)
    capsys.readouterr()
    trainer(UserGroupMetrics(groups=2), TopKWriter(k=20, output_dir=str(tmp_path / "p"))).predict(
        model, datamodule=datamodule, return_predictions=False)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Per-group metrics of the written top-20 lists") and "train excluded" in lines[0]
    printed = {name: float(value) for name, value in (line.split() for line in lines[1:])}
    grouped = {k: v for k, v in results.items() if k.count("/") == 2 and not k.endswith("@50")}
    assert printed.keys() == grouped.keys() and len(printed) == 2 * (1 + 3 * 2)  # users, 3 metrics at 10 and 20
    for name, value in grouped.items():
        assert printed[name] == pytest.approx(value, abs=1e-4), name
    trainer(UserGroupMetrics(groups=2), TopKWriter(k=20, output_dir=str(tmp_path / "q"), exclude=["train", "test"])
            ).predict(model, datamodule=datamodule, return_predictions=False)
    assert "Per-group" not in capsys.readouterr().out
