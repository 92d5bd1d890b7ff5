r"""MSCA (Li & Wang, "Multi-view Semantic Contrastive Alignment for Multimodal Recommendation", WWW 2026),
after the authors' code in the ``recomall`` fork of the SG-URInit authors' library
(``recomall/Multimodal-Recommendation-Library`` commit d6f0689, ``src/models/msca.py`` and
``src/configs/model/MSCA.yaml``; merged into MMRec as PR #63 after the MMRec snapshot used here).

Graphs, built once from the training data and the raw features:

- ``Â``: the symmetric-normalised user-item graph; ``R = D_u^-1/2 R D_i^-1/2`` its user-to-item block;
- per modality ``m`` the weighted cosine kNN item graph ``S_m`` (``k`` neighbours including the item itself,
  weights the cosines, ``D^-1/2 A D^-1/2`` with row sums: MMRec's ``build_knn_normalized_graph(..., 'sym')``,
  :mod:`lit_mmrec.nn.knn_graph`);
- the structural graph ``S_c``: with ``c_ij`` the number of training users of both ``i`` and ``j`` (``i != j``),
  each item's ``k`` items of largest ``c_ij`` among those with ``c_ij >= 2`` (fewer when fewer qualify), plus
  the item itself, binary, ``D^-1/2 A D^-1/2`` with row sums (:mod:`lit_mmrec.nn.cooccurrence`).

Views, with ``E_u, E_i`` the ID tables (xavier-uniform) and ``x^m`` the (fine-tuned) raw features:

    C = mean(Â^1 E, ..., Â^L E),   E = [E_u; E_i]                       (collaborative view; no layer 0)
    e^m = E_i ⊙ σ(G_m (W_m x^m + b_m) + g_m)                             (gated modal item embeddings)
    V_m = [R S_m e^m; S_m e^m],    V_c = [R S_c E_i; S_c E_i]            (modal and structural views)
    F = Σ_k V_k - Σ_k w_k ⊙ V_k,   w = softmax_k c(V_k)                  (:mod:`lit_mmrec.nn.view_attention`)
    [user; item] = C + λ F,        score(u, i) = <user_u, item_i>

Loss for a batch ``(u, i+, i-)``, ``NCE_τ`` the InfoNCE of :mod:`lit_mmrec.nn.info_nce` (in-batch negatives; over
the batch's distinct rows with their counts, :func:`~lit_mmrec.nn.info_nce.rows_info_nce`, the same sum):

    BPR + cl_weight x ( Σ_m [NCE(C_u, V_m,u) + NCE(C_i+, V_m,i+)] + NCE(C_u, V_c,u) + NCE(C_i+, V_c,i+) )
        + reg_weight x Σ_θ |θ|²                           (every parameter, the fine-tuned features x^m + Δ^m)

Defaults: the authors' best Baby setting (README of ``recomall/MSCA``: n_layers 2, fusion 0.4, cl 0.005,
reg 3e-7; Sports 3, 0.3, 0.005, 5e-8) with MSCA.yaml's fixed knn_k 10 and tau 0.2; MSCA.yaml searches
n_layers 1-4, fusion_coeff 0.1-1.0, cl_weight {1e-3 .. 0.1} and reg_weight {5e-6 .. 5e-10}.

On ``ml100k`` (text only) with these settings the authors' code (run on the CPU with the text features also
read as the image ones) and this port both lose validation Recall@20 after the first epoch (.114 to .025 over
six epochs on both sides): BPR stays at log 2 while the contrastive terms shrink the embeddings; with
``cl_weight`` 0 the port trains (.131 at epoch 3). The settings are the authors' for Baby; none is published
for this data.

Deviations from the authors' code:

- the structural graph is built sparsely, a chunk of items at a time (the original fills a dense
  ``n_items x n_items`` co-occurrence matrix and loops over items in Python); ties among equal counts go to
  the smaller item id (``torch.topk`` on the dense row leaves them unspecified); it and the kNN tables are
  cached on disk keyed by ``k``, the minimum count and a hash of their inputs; the original keys its modal
  graph files by ``knn_k`` and ``is_sparse`` only and builds the structural graph on every start;
- safe cosine for zero feature rows (no neighbours, not NaN), as elsewhere here; nodes whose degree is not
  positive get no entries instead of the ``1e-7`` guard;
- the raw-feature fine-tuning is a zero-initialised learned offset ``Δ^m`` (the same updates under Adam), and
  the regulariser counts ``|x^m + Δ^m|²``, the fine-tuned table, as the original counts its feature tables;
  ``finetune_features=False`` keeps the features fixed (not regularised, not parameters);
- any number of modalities: a view per modality in the attention and the contrastive terms (the original
  is written for image + text and needs both);
- the collaborative view's layers run as one fused stack, the user-side products of all views as one
  product with a precomputed ``R^T`` for the backward (same maths); ``Σ_k (1 - w_k) ⊙ V_k`` for ``F``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.cooccurrence import cached_item_cooccurrence_neighbours, with_self_loops
from lit_mmrec.nn.info_nce import rows_info_nce
from lit_mmrec.nn.knn_graph import cached_knn_neighbours, normalised_knn_adjacency
from lit_mmrec.nn.light_conv import LightConv, sparse_layer
from lit_mmrec.nn.losses import bpr_loss
from lit_mmrec.nn.modal import FeatureProjection
from lit_mmrec.nn.normalisation import bipartite_adjacency, user_item_block
from lit_mmrec.nn.sparse import csr_pair
from lit_mmrec.nn.sum_conv import SumConv
from lit_mmrec.nn.view_attention import ViewAttention

STRUCTURE = "structure"


class MSCA(RecommenderModule):
    """MSCA: LightGCN collaborative view, modal kNN and item co-occurrence views, attention fusion,
    contrastive alignment of every view with the collaborative one.

    Args:
        modalities: modalities to use; None = every modality of the data set.
        num_layers: user-item propagation layers, at least 1 (``n_layers``: 2).
        knn_k: neighbours per item in the modal kNN graphs and in the structural graph (``knn_k``: 10).
        min_common_users: least number of shared training users for a structural edge (msca.py: 2).
        fusion_weight: ``λ``, the weight of the fused views added to the collaborative one (``fusion_coeff``: 0.4).
        cl_weight: weight of the contrastive terms (``cl_weight``: 0.005).
        temperature: ``τ`` of the InfoNCE terms (``tau``: 0.2).
        finetune_features: train the raw features as the original does (``freeze=False``); False keeps them
            fixed.
        reg_weight: weight of the squared norm of every parameter (``reg_weight``: 3e-7).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`.
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        num_layers: int = 2,
        knn_k: int = 10,
        min_common_users: int = 2,
        fusion_weight: float = 0.4,
        cl_weight: float = 0.005,
        temperature: float = 0.2,
        finetune_features: bool = True,
        reg_weight: float = 3e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(reg_weight=reg_weight, **kwargs)
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if knn_k <= 0 or min_common_users < 1:
            raise ValueError(f"knn_k and min_common_users must be positive, got {knn_k}, {min_common_users}")
        if fusion_weight < 0 or cl_weight < 0:
            raise ValueError(f"fusion_weight and cl_weight must be >= 0, got {fusion_weight}, {cl_weight}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        d = self.embedding_dim
        self.features = FeatureProjection("MSCA", self.feature_dims, modalities, d, self.num_items, finetune_features)
        self.modalities = self.features.modalities
        self.num_layers = num_layers
        self.knn_k = knn_k
        self.min_common_users = min_common_users
        self.fusion_weight = fusion_weight
        self.cl_weight = cl_weight
        self.temperature = temperature
        # mean(Â^1 x, ..., Â^L x) as the mean of Â^0 .. Â^(L-1) applied to Â x: no layer 0
        self.conv = LightConv(num_layers - 1, combine="mean")
        self.item_conv = SumConv()
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, d)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_items, d)))
        self.gates = nn.ModuleDict({m: nn.Sequential(nn.Linear(d, d), nn.Sigmoid()) for m in self.modalities})
        self.attention = ViewAttention(d)

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        self.register_item_features(dataset, self.modalities)
        train = dataset.train
        adjacency = bipartite_adjacency(train.users, train.items, self.num_users, self.num_items)
        self.register_data("adjacency", adjacency)
        user_items, user_items_t = csr_pair(user_item_block(adjacency, self.num_users, self.num_items))
        self.register_data("user_items", user_items)
        self.register_data("user_items_t", user_items_t)
        structure = cached_item_cooccurrence_neighbours(
            train.users, train.items, self.num_users, self.num_items, self.knn_k, self.min_common_users
        )
        graphs = {STRUCTURE: normalised_knn_adjacency(with_self_loops(structure))}
        for modality in self.modalities:
            neighbours, similarity = cached_knn_neighbours(dataset.item_features[modality], self.knn_k)
            graphs[modality] = normalised_knn_adjacency(neighbours, similarity)
        for name, graph in graphs.items():
            graph, graph_t = csr_pair(graph)
            self.register_data(f"item_graph_{name}", graph)
            self.register_data(f"item_graph_{name}_t", graph_t)

    # ------------------------------------------------------------- backbone API
    def item_graph(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """``S_name x`` for the structural graph or a modality's kNN graph."""
        return self.item_conv(x, getattr(self, f"item_graph_{name}"), transpose=getattr(self, f"item_graph_{name}_t"))

    def modal_items(self, modality: str) -> torch.Tensor:
        """``e^m = E_i ⊙ σ(G_m(W_m x^m + b_m) + g_m)``, ``[I, d]``."""
        return self.item_embedding * self.gates[modality](self.features(modality, self.item_features(modality)))

    def encode(self) -> dict[str, Any]:
        """``final`` ``[U + I, d]``, ``collaborative`` ``C`` and ``views`` (name -> ``V_k``), users first."""
        collaborative = self.conv(sparse_layer(self.adjacency, torch.cat([self.user_embedding, self.item_embedding])), self.adjacency)
        names = [*self.modalities, STRUCTURE]
        items = [self.item_graph(m, self.modal_items(m)) for m in self.modalities]
        items.append(self.item_graph(STRUCTURE, self.item_embedding))
        stacked = torch.cat(items, dim=1)
        users = self.item_conv(stacked, self.user_items, transpose=self.user_items_t)
        views = {
            name: torch.cat([u, i])
            for name, u, i in zip(names, users.split(self.embedding_dim, 1), items, strict=True)
        }
        fused = self.attention.residual(list(views.values()))
        return {"final": collaborative + self.fusion_weight * fused, "collaborative": collaborative, "views": views}

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        final = self.encode()["final"]
        return final[: self.num_users], final[self.num_users :]

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = self.encode()
        final, collaborative = parts["final"], parts["collaborative"]
        pos_rows, neg_rows = positives + self.num_users, negatives + self.num_users  # items follow the users
        u = final.index_select(0, users)
        pos, neg = final.index_select(0, torch.cat([pos_rows, neg_rows])).split(users.numel())
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))}
        if self.cl_weight:
            modal, structural = 0.0, 0.0
            for name, view in parts["views"].items():
                pair = (rows_info_nce(collaborative, view, users, self.temperature)
                        + rows_info_nce(collaborative, view, pos_rows, self.temperature))
                if name == STRUCTURE:
                    structural = pair
                else:
                    modal = modal + pair
            terms["cl_modal"] = self.cl_weight * modal
            terms["cl_structural"] = self.cl_weight * structural
        if self.reg_weight:
            terms["reg"] = self.reg_weight * self.squared_parameter_norm()
        return terms

    def squared_parameter_norm(self) -> torch.Tensor:
        """``Σ_θ |θ|²`` over every parameter, the fine-tuned features counted as ``x^m + Δ^m``."""
        total = sum(p.square().sum() for name, p in self.named_parameters() if not name.startswith("features.offset."))
        for modality, offset in self.features.offset.items():
            total = total + (self.item_features(modality) + offset).square().sum()
        return total

    def user_init_targets(self) -> list[UserInitTarget]:
        # The user table is propagated with the ID item table in the collaborative view: no feature space (PCA).
        return [UserInitTarget("user_embedding", self.user_embedding, item_space="none")]
