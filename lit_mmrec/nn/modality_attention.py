r"""Multi-head attention across modalities (MMSSL's ``multi_head_self_attention``, HKUDS/MMSSL ``Models.py``).

For one node set (users or items) with ``M`` modality-specific rows ``v_m`` (``[M, N, d]``), ``H`` heads of
width ``d_h = d / H``, ``Q_m = v_m W_q`` and ``K_m = v_m W_k`` split into heads ``Q_m^h, K_m^h`` (``[N, d_h]``):

    a^h_{m,k} = softmax_k( <Q_m^h, K_k^h> / sqrt(d_h) )          (per node, over the M key modalities)
    z_m = [ Σ_k a^1_{m,k} v_k ; ... ; Σ_k a^H_{m,k} v_k ] W_cat   ([N, H d] -> [N, d])

The values are the unprojected rows (the original declares ``w_v`` and never uses it); ``W_cat`` is
``[H d, d]``. All weights xavier-uniform, as the original.

``original_indexing=True`` reproduces the original's indexing instead: its keys are the queries reshaped
(``K = Q.reshape(...)``, so ``W_k`` is unused) and its values broadcast along the *query* modality
(``V.unsqueeze(1)`` against attention weights ``[H, M_q, M_k, N, 1]``), so each head returns
``Σ_k a_{m,k} v_m = v_m`` and ``z_m = [v_m; ...; v_m] W_cat``: the attention weights cancel out (their
gradient is zero). This module then holds ``W_cat`` only.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ModalityAttention(nn.Module):
    """Multi-head attention of each modality's rows over all modalities' rows of the same node.

    Args:
        dim: width ``d`` of the rows.
        num_heads: heads ``H``; must divide ``dim``.
        original_indexing: the HKUDS code's indexing (keys = queries, values of the query modality), in
            which the attention weights cancel; False: keys ``v W_k`` and values of the key modality.
    """

    def __init__(self, dim: int, num_heads: int, original_indexing: bool = False) -> None:
        super().__init__()
        if dim <= 0 or num_heads <= 0 or dim % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must be positive and divide dim ({dim})")
        self.dim, self.num_heads, self.original_indexing = dim, num_heads, original_indexing
        self.query = None if original_indexing else nn.Parameter(nn.init.xavier_uniform_(torch.empty(dim, dim)))
        self.key = None if original_indexing else nn.Parameter(nn.init.xavier_uniform_(torch.empty(dim, dim)))
        self.concat = nn.Parameter(nn.init.xavier_uniform_(torch.empty(num_heads * dim, dim)))

    def weights(self, rows: torch.Tensor) -> torch.Tensor:
        """Attention weights ``[H, M_query, M_key, N]`` of ``rows`` ``[M, N, d]`` (softmax over keys)."""
        if self.original_indexing:
            raise ValueError("with the original indexing the attention weights cancel: there are none to return")
        m, n, _ = rows.shape
        head = self.dim // self.num_heads
        queries = (rows @ self.query).reshape(m, n, self.num_heads, head).permute(2, 0, 1, 3)
        keys = (rows @ self.key).reshape(m, n, self.num_heads, head).permute(2, 0, 1, 3)
        logits = (queries.unsqueeze(2) * keys.unsqueeze(1)).sum(-1) / math.sqrt(head)
        return torch.softmax(logits, dim=2)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """``z`` ``[M, N, d]`` for the modality rows ``rows`` ``[M, N, d]``."""
        if rows.dim() != 3 or rows.shape[-1] != self.dim:
            raise ValueError(f"rows must be [modalities, nodes, {self.dim}], got {tuple(rows.shape)}")
        if self.original_indexing:
            mixed = rows.unsqueeze(0).expand(self.num_heads, -1, -1, -1)  # each head returns v_m itself
        else:
            mixed = torch.einsum("hqkn,knd->hqnd", self.weights(rows), rows)
        return torch.cat(list(mixed), dim=-1) @ self.concat
