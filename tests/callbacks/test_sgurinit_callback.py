"""The SG-URInit callback inside real fits: what it writes, when, and what resuming keeps."""

import dataclasses
import inspect
import logging
import re
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from helpers import tiny_rows, write_inter

from lit_mmrec.callbacks import SGURInit
from lit_mmrec.data.datamodule import MMRecDataModule
from lit_mmrec.init.options import AUTHORS_FORM, SGURInitOptions
from lit_mmrec.init.sgurinit import aligned_item_table, initialise_user_table, pca_reduce, standardise_columns
from lit_mmrec.models.lightgcn import LightGCN

FRAGMENTS = Path(__file__).resolve().parents[2] / "configs" / "sgurinit"


class Probe(L.Callback):
    """Records the user table at fit start (before SG-URInit) and at the first training step."""

    def __init__(self):
        self.before = None
        self.first_step = None

    def on_fit_start(self, trainer, module):
        self.before = module.user_embedding.detach().clone()

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if self.first_step is None:
            self.first_step = module.user_embedding.detach().clone()


def make(datamodule, **model_args):
    data = datamodule.dataset
    torch.manual_seed(0)
    return LightGCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8, **model_args)


def trainer(callbacks, tmp_path, epochs=1):
    return L.Trainer(
        max_epochs=epochs, callbacks=callbacks, logger=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, default_root_dir=tmp_path, use_distributed_sampler=False,
    )


@pytest.mark.parametrize("cluster_on,fusion", [("item", "sum"), ("user", "attention")])
def test_fit_writes_expected_tables_before_first_step(tiny_dataset, tmp_path, cluster_on, fusion):
    datamodule = MMRecDataModule(str(tiny_dataset), batch_size=8)
    model = make(datamodule)
    probe = Probe()
    init = SGURInit(n_clusters=2, cluster_on=cluster_on, fusion=fusion, user_repr="local", seed=3)
    trainer([probe, init], tmp_path).fit(model, datamodule=datamodule)
    data = datamodule.dataset
    generator = torch.Generator().manual_seed(3)
    features = [pca_reduce(data.item_features[m], 8, generator=generator) for m in ("image", "text")]
    expected = initialise_user_table(
        probe.before, features, data.train_csr(),
        # LightGCN's table is an ID table: the default centres only the tables that meet item features
        SGURInitOptions(n_clusters=2, cluster_on=cluster_on, fusion=fusion, user_repr="local", centre=False),
        generator=generator,
    )
    assert not torch.allclose(probe.before, probe.first_step)
    assert torch.allclose(probe.first_step, expected, atol=1e-6)
    assert init.done and init.seconds is not None
    # cluster sizes are recorded per table and modality: items (cluster_on=item) or active users (user)
    members = data.num_items if cluster_on == "item" else int((data.train_csr().to_dense().sum(1) > 0).sum())
    assert set(init.cluster_sizes) == {"user_embedding/image", "user_embedding/text"}
    assert all(len(sizes) == 2 and sum(sizes) == members for sizes in init.cluster_sizes.values())


def test_resume_keeps_checkpoint_tables(tiny_dataset, tmp_path):
    datamodule = MMRecDataModule(str(tiny_dataset), batch_size=8)
    model = make(datamodule)
    first = trainer([SGURInit(n_clusters=2)], tmp_path, epochs=1)
    first.fit(model, datamodule=datamodule)
    path = tmp_path / "one.ckpt"
    first.save_checkpoint(path)
    saved = torch.load(path, weights_only=False)["state_dict"]["user_embedding"]

    probe = Probe()
    fresh = make(datamodule)
    trainer([probe, SGURInit(n_clusters=2)], tmp_path, epochs=2).fit(fresh, datamodule=datamodule, ckpt_path=path)
    assert torch.equal(probe.first_step, saved)


def test_backbone_without_targets_fails_clearly(tiny_dataset, tmp_path):
    class NoTargets(LightGCN):
        def user_init_targets(self):
            return []

    datamodule = MMRecDataModule(str(tiny_dataset), batch_size=8)
    data = datamodule.dataset
    model = NoTargets(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8)
    with pytest.raises(ValueError, match="NoTargets declares no user table"):
        trainer([SGURInit(n_clusters=2)], tmp_path).fit(model, datamodule=datamodule)


