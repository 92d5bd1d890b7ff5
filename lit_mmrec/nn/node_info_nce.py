r"""InfoNCE of a batch's nodes between two views of every node, all nodes of the second view as
candidates (the ``contrastLoss`` of HKUDS' models: DiffMM's ``Utils/Utils.py``, also MMSSL's).

With ``a, c`` the L2-normalised views ``[N, D]``, ``b`` the batch's node ids (repeats allowed) and ``τ``
the temperature:

    loss = mean_b ( -log( exp(<a_b, c_b> / τ) / Σ_{j=1..N} exp(<a_b, c_j> / τ) ) ),

the positive among the candidates. Unlike :func:`lit_mmrec.nn.info_nce.info_nce` (the batch's rows as
candidates) the denominator runs over every node of the second view; it goes through
:mod:`lit_mmrec.nn.losses`' fused, chunked InfoNCE denominator (no ``B x N`` logits stored, no overflow
for small ``τ``), where the original computes ``exp`` then ``log``. A node repeated in the batch enters once,
weighted by its count (the same sum, up to float summation order).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lit_mmrec.nn.losses import _InfoNCEDenominator


def node_info_nce(view1: torch.Tensor, view2: torch.Tensor, nodes: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of ``view1[nodes]`` against all rows of ``view2`` (both ``[N, D]``), the positive of node ``n``
    being ``view2[n]``; averaged over ``nodes``."""
    if view1.shape != view2.shape:
        raise ValueError(f"the two views must have the same shape, got {tuple(view1.shape)} and {tuple(view2.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    distinct, counts = torch.unique(nodes, return_counts=True)
    a = F.normalize(view1.index_select(0, distinct), dim=1)
    c = F.normalize(view2, dim=1)
    weights = counts.to(a.dtype)
    log_partition = _InfoNCEDenominator.apply(a, c.T.contiguous(), weights, temperature)
    positives = (weights * (a * c.index_select(0, distinct)).sum(1)).sum() / temperature
    return (log_partition - positives) / nodes.numel()
