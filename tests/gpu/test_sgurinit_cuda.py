"""SG-URInit computed on CUDA gives the CPU's tables to float tolerance, through the callback's own
path: the ID table's PCA item space (LightGCN), a projection item space (FREEDOM), K-Means on the
device, and the randomised SVD of the behaviour matrix (cluster_on=user)."""

from __future__ import annotations

import pytest
from gpu.cuda_parity import (
    CUDA_ONLY,
    backbone_on,
    datamodule,
    full_float32,
    relative_difference,
    sgurinit_tables,
)

from lit_mmrec.models.freedom import FREEDOM
from lit_mmrec.models.lightgcn import LightGCN

pytestmark = CUDA_ONLY

#: On the CPU, perturbing the features by 1e-7 (relative) moved LightGCN's tables by 1.4e-5 (the PCA's nearly
#: equal trailing singular values amplify rounding) and FREEDOM's by 2e-7; two different random PCA starts
#: moved the PCA features by 40%. 1e-3 allows CUDA's rounding and catches any real divergence.
TOLERANCE = 1e-3

OPTIONS = [
    dict(),  # the defaults: cluster_on=item, fusion=sum, K=20
    dict(cluster_on="user", fusion="attention", user_repr="behaviour"),
]


@pytest.mark.parametrize("options", OPTIONS, ids=["item-sum", "user-attention-behaviour"])
@pytest.mark.parametrize("backbone", [LightGCN, FREEDOM], ids=["lightgcn", "freedom"])
def test_tables_on_cuda_equal_the_cpu_tables(backbone, options, tmp_path):
    data = datamodule(str(tmp_path))
    on_cpu_module = backbone_on(backbone, data, "cpu")
    with full_float32():
        on_cpu = sgurinit_tables(on_cpu_module, data, **options)
        on_cuda = sgurinit_tables(backbone_on(backbone, data, "cuda"), data, **options)
    assert on_cpu.keys() == on_cuda.keys() and on_cpu
    for name, table in on_cpu.items():
        before = dict(on_cpu_module.named_parameters())[name].detach()
        assert relative_difference(table, before) > 0.5  # SG-URInit did replace the random rows
        assert relative_difference(on_cuda[name], table) < TOLERANCE, name
