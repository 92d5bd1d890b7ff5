r"""MMSSL (Wei, Huang, Xia & Zhang, "Multi-Modal Self-Supervised Learning for Recommendation", WWW 2023),
ported from the authors' code, HKUDS/MMSSL@f8d8955 (``MMSSL/Models.py``, ``MMSSL/main.py``,
``MMSSL/utility/parser.py``).

The paper evaluates on its own splits of Baby, Sports, TikTok and Allrecipes (under which LightGCN scores
.0698 Recall@20 on Baby, against .0754 on MMRec's split): its published numbers (Baby .0962, Sports .0998)
are not comparable with MMRec's protocol, which this module is trained under.

Notation: ``E_u, E_i`` the ID tables (xavier-uniform), ``x_i^m`` the raw features of modality ``m``,
``R`` the training interactions, ``P = D_u^-1/2 R`` and ``P' = D_i^-1/2 R^T`` (MMSSL's one-sided
``csr_norm(mean_flag=True)``), ``G^m`` the *generated* modality-aware user-item graph of ``m`` with
``Q^m, Q'^m`` its two one-sided normalisations, ``n(.)`` row L2 normalisation.

Representations (``forward``):

    f_i^m = dropout(W_m x_i^m + b_m)                       (nn.Linear, xavier weight; dropout 0.2)
    f_u^m = (P f^m)_u,     g_i^m = (P' f_u^m)_i            (modality-specific user/item features)
    h_u^m = (Q^m E_i)_u,   h_i^m = (Q'^m E_u)_i            (ID embeddings over the generated graph)
    a_u = mean_m ModalityAttention({h_u^m}_m),  a_i likewise    (:mod:`lit_mmrec.nn.modality_attention`)
    u^0 = E_u + 0.36 n(a_u),   i^0 = E_i + 0.36 n(a_i)
    u^{l+1} = P i^l,  i^{l+1} = P' u^{l+1};   in the last layer u^L = softmax(P i^{L-1}), i^L = softmax(P' u^L)
                                                (softmax over the width)
    user = mean_l u^l + 0.55 Σ_m n(f_u^m),   item = mean_l i^l + 0.55 Σ_m n(g_i^m),   score = <user, item>

Modality-aware graph generation: ``G^m`` holds, for every user, the ``k = max(1, int(0.0001 I))`` items
not in its training interactions that score highest under ``<f_u^m, g_i^m>``
(:mod:`lit_mmrec.nn.generated_graph`), computed without dropout from the parameters at the start of
every training epoch; evaluation generates it from the current parameters.

Adversarial training (two optimisers, each batch; the batch's distinct users ``b``):

- relation rows ``s^m_b = n((f_b^m g^{mT}) ⊙ (1 - R_b))`` (``[B, I]``, the "fake" rows); the "real" rows
  ``r_b = n( softmax(R_b + (1e-5 / 0.005) γ) + 100 ŝ_b )`` with ``γ`` standard Gumbel noise and ``ŝ`` the
  relation rows of the final representations (detached; the temperature 0.005 divides only the noise,
  as the original's operator precedence has it);
- discriminator step (:class:`~lit_mmrec.nn.discriminator.RelationDiscriminator`, Adam 3e-4,
  betas (0.5, 0.9)), on detached rows from a forward pass without gradient:
  ``L_D = -mean D(r) + mean D(s) + 0.3 GP(r, s)`` (:mod:`lit_mmrec.nn.gradient_penalty`; the original's
  ``LAMBDA`` 0.3 times ``gp_rate`` 1);
- generator step (AdamW 5.5e-4, weight decay 0.01, over every parameter except the discriminator's):

      L_G = BPR + 1e-5 · ½(|user_b|² + |pos|² + |neg|²) / B
            + 1e-5 · ½ Σ_m (|f_u^m|² + |g^m|²) / I                 (every row)
            + 0.03 Σ_m InfoNCE_GRACE(h^m_b, user_b; τ = 0.5)       (:mod:`lit_mmrec.nn.cross_view_info_nce`)
            - 1e-4 mean_m D(s^m)                                    (s^m with gradient)

Defaults: HKUDS ``parser.py`` (``embed_size`` 64, ``weight_size`` [64, 64] -> 2 layers, ``drop_rate`` 0.2,
``id_cat_rate`` 0.36, ``model_cat_rate`` 0.55, ``head_num`` 4, ``lr`` 5.5e-4, ``D_lr`` 3e-4, ``regs[0]``
1e-5, ``feat_reg_decay`` 1e-5, ``cl_rate`` 0.03, ``tau`` 0.5, ``G_rate`` 1e-4, ``gp_rate`` 1, ``G_drop1``
0.31, ``G_drop2`` 0.5, ``real_data_tau`` 0.005, ``log_log_scale`` 1e-5, ``ui_pre_scale`` 100,
``m_topk_rate`` 1e-4, ``batch_size`` 1024). The README's command runs these for every data set.

Training runs under Lightning's manual optimisation: both optimisers are in every checkpoint, and a
resumed fit replays the uninterrupted one. Trainer-driven gradient clipping and accumulation are
refused by Lightning for manual optimisation; multi-process (DDP) training is refused here (two backward
passes per batch, the first of which reaches only the discriminator). Lightning's ``global_step`` counts
optimiser steps: two per batch.

Deviations from the HKUDS code, and defects of it (the side chosen; the other is an option where cheap):

- generated graphs: the original collects the top-k items of the batch's users and rebuilds the graphs
  every ``T`` batches from the rows collected since the last rebuild, so the graph covers only the last
  batch's users; with its ``T = 1`` rows are collected only at batch 0 of an epoch and every later batch
  rebuilds from an empty list (an all-zero graph from batch 2 on, at evaluation too), and its
  ``k = int(I · 0.0001)`` is 0 for Baby (7,050 items) and TikTok: the modality-ID branch, the attention
  and the contrastive term are inert there. Here the graphs cover every user, are generated at each
  epoch start (the first epoch's from the initial parameters, where the original starts from the
  user-item graph itself), and ``k`` is at least 1;
- the attention: the original takes its keys from the queries (``W_k`` unused) and broadcasts the
  values along the query modality, so its attention weights cancel (``z_m = [v_m; ...; v_m] W_cat``);
  here keys are ``v W_k`` and values those of the key modality (``original_attention=True``: the
  original's indexing, with ``W_cat`` as its only weight). Its unused ``w_v``, ``w_self_attention_user/item``, ``common_trans`` and the
  fine-tunable feature tables that ``forward`` never reads are not created;
- the discriminator's ``nn.LeakyReLU(True)`` sets the negative slope to 1 (identity); here 0.01, the
  intended leaky ReLU (``discriminator_negative_slope=1.0``: the original);
- the original samples 1,024 distinct users per batch with one positive and one negative each; here the
  batches are MMRec's (user, positive, negative) triples, and the adversarial and contrastive terms use
  the batch's distinct users (a batch with one distinct user and one modality skips the adversarial
  terms: batch normalisation needs two rows);
- the discriminator's batch normalisation keeps no running statistics (the original's are read only in
  evaluation mode, which its training never uses);
- the generated graph excludes training items by score ``-inf`` (the original multiplies their score by
  0, which selects them only when every other score is negative); the discriminator's relation rows
  keep the original's 0;
- the original's learning-rate schedule (``LambdaLR`` 0.96^(epoch/50)) is created but never stepped:
  none here; its ``layers`` loop recomputes the same product, i.e. one feature layer, as here;
- evaluation: MMRec's full ranking and early-stopping rule, where the original evaluates on its own
  split with its own ``test_torch``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.errors import InputError
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.cross_view_info_nce import MIN_TEMPERATURE, cross_view_info_nce
from lit_mmrec.nn.discriminator import RelationDiscriminator
from lit_mmrec.nn.generated_graph import relation_rows, row_normalised, top_k_relations
from lit_mmrec.nn.gradient_penalty import gradient_penalty
from lit_mmrec.nn.losses import bpr_loss, squared_l2_loss
from lit_mmrec.nn.modal import modal_linears, select_modalities
from lit_mmrec.nn.modality_attention import ModalityAttention
from lit_mmrec.nn.sparse import csr_pair, matmul_with_transpose

Graph = tuple[torch.Tensor, torch.Tensor]  # a sparse CSR matrix and its transpose


class MMSSL(RecommenderModule):
    """MMSSL: modality-aware generated graphs, adversarial relation discriminator, attention fusion, and
    cross-modal contrast.

    Args:
        modalities: modalities to use; None = every modality of the data set.
        num_layers: user-item propagation layers, the last wrapped in softmax (``len(weight_size)``: 2).
        dropout: dropout on the projected features (``drop_rate``: 0.2).
        id_weight: weight of the attention-fused modality ID embeddings added to the ID tables
            (``id_cat_rate``: 0.36).
        feature_weight: weight of each modality's normalised features added to the final representations
            (``model_cat_rate``: 0.55).
        num_heads: attention heads (``head_num``: 4); must divide ``embedding_dim``.
        original_attention: the original's attention indexing, in which the weights cancel (see above).
        graph_topk_rate: items per user in the generated graphs, as a share of the items
            (``m_topk_rate``: 1e-4); at least one item.
        cl_weight: weight of the cross-modal contrastive term (``cl_rate``: 0.03).
        temperature: its temperature (``tau``: 0.5).
        feature_reg_weight: weight of the squared norms of the modality features (``feat_reg_decay``: 1e-5).
        adversarial_weight: weight of the generator's adversarial term (``G_rate``: 1e-4).
        penalty_weight: weight of the gradient penalty in the discriminator loss (``LAMBDA`` 0.3 x
            ``gp_rate`` 1).
        discriminator_learning_rate: Adam learning rate of the discriminator (``D_lr``: 3e-4; betas
            (0.5, 0.9) as the original).
        discriminator_dropouts: its two dropout rates (``G_drop1`` 0.31, ``G_drop2`` 0.5).
        discriminator_negative_slope: its leaky ReLU slope (0.01; the original's is 1, see above).
        real_tau: temperature of the Gumbel noise of the real rows (``real_data_tau``: 0.005).
        gumbel_scale: scale of that noise (``log_log_scale``: 1e-5).
        real_similarity_scale: weight of the model's own relation rows in the real rows (``ui_pre_scale``: 100).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``reg_weight`` weights the squared norms of the batch's final rows (``regs[0]``: 1e-5),
            ``learning_rate`` and ``weight_decay`` are the generator's AdamW (``lr`` 5.5e-4; AdamW's
            default decay 0.01, which the original keeps).
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        num_layers: int = 2,
        dropout: float = 0.2,
        id_weight: float = 0.36,
        feature_weight: float = 0.55,
        num_heads: int = 4,
        original_attention: bool = False,
        graph_topk_rate: float = 1e-4,
        cl_weight: float = 0.03,
        temperature: float = 0.5,
        feature_reg_weight: float = 1e-5,
        adversarial_weight: float = 1e-4,
        penalty_weight: float = 0.3,
        discriminator_learning_rate: float = 3e-4,
        discriminator_dropouts: tuple[float, float] = (0.31, 0.5),
        discriminator_negative_slope: float = 0.01,
        real_tau: float = 0.005,
        gumbel_scale: float = 1e-5,
        real_similarity_scale: float = 100.0,
        reg_weight: float = 1e-5,
        learning_rate: float = 5.5e-4,
        weight_decay: float = 0.01,
        **kwargs: Any,
    ) -> None:
        super().__init__(reg_weight=reg_weight, learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        self.modalities = select_modalities("MMSSL", self.feature_dims, modalities)
        if num_layers < 0:
            raise ValueError(f"MMSSL: num_layers must be >= 0, got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MMSSL: dropout must be in [0, 1), got {dropout}")
        if not 0.0 < graph_topk_rate <= 1.0:
            raise ValueError(f"MMSSL: graph_topk_rate must be in (0, 1], got {graph_topk_rate}")
        if not temperature >= MIN_TEMPERATURE:
            raise ValueError(f"MMSSL: temperature must be at least {MIN_TEMPERATURE}, got {temperature}")
        if not (real_tau > 0 and discriminator_learning_rate > 0):
            raise ValueError("MMSSL: real_tau and discriminator_learning_rate must be positive")
        weights = {"id_weight": id_weight, "feature_weight": feature_weight, "cl_weight": cl_weight,
                   "feature_reg_weight": feature_reg_weight, "adversarial_weight": adversarial_weight,
                   "penalty_weight": penalty_weight, "gumbel_scale": gumbel_scale,
                   "real_similarity_scale": real_similarity_scale, "discriminator_negative_slope": discriminator_negative_slope}
        negative = [name for name, value in weights.items() if not value >= 0]
        if negative:
            raise ValueError(f"MMSSL: {', '.join(negative)} must be non-negative")
        self.num_layers = num_layers
        self.id_weight = id_weight
        self.feature_weight = feature_weight
        self.graph_topk = max(1, int(self.num_items * graph_topk_rate))
        self.cl_weight = cl_weight
        self.temperature = temperature
        self.feature_reg_weight = feature_reg_weight
        self.adversarial_weight = adversarial_weight
        self.penalty_weight = penalty_weight
        self.discriminator_learning_rate = discriminator_learning_rate
        self.real_tau = real_tau
        self.gumbel_scale = gumbel_scale
        self.real_similarity_scale = real_similarity_scale

        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, self.embedding_dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_items, self.embedding_dim)))
        self.projection = modal_linears(self.feature_dims, self.modalities, self.embedding_dim, nn.init.xavier_uniform_)
        self.feature_dropout = nn.Dropout(dropout)
        self.attention = ModalityAttention(self.embedding_dim, num_heads, original_attention)
        self.discriminator = RelationDiscriminator(self.num_items, tuple(discriminator_dropouts), discriminator_negative_slope)
        self.automatic_optimization = False
        self._graphs: dict[str, tuple[Graph, Graph]] | None = None

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        self.register_item_features(dataset, self.modalities)
        users, items = dataset.train.users.long(), dataset.train.items.long()
        user_item, user_item_t = csr_pair(row_normalised(users, items, self.num_users, self.num_items).to_sparse_coo())
        item_user, item_user_t = csr_pair(row_normalised(items, users, self.num_items, self.num_users).to_sparse_coo())
        self.register_data("user_item", user_item)
        self.register_data("user_item_t", user_item_t)
        self.register_data("item_user", item_user)
        self.register_data("item_user_t", item_user_t)

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.trainer.world_size > 1:
            raise InputError(
                "MMSSL trains in one process: each batch takes two backward passes (discriminator, then "
                f"generator), which DDP's gradient synchronisation does not follow ({self.trainer.world_size} "
                "processes asked for); validate, test and predict run on any number"
            )
        super().setup(stage)

    # ------------------------------------------------------------- representations
    def modality_features(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per modality ``(f_u^m [U, d], g^m [I, d])``: projected features (dropout in training) propagated
        to the users and back to the items over the user-item graph."""
        out = {}
        for m in self.modalities:
            projected = self.feature_dropout(self.projection[m](self.item_features(m)))
            users = matmul_with_transpose(self.user_item, self.user_item_t, projected)
            out[m] = (users, matmul_with_transpose(self.item_user, self.item_user_t, users))
        return out

    @torch.no_grad()
    def generate_graphs(self) -> dict[str, tuple[Graph, Graph]]:
        """Per modality the generated user-item graph ``(Q^m, Q'^m)``, each with its transpose: the top
        ``graph_topk`` unseen items of every user under the modality's features, without dropout."""
        training = self.feature_dropout.training
        self.feature_dropout.eval()
        try:
            features = self.modality_features()
        finally:
            self.feature_dropout.train(training)
        graphs = {}
        for m, (users, items) in features.items():
            rows, cols = top_k_relations(users, items, self.index("train"), self.graph_topk)
            forward = csr_pair(row_normalised(rows, cols, self.num_users, self.num_items).to_sparse_coo())
            backward = csr_pair(row_normalised(cols, rows, self.num_items, self.num_users).to_sparse_coo())
            graphs[m] = (forward, backward)
        return graphs

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._graphs = self.generate_graphs()

    def encode(self) -> dict[str, Any]:
        """Every representation of one forward pass: ``users``, ``items`` (final), ``features``
        (per modality ``(f_u^m, g^m)``) and ``modal_users`` (per modality ``h_u^m``)."""
        graphs = self._graphs if self.training and self._graphs is not None else self.generate_graphs()
        features = self.modality_features()
        modal_users, modal_items = [], []
        for m in self.modalities:
            (user_item, user_item_t), (item_user, item_user_t) = graphs[m]
            modal_users.append(matmul_with_transpose(user_item, user_item_t, self.item_embedding))
            modal_items.append(matmul_with_transpose(item_user, item_user_t, self.user_embedding))
        fused_users = self.attention(torch.stack(modal_users)).mean(0)
        fused_items = self.attention(torch.stack(modal_items)).mean(0)
        users = self.user_embedding + self.id_weight * F.normalize(fused_users, dim=1)
        items = self.item_embedding + self.id_weight * F.normalize(fused_items, dim=1)
        user_layers, item_layers = [users], [items]
        for layer in range(self.num_layers):
            last = layer == self.num_layers - 1
            users = matmul_with_transpose(self.user_item, self.user_item_t, items)
            users = torch.softmax(users, dim=-1) if last else users
            items = matmul_with_transpose(self.item_user, self.item_user_t, users)
            items = torch.softmax(items, dim=-1) if last else items
            user_layers.append(users)
            item_layers.append(items)
        users = torch.stack(user_layers).mean(0)
        items = torch.stack(item_layers).mean(0)
        for user_features, item_features in features.values():
            users = users + self.feature_weight * F.normalize(user_features, dim=1)
            items = items + self.feature_weight * F.normalize(item_features, dim=1)
        return {"users": users, "items": items, "features": features,
                "modal_users": dict(zip(self.modalities, modal_users, strict=True))}

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = self.encode()
        return encoded["users"], encoded["items"]

    # ------------------------------------------------------------- adversarial parts
    def fake_rows(self, encoded: dict[str, Any], users: torch.Tensor) -> torch.Tensor:
        """The modality relation rows ``s^m_b`` of ``users``, modalities stacked: ``[M B, I]``."""
        exclude = self.index("train")
        return torch.cat([relation_rows(u[users], i, users, exclude) for u, i in encoded["features"].values()])

    def real_rows(self, encoded: dict[str, Any], users: torch.Tensor) -> torch.Tensor:
        """``r_b`` (see the module docstring), repeated once per modality: ``[M B, I]``, no gradient."""
        with torch.no_grad():
            exclude = self.index("train")
            interactions = torch.zeros(users.numel(), self.num_items, device=users.device)
            rows, items = exclude.entries(users)
            interactions[rows, items] = 1.0
            uniform = torch.rand_like(interactions)
            gumbel = -torch.log(-torch.log(uniform + 1e-8) + 1e-8)
            real = torch.softmax(interactions + self.gumbel_scale * gumbel / self.real_tau, dim=1)
            own = relation_rows(encoded["users"][users], encoded["items"], users, exclude)
            real = F.normalize(real + self.real_similarity_scale * own, dim=1)
            return real.repeat(len(self.modalities), 1)

    def discriminator_loss(self, users: torch.Tensor) -> torch.Tensor:
        """``L_D`` for the distinct ``users`` of a batch, from a forward pass without gradient."""
        with torch.no_grad():
            encoded = self.encode()
            fake = self.fake_rows(encoded, users)
        real = self.real_rows(encoded, users)
        return (-self.discriminator(real).mean() + self.discriminator(fake).mean()
                + self.penalty_weight * gradient_penalty(self.discriminator, real, fake))

    # ------------------------------------------------------------- training
    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        """The generator's loss terms ``L_G`` for one batch."""
        encoded = self.encode()
        user_repr, item_repr = encoded["users"], encoded["items"]
        u = user_repr.index_select(0, users)
        pos, neg = item_repr.index_select(0, torch.cat([positives, negatives])).split(users.numel())
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))}
        if self.reg_weight:
            terms["reg"] = self.reg_weight * squared_l2_loss(u, pos, neg) / users.numel()
        if self.feature_reg_weight:
            tables = [t for pair in encoded["features"].values() for t in pair]
            terms["feature_reg"] = self.feature_reg_weight * squared_l2_loss(*tables) / self.num_items
        distinct = torch.unique(users)
        if self.cl_weight:
            anchors = user_repr[distinct]
            terms["contrast"] = self.cl_weight * sum(
                cross_view_info_nce(h[distinct], anchors, self.temperature) for h in encoded["modal_users"].values()
            )
        if self.adversarial_weight and self.adversarial(distinct):
            terms["adversarial"] = -self.adversarial_weight * self.discriminator(self.fake_rows(encoded, distinct)).mean()
        return terms

    def adversarial(self, users: torch.Tensor) -> bool:
        """Whether the batch's distinct ``users`` make at least the two rows batch normalisation needs."""
        return users.numel() * len(self.modalities) >= 2

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        users, positives, negatives = batch
        generator_optimizer, discriminator_optimizer = self.optimizers()
        distinct = torch.unique(users)
        size = users.numel()
        if self.adversarial(distinct):
            discriminator_loss = self.discriminator_loss(distinct)
            discriminator_optimizer.zero_grad()
            self.manual_backward(discriminator_loss)
            discriminator_optimizer.step()
            self.log("train/discriminator", discriminator_loss, on_step=False, on_epoch=True, batch_size=size)
        terms = self.loss(users, positives, negatives)
        total = sum(terms.values())
        generator_optimizer.zero_grad()
        self.manual_backward(total)
        generator_optimizer.step()
        self.log("train/loss", total, prog_bar=True, on_step=False, on_epoch=True, batch_size=size)
        self.log_dict({f"train/{k}": v for k, v in terms.items()}, on_step=False, on_epoch=True, batch_size=size)
        return total

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """The generator's AdamW over every parameter but the discriminator's, and the discriminator's Adam."""
        discriminator = {id(p) for p in self.discriminator.parameters()}
        generator = [p for p in self.parameters() if id(p) not in discriminator]
        return [
            torch.optim.AdamW(generator, lr=self.learning_rate, weight_decay=self.weight_decay),
            torch.optim.Adam(self.discriminator.parameters(), lr=self.discriminator_learning_rate, betas=(0.5, 0.9)),
        ]

    def user_init_targets(self) -> list[UserInitTarget]:
        # ID table scored against the item ID table (plus feature terms): SG-URInit's PCA-reduced features.
        return [UserInitTarget("user_embedding", self.user_embedding, item_space="none",
                               modalities=self.modalities, item_table=self.item_embedding)]
