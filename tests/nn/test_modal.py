"""Modality selection and the per-modality projection pieces shared by the backbones."""

import pytest
import torch
from torch import nn

from lit_mmrec.nn import modal
from lit_mmrec.nn.modal import (
    FeatureProjection,
    feature_offsets,
    modal_linears,
    project_features,
    require_modalities,
    select_modalities,
)


def test_select_modalities():
    dims = {"text": 4, "image": 8}
    assert select_modalities("M", dims, None) == ["image", "text"]  # sorted by default
    assert select_modalities("M", dims, ["text", "image"]) == ["text", "image"]  # the order asked for
    with pytest.raises(ValueError, match="M needs at least one modality"):
        select_modalities("M", {}, None)
    with pytest.raises(ValueError, match="at least one modality"):
        select_modalities("M", dims, [])
    with pytest.raises(ValueError, match="M needs the 'audio' modality, but the data set has"):
        select_modalities("M", dims, ["image", "audio"])
    with pytest.raises(ValueError, match="distinct"):
        select_modalities("M", dims, ["text", "text"])


def test_require_modalities_names_the_first_missing():
    require_modalities("M", {"image": 1, "text": 2}, ["text"])
    with pytest.raises(ValueError, match=r"M needs the 'audio' modality, but data set x has \['image'\]"):
        require_modalities("M", {"image": 1}, ["audio", "video"], "data set x")


def test_modal_linears_and_offsets_draw_as_inline_construction():
    dims = {"image": 6, "text": 3}
    torch.manual_seed(0)
    expected = nn.ModuleDict({m: nn.Linear(dims[m], 4) for m in dims})
    for layer in expected.values():
        nn.init.xavier_normal_(layer.weight)
    torch.manual_seed(0)
    got = modal_linears(dims, list(dims), 4, nn.init.xavier_normal_)
    assert all(torch.equal(a, b) for a, b in zip(got.state_dict().values(), expected.state_dict().values(), strict=True))
    offsets = feature_offsets(dims, list(dims), 5)
    assert {m: tuple(p.shape) for m, p in offsets.items()} == {"image": (5, 6), "text": (5, 3)}
    assert all((p == 0).all() for p in offsets.values())
    assert len(feature_offsets(dims, list(dims), 5, finetune=False)) == 0


@pytest.mark.parametrize("finetune", [True, False])
def test_project_features_paths_agree(monkeypatch, finetune):
    torch.manual_seed(0)
    layer, raw = nn.Linear(6, 4), torch.randn(10, 6)
    offset = torch.randn(10, 6) if finetune else None
    items = torch.tensor([3, 1, 3, 7])
    full = layer(raw + offset if finetune else raw)
    assert torch.allclose(project_features(layer, raw, offset), full)
    for share in (0.0, 2.0):  # whole table / distinct items only
        monkeypatch.setattr(modal, "_FULL_PROJECTION_SHARE", share)
        assert torch.allclose(project_features(layer, raw, offset, items), full[items], atol=1e-6)


def test_feature_projection_state_dict_names():
    projection = FeatureProjection("M", {"image": 6, "text": 3}, None, 4, 5)
    assert sorted(projection.state_dict()) == [
        "linear.image.bias",
        "linear.image.weight",
        "linear.text.bias",
        "linear.text.weight",
        "offset.image",
        "offset.text",
    ]
    fresh = projection.fresh("image", torch.ones(2, 6, dtype=torch.float64))
    assert fresh.dtype == torch.float32 and not fresh.requires_grad
