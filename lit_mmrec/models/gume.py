r"""GUME (Lin, Meng, Wang, Long, Zhou & Xiao, "GUME: Graphs and User Modalities Enhancement for Long-Tail
Multimodal Recommendation", CIKM 2024), as the authors run it (``NanGongNingYi/GUME`` commit 44a4dce,
``src/models/gume.py`` and ``src/configs/model/GUME.yaml``; in neither MMRec nor the authors' library).

Graphs, built once from the training data and the raw features:

- per modality ``m`` the weighted kNN item graph ``S_m`` (cosine, ``k`` neighbours including the item
  itself, weights the cosines, ``D^-1/2 A D^-1/2`` with row sums: :mod:`lit_mmrec.nn.knn_graph`, LATTICE's
  weighted variant);
- the user-item graph augmented with the kNN-intersection item edges ``(i, j)``, ``j`` among the ``k``
  nearest items of ``i`` in every modality (:mod:`lit_mmrec.nn.knn_intersection`): ``Â`` (not symmetric),
  and ``R = Â[users, items]``, its user-to-item block.

Encoding, with ``E_u, E_i`` the ID tables, ``X_m [U, d]`` a user table per modality (all xavier-uniform),
``x^m`` the (fine-tuned) raw features, ``LG(·)`` the layer mean of ``n_ui`` products with ``Â``:

    e^m_i = E_i ⊙ σ(T_m (W_m x^m_i + b_m) + c_m)                         (item modal embedding)
    H_id = LG([E_u; E_i])                                                 (extended ID)
    h^m = S_m^{n_ii} e^m,    P_m = [R h^m; h^m]                          (explicit modal)
    G_m = LG([X_m; h^m]),    G = mean_m G_m                               (extended modal users)
    w = softmax_m(c(P_m)),   c(z) = v^T tanh(Q z + q)                     (coarse gating, shared c)
    C = Σ_m w_m P_m,   F_m = σ(B_m H_id + b'_m) ⊙ (P_m - C)                 (coarse / fine parts)
    Z = (Σ_m F_m + C) / (M + 1),     [user; item] = H_id + Z,   score = <user, item>

Loss for a batch ``(u, i+, i-)`` of size ``B``, ``NCE_τ`` the :func:`~lit_mmrec.nn.info_nce.info_nce`:

    BPR on the scores
    + reg_weight x ½ (|user_u|² + |item_i+|² + |item_i-|²) / B
    + vt_weight x Σ_{m<m'} |var P_m - var P_m'| + |mean P_m - mean P_m'|      (:mod:`lit_mmrec.nn.alignment`)
    + bm_weight x (NCE_bm(Z_u, H_id,u) + NCE_bm(Z_i+, H_id,i+))
    + um_weight x (NCE_um(G_u, Z_u) + NCE_um^ε(Z_u) + NCE_um^ε(G_u))       (:mod:`lit_mmrec.nn.noise_info_nce`)
    + extended_reg_weight x ½ |G_i+|² / B

``NCE^ε`` contrasts two SimGCL noise views (``ε = 0.1``). The three other terms run over the batch's distinct
rows with their counts (:func:`~lit_mmrec.nn.info_nce.rows_info_nce`, the same sum); the noise views draw
per batch row, as the original, so a repeated row gets its own noise. Adam with the learning rate decayed by 0.96
every 50 epochs (``learning_rate_scheduler: [0.96, 50]``).

Defaults: GUME.yaml's Baby block (n_ui_layers 3, n_layers 2, knn_k 10, bm_loss 0.01, bm_temp 0.4,
um_loss 0.01, um_temp 0.1, vt_loss 0.1, reg_weight_1 1e-5, reg_weight_2 0.1, learning rate 1e-3); the
file lists Sports, Clothing and Elec blocks beside it (configs/<data>/gume.yaml use them).

Deviations from the authors' code:

- the intersection edges follow ``knn_k`` and are derived from the kNN tables (cached keyed by ``k`` and
  the features' hash): the original groups the sparse graph's entries ten at a time whatever ``knn_k`` is,
  and caches ``inter.json`` in the data folder whatever ``knn_k`` or the features are (a stale file is
  reused); its image and text graph files are keyed by ``knn_k`` only;
- any number of modalities: the gating's softmax, the fine parts, the ``M + 1`` divisor, the mean of the
  extended modal users and the pairwise alignment run over the modalities used (the original is written
  for image + text, where these are its formulas; with one modality the alignment term is absent);
- the regularisers divide by the batch's size (the original divides by the configured 2048, so its last,
  smaller batch of an epoch is regularised less);
- safe cosine for zero feature rows (no neighbours, not NaN), as elsewhere here; the raw-feature
  fine-tuning is a zero-initialised learned offset (as FREEDOM's), the same updates under Adam;
- the ID and modal user-item propagations run as one stack over the concatenated columns, with a
  precomputed ``Â^T`` for the backward (same maths); unused members of the original (``tau``) are left out.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.alignment import mean_variance_alignment
from lit_mmrec.nn.info_nce import rows_info_nce
from lit_mmrec.nn.knn_graph import cached_knn_neighbours, normalised_knn_adjacency
from lit_mmrec.nn.knn_intersection import augmented_user_item_adjacency, knn_intersection_edges
from lit_mmrec.nn.losses import bpr_loss, squared_l2_loss
from lit_mmrec.nn.modal import FeatureProjection, adam_with_decay
from lit_mmrec.nn.noise_info_nce import noise_views_info_nce
from lit_mmrec.nn.normalisation import user_item_block
from lit_mmrec.nn.sparse import csr_pair
from lit_mmrec.nn.sum_conv import SumConv


class GUME(RecommenderModule):
    """GUME: kNN-intersection-augmented user-item graph, modal item graphs, gated fusion, contrastive
    enhancement of the user modality representations.

    Args:
        modalities: modalities to use; None = every modality of the data set.
        num_layers: user-item propagation layers over the augmented graph (GUME.yaml ``n_ui_layers``: 3).
        num_item_graph_layers: products with each modality's kNN item graph (``n_layers``: 2 Baby, 1 others).
        knn_k: neighbours per item in the kNN graphs and their intersection (``knn_k``: 10).
        bm_weight: weight of the InfoNCE between the fused and the extended ID representations
            (``bm_loss``: 0.01).
        bm_temperature: its temperature (``bm_temp``: 0.4 Baby, 0.2 others).
        um_weight: weight of the user-modality InfoNCE terms (``um_loss``: 0.01 Baby and Sports, 0.1 others).
        um_temperature: their temperature (``um_temp``: 0.1 Baby and Sports, 0.2 others).
        vt_weight: weight of the mean/variance alignment of the explicit modal representations
            (``vt_loss``: 0.1 Baby and Elec, 0.01 Sports, 0.001 Clothing).
        extended_reg_weight: weight of the squared norm of the positives' extended modal rows
            (``reg_weight_2``: 0.1).
        noise_magnitude: ``ε`` of the noise views (gume.py: 0.1).
        finetune_features: train the raw features as the original does (``freeze=False``); False keeps
            them fixed.
        lr_decay: learning-rate factor per ``lr_decay_epochs`` epochs (``learning_rate_scheduler``: 0.96).
        lr_decay_epochs: epochs over which the rate decays by ``lr_decay`` (50).
        reg_weight: weight of the squared norms of the batch's final rows (``reg_weight_1``: 1e-5).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`.
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        num_layers: int = 3,
        num_item_graph_layers: int = 2,
        knn_k: int = 10,
        bm_weight: float = 0.01,
        bm_temperature: float = 0.4,
        um_weight: float = 0.01,
        um_temperature: float = 0.1,
        vt_weight: float = 0.1,
        extended_reg_weight: float = 0.1,
        noise_magnitude: float = 0.1,
        finetune_features: bool = True,
        lr_decay: float = 0.96,
        lr_decay_epochs: int = 50,
        reg_weight: float = 1e-5,
        **kwargs: Any,
    ) -> None:
        super().__init__(reg_weight=reg_weight, **kwargs)
        if num_layers < 0 or num_item_graph_layers < 0:
            raise ValueError(f"layer counts must be >= 0, got {num_layers} and {num_item_graph_layers}")
        if knn_k <= 0:
            raise ValueError(f"knn_k must be positive, got {knn_k}")
        if min(bm_weight, um_weight, vt_weight, extended_reg_weight, noise_magnitude) < 0:
            raise ValueError("bm_weight, um_weight, vt_weight, extended_reg_weight and noise_magnitude must be >= 0")
        if min(bm_temperature, um_temperature) <= 0:
            raise ValueError(f"temperatures must be positive, got {bm_temperature} and {um_temperature}")
        if lr_decay <= 0 or lr_decay_epochs <= 0:
            raise ValueError("lr_decay and lr_decay_epochs must be positive")
        d = self.embedding_dim
        self.features = FeatureProjection("GUME", self.feature_dims, modalities, d, self.num_items, finetune_features)
        self.modalities = self.features.modalities
        self.num_layers = num_layers
        self.num_item_graph_layers = num_item_graph_layers
        self.knn_k = knn_k
        self.bm_weight, self.bm_temperature = bm_weight, bm_temperature
        self.um_weight, self.um_temperature = um_weight, um_temperature
        self.vt_weight = vt_weight
        self.extended_reg_weight = extended_reg_weight
        self.noise_magnitude = noise_magnitude
        self.lr_decay, self.lr_decay_epochs = lr_decay, lr_decay_epochs
        self.conv = SumConv()

        def table(rows: int) -> nn.Parameter:
            return nn.Parameter(nn.init.xavier_uniform_(torch.empty(rows, d)))

        self.user_embedding = table(self.num_users)
        self.item_embedding = table(self.num_items)
        self.extended_user = nn.ParameterDict({m: table(self.num_users) for m in self.modalities})
        self.feature_gate = nn.ModuleDict({m: nn.Sequential(nn.Linear(d, d), nn.Sigmoid()) for m in self.modalities})
        self.coarse = nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, 1, bias=False))
        self.behaviour = nn.ModuleDict({m: nn.Sequential(nn.Linear(d, d), nn.Sigmoid()) for m in self.modalities})

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        self.register_item_features(dataset, self.modalities)
        tables = []
        for modality in self.modalities:
            neighbours, similarity = cached_knn_neighbours(dataset.item_features[modality], self.knn_k)
            tables.append(neighbours)
            graph, graph_t = csr_pair(normalised_knn_adjacency(neighbours, similarity))
            self.register_data(f"item_graph_{modality}", graph)
            self.register_data(f"item_graph_{modality}_t", graph_t)
        rows, cols = knn_intersection_edges(tables)
        train = dataset.train
        adjacency = augmented_user_item_adjacency(train.users, train.items, rows, cols, self.num_users, self.num_items)
        adjacency, adjacency_t = csr_pair(adjacency)
        self.register_data("adjacency", adjacency)
        self.register_data("adjacency_t", adjacency_t)
        user_items, user_items_t = csr_pair(user_item_block(adjacency, self.num_users, self.num_items))
        self.register_data("user_items", user_items)
        self.register_data("user_items_t", user_items_t)

    # ------------------------------------------------------------- backbone API
    def modal_items(self, modality: str) -> torch.Tensor:
        """``e^m = E_i ⊙ σ(T_m(W_m x^m + b_m) + c_m)``, ``[I, d]``."""
        reduced = self.features(modality, self.item_features(modality))
        return self.item_embedding * self.feature_gate[modality](reduced)

    def propagate(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``LG([users; items])``: the mean of ``n_ui + 1`` layers over the augmented graph, ``[U + I, F]``."""
        hidden = total = torch.cat([users, items])
        for _ in range(self.num_layers):
            hidden = self.conv(hidden, self.adjacency, transpose=self.adjacency_t)
            total = total + hidden
        return total / (self.num_layers + 1)

    def encode(self) -> dict[str, Any]:
        """Every representation the score and the loss use (``[U + I, d]`` each, users first):
        ``final``, ``fused`` (Z), ``extended_id`` (H_id), ``extended_modal`` (G), ``explicit`` (the P_m)."""
        explicit_items = {}
        for modality in self.modalities:
            side = self.modal_items(modality)
            graph, graph_t = getattr(self, f"item_graph_{modality}"), getattr(self, f"item_graph_{modality}_t")
            for _ in range(self.num_item_graph_layers):
                side = self.conv(side, graph, transpose=graph_t)
            explicit_items[modality] = side
        # the ID and every modal user-item propagation as one stack over side-by-side columns
        stacked = self.propagate(
            torch.cat([self.user_embedding, *(self.extended_user[m] for m in self.modalities)], dim=1),
            torch.cat([self.item_embedding, *explicit_items.values()], dim=1),
        )
        extended_id, *extended = stacked.split(self.embedding_dim, dim=1)
        extended_modal = torch.stack(extended).mean(0)
        explicit = [
            torch.cat([self.conv(h, self.user_items, transpose=self.user_items_t), h]) for h in explicit_items.values()
        ]
        gates = torch.softmax(torch.cat([self.coarse(p) for p in explicit], dim=1), dim=1)
        coarse = sum(gates[:, k : k + 1] * p for k, p in enumerate(explicit))
        fine = [self.behaviour[m](extended_id) * (p - coarse) for m, p in zip(self.modalities, explicit, strict=True)]
        fused = (sum(fine) + coarse) / (len(self.modalities) + 1)
        return {
            "final": extended_id + fused,
            "fused": fused,
            "extended_id": extended_id,
            "extended_modal": extended_modal,
            "explicit": explicit,
        }

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        final = self.encode()["final"]
        return final[: self.num_users], final[self.num_users :]

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = self.encode()
        size = users.numel()
        pos_rows, neg_rows = positives + self.num_users, negatives + self.num_users  # items follow the users
        final = parts["final"]
        u, pos, neg = final[users], final[pos_rows], final[neg_rows]
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))}
        if self.reg_weight:
            terms["reg"] = self.reg_weight * squared_l2_loss(u, pos, neg) / size
        if self.vt_weight and len(parts["explicit"]) > 1:
            terms["vt"] = self.vt_weight * mean_variance_alignment(parts["explicit"])
        fused, extended_id, extended_modal = parts["fused"], parts["extended_id"], parts["extended_modal"]
        if self.bm_weight:
            terms["bm"] = self.bm_weight * (
                rows_info_nce(fused, extended_id, users, self.bm_temperature)
                + rows_info_nce(fused, extended_id, pos_rows, self.bm_temperature)
            )
        if self.um_weight:
            fused_users, modal_users = fused[users], extended_modal[users]
            terms["um"] = self.um_weight * (
                rows_info_nce(extended_modal, fused, users, self.um_temperature)
                + noise_views_info_nce(fused_users, self.noise_magnitude, self.um_temperature)
                + noise_views_info_nce(modal_users, self.noise_magnitude, self.um_temperature)
            )
        if self.extended_reg_weight:
            terms["extended_reg"] = self.extended_reg_weight * squared_l2_loss(extended_modal[pos_rows]) / size
        return terms

    def configure_optimizers(self) -> torch.optim.Optimizer | dict:
        return adam_with_decay(self, self.learning_rate, self.weight_decay, self.lr_decay, self.lr_decay_epochs)

    def user_init_targets(self) -> list[UserInitTarget]:
        # The ID table is scored against ID item embeddings (PCA space); each modality's user table is
        # propagated next to that modality's item embeddings e^m: compare it with the model's own
        # (fresh) e^m of the raw features.
        def modal_space(modality: str, raw: torch.Tensor) -> torch.Tensor:
            items = self.item_embedding
            with torch.no_grad():
                reduced = self.features.linear[modality](raw.to(items.device, items.dtype))
                return items * self.feature_gate[modality](reduced)

        return [UserInitTarget("user_embedding", self.user_embedding, item_space="none")] + [
            UserInitTarget(f"extended_user[{m}]", self.extended_user[m], item_space=modal_space, modalities=[m])
            for m in self.modalities
        ]