def test_validation_and_test_rows_do_not_leak(tmp_path):
    rows = tiny_rows(num_users=8, num_items=12, per_user=6, seed=4)
    altered = [(u, (i + 5) % 12 if lab > 0 else i, r, t, lab) for u, i, r, t, lab in rows]
    results = []
    for name, table in (("a", rows), ("b", altered)):
        folder = tmp_path / name
        write_inter(folder, table)
        import numpy as np

        np.save(folder / "text_feat.npy", np.random.default_rng(0).normal(size=(12, 6)).astype(np.float32))
        datamodule = MMRecDataModule(str(folder))
        model = make(datamodule)
        model.attach(datamodule.dataset)
        init = SGURInit(n_clusters=3, cluster_on="user", fusion="attention")
        results.append(init.compute(model, datamodule.dataset, model.user_init_targets()))
    assert torch.equal(results[0]["user_embedding"], results[1]["user_embedding"])


def test_one_default_per_option():
    # the callback's arguments default to SGURInitOptions' fields: one default, defined there
    parameters = inspect.signature(SGURInit).parameters
    assert set(parameters) == {*SGURInitOptions.names(), "modalities", "seed"}
    defaults = SGURInitOptions()
    assert {n: parameters[n].default for n in SGURInitOptions.names()} == dataclasses.asdict(defaults)
    assert SGURInit().options == defaults
    # the default recipe centres the tables that meet item features, not the ID tables
    assert defaults.for_table(id_table=False).centre and not defaults.for_table(id_table=True).centre


def fragment_options(path):
    """The init_args a ``configs/sgurinit/`` fragment gives the SGURInit callback."""
    callback, = yaml.safe_load(path.read_text())["trainer"]["callbacks+"]
    assert callback["class_path"] == "lit_mmrec.callbacks.SGURInit"
    return callback.get("init_args") or {}


def test_fragments_set_only_what_differs_from_the_default():
    assert fragment_options(FRAGMENTS / "default.yaml") == {}
    defaults = SGURInitOptions()
    for form in ("item-sum", "item-attention", "user-sum", "user-attention"):
        options = fragment_options(FRAGMENTS / f"{form}.yaml")
        assert options == SGURInitOptions(**options).changed(), form  # nothing set to its default
        recipe = SGURInit(**options).options
        assert f"{recipe.cluster_on}-{recipe.fusion}" == form
        assert {k: options[k] for k in AUTHORS_FORM} == AUTHORS_FORM
        assert set(options) - {"cluster_on", "fusion"} == set(AUTHORS_FORM)
        assert all(getattr(defaults, k) != v for k, v in AUTHORS_FORM.items())


def test_the_console_says_which_tables_in_how_long(tiny_dataset, tmp_path):
    # rank_zero_info writes through Lightning's logger, which prints to the console at INFO
    messages = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: messages.append(record.getMessage())
    console = logging.getLogger("lightning.pytorch")
    console.addHandler(handler)
    try:
        datamodule = MMRecDataModule(str(tiny_dataset), batch_size=8)
        trainer([SGURInit(n_clusters=2)], tmp_path).fit(make(datamodule), datamodule=datamodule)
    finally:
        console.removeHandler(handler)
    lines = [m for m in messages if m.startswith("SG-URInit")]
    assert len(lines) == 1
    users = datamodule.dataset.num_users
    active = int((datamodule.dataset.train_csr().to_dense().sum(1) > 0).sum())
    rows = f"{users} rows" if active == users else f"{active} of {users} rows"
    assert re.fullmatch(rf"SG-URInit: initialised user tables user_embedding \({rows}\) in \d+\.\d\d s "
                        r"\(options n_clusters=2\)", lines[0]), lines[0]


def test_invalid_options():
    with pytest.raises(ValueError, match="cluster_on"):
        SGURInit(cluster_on="items")
    with pytest.raises(ValueError, match="fusion"):
        SGURInit(fusion="mean")


def test_local_weight_reaches_the_computation_and_both_zero_is_rejected(tiny_dataset, tmp_path):
    datamodule = MMRecDataModule(str(tiny_dataset), batch_size=8)
    model = make(datamodule)
    probe = Probe()
    init = SGURInit(n_clusters=2, local_weight=0.0, seed=3)  # cluster-only ablation
    trainer([probe, init], tmp_path).fit(model, datamodule=datamodule)
    data = datamodule.dataset
    generator = torch.Generator().manual_seed(3)
    features = [pca_reduce(data.item_features[m], 8, generator=generator) for m in ("image", "text")]
    expected = initialise_user_table(
        probe.before, features, data.train_csr(),
        SGURInitOptions(n_clusters=2, local_weight=0.0, centre=False), generator=generator,
    )
    assert torch.allclose(probe.first_step, expected, atol=1e-6)
    with pytest.raises(ValueError, match="both 0"):
        SGURInit(weight=0.0, local_weight=0.0)


