"""SMORE (Ong & Khong, "Spectrum-based Modality Representation Fusion Graph Convolutional Network for
Multimodal Recommendation", WSDM 2025), as in the authors' code (kennethorq/SMORE@0148d92,
``src/models/smore.py``, ``SMORE.yaml``) and MMRec's copy of it (``src/models/smore.py``, ae629c3, the
authors' pull request; the two files are identical up to whitespace).

Notation: ``U`` users, ``I`` items, ``N = U + I``, ``M`` modalities, ``d = 64``, ``E_user, E_item``
xavier-uniform ID embeddings, ``X_m`` the raw features of modality ``m`` (fine-tuned, see
:mod:`lit_mmrec.nn.modal`), ``P_m = X_m W_m + b_m`` their projection to ``d``, ``A`` the
symmetric-normalised user-item adjacency (no self-loops), ``R [U, I]`` its user-item block, ``S_m``
the weighted item kNN graph of modality ``m`` built once from the raw ``X_m`` (``k_m`` neighbours by
cosine, edge weight the cosine, ``D^-1/2 S D^-1/2`` with row sums ``D``; see
:mod:`lit_mmrec.nn.knn_graph`) and ``S_f = max_m S_m`` their element-wise maximum over the union of
their edges (``max_pool_fusion``).

*Spectrum modality fusion* (:class:`~lit_mmrec.nn.spectral.SpectralFilter`, ``F`` the orthonormal rfft
over the ``d`` features, ``w`` learnable complex weights per frequency, standard normal at start)::

    Z_m = F^-1( w_m ⊙ F P_m )                    (uni-modal denoising)
    Z_f = F^-1( w_f ⊙ Π_m F P_m )                (cross-modality fusion)

*Item-item views*, for each ``v`` in the modalities and ``f``:
``H_v,item = S_v^{L_s} (E_item ⊙ σ(Z_v W_g,v + b_g,v))`` (``L_s = 1``), ``H_v = [R H_v,item; H_v,item]``.

*User-item view* (behaviour): LightGCN, ``C = mean(E^(0), A E^(0), ..., A^L E^(0))``, ``L = 4``.

*Modality-aware preference*, row-wise over the ``N`` nodes, ``softmax`` over the ``d`` features::

    G_m = softmax( tanh(H_f Q1_m + c_m) Q2_m ) ⊙ H_m ⊙ drop(σ(C W_p,m + b_p,m))
    G_f = H_f ⊙ drop(σ(C W_p,f + b_p,f))
    side = (Σ_m G_m + G_f) / (M + 1),    final = C + side,    score(u, i) = <final_u, final_i>

``drop`` is dropout (rate 0.1) in training. Loss for a batch of ``B`` triples: BPR on ``final`` +
``reg_weight`` x ``(|u|^2 + |i+|^2 + |i-|^2) / 2B`` over the batch's final rows + ``cl_weight`` x
[InfoNCE(side, C) over the batch's positive items + InfoNCE(side, C) over its users]
(:func:`~lit_mmrec.nn.info_nce.info_nce`, temperature 0.2; over the batch's distinct rows with their counts,
:func:`~lit_mmrec.nn.info_nce.rows_info_nce`, the same sum). Learning rate ``lr x 0.96^(epoch / 50)``
(``learning_rate_scheduler``).

Defaults: the authors' best on Baby (their README: ``n_ui_layers`` 4, ``n_layers`` 1, ``image_knn_k``
40, ``text_knn_k`` 15, ``cl_loss`` 0.01, ``reg_weight`` 1e-4, ``dropout_rate`` 0.1); ``SMORE.yaml``
and MMRec's ``overall.yaml`` for the rest (64-d, lr 1e-3, schedule [0.96, 50]).

Deviations from the original code:

- any number of modalities. The code assumes image and text: its forward reads both projected
  features and ``max_pool_fusion`` both graphs (either missing raises). Here each modality present
  has its own filter, purifier gate, kNN graph, query and preference gate; the fusion view multiplies
  the spectra of all of them and runs over the maximum of all their graphs; ``side`` is the mean of
  the ``M`` modal views and the fusion view (the code's mean of three). With one modality the fusion
  view is a second filter of the same features over the same graph; with three, the product of three
  spectra;
- the neighbour counts are one dict ``knn_k`` (modality -> k) instead of ``image_knn_k`` and
  ``text_knn_k``, so a third modality gets its own;
- the InfoNCE temperature is an argument (the code passes 0.2 to ``InfoNCE`` directly; ``SMORE.yaml``'s
  ``temperature`` and ``lambda_coeff`` are read by nothing);
- the raw-feature fine-tuning is a zero-initialised learned offset (see :mod:`lit_mmrec.nn.modal`);
  the complex weights are stored ``[d // 2 + 1, 2]`` (the code's ``[1, d // 2 + 1, 2]``, the same
  broadcast);
- safe cosine in the kNN graphs (a zero row has no neighbours instead of NaN similarities), built in
  chunks and cached keyed by ``k`` and the features' hash (the code caches ``image_adj_{k}_True.pt``
  in the data folder whatever the features); the sparse products use precomputed transposes;
- the regulariser divides by the actual batch size (the code by the configured one, which differs for
  an epoch's last, smaller batch); the InfoNCE shifts its exponent by ``1 / t`` (same value, no
  overflow).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.info_nce import rows_info_nce
from lit_mmrec.nn.knn_graph import cached_knn_neighbours, normalised_knn_adjacency
from lit_mmrec.nn.light_conv import LightConv
from lit_mmrec.nn.losses import bpr_loss, squared_l2_loss
from lit_mmrec.nn.modal import FeatureProjection, adam_with_decay
from lit_mmrec.nn.normalisation import bipartite_adjacency, user_item_block
from lit_mmrec.nn.sparse import csr_pair
from lit_mmrec.nn.spectral import SpectralFilter
from lit_mmrec.nn.sum_conv import SumConv

#: The authors' neighbour counts on Baby (``image_knn_k``, ``text_knn_k``).
BABY_KNN_K = {"image": 40, "text": 15}


def max_pooled_graph(graphs: list[torch.Tensor]) -> torch.Tensor:
    """The element-wise maximum of sparse ``[n, n]`` graphs over the union of their entries (an entry
    stored in one graph only keeps its value): SMORE's ``max_pool_fusion``. Coalesced sparse COO."""
    parts = [graph.coalesce() for graph in graphs]
    n = parts[0].shape[1]
    indices = torch.cat([part.indices() for part in parts], dim=1)
    values = torch.cat([part.values() for part in parts])
    keys, inverse = torch.unique(indices[0] * n + indices[1], return_inverse=True)
    pooled = values.new_full((keys.numel(),), float("-inf")).scatter_reduce(0, inverse, values, "amax")
    rows = torch.div(keys, n, rounding_mode="floor")
    return torch.sparse_coo_tensor(torch.stack([rows, keys - rows * n]), pooled, parts[0].shape).coalesce()


