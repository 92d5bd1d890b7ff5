r"""LGMRec (Guo et al., "LGMRec: Local and Global Graph Learning for Multimodal Recommendation",
AAAI 2024), as in the authors' code (georgeguo-cn/LGMRec, ``models/lgmrec.py``) and MMRec's port
(``src/models/lgmrec.py``, ``src/configs/model/LGMRec.yaml``), in the version with the 2024-07 fix
(see *Deviations*).

Notation: ``U`` users, ``I`` items, ``N = U + I`` nodes, ``d`` the embedding width (64), ``K`` the
number of hyperedges, ``R [U, I]`` the binary training interactions, ``A [N, N]`` the symmetric
normalised user-item adjacency ``D^-1/2 [[0, R], [R^T, 0]] D^-1/2`` (no self-loops), ``X_m [I, D_m]``
the raw features of modality ``m``.

*Local, collaborative* (LightGCN on ID embeddings ``E^(0) = [E_user; E_item]``, xavier-uniform)::

    C = mean(E^(0), A E^(0), ..., A^{L_ui} E^(0))                               [N, d]

*Local, modal*: items are projected, ``F_m = X_m W_m`` (``W_m [D_m, d]``, xavier); a user's modal
feature is the degree-normalised mean of its items' ``F_m``; then ``L_mm`` plain propagations (the
last layer only, no layer mean)::

    M_m = A^{L_mm} [diag(1/|N_u|) R F_m ; F_m]                                  [N, d]

*Global, hypergraph*: per modality, ``K`` hyperedges with item-hyperedge logits ``X_m H_m``
(``H_m [D_m, K]``, xavier) and user-hyperedge logits ``R X_m H_m`` (a plain sum over the user's
items); both are relaxed into soft assignments by a Gumbel-softmax (``tau = 0.2``, soft), then
dropout (keep rate ``keep_rate``) in training::

    Hi_m = drop(gumbel_softmax(X_m H_m)),  Hu_m = drop(gumbel_softmax(R X_m H_m))
    G_item^(0) = C_items;  for each of L_hyper layers:  Lat = Hi_m^T G_item;  G_item = Hi_m Lat
    G_user = Hu_m Lat (with the last layer's Lat);  G_m = [G_user; G_item]        [N, d]

*Fusion* and score::

    Z = C + sum_m normalize(M_m) + alpha * normalize(sum_m G_m),    score(u, i) = <Z_u, Z_i>

Loss for a batch of (user, positive, negative) triples::

    BPR(Z) + cl_weight * CL + reg_weight * (|Z_users| + |Z_pos| + |Z_neg|) / batch

with ``|.|`` the unsquared Frobenius norm of the batch's *final* rows (the original's ``reg_loss``),
and the hypergraph contrastive term (InfoNCE, temperature ``tau``, summed over the batch) between
the image (anchor) and text (candidates) hypergraph embeddings of the batch's users (negatives: all
users) and of its positive items (negatives: all items)::

    CL = sum_{b in batch} -log( exp(cos(Gu^img_b, Gu^txt_b)/tau) / sum_{v in users} exp(cos(Gu^img_b, Gu^txt_v)/tau) )
       + (the same over positive items)

Evaluation ranks with ``Z`` computed in eval mode (no dropout).

Deviations from the original code, all deliberate:

- *The hyperedge fix.* Until 2024-07 the official code wrote the text user-hyperedge assignment into
  the visual one (``uv_hyper = gumbel_softmax(ut_hyper)``), so the visual hypergraph used the text
  users' assignments and the text one used raw, un-normalised logits. This is the fixed version
  (as in MMRec and the authors' repository since the fix): each modality keeps its own assignments.
- *Any number of modalities* (the original needs exactly image + text and silently degrades to
  LightGCN otherwise, then crashes in the loss): the sums above run over the modalities present
  (or those named in ``modalities``); the contrastive term runs over every pair ``(a, b)`` of them,
  ``a`` before ``b`` in the configured order, ``a`` the anchor, which for ``[image, text]`` is exactly
  the original's single image -> text term. With one modality there is no pair and no CL term.
- *Gumbel noise at evaluation.* The original draws fresh Gumbel noise at every evaluation, so its
  scores are random. Here evaluation draws the noise from a generator seeded with ``eval_noise_seed``
  (same distribution, reproducible: a reloaded checkpoint ranks identically); ``None`` drops the noise
  at evaluation (``softmax(logits / tau)``).
- ``cf_model: mf`` (a variant the original keeps but never configures) is not offered, and the modal
  projection width is ``embedding_dim`` (the original's ``feat_embed_dim``, which must equal it for the
  sum ``C + M`` anyway).
- Same maths, computed differently for speed (each checked against a dense re-statement of the
  original in the tests): ``X_m [W_m | H_m]`` is one matrix product (one pass over the 4096-d image
  features instead of two), and its weight gradient uses a stored contiguous ``X_m^T`` (one extra
  copy of the features in memory, twice as fast on the CPU); one sparse product gives both
  user-side aggregates of a modality (feature sums and hyperedge logits); in training, the row-wise
  fusion (normalisations, sums) is computed for the batch's rows only; the InfoNCE denominators are
  computed through the ``K``-dimensional hyperedge space (``G = Hu Lat`` has rank ``<= K``), in
  chunks, with a constant shift instead of ``exp``/``sum``/``log`` (same value; the logits are
  cosines / tau) and their gradient formed in the same pass (:func:`lit_mmrec.nn.losses.hypergraph_info_nce`);
  repeated users/items of a batch are scored once and weighted by their multiplicity.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.data.pairs import pairs_to_csr
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.light_conv import LightConv
from lit_mmrec.nn.losses import bpr_loss, embedding_norm_loss, hypergraph_info_nce
from lit_mmrec.nn.modal import select_modalities
from lit_mmrec.nn.normalisation import bipartite_adjacency
from lit_mmrec.nn.sparse import int32_csr, matmul_with_transpose
from lit_mmrec.nn.sum_conv import SumConv


def gumbel_softmax(logits: torch.Tensor, tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Soft Gumbel-softmax over the last dimension, as ``F.gumbel_softmax(hard=False)``, with an
    optional generator for the noise."""
    gumbels = -torch.empty_like(logits).exponential_(generator=generator).log()
    return torch.softmax((logits + gumbels) / tau, dim=-1)


