"""MMGCF's late fusion (lit_mmrec.nn.late_fusion) against the fusions and weightings written out."""

import pytest
import torch

from lit_mmrec.nn.late_fusion import FUSIONS, WEIGHTINGS, LateFusion


def unit(x):
    return x / x.norm(dim=1, keepdim=True)


def reference(module, ids, features):
    """The fused rows, each case spelled out by hand."""
    f1, f2 = features
    if module.fusion == "concat":
        if module.weighting == "equal":
            modal = module.modal(torch.cat([f1, f2], 1))
            return module.id_modal(torch.cat([ids, modal], 1))
        if module.weighting == "alpha":
            a = 1 / (1 + torch.exp(-module.alpha))
            return module.joint(torch.cat([a * ids, (1 - a) * f1, (1 - a) * f2], 1))
        return module.joint(torch.cat([2 * unit(ids), unit(f1), unit(f2)], 1))
    if module.weighting == "equal":
        modal = (f1 + f2) / 2 if module.fusion == "mean" else f1 + f2
        return (ids + modal) / 2 if module.fusion == "mean" else ids + modal
    if module.weighting == "alpha":
        a = 1 / (1 + torch.exp(-module.alpha))
        parts = [a * ids, (1 - a) * f1, (1 - a) * f2]
    else:
        parts = [2 * unit(ids), unit(f1), unit(f2)]
    total = parts[0] + parts[1] + parts[2]
    return total / 3 if module.fusion == "mean" else total


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("fusion", FUSIONS)
def test_fusion_matches_the_written_out_reference(fusion, weighting):
    torch.manual_seed(0)
    feature_dim = 3 if fusion == "concat" else 4
    module = LateFusion(2, 4, feature_dim, fusion, weighting)
    if module.alpha is not None:
        with torch.no_grad():
            module.alpha.fill_(0.7)
    ids, features = torch.randn(5, 4), [torch.randn(5, feature_dim), torch.randn(5, feature_dim)]
    out = module(ids, features)
    assert out.shape == (5, 4)
    assert torch.allclose(out, reference(module, ids, features), atol=1e-6)


def test_one_modality_with_equal_weighting_fuses_it_directly():
    ids, feature = torch.randn(3, 4), torch.randn(3, 4)
    assert torch.allclose(LateFusion(1, 4, 4, "mean")(ids, [feature]), (ids + feature) / 2)


def test_alpha_starts_at_a_half_and_learns():
    module = LateFusion(2, 4, 4, "sum", "alpha")
    ids, features = torch.randn(3, 4), [torch.randn(3, 4), torch.randn(3, 4)]
    assert torch.allclose(module(ids, features), 0.5 * (ids + features[0] + features[1]))
    module(ids, features).pow(2).sum().backward()
    assert module.alpha.grad is not None and module.alpha.grad.abs() > 0


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="feature_dim"):
        LateFusion(2, 4, 3, "mean")
    with pytest.raises(ValueError, match="fusion"):
        LateFusion(2, 4, 4, "prod")
    with pytest.raises(ValueError, match="weighting"):
        LateFusion(2, 4, 4, "mean", "learned")
    with pytest.raises(ValueError, match="num_modalities"):
        LateFusion(0, 4, 4)
    with pytest.raises(ValueError, match="expected 2"):
        LateFusion(2, 4, 4)(torch.randn(3, 4), [torch.randn(3, 4)])
