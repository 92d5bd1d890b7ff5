"""ModalPreferenceMixin (lit_mmrec.nn.modal_preference): the stacked inputs X_m, the modality weights
and the regulariser, on a bare module holding the mixin."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.nn.modal_preference import ModalPreferenceMixin


class Holder(ModalPreferenceMixin, nn.Module):
    def __init__(self, modalities, features):
        super().__init__()
        self.num_users, self.modalities, self.features = 5, modalities, features
        self.init_modal_preferences({m: f.shape[1] for m, f in features.items()}, embedding_dim=4, hidden_dim=6)

    def item_features(self, modality):
        return self.features[modality]


@pytest.mark.parametrize("modalities", [["text"], ["image", "text"]])
def test_inputs_weights_and_penalty(modalities):
    torch.manual_seed(0)
    features = {"image": torch.randn(7, 8), "text": torch.randn(7, 3)}
    holder = Holder(modalities, {m: features[m] for m in modalities})
    inputs = holder.modal_inputs()
    assert inputs.shape == (5 + 7, 4 * len(modalities))
    for k, m in enumerate(modalities):
        block = inputs[:, 4 * k : 4 * (k + 1)]
        assert torch.allclose(block[:5], F.normalize(holder.preference[m], dim=1))
        assert torch.allclose(block[5:], F.normalize(holder.item_mlp[m](features[m]), dim=1))
    users = torch.tensor([0, 3, 3])
    expected = sum(holder.preference[m][users].pow(2).mean() for m in modalities)
    if len(modalities) > 1:
        assert holder.modality_weight.shape == (5, 2)
        assert torch.allclose(holder.modality_weight.sum(1), torch.ones(5))  # a softmax at init
        expected = expected + holder.modality_weight.pow(2).mean()
    else:
        assert holder.modality_weight is None
    assert torch.allclose(holder.preference_penalty(users), expected)
    targets = holder.user_init_targets()
    assert [t.modalities for t in targets] == [[m] for m in modalities]
