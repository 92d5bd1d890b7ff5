r"""DualGNN (Wang, Wei, Yin, Li, Zhu & Nie, "DualGNN: Dual Graph Neural Network for Multimedia
Recommendation", IEEE TMM 2021), as the authors' code (``wqf321/dualgnn``, ``Model.py``) and MMRec's
port (``src/models/dualgnn.py``, ``DualGNN.yaml``) run it.

*Single-modal representation learning*, per modality ``m`` (all ``d = 64`` wide): a user preference
table ``P_m`` (xavier-normal) and the item features through an MLP ``D_m -> 4d -> d`` with a leaky
ReLU between; every row is L2-normalised and propagated over the symmetric-normalised user-item
graph ``A = D^-1/2 A D^-1/2`` of the training interactions, summing (not averaging) two layers::

    X_m = normalize([P_m; MLP_m(F_m)]),       H_m = X_m + A X_m + A^2 X_m

*Multi-modal fusion* ("weighted_sum" construction): items sum their modalities; users weigh them
with a learned per-user weight ``alpha_u`` (initialised as a softmax over modalities)::

    i = sum_m H_m[i],                        u = sum_m alpha_um H_m[u]

*User co-occurrence graph*: each user's ``k = 40`` users sharing the most training items, weighted
by a softmax over those counts (``beta``); the user-graph layer adds their representations::

    user repr = u + sum_v beta_uv u_v,       score(u, i) = <user repr, i>

Loss: ``-mean(log2 sigmoid(s+ - s-))`` (both codes use log base 2: BPR / ln 2) + ``reg_weight`` x
(``sum_m mean(P_m[u]^2)`` over the batch's users + ``mean(alpha^2)`` over all users).

User graph: MMRec's ``user_graph_dict.npy`` when the data set has it and it reads safely, otherwise
built from the training interactions and cached (``user_graph_source``;
:func:`lit_mmrec.models.item_graph.user_cooccurrence_graph`, shared with DRAGON). In each training
epoch users with fewer than ``k`` neighbours are padded to ``k`` as both codes do (a neighbour
copied ``c`` times weighs ``c exp(count)``; :func:`lit_mmrec.models.dragon.user_graph_weights`).

Deviations from the original codes, all deliberate:

- *users weigh the modalities' own representations.* MMRec's port sums the modalities in place
  (``representation += t_rep`` with ``representation`` the image tensor itself), so its users see
  ``alpha_image (H_image + H_text) + alpha_text H_text``; the authors' code (out of place) gives
  ``sum_m alpha_um H_m``, which is what this module computes;
- *any number of modalities*: ``alpha`` has one column per modality; with one modality there is no
  ``alpha`` (MMRec keeps an unused 2-column one, the authors' code needs image, audio and text);
- unused parts are left out: the per-modality "dropped-edge" graphs (built, never read), the item
  weights ``weight_i`` (never read; both codes still add ``mean(weight_i^2)`` to the loss, which
  only shrinks them), ``MLP_v``/``MLP_t``/``MLP_user`` (other constructions);
- evaluation recomputes the representations with the final weights and deterministic user-graph
  weights (the softmax over the distinct neighbours, the padding's expectation); both codes rank
  with the ``result_embed`` of the last training batch (one update stale, that epoch's padding);
- the user graph is one sparse product (``beta`` as a ``[U, U]`` matrix rebuilt each epoch, with a
  precomputed transpose for the backward), the two layers one product over the modalities stacked
  side by side (same maths as PyG's ``add`` aggregation with ``deg^-1/2`` weights).
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.models.dragon import user_graph_weights
from lit_mmrec.models.graph import bipartite_adjacency, light_propagate
from lit_mmrec.models.item_graph import csr_pair, sparse_matmul, user_cooccurrence_graph
from lit_mmrec.models.losses import bpr_loss
from lit_mmrec.models.mmgcn import _resolve_modalities

log = logging.getLogger(__name__)

USER_GRAPH_SOURCES = ("auto", "file", "build")


def user_graph_matrix(neighbours: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The user graph as sparse CSR ``B [U, U]`` with ``B[u, v] = beta_uv`` (repeated slots add up),
    and its transpose.

    Args:
        neighbours: ``[U, k]`` neighbour ids, ``-1`` in unused slots.
        weights: ``[U, k]`` weight of each slot (0 in unused ones).
    """
    num_users, k = neighbours.shape
    used = neighbours >= 0
    rows = torch.arange(num_users, device=neighbours.device).repeat_interleave(used.sum(1))
    matrix = torch.sparse_coo_tensor(torch.stack([rows, neighbours[used]]), weights[used], (num_users, num_users))
    return csr_pair(matrix)