class ItemProbe(Probe):
    """Also records the item table at fit start and at the first training step."""

    def on_fit_start(self, trainer, module):
        super().on_fit_start(trainer, module)
        self.items_before = module.item_embedding.detach().clone()

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if self.first_step is None:
            self.items_first_step = module.item_embedding.detach().clone()
        super().on_train_batch_start(trainer, module, batch, batch_idx)


def test_aligned_start_and_item_scale_reach_an_id_backbone(tiny_dataset, tmp_path):
    # LightGCN's ID tables: with align_items the item table starts in the users' PCA space (rescaled to its
    # own mean norm), and scale=items rescales the users to that table's mean norm; preprocess=standardise
    # z-scores the raw features before the PCA.
    datamodule = MMRecDataModule(str(tiny_dataset), batch_size=8)
    model = make(datamodule)
    probe = ItemProbe()
    init = SGURInit(n_clusters=2, seed=3, align_items=True, scale="items", centre=True, centre_tables="all",
                    preprocess="standardise")
    trainer([probe, init], tmp_path).fit(model, datamodule=datamodule)
    data = datamodule.dataset
    generator = torch.Generator().manual_seed(3)
    features = [pca_reduce(standardise_columns(data.item_features[m]), 8, generator=generator)
                for m in ("image", "text")]
    items = aligned_item_table(probe.items_before, features)
    expected = initialise_user_table(
        probe.before, features, data.train_csr(),
        SGURInitOptions(n_clusters=2, scale="items", centre=True, preprocess="standardise"),
        generator=generator, item_reference=items,
    )
    assert torch.allclose(probe.items_first_step, items, atol=1e-6)
    assert torch.allclose(probe.first_step, expected, atol=1e-6)
    mean_item_norm = probe.items_before.norm(dim=1).mean()
    has = data.train_csr().to_dense().sum(1) > 0
    assert torch.allclose(probe.first_step[has].norm(dim=1), mean_item_norm.expand(int(has.sum())), atol=1e-5)


def test_align_items_needs_an_item_table(tiny_dataset):
    datamodule = MMRecDataModule(str(tiny_dataset), batch_size=8)
    model = make(datamodule)
    model.attach(datamodule.dataset)
    model.item_embedding = torch.nn.Parameter(torch.zeros(3, 8))  # not [num_items, d]: not the item table
    with pytest.raises(ValueError, match="align_items needs the item ID table"):
        SGURInit(align_items=True).compute(model, datamodule.dataset, model.user_init_targets())


def test_centre_tables_centres_only_the_chosen_kind_of_table(tiny_dataset):
    # VBPR has an ID table (PCA-reduced features) and a preference table (its projected features): with
    # centre_tables=features the ID table is exactly the uncentred one and the preference table exactly the
    # centred one, and the reverse with centre_tables=id; an ID-only backbone is then exactly item-sum's.
    from lit_mmrec.models.vbpr import VBPR

    datamodule = MMRecDataModule(str(tiny_dataset), batch_size=8)
    data = datamodule.dataset
    torch.manual_seed(0)
    model = VBPR(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8)
    model.attach(data)
    targets = model.user_init_targets()
    assert [t.item_space == "none" for t in targets] == [True, False]

    def tables(**options):
        return SGURInit(n_clusters=2, seed=3, **options).compute(model, data, targets)

    plain, centred = tables(centre=False), tables(centre=True, centre_tables="all")
    features_only, id_only = tables(centre=True, centre_tables="features"), tables(centre=True, centre_tables="id")
    assert not torch.allclose(plain["user_embedding"], centred["user_embedding"])
    assert not torch.allclose(plain["user_preference"], centred["user_preference"])
    assert torch.equal(features_only["user_embedding"], plain["user_embedding"])
    assert torch.equal(features_only["user_preference"], centred["user_preference"])
    assert torch.equal(id_only["user_embedding"], centred["user_embedding"])
    assert torch.equal(id_only["user_preference"], plain["user_preference"])
    lightgcn = make(datamodule)
    lightgcn.attach(data)
    lightgcn_targets = lightgcn.user_init_targets()
    assert torch.equal(
        SGURInit(n_clusters=2, centre=True, centre_tables="features").compute(lightgcn, data, lightgcn_targets)[
            "user_embedding"],
        SGURInit(n_clusters=2, centre=False).compute(lightgcn, data, lightgcn_targets)["user_embedding"],
    )