def gate(width: int) -> nn.Sequential:
    """``σ(W x + b)``: the purifier and preference gates."""
    return nn.Sequential(nn.Linear(width, width), nn.Sigmoid())


def query(width: int) -> nn.Sequential:
    """``tanh(x Q1 + c) Q2``: the per-modality attention query over the fusion view."""
    return nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, width, bias=False))


class SMORE(RecommenderModule):
    """SMORE: spectral denoising and fusion of the modal features, item-item and user-item views,
    modality-aware preference.

    Args:
        modalities: modalities to use; None = every modality of the data set. Each must exist in the
            data (a clear error names a missing one).
        knn_k: modality -> neighbours per item in its kNN graph; None = the authors' Baby values
            ``{image: 40, text: 15}`` (``image_knn_k``, ``text_knn_k``). Every modality used needs an
            entry; entries of unused modalities are ignored.
        num_layers: user-item LightGCN layers (``n_ui_layers``: 4).
        num_item_graph_layers: propagation steps over each item graph (``n_layers``: 1).
        cl_weight: weight of the InfoNCE terms (``cl_loss``: 0.01).
        temperature: InfoNCE temperature (0.2, fixed in the code).
        dropout: dropout rate on the preference gates in training (``dropout_rate``: 0.1).
        finetune_features: train the raw features as the original does (``freeze=False``).
        lr_decay: learning-rate factor per ``lr_decay_epochs`` epochs (``learning_rate_scheduler``: 0.96).
        lr_decay_epochs: epochs over which the rate decays by ``lr_decay`` (50).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``embedding_dim`` is the width of the ID embeddings, the modality projections and the
            spectral filters (``embedding_size``: 64), ``reg_weight`` weights the squared-norm
            regulariser (``reg_weight``: 1e-4).
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        knn_k: dict[str, int] | None = None,
        num_layers: int = 4,
        num_item_graph_layers: int = 1,
        cl_weight: float = 0.01,
        temperature: float = 0.2,
        dropout: float = 0.1,
        finetune_features: bool = True,
        lr_decay: float = 0.96,
        lr_decay_epochs: int = 50,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if num_layers < 0 or num_item_graph_layers < 0:
            raise ValueError(f"layer counts must be non-negative, got {num_layers}, {num_item_graph_layers}")
        if cl_weight < 0:
            raise ValueError(f"cl_weight must be non-negative, got {cl_weight}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        if temperature <= 0 or lr_decay <= 0 or lr_decay_epochs <= 0:
            raise ValueError("temperature, lr_decay and lr_decay_epochs must be positive")
        self.projection = FeatureProjection(  # image_trs, text_trs
            "SMORE", self.feature_dims, modalities, self.embedding_dim, self.num_items, finetune_features
        )
        self.modalities = self.projection.modalities
        neighbours = dict(BABY_KNN_K if knn_k is None else knn_k)
        missing = [m for m in self.modalities if m not in neighbours]
        if missing:
            raise ValueError(f"SMORE: knn_k has no entry for modality {missing[0]!r} (entries: {sorted(neighbours)})")
        if any(neighbours[m] <= 0 for m in self.modalities):
            raise ValueError(f"SMORE: every knn_k must be positive, got {neighbours}")
        self.knn_k = {m: int(neighbours[m]) for m in self.modalities}
        self.num_layers = num_layers
        self.num_item_graph_layers = num_item_graph_layers
        self.cl_weight = cl_weight
        self.temperature = temperature
        self.lr_decay = lr_decay
        self.lr_decay_epochs = lr_decay_epochs
        self.user_item_conv = LightConv(num_layers)
        self.graph_conv = SumConv()  # the item graphs and the user <- item block
        width = self.embedding_dim
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, width)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_items, width)))
        self.query = nn.ModuleDict({m: query(width) for m in self.modalities})  # query_v, query_t
        self.purifier = nn.ModuleDict({m: gate(width) for m in self.modalities})  # gate_v, gate_t
        self.fusion_purifier = gate(width)  # gate_f
        self.preference = nn.ModuleDict({m: gate(width) for m in self.modalities})  # gate_*_prefer
        self.fusion_preference = gate(width)  # gate_fusion_prefer
        self.denoise = nn.ModuleDict({m: SpectralFilter(width) for m in self.modalities})  # *_complex_weight
        self.fusion_filter = SpectralFilter(width)  # fusion_complex_weight
        self.dropout = nn.Dropout(dropout)

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        self.register_item_features(dataset, self.modalities)
        graphs = []
        for modality in self.modalities:
            neighbours, similarity = cached_knn_neighbours(dataset.item_features[modality], self.knn_k[modality])
            graphs.append(normalised_knn_adjacency(neighbours, similarity))
            graph, graph_t = csr_pair(graphs[-1])
            self.register_data(f"item_graph_{modality}", graph)
            self.register_data(f"item_graph_{modality}_t", graph_t)
        graph, graph_t = csr_pair(max_pooled_graph(graphs))
        self.register_data("fusion_graph", graph)
        self.register_data("fusion_graph_t", graph_t)
        train = dataset.train
        adjacency = bipartite_adjacency(train.users, train.items, self.num_users, self.num_items)
        self.register_data("adjacency", adjacency)
        user_item, user_item_t = csr_pair(user_item_block(adjacency, self.num_users, self.num_items))
        self.register_data("user_item", user_item)
        self.register_data("user_item_t", user_item_t)

    # ------------------------------------------------------------- backbone API
    def item_item_view(self, filtered: torch.Tensor, purifier: nn.Module, graph: str) -> torch.Tensor:
        """``[R H_item; H_item]`` ``[N, d]``, ``H_item = S^{L_s} (E_item ⊙ purifier(filtered))`` over
        the graph registered as ``graph`` (and ``graph + "_t"``, its transpose)."""
        items = self.item_embedding * purifier(filtered)
        matrix, matrix_t = getattr(self, graph), getattr(self, f"{graph}_t")
        for _ in range(self.num_item_graph_layers):
            items = self.graph_conv(items, matrix, transpose=matrix_t)
        users = self.graph_conv(items, self.user_item, transpose=self.user_item_t)
        return torch.cat([users, items])

    def views(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(C, side)``, both ``[N, d]``: the user-item view and the fused item-item views."""
        ego = torch.cat([self.user_embedding, self.item_embedding])
        content = self.user_item_conv(ego, self.adjacency)
        projected = [self.projection(m, self.item_features(m)) for m in self.modalities]
        fusion = self.item_item_view(self.fusion_filter(*projected), self.fusion_purifier, "fusion_graph")
        side = fusion * self.dropout(self.fusion_preference(content))
        for modality, features in zip(self.modalities, projected, strict=True):
            view = self.item_item_view(self.denoise[modality](features), self.purifier[modality], f"item_graph_{modality}")
            attention = torch.softmax(self.query[modality](fusion), dim=-1)
            side = side + attention * view * self.dropout(self.preference[modality](content))
        return content, side / (len(self.modalities) + 1)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        content, side = self.views()
        final = content + side
        return final[: self.num_users], final[self.num_users :]

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        content, side = self.views()
        final = content + side
        items = positives + self.num_users
        u = final.index_select(0, users)
        pos = final.index_select(0, items)
        neg = final.index_select(0, negatives + self.num_users)
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))}
        if self.reg_weight:
            terms["reg"] = self.reg_weight * squared_l2_loss(u, pos, neg) / users.numel()
        if self.cl_weight:
            terms["cl"] = self.cl_weight * (
                rows_info_nce(side, content, items, self.temperature)
                + rows_info_nce(side, content, users, self.temperature)
            )
        return terms

    def user_init_targets(self) -> list[UserInitTarget]:
        # The user ID table is scored against item ID embeddings (the filtered modal features only
        # gate them): no feature space, SG-URInit reduces the raw features by PCA.
        return [UserInitTarget("user_embedding", self.user_embedding, item_space="none")]

    def configure_optimizers(self):
        return adam_with_decay(self, self.learning_rate, self.weight_decay, self.lr_decay, self.lr_decay_epochs)
