r"""MVGAE (Yi and Chen, "Multi-modal Variational Graph Auto-Encoder for Recommendation Systems", IEEE
Transactions on Multimedia 2021), as MMRec runs it (``enoche/MMRec`` ``src/models/mvgae.py`` and
``src/configs/model/MVGAE.yaml``, commit e775373), checked against the authors' ``jing-1/MVGAE``
(``Model.py``, commit 7696027).

Encoders (:mod:`lit_mmrec.nn.variational_graph`). One variational graph encoder per modality ``m`` (item
inputs: the raw features ``F^m``) and one collaborative encoder ``c`` (item inputs: a trainable
``[I, d]`` item table ``E``), each with its own ``[U, d_l]`` user preference table, give Gaussians
``(mu_s, logvar_s)`` over the ``U + I`` nodes. Their product of experts is the fused Gaussian:

    (mu, logvar) = PoE({(mu_m, logvar_m)}_m ∪ {(mu_c, logvar_c)})
    z_s = mu_s + 0.1 eps exp(logvar_s / 2) in training (mu_s at evaluation),  s in {fused, m..., c}

Decoder and loss. With ``sigma`` the logistic function, ``y_s = sigma(z_s)`` (``sigmoid_output``, MMRec's
setting; the raw ``z_s`` otherwise), for a batch of ``(u, p, n)`` triples and every source ``s``:

    r_s = - sum_b log2 sigma(<y_u, y_p> - <y_u, y_n>)
    loss = sum_s (r_s + beta KL(N(mu_s, exp(logvar_s)) || N(0, I)))

Ranking: ``score(u, i) = <sigma(mu)_u, sigma(mu)_i>`` (``sigmoid_output``; ``<mu_u, mu_i>`` otherwise).
``reg_weight`` is not used (MMRec's MVGAE.yaml leaves it commented out).

Defaults and their sources: ``embedding_dim`` 64 and ``num_layers`` 1 (MMRec MVGAE.yaml); ``latent_dim``
128 (both codes' ``dim_latent``); ``beta`` 1.0: the authors' code weights the KL terms by 1, MMRec searches
{0.01, 0.1, 1}; ``learning_rate`` 1e-3: MMRec searches {1e-4, 1e-3, 1e-2, 0.1} (overall.yaml's default).

Deviations from MMRec's code (and the authors'):

- item node ids are offset by ``U`` in the decoder. MMRec indexes ``z`` (users first, then items) with the
  raw item ids, so its reconstruction loss scores users against *users*, and the item rows of ``z`` get no
  reconstruction gradient, while its ranking uses the item rows: a porting defect (the authors' code indexes
  ``z`` the same way, which is right for item ids offset by ``U``, as its evaluation's indexing of the same
  table shows; their data files are not published). Here ``<y_u, y_i>`` scores user ``u`` with item ``i``;
- the preference tables and the collaborative item table are trained. Both codes create them as plain
  tensors never registered as parameters, so they stay at their random initialisation (as in MMGCN, of
  which MVGAE's encoder is a variant); here they are ``nn.Parameter``\\ s (SG-URInit initialises the
  preference tables);
- the positive and negative scores enter the log-sigmoid as dot products of ``y``, as the authors' code
  does; MMRec passes them through a second sigmoid first (``sigmoid=True`` in its decoder calls), which
  bounds their difference in (-1, 1) and flattens the loss;
- each triple's own negative is scored, as in the authors' code, which takes the hardest of each user's own
  sampled negatives (here one per triple). MMRec feeds its ``[B]`` negatives to that ``[B, n_neg]`` code,
  whose broadcasting then scores every user against the hardest of *all* the batch's negatives: on a small
  catalogue that is nearly the best item of the catalogue, the user's own positives included.
  ``batch_negatives=True`` is MMRec's form (its ``B x B`` scores as one matrix product instead of MMRec's
  ``[B, B, d]`` gather);
- the product of experts is taken over all sources at once; MMRec takes it over image and text, then of
  that with the collaborative expert, adding ``eps = 1e-8`` to the variances twice (identical up to eps).
  Any number of modalities works (MMRec needs both image and text; the authors' code likewise);
- ``num_layers`` hidden layers of any number (both codes: 0 to 2); the second hidden layer's gate is
  xavier-initialised like every other (MMRec leaves that one at torch's default). The hidden layers'
  ``linear_layer1/2`` of the original are omitted: with ``concate=False`` (both codes) their output is
  computed and discarded;
- ``sigmoid_output`` is an argument (default on); MMRec hard-codes ``self.dataset = 'amazon'``, which
  switches it on for every data set (the authors: on for Amazon, off for Alishop);
- evaluation recomputes the representations in evaluation mode (no dropout); MMRec ranks with the
  ``sigmoid(mu)`` cached by the last training batch's forward pass (with dropout, before that batch's update).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.modal import require_modalities, select_modalities
from lit_mmrec.nn.sparse import csr_pair
from lit_mmrec.nn.variational_graph import (
    VariationalGraphEncoder,
    gaussian_kl,
    mean_adjacency,
    product_of_experts,
    reparametrise,
)

#: name of the collaborative (item ID) encoder
COLLABORATIVE = "collaborative"


class MVGAE(RecommenderModule):
    """Per-modality and collaborative variational graph encoders fused by a product of Gaussian experts.

    Args:
        num_layers: hidden layers of every encoder (MMRec MVGAE.yaml ``n_layers``: 1).
        latent_dim: width of the user preference tables and item input projections (both codes: 128).
        beta: weight of each KL term (the authors' code: 1; MMRec searches 0.01, 0.1, 1).
        sigmoid_output: decode and rank with ``sigmoid(z)`` (MMRec, and the authors on Amazon) rather than ``z``.
        batch_negatives: score each user against the hardest of the batch's negatives (MMRec's form) instead
            of its own negative (the authors').
        modalities: modalities with an encoder each; None uses every modality of the data set.
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``embedding_dim`` is the width d of the Gaussians and of the collaborative item table (MMRec: 64);
            ``reg_weight`` is not used.
    """

    def __init__(
        self,
        num_layers: int = 1,
        latent_dim: int = 128,
        beta: float = 1.0,
        sigmoid_output: bool = True,
        batch_negatives: bool = False,
        modalities: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(f"MVGAE: num_layers must be an integer >= 0, got {num_layers!r}")
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"MVGAE: latent_dim must be an integer >= 1, got {latent_dim!r}")
        if not beta >= 0:
            raise ValueError(f"MVGAE: beta must be a finite number >= 0, got {beta}")
        self.num_layers = num_layers
        self.latent_dim = latent_dim
        self.beta = float(beta)
        self.sigmoid_output = sigmoid_output
        self.batch_negatives = batch_negatives
        self.modalities = select_modalities(type(self).__name__, self.feature_dims, modalities)
        if COLLABORATIVE in self.modalities:
            raise ValueError(f"MVGAE: {COLLABORATIVE!r} names the collaborative encoder, not a modality")
        self.item_table = nn.Parameter(nn.init.xavier_normal_(torch.empty(self.num_items, self.embedding_dim)))
        inputs = {m: self.feature_dims[m] for m in self.modalities} | {COLLABORATIVE: self.embedding_dim}
        self.encoders = nn.ModuleDict(
            {
                source: VariationalGraphEncoder(self.num_users, width, latent_dim, self.embedding_dim, num_layers)
                for source, width in inputs.items()
            }
        )

    def build(self, dataset: MMRecDataset) -> None:
        require_modalities("MVGAE", dataset.item_features, self.modalities, f"data set {dataset.name}")
        self.register_item_features(dataset, self.modalities)
        train = dataset.train
        adjacency, adjacency_t = csr_pair(mean_adjacency(train.users, train.items, self.num_users, self.num_items).to_sparse_coo())
        self.register_data("adjacency", adjacency)
        self.register_data("adjacency_t", adjacency_t)

    def item_inputs(self, source: str) -> torch.Tensor:
        """The ``[I, D]`` item inputs of an encoder: a modality's raw features, or the collaborative table."""
        return self.item_table if source == COLLABORATIVE else self.item_features(source)

    def gaussians(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``(mu, logvar)`` over the ``U + I`` nodes, by source: each encoder's, then ``"fused"`` (their product)."""
        experts = {s: encoder(self.item_inputs(s), self.adjacency, self.adjacency_t) for s, encoder in self.encoders.items()}
        mu, logvar = zip(*experts.values(), strict=True)
        experts["fused"] = product_of_experts(torch.stack(mu), torch.stack(logvar))
        return experts

    def decoded(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z) if self.sigmoid_output else z

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        representation = self.decoded(self.gaussians()["fused"][0])
        return representation[: self.num_users], representation[self.num_users :]

    def reconstruction(self, z: torch.Tensor, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """``-sum_b log2 sigmoid(<y_u, y_p> - <y_u, y_n>)`` with ``y = decoded(z)``; with ``batch_negatives``,
        ``<y_u, y_n>`` is the largest over the batch's negatives."""
        y = self.decoded(z)
        u = y.index_select(0, users)
        pos, neg = y.index_select(0, torch.cat([positives, negatives]) + self.num_users).split(users.numel())
        negative = (u @ neg.T).max(dim=1).values if self.batch_negatives else (u * neg).sum(-1)
        return -torch.log2(torch.sigmoid((u * pos).sum(-1) - negative)).sum()

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        recon, kl = 0.0, 0.0
        for mu, logvar in self.gaussians().values():
            recon = recon + self.reconstruction(reparametrise(mu, logvar, self.training), users, positives, negatives)
            kl = kl + gaussian_kl(mu, logvar)
        return {"reconstruction": recon, "kl": self.beta * kl}

    # ------------------------------------------------------------ SG-URInit
    def project(self, modality: str, raw_features: torch.Tensor) -> torch.Tensor:
        """Item features in the space of ``modality``'s preference table (its encoder's input projection)."""
        if modality not in self.modalities:
            raise ValueError(f"MVGAE uses the modalities {self.modalities}, not {modality!r}")
        return self.encoders[modality].projection(raw_features)

    def user_init_targets(self) -> list[UserInitTarget]:
        targets = [
            UserInitTarget(f"preference[{m}]", self.encoders[m].preference, item_space=self.project, modalities=[m])
            for m in self.modalities
        ]
        # the collaborative table meets projected item IDs: no feature space, SG-URInit reduces the features (PCA)
        return targets + [UserInitTarget(f"preference[{COLLABORATIVE}]", self.encoders[COLLABORATIVE].preference)]