@dataclass
class _Hypergraph:
    """One modality's hypergraph branch: assignments ``[U, K]``, ``[I, K]``, hyperedge embeddings
    ``[K, d]`` (of the last layer) and the outputs ``[U, d]``, ``[I, d]``."""

    user_assignment: torch.Tensor
    item_assignment: torch.Tensor
    latent: torch.Tensor
    users: torch.Tensor
    items: torch.Tensor


class LGMRec(RecommenderModule):
    """LGMRec: LightGCN + modal graph + Gumbel-softmax hypergraph branches.

    Args:
        num_ui_layers: LightGCN layers of the collaborative branch (``n_ui_layers``; 2).
        num_mm_layers: propagation layers of the modal branch (``n_mm_layers``; 2).
        num_hyper_layers: hypergraph layers (``n_hyper_layer``; Baby 1, Sports 4, Clothing 2).
        num_hyperedges: hyperedges per modality (``hyper_num``; Baby/Sports 4, Clothing 64).
        keep_rate: keep probability of the dropout on hyperedge assignments (Baby 0.5, Sports 0.4,
            Clothing 0.2).
        alpha: weight of the global (hypergraph) embeddings (Baby 0.3, Sports 0.6, Clothing 0.2).
        cl_weight: weight of the hypergraph contrastive loss (1e-4).
        tau: temperature of the Gumbel-softmax and of the contrastive loss (0.2, fixed in the original).
        eval_noise_seed: seed of the Gumbel noise drawn at evaluation (the original draws fresh noise);
            None: no noise at evaluation.
        modalities: modalities to use, in order (the first of a pair is the contrastive anchor);
            None: every modality of the data set, in its order.
        reg_weight: weight of the norm penalty on the batch's final rows (1e-6).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``embedding_dim`` is the width of the ID embeddings and of the modal projections (MMRec: 64).
    """

    def __init__(
        self,
        num_ui_layers: int = 2,
        num_mm_layers: int = 2,
        num_hyper_layers: int = 1,
        num_hyperedges: int = 4,
        keep_rate: float = 0.5,
        alpha: float = 0.3,
        cl_weight: float = 1e-4,
        tau: float = 0.2,
        eval_noise_seed: int | None = 0,
        modalities: list[str] | None = None,
        reg_weight: float = 1e-6,
        **kwargs: Any,
    ) -> None:
        super().__init__(reg_weight=reg_weight, **kwargs)
        available = self.feature_dims
        # None: the data set's order, not sorted (the first of a pair is the contrastive anchor)
        modalities = select_modalities("LGMRec", available, list(available) if modalities is None else modalities)
        if min(num_ui_layers, num_mm_layers) < 0 or num_hyper_layers < 1 or num_hyperedges < 1:
            raise ValueError(
                "need num_ui_layers, num_mm_layers >= 0 and num_hyper_layers, num_hyperedges >= 1, got "
                f"{num_ui_layers}, {num_mm_layers}, {num_hyper_layers}, {num_hyperedges}"
            )
        if not 0.0 < keep_rate <= 1.0 or tau <= 0:
            raise ValueError(f"need 0 < keep_rate <= 1 and tau > 0, got {keep_rate}, {tau}")
        self.modalities = modalities
        self.num_ui_layers = num_ui_layers
        self.user_item_conv = LightConv(num_ui_layers)
        self.modal_conv = SumConv(symmetric=True)  # one Â step of the modal branch
        self.interaction_conv = SumConv()  # each user's sum over its items
        self.num_mm_layers = num_mm_layers
        self.num_hyper_layers = num_hyper_layers
        self.num_hyperedges = num_hyperedges
        self.alpha = alpha
        self.cl_weight = cl_weight
        self.tau = tau
        self.eval_noise_seed = eval_noise_seed

        def xavier(*shape: int) -> nn.Parameter:
            return nn.Parameter(nn.init.xavier_uniform_(torch.empty(*shape)))

        self.user_embedding = xavier(self.num_users, self.embedding_dim)
        self.item_embedding = xavier(self.num_items, self.embedding_dim)
        self.item_projection = nn.ParameterDict({m: xavier(available[m], self.embedding_dim) for m in modalities})
        self.hyperedge_projection = nn.ParameterDict({m: xavier(available[m], num_hyperedges) for m in modalities})
        self.dropout = nn.Dropout(p=1.0 - keep_rate)

    def build(self, dataset: MMRecDataset) -> None:
        self.register_item_features(dataset, self.modalities)
        for m in self.modalities:
            self.register_data(f"features_t_{m}", self.item_features(m).T.contiguous())
        users, items, num_users, num_items = dataset.train.users, dataset.train.items, self.num_users, self.num_items
        self.register_data("adjacency", bipartite_adjacency(users, items, num_users, num_items))
        self.register_data("interactions", int32_csr(pairs_to_csr(users, items, num_users, num_items)))
        self.register_data("interactions_t", int32_csr(pairs_to_csr(items, users, num_items, num_users)))
        degree = torch.bincount(users, minlength=num_users).float()
        # 1/|N_u|; users without training items get 0 (the original's 1/(0 + 1e-7) times a zero sum)
        self.register_data("inverse_degree", torch.where(degree > 0, 1.0 / degree.clamp_min(1.0), 0.0).unsqueeze(1))

    # ----------------------------------------------------------------- encoder
    def _encode(self, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, list[_Hypergraph]]:
        """Final embeddings ``Z`` of the nodes ``rows`` (users first, items offset by ``num_users``;
        all ``N`` when None) and each modality's hypergraph branch (all nodes)."""
        d, k = self.embedding_dim, self.num_hyperedges
        ego = torch.cat([self.user_embedding, self.item_embedding])
        collab = self.user_item_conv(ego, self.adjacency)
        generator = None
        if not self.training and self.eval_noise_seed is not None:
            generator = torch.Generator(device=ego.device).manual_seed(self.eval_noise_seed)

        def pick(x: torch.Tensor) -> torch.Tensor:  # row-wise maths below: only the rows asked for
            return x if rows is None else x[rows]

        local, hypergraphs = pick(collab), []
        for m in self.modalities:
            # [F_m | X_m H_m] in one product, and its sums over each user's items in one sparse product
            weights = torch.cat([self.item_projection[m], self.hyperedge_projection[m]], dim=1)
            projected = matmul_with_transpose(self.item_features(m), getattr(self, f"features_t_{m}"), weights)
            aggregated = self.interaction_conv(projected, self.interactions, transpose=self.interactions_t)
            item_feats, item_logits = projected.split([d, k], dim=1)
            user_sums, user_logits = aggregated.split([d, k], dim=1)
            modal = torch.cat([user_sums * self.inverse_degree, item_feats])
            for _ in range(self.num_mm_layers):  # width d per product: faster than one wide product
                modal = self.modal_conv(modal, self.adjacency)
            local = local + F.normalize(pick(modal), dim=1)
            hypergraphs.append(self._hypergraph(item_logits, user_logits, collab[self.num_users :], generator))
        hyper = pick(torch.cat([sum(h.users for h in hypergraphs), sum(h.items for h in hypergraphs)]))
        return local + self.alpha * F.normalize(hyper, dim=1), hypergraphs

    def _hypergraph(
        self,
        item_logits: torch.Tensor,
        user_logits: torch.Tensor,
        collab_items: torch.Tensor,
        generator: torch.Generator | None,
    ) -> _Hypergraph:
        if self.training or generator is not None:
            item_assignment = gumbel_softmax(item_logits, self.tau, generator)
            user_assignment = gumbel_softmax(user_logits, self.tau, generator)
        else:
            item_assignment = torch.softmax(item_logits / self.tau, dim=1)
            user_assignment = torch.softmax(user_logits / self.tau, dim=1)
        item_assignment, user_assignment = self.dropout(item_assignment), self.dropout(user_assignment)
        items = collab_items
        for _ in range(self.num_hyper_layers):
            latent = item_assignment.T @ items
            items = item_assignment @ latent
        return _Hypergraph(user_assignment, item_assignment, latent, user_assignment @ latent, items)

    # ------------------------------------------------------------- backbone API
    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        final, _ = self._encode()
        return final[: self.num_users], final[self.num_users :]

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        rows = torch.cat([users, self.num_users + positives, self.num_users + negatives])
        final, hypergraphs = self._encode(rows)
        u, pos, neg = final.split(users.numel())
        terms = {"bpr": bpr_loss((u * pos).sum(1), (u * neg).sum(1))}
        if self.reg_weight:
            terms["reg"] = self.reg_weight * embedding_norm_loss(u, pos, neg)
        if self.cl_weight and len(hypergraphs) > 1:
            unique_users, user_counts = torch.unique(users, return_counts=True)
            unique_items, item_counts = torch.unique(positives, return_counts=True)
            user_weights, item_weights = user_counts.to(u.dtype), item_counts.to(u.dtype)
            contrastive = u.new_zeros(())
            for anchor, candidate in combinations(hypergraphs, 2):
                contrastive = contrastive + hypergraph_info_nce(
                    anchor.users[unique_users], unique_users, user_weights,
                    candidate.user_assignment, candidate.latent, candidate.users, self.tau,
                ) + hypergraph_info_nce(
                    anchor.items[unique_items], unique_items, item_weights,
                    candidate.item_assignment, candidate.latent, candidate.items, self.tau,
                )
            terms["cl"] = self.cl_weight * contrastive
        return terms

    def user_init_targets(self) -> list[UserInitTarget]:
        # The only user table is the collaborative ID embedding: LightGCN propagates it with the item
        # ID embeddings, against which it is scored (through C). The modal user features are derived
        # (means of the items' projected features), not learnt, so no table lives in a feature space.
        return [UserInitTarget("user_embedding", self.user_embedding, item_space="none", modalities=self.modalities)]
