"""Every ``configs/tiktok/`` config trains one epoch through ``train.py``'s CLI on the TikTok-shaped generated
data set (:func:`lit_mmrec.data.synthetic.tiktok_shaped`), unchanged but for the data folder and the run length."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers import discover_backbones

from lit_mmrec.cli import main
from lit_mmrec.data.synthetic import TIKTOK_MODALITIES, ensure_synthetic, tiktok_shaped

TIKTOK = sorted((Path(__file__).resolve().parents[1] / "configs" / "tiktok").glob("*.yaml"))


@pytest.fixture(scope="module")
def tiktok_folder(tmp_path_factory) -> Path:
    return ensure_synthetic(tiktok_shaped(), tmp_path_factory.mktemp("tiktok_cache"))


def test_every_backbone_has_a_tiktok_config():
    configured = {yaml.safe_load(c.read_text())["model"]["class_path"].rsplit(".", 1)[1] for c in TIKTOK}
    assert configured == {cls.__name__ for cls in discover_backbones()}


def test_the_preset_is_laid_out_like_prepared_tiktok(tiktok_folder):
    assert TIKTOK_MODALITIES == {"image": 128, "text": 768, "audio": 128}
    assert (tiktok_folder / "tiktok.inter").is_file()
    for modality, width in TIKTOK_MODALITIES.items():
        features = np.load(tiktok_folder / f"{modality}_feat.npy")
        assert features.shape == (tiktok_shaped().num_items, width)


@pytest.mark.usefixtures("isolated_cache", "single_thread")
@pytest.mark.parametrize("config", TIKTOK, ids=lambda c: c.stem)
def test_tiktok_config_trains_one_epoch(config, tiktok_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli = main([
        "fit", "--config", str(config),
        "--data.init_args.data_dir", str(tiktok_folder),
        "--trainer.max_epochs", "1",
        "--test_after_fit", "false",
        "--trainer.logger", "false",
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--experiment", f"tiktok_{config.stem}",
    ])  # fmt: skip
    assert cli.datamodule.feature_dims == TIKTOK_MODALITIES
    used = getattr(cli.model, "modalities", None)
    if used is not None:  # every modality the config names is used, audio included
        assert sorted(used) == sorted(TIKTOK_MODALITIES)
    assert cli.trainer.current_epoch == 1 and cli.trainer.global_step >= 1
    metrics = cli.trainer.callback_metrics
    assert torch.isfinite(metrics["train/loss"])
    assert 0.0 <= float(metrics["val/recall@20"]) <= 1.0
