import pytest
import torch

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.models.mvgae import MVGAE
from lit_mmrec.nn.variational_graph import product_of_experts

pytestmark = pytest.mark.usefixtures("isolated_cache")


def model_for(data, **kwargs):
    torch.manual_seed(0)
    model = MVGAE(num_users=data.num_users, num_items=data.num_items, feature_dims=data.feature_dims,
                  embedding_dim=8, latent_dim=6, **kwargs)
    model.attach(data)
    return model


@pytest.mark.parametrize("batch_negatives", [False, True])
def test_loss_and_representations_match_the_closed_form(tiny_dataset, batch_negatives):
    """Evaluation mode (z = mu): the fused Gaussian is the PoE of image, text and collaborative experts;
    the loss sums, over the four sources, the reconstruction of user-item scores (each triple's own negative,
    or the hardest of the batch's) and beta x the closed-form KL."""
    data = load_mmrec_dataset(tiny_dataset)
    model = model_for(data, beta=0.3, batch_negatives=batch_negatives).eval()
    u, p, n = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]), torch.tensor([6, 7, 1])
    with torch.no_grad():
        experts = {s: e(model.item_inputs(s), model.adjacency, model.adjacency_t) for s, e in model.encoders.items()}
        assert list(experts) == ["image", "text", "collaborative"]
        mus, logvars = zip(*experts.values(), strict=True)
        precision = 1 / (torch.stack(logvars).exp() + 1e-8)
        fused_mu = (torch.stack(mus) * precision).sum(0) / precision.sum(0)
        fused_logvar = -precision.sum(0).log()
        users, items = model.representations()
        assert torch.allclose(users, torch.sigmoid(fused_mu[: data.num_users]), atol=1e-6)
        assert torch.allclose(items, torch.sigmoid(fused_mu[data.num_users :]), atol=1e-6)
        terms = model.loss(u, p, n)
    recon, kl = 0.0, 0.0
    for mu, logvar in [*experts.values(), (fused_mu, fused_logvar)]:
        y_users, y_items = torch.sigmoid(mu[: data.num_users]), torch.sigmoid(mu[data.num_users :])
        for b in range(3):
            pos = y_users[u[b]] @ y_items[p[b]]
            negative = max(y_users[u[b]] @ y_items[j] for j in n) if batch_negatives else y_users[u[b]] @ y_items[n[b]]
            recon -= torch.log2(torch.sigmoid(pos - negative))
        kl += (0.5 * (logvar.exp() + mu**2 - 1 - logvar)).sum(1).mean()
    assert torch.allclose(terms["reconstruction"], recon, atol=1e-5)
    assert torch.allclose(terms["kl"], 0.3 * kl, atol=1e-5)


def test_decoder_scores_users_against_item_rows(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = model_for(data, sigmoid_output=False).eval()
    z = torch.randn(data.num_users + data.num_items, 8)
    u, p, n = torch.tensor([0]), torch.tensor([2]), torch.tensor([5])
    expected = -torch.log2(torch.sigmoid(z[0] @ z[data.num_users + 2] - z[0] @ z[data.num_users + 5]))
    assert torch.allclose(model.reconstruction(z, u, p, n), expected)


def test_training_reduces_the_loss(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = model_for(data, beta=0.1)
    u, p = data.train.users[:4], data.train.items[:4]
    seen = torch.zeros(data.num_users, data.num_items, dtype=torch.bool)
    seen[data.train.users, data.train.items] = True
    n = torch.stack([(~seen[user]).nonzero()[0, 0] for user in u])  # an item the user has not seen
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)

    def evaluated():
        model.eval()
        with torch.no_grad():
            total = sum(model.loss(u, p, n).values())
        model.train()
        return float(total)

    before = evaluated()
    for _ in range(30):
        optimiser.zero_grad()
        sum(model.loss(u, p, n).values()).backward()
        optimiser.step()
    after = evaluated()
    assert after < 0.8 * before, (before, after)


def test_sgurinit_targets_every_preference_table(tiny_dataset):
    data = load_mmrec_dataset(tiny_dataset)
    model = model_for(data)
    targets = {t.name: t for t in model.user_init_targets()}
    assert set(targets) == {"preference[image]", "preference[text]", "preference[collaborative]"}
    assert targets["preference[image]"].table is model.encoders["image"].preference
    projected = targets["preference[text]"].item_space("text", data.item_features["text"])
    assert projected.shape == (data.num_items, 6)
    assert targets["preference[collaborative]"].item_space == "none"


def test_product_of_experts_matches_the_nested_original(tiny_dataset):
    """MMRec fuses PoE(PoE(image, text), collaborative); the flat product equals it up to eps."""
    torch.manual_seed(4)
    mu, logvar = torch.randn(3, 5, 2), torch.randn(3, 5, 2)
    inner = product_of_experts(mu[:2], logvar[:2])
    nested = product_of_experts(torch.stack([inner[0], mu[2]]), torch.stack([inner[1], logvar[2]]))
    flat = product_of_experts(mu, logvar)
    assert torch.allclose(nested[0], flat[0], atol=1e-6) and torch.allclose(nested[1], flat[1], atol=1e-6)


def test_hyperparameters_are_validated():
    for bad in ({"beta": -1.0}, {"beta": float("nan")}, {"num_layers": -1}, {"latent_dim": 0}, {"modalities": ["audio"]}):
        with pytest.raises(ValueError):
            MVGAE(num_users=3, num_items=4, feature_dims={"image": 2}, **bad)
