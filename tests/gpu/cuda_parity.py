"""Helpers of the CUDA-against-CPU tests: one small generated data set, SG-URInit's tables and a short
fit of a backbone on a given device, from the same initial weights and the same batches."""

from __future__ import annotations

import copy
from contextlib import contextmanager

import lightning as L
import pytest
import torch

from lit_mmrec.callbacks import SGURInit
from lit_mmrec.data.datamodule import SyntheticDataModule
from lit_mmrec.data.synthetic import SyntheticSpec

#: every test module of tests/gpu carries these marks
CUDA_ONLY = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

#: 600 users, 400 items; image wider than the 64-d tables (PCA reduces it), text narrower
SPEC = SyntheticSpec(num_users=600, num_items=400, mean_interactions_per_user=12.0,
                     modalities={"image": 128, "text": 48}, name="cuda_parity")


def datamodule(cache_dir: str) -> SyntheticDataModule:
    return SyntheticDataModule(SPEC, cache_dir=cache_dir, batch_size=512, eval_chunk_size=256)


@contextmanager
def full_float32():
    """float32 matrix products on CUDA too: ``train.py`` sets ``"high"`` (TF32 on CUDA), whose rounding
    (10-bit mantissa) is not the CPU's; these tests compare float32 with float32."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def backbone_on(backbone: type, data: SyntheticDataModule, device: str, **options) -> L.LightningModule:
    """A fresh ``backbone`` (weights drawn with seed 0: the same on every device) attached to ``data``, on ``device``."""
    dataset = data.dataset
    torch.manual_seed(0)
    module = backbone(num_users=dataset.num_users, num_items=dataset.num_items, feature_dims=dataset.feature_dims, **options)
    module.attach(dataset)
    return module.to(device)


def sgurinit_tables(module: L.LightningModule, data: SyntheticDataModule, **options) -> dict:
    """SG-URInit's new user tables (CPU tensors by target name), computed on ``module``'s device."""
    return SGURInit(**options).compute(module, data.dataset, module.user_init_targets())


def fit(module: L.LightningModule, data: SyntheticDataModule, device: str, epochs: int, root: str):
    """``(validation metrics, (user_repr, item_repr) on the CPU)`` after ``epochs`` epochs on ``device``
    from a copy of ``module`` (the same initial weights for every device)."""
    module = copy.deepcopy(module)
    trainer = L.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu", devices=1, max_epochs=epochs, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, use_distributed_sampler=False, default_root_dir=root, deterministic=False,
    )
    trainer.fit(module, datamodule=data)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    module.eval()
    with torch.no_grad():
        users, items = module.cpu().representations()
    return metrics, (users, items)


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(a.double() - b.double()) / torch.linalg.vector_norm(b.double()))
