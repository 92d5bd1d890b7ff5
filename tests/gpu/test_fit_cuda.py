"""A 2-epoch fit on CUDA gives the CPU's validation metrics to float tolerance (LightGCN, FREEDOM):
same initial weights, same batches (the sampler draws on the CPU), float32 products on both devices.

FREEDOM runs with ``dropout=0``: its per-epoch edge pruning (``torch.multinomial`` on the graph's device)
draws from the CUDA generator there, whose stream differs from the CPU's, so with pruning the two fits
train on different graphs by design."""

from __future__ import annotations

import pytest
import torch
from gpu.cuda_parity import CUDA_ONLY, datamodule, fit, full_float32, relative_difference

from lit_mmrec.models.freedom import FREEDOM
from lit_mmrec.models.lightgcn import LightGCN

pytestmark = CUDA_ONLY

#: one user's top-20 changing by one item moves Recall@20 by at most 1/(users x 1) = 1/600 here;
#: float rounding may reorder two items whose scores tie to ~1e-6, so allow about one such swap
METRIC_TOLERANCE = 2e-3


@pytest.mark.parametrize(
    "backbone, options", [(LightGCN, {}), (FREEDOM, {"dropout": 0.0})], ids=["lightgcn", "freedom"]
)
def test_two_epochs_on_cuda_validate_like_the_cpu(backbone, options, tmp_path):
    data = datamodule(str(tmp_path / "cache"))
    dataset = data.dataset
    torch.manual_seed(0)
    module = backbone(num_users=dataset.num_users, num_items=dataset.num_items, feature_dims=dataset.feature_dims, **options)
    with full_float32():
        cpu_metrics, cpu_repr = fit(module, data, "cpu", 2, str(tmp_path))
        cuda_metrics, cuda_repr = fit(module, data, "cuda", 2, str(tmp_path))
    assert cpu_metrics and cpu_metrics.keys() == cuda_metrics.keys()
    for name, value in cpu_metrics.items():
        assert cuda_metrics[name] == pytest.approx(value, abs=METRIC_TOLERANCE), name
    for on_cpu, on_cuda in zip(cpu_repr, cuda_repr, strict=True):
        assert relative_difference(on_cuda, on_cpu) < 1e-3