class DualGNN(RecommenderModule):
    """DualGNN: per-modality user-item GCNs fused per user, plus a user co-occurrence graph layer.

    Args:
        num_users: number of users (linked from the data module).
        num_items: number of items (linked from the data module).
        feature_dims: modality -> raw feature width (linked from the data module).
        modalities: modalities to use; None = every modality of the data set (sorted).
        embedding_dim: width d of the preference tables and item projections (both codes: 64).
        feature_hidden_dim: hidden width of the item feature MLP (both codes: 4 x 64 = 256).
        num_layers: user-item propagation steps, summed with the input (both codes: 2).
        user_graph_k: neighbours per user in the user graph (both codes: 40).
        user_graph_source: ``auto`` (the data set's ``user_graph_dict.npy`` if it reads safely, else
            built from the training interactions), ``file`` or ``build``.
        reg_weight: weight of the preference / modality-weight regulariser (authors' default: 0.1;
            MMRec searches 1e-5 ... 0.1).
        learning_rate: Adam learning rate (authors' default: 1e-4; MMRec searches 1e-5 ... 0.1).
        weight_decay: Adam weight decay (both codes: 0).
        topk: cut-offs of the ranking metrics.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        feature_dims: dict[str, int] | None = None,
        modalities: list[str] | None = None,
        embedding_dim: int = 64,
        feature_hidden_dim: int = 256,
        num_layers: int = 2,
        user_graph_k: int = 40,
        user_graph_source: str = "auto",
        reg_weight: float = 0.1,
        learning_rate: float = 1e-4,
        weight_decay: float = 0.0,
        topk: list[int] | None = None,
    ) -> None:
        super().__init__(
            num_users, num_items, feature_dims, embedding_dim, reg_weight, learning_rate, weight_decay, topk
        )
        self.modalities = _resolve_modalities("DualGNN", self.feature_dims, modalities)
        if user_graph_source not in USER_GRAPH_SOURCES:
            raise ValueError(f"user_graph_source must be one of {USER_GRAPH_SOURCES}, got {user_graph_source!r}")
        if user_graph_k <= 0 or feature_hidden_dim <= 0 or num_layers < 0:
            raise ValueError("user_graph_k and feature_hidden_dim must be positive, num_layers >= 0")
        self.num_layers = num_layers
        self.user_graph_k = user_graph_k
        self.user_graph_source = user_graph_source

        self.preference = nn.ParameterDict(
            {m: nn.Parameter(nn.init.xavier_normal_(torch.empty(num_users, embedding_dim))) for m in self.modalities}
        )
        self.item_mlp = nn.ModuleDict(
            {
                m: nn.Sequential(
                    nn.Linear(self.feature_dims[m], feature_hidden_dim),
                    nn.LeakyReLU(),
                    nn.Linear(feature_hidden_dim, embedding_dim),
                )
                for m in self.modalities
            }
        )
        if len(self.modalities) > 1:  # both codes: xavier-normal on [U, M, 1], then a softmax over M
            init = nn.init.xavier_normal_(torch.empty(num_users, len(self.modalities), 1)).squeeze(2)
            self.modality_weight = nn.Parameter(torch.softmax(init, dim=1))
        else:
            self.modality_weight = None

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        self.register_item_features(dataset, self.modalities)
        train = dataset.train
        self.register_data("adjacency", bipartite_adjacency(train.users, train.items, self.num_users, self.num_items))
        neighbours, counts, origin = user_cooccurrence_graph(dataset, self.user_graph_k, self.user_graph_source)
        self.user_graph_origin = origin
        log.info("DualGNN user graph: %s", origin)
        valid = neighbours >= 0
        self.register_data("user_neighbours", neighbours)
        self.register_data("user_neighbour_counts", counts)
        eval_graph, eval_graph_t = user_graph_matrix(neighbours, user_graph_weights(counts, valid, pad=False))
        self.register_data("eval_user_graph", eval_graph)
        self.register_data("eval_user_graph_t", eval_graph_t)
        self._epoch_user_graph: tuple[torch.Tensor, torch.Tensor] | None = None

    def resample_user_graph(self) -> None:
        """This epoch's user graph, with MMRec's random padding (its ``pre_epoch_processing``)."""
        neighbours = self.user_neighbours
        weights = user_graph_weights(self.user_neighbour_counts, neighbours >= 0, pad=True)
        self._epoch_user_graph = user_graph_matrix(neighbours, weights)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self.resample_user_graph()

    def user_graph(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, B^T)``: this epoch's padded graph in training, the deterministic one in evaluation."""
        if not self.training:
            return self.eval_user_graph, self.eval_user_graph_t
        if getattr(self, "_epoch_user_graph", None) is None:
            self.resample_user_graph()
        return self._epoch_user_graph

    # ------------------------------------------------------------- backbone API
    def project_items(self, modality: str, raw: torch.Tensor) -> torch.Tensor:
        """``normalize(MLP_m(F_m))``: the item rows of ``X_m``, in the preference table's space."""
        return F.normalize(self.item_mlp[modality](raw), dim=1)

    def modal_representations(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(u [U, d], i [I, d])``: the fused user-item representations before the user graph."""
        inputs = [
            torch.cat([F.normalize(self.preference[m], dim=1), self.project_items(m, self.item_features(m))])
            for m in self.modalities
        ]
        stacked = torch.cat(inputs, dim=1)  # one propagation for every modality, side by side
        summed = light_propagate(self.adjacency, stacked, self.num_layers) * (self.num_layers + 1)
        blocks = summed.split(self.embedding_dim, dim=1)
        items = sum(block[self.num_users :] for block in blocks)
        if self.modality_weight is None:
            return blocks[0][: self.num_users], items
        users = sum(self.modality_weight[:, k : k + 1] * block[: self.num_users] for k, block in enumerate(blocks))
        return users, items

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items = self.modal_representations()
        return users + sparse_matmul(*self.user_graph(), users), items

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        user_repr, item_repr = self.forward()
        u = user_repr.index_select(0, users)
        pos, neg = item_repr.index_select(0, positives), item_repr.index_select(0, negatives)
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1)) / math.log(2.0)}
        if self.reg_weight:
            penalised = [self.preference[m][users] for m in self.modalities]
            if self.modality_weight is not None:
                penalised.append(self.modality_weight)
            terms["reg"] = self.reg_weight * sum(rows.pow(2).mean() for rows in penalised)
        return terms

    # ------------------------------------------------------------ SG-URInit
    def user_init_targets(self) -> list[UserInitTarget]:
        # Each preference table is normalised and propagated next to its modality's projected,
        # normalised items: compare it with the model's own freshly initialised projection.
        def project(modality: str, raw: torch.Tensor) -> torch.Tensor:
            first = self.item_mlp[modality][0]
            with torch.no_grad():
                return self.project_items(modality, raw.to(first.weight.device, first.weight.dtype))

        return [
            UserInitTarget(f"preference[{m}]", self.preference[m], item_space=project, modalities=[m])
            for m in self.modalities
        ]
