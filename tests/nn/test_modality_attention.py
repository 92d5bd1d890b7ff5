"""Multi-head attention across modalities (lit_mmrec.nn.modality_attention) against a per-node loop."""

import math

import pytest
import torch

from lit_mmrec.nn.modality_attention import ModalityAttention


def reference(block, rows):
    """Per node, head and query modality: softmax over key modalities of <q, k> / sqrt(d_h), then the
    weighted sum of the key modalities' rows; heads concatenated, times W_cat."""
    m, n, d = rows.shape
    h, dh = block.num_heads, d // block.num_heads
    out = torch.zeros(m, n, d)
    for node in range(n):
        for q in range(m):
            heads = []
            for head in range(h):
                part = slice(head * dh, (head + 1) * dh)
                query = (rows[q, node] @ block.query)[part]
                logits = torch.stack([query @ (rows[k, node] @ block.key)[part] for k in range(m)]) / math.sqrt(dh)
                weights = torch.softmax(logits, 0)
                heads.append(sum(weights[k] * rows[k, node] for k in range(m)))
            out[q, node] = torch.cat(heads) @ block.concat
    return out


def test_matches_the_per_node_reference():
    torch.manual_seed(0)
    block = ModalityAttention(8, 2)
    rows = torch.randn(3, 5, 8)
    assert torch.allclose(block(rows), reference(block, rows), atol=1e-5)


def test_attention_weights_mix_the_modalities():
    torch.manual_seed(1)
    block = ModalityAttention(8, 4)
    rows = torch.randn(2, 4, 8)
    weights = block.weights(rows)
    assert weights.shape == (4, 2, 2, 4)
    assert torch.allclose(weights.sum(2), torch.ones(4, 2, 4))
    assert not torch.allclose(block(rows)[0], torch.cat([rows[0]] * 4, -1) @ block.concat)


def test_original_indexing_returns_each_modality_itself():
    torch.manual_seed(2)
    block = ModalityAttention(8, 4, original_indexing=True)
    rows = torch.randn(3, 5, 8)
    assert block.query is None and block.key is None
    expected = torch.stack([torch.cat([rows[m]] * 4, -1) @ block.concat for m in range(3)])
    assert torch.allclose(block(rows), expected, atol=1e-6)


def test_refuses_heads_that_do_not_divide_the_width():
    with pytest.raises(ValueError, match="divide"):
        ModalityAttention(10, 4)
