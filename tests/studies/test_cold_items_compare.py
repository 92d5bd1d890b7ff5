"""ColdItemsComparison: settings parsed strictly, every setting measured on validation and test in one test pass
(``off`` equal to the plain cold-start metric, the module left as it was), and the selection rule by hand."""

import json

import lightning as L
import pytest
import torch

from lit_mmrec.callbacks.cold_items import dataset_neighbours
from lit_mmrec.data.datamodule import MMRecDataModule
from lit_mmrec.experiments.runner import cold_start_record
from lit_mmrec.metrics.cold_start import cold_start_from_module
from lit_mmrec.models.lightgcn import LightGCN
from studies.cold_items_compare import (
    OFF,
    ColdItemsComparison,
    comparison_markdown,
    main,
    parse_setting,
    select,
)


def test_parse_setting():
    assert parse_setting("k=5") == {"k": 5, "keep_norm": False, "weighting": "mean", "own": False}
    assert parse_setting("k=20, keep_norm=true, weighting=similarity,own=true") == {
        "k": 20, "keep_norm": True, "weighting": "similarity", "own": True}
    for bad in ("keep_norm=true", "k=0", "k=two", "k=3,keep_norm=yes", "k=3,weighting=max", "k=3,q=1"):
        with pytest.raises(ValueError, match="cold-item setting"):
            parse_setting(bad)


def _record(values: dict[str, float], model: str = "vbpr") -> dict:
    entry = lambda v: {"valid": {"0": {"users": 3, "recall@20": v}}}  # noqa: E731
    return {"model": model, "variant": "random", "seed": 1, "settings": {k: entry(v) for k, v in values.items()}}


def test_selection_rule_by_hand():
    records = [_record({OFF: 0.0, "k=1": 0.010, "k=10": 0.030}), _record({OFF: 0.0, "k=1": 0.020, "k=10": 0.0305})]
    chosen, means = select(records)
    assert chosen == "k=10" and means["k=1"] == pytest.approx(0.015) and means["k=10"] == pytest.approx(0.03025)
    # within 0.001 of the best, the earlier (simpler) setting wins
    tie = [_record({OFF: 0.0, "k=1": 0.0300, "k=10": 0.0309})]
    assert select(tie)[0] == "k=1"
    # nothing beats off: off is chosen
    assert select([_record({OFF: 0.05, "k=1": 0.0, "k=10": 0.01})])[0] == OFF


def test_comparison_callback_and_report(tiny_dataset, tmp_path):
    datamodule = MMRecDataModule(str(tiny_dataset), batch_size=8)
    data = datamodule.dataset
    torch.manual_seed(0)
    model = LightGCN(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims, embedding_dim=8)
    output = tmp_path / "out" / "model.json"  # a folder is given: the file is named after the run ("model": none)
    callback = ColdItemsComparison(str(output.parent), settings=["k=1", "k=2,keep_norm=true"], thresholds=[0, 1])
    trainer = L.Trainer(max_epochs=1, callbacks=[callback], logger=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=tmp_path,
                        use_distributed_sampler=False, enable_checkpointing=False)
    trainer.fit(model, datamodule=datamodule)
    trainer.test(model, datamodule=datamodule)
    assert model.item_repr_override is None
    record = json.loads(output.read_text())
    assert set(record["settings"]) == {OFF, "k=1", "k=2,keep_norm=true"}
    for split in ("valid", "test"):
        assert set(record["settings"][OFF][split]) == {"0", "1", "cold/0", "cold/1"}
        plain = cold_start_from_module(model, [0, 1], protocol="all", split=split)
        # the sizes and the four reported metrics of each entry (cold_start_record)
        assert record["settings"][OFF][split]["0"] == pytest.approx(cold_start_record({"0": plain[0]})["0"])
    # a setting's numbers are those of the module with that ColdItems override
    model.item_repr_override = dataset_neighbours(data, k=1, keep_norm=False, own=False).apply
    assert record["settings"]["k=1"]["test"]["cold/0"] == pytest.approx(
        cold_start_record({"0": cold_start_from_module(model, [0, 1], protocol="cold", split="test")[0]})["0"])
    model.item_repr_override = None

    with pytest.raises(ValueError, match="nothing to choose on"):
        select([{**record, "settings": {k: {"valid": {}} for k in record["settings"]}}])
    # the tiny data set may have no validation user with a never-seen item: give the report one
    for value, setting in enumerate(record["settings"].values()):
        setting["valid"]["0"] = {**setting["valid"]["0"], "users": 1, "recall@20": value / 10}
    output.write_text(json.dumps(record))
    runs = tmp_path / "runs.json"
    runs.write_text(json.dumps({"runs": [{"name": None, "dataset": "tiny", "model": "lightgcn", "variant": "random",
                                          "seed": 0}]}))
    report = tmp_path / "cold_items.md"
    main(["report", "--inputs", str(output.parent), "--runs", str(runs), "--out", str(report)])
    text = report.read_text()
    assert "Chosen: **k=2,keep_norm=true**" in text and "| lightgcn | random |" in text
    assert comparison_markdown([{**record, "model": "m", "variant": "v", "seed": 0}], "cmd").count("| m | v |") >= 1
