"""MMGCN (Wei et al., "MMGCN: Multi-modal Graph Convolution Network for Personalized
Recommendation of Micro-video", ACM MM 2019), as MMRec runs it (``src/models/mmgcn.py``, a port of
the authors' ``weiyinwei/MMGCN``).

One GCN per modality ``m`` on the user-item graph of the training interactions. Its node inputs are
a trainable user *preference* table ``P^m`` and the item features, either raw or through a linear
projection (MMRec and the authors: the visual features through ``Linear(D, 256)``, the others raw):

    x^(0) = normalize_rows([P^m ; MLP^m(F^m)])                 (users first, then items)

With ``mean_N(x)`` the mean of ``x`` over a node's graph neighbours (zero for a node without any),
``E`` the ID embeddings ``[E_user ; E_item]`` shared by all modalities, ``g = leaky_relu`` (slope
0.01), each of ``L`` layers computes

    h      = g(mean_N(x^(l)) C_l)                               (C_l: square, no bias)
    x_hat  = g(x^(l) A_l^T + a_l) + E
    x^(l+1) = g([h || x_hat] G_l^T + g_l)                       (d wide)

and the representation of every node is the mean over modalities of ``x^(L)``; score(u, i) is
the dot product. Loss: BPR + ``reg_weight`` x (MMRec's) ``mean(E_u^2) + (mean(E_pos^2) +
mean(E_neg^2)) / 2 + sum_m mean(P^m^2)``, the means over the batch's rows (first terms) and over
the whole preference tables (last).

Deviations from MMRec's code (and the authors'):

- the preference tables and the ID embeddings are trained. MMRec (like the authors' code) keeps
  them as plain tensors that are never registered as parameters, so the optimiser never updates
  them and they stay at their random initialisation: a bug. Here they are ``nn.Parameter``\\ s;
- MMRec penalises only the visual preference table (the one behind a projection; its text table
  has no penalty). As MMRec never trains the tables, the term had no effect there; here every
  modality's table is penalised the same way, so a text-only data set is regularised too;
- ``num_layers`` is honoured (default 3). MMRec's config says ``n_layers: 2`` but its GCN
  hard-codes three layers, which is what its published numbers ran; the authors' TikTok/Kwai code
  honours the argument. The "concatenation" layer combination ``[h || x_hat]`` is what MMRec and
  the authors' main code run: they pass ``concate='False'``, a non-empty string and thus true;
- the projected modalities are a ``latent_dims`` argument (default ``{"image": 256}``, MMRec's and
  the authors' choice) and any number of modalities works;
- the paper sums the modalities' representations, both codes average them; we average (the
  sum only rescales every score by the number of modalities);
- aggregation is PyG's mean aggregation as a weighted sum (:class:`~lit_mmrec.nn.sum_conv.SumConv`)
  over two precomputed sparse mean matrices (user <- items, item <- users), their transposes kept
  for the fused CPU backward, instead of gather-scatter over an edge list; for a
  modality in raw feature space the first layer's user-side aggregate of the (constant, normalised)
  item features is computed once in ``build``; the square product ``C_l`` is taken on the smaller
  node set (``mean_N(x) C = mean_N(x C)``). The maths is unchanged;
- evaluation recomputes ``forward()`` with the final weights; MMRec ranks with the
  representation cached during the last training batch (before that batch's update).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.data.pairs import pairs_to_csr
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.losses import bpr_loss
from lit_mmrec.nn.modal import require_modalities, select_modalities
from lit_mmrec.nn.sum_conv import SumConv

#: Modalities MMRec and the authors project before their GCN, and the projection width.
DEFAULT_LATENT_DIMS = {"image": 256}

#: The neighbour mean ``mean_N(x) = M x`` over a row-normalised adjacency ``M`` (:func:`mean_matrix`):
#: a stateless PyG layer (PyG's ``aggr="mean"`` as a weighted sum), shared by every modality.
_MEAN = SumConv()


def mean_matrix(rows: torch.Tensor, cols: torch.Tensor, num_rows: int, num_cols: int) -> torch.Tensor:
    """Sparse CSR ``[num_rows, num_cols]`` with ``1 / deg(row)`` at each (unique) ``(row, col)`` edge:
    ``M @ x`` averages, for each row node, the ``x`` rows of its neighbours (zero without neighbours)."""
    degree = torch.bincount(rows, minlength=num_rows)
    return pairs_to_csr(rows, cols, num_rows, num_cols, 1.0 / degree[rows].float())


def transpose_csr(matrix: torch.Tensor) -> torch.Tensor:
    """The transpose of a sparse CSR matrix, as CSR."""
    return matrix.t().to_sparse_coo().coalesce().to_sparse_csr()


class ModalityGCN(nn.Module):
    """One modality's graph convolution (MMRec's ``GCN``), from its inputs to ``x^(L)``.

    Args:
        num_users: rows of the preference table.
        feature_dim: raw feature width of the modality.
        embedding_dim: output width d (that of the ID embeddings).
        num_layers: layers L >= 1.
        latent_dim: width of the projection applied to the item features first; None keeps
            them (and the preference table) in the raw feature space.
    """

    def __init__(
        self, num_users: int, feature_dim: int, embedding_dim: int, num_layers: int, latent_dim: int | None
    ) -> None:
        super().__init__()
        width = latent_dim if latent_dim else feature_dim
        self.width = width
        self.projection = nn.Linear(feature_dim, latent_dim) if latent_dim else None  # torch's default init, as MMRec
        self.preference = nn.Parameter(nn.init.xavier_normal_(torch.empty(num_users, width)))
        self.convs = nn.ModuleList()
        self.linears = nn.ModuleList()
        self.gates = nn.ModuleList()
        for layer in range(num_layers):
            inputs = width if layer == 0 else embedding_dim
            conv = nn.Linear(inputs, inputs, bias=False)
            linear = nn.Linear(inputs, embedding_dim)
            gate = nn.Linear(inputs + embedding_dim, embedding_dim)
            nn.init.xavier_normal_(conv.weight)
            nn.init.xavier_normal_(linear.weight)
            if layer == 0:  # MMRec re-initialises only the first combination layer
                nn.init.xavier_normal_(gate.weight)
            self.convs.append(conv)
            self.linears.append(linear)
            self.gates.append(gate)

    def item_inputs(self, raw_features: torch.Tensor) -> torch.Tensor:
        """The item rows of ``x^(0)``: ``normalize_rows(MLP(F))``, or ``normalize_rows(F)`` in raw space."""
        projected = self.projection(raw_features) if self.projection is not None else raw_features
        return F.normalize(projected, dim=1)

    def forward(
        self,
        item_inputs: torch.Tensor,
        ids: torch.Tensor,
        graph: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
        first_user_aggregate: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``x^(L)`` of all nodes ``[num_users + num_items, d]``.

        Args:
            item_inputs: item rows of ``x^(0)`` (already normalised), ``[num_items, width]``.
            ids: ``[E_user ; E_item]``.
            graph: ``(user_mean, user_mean_t, item_mean, item_mean_t)``: the user <- items and
                item <- users mean matrices and their transposes.
            first_user_aggregate: ``user_mean @ item_inputs``, when it is constant (raw space);
                used when there are no more users than items.
        """
        num_users = self.preference.shape[0]
        users, items = F.normalize(self.preference, dim=1), item_inputs
        user_ids, item_ids = ids[:num_users], ids[num_users:]
        for layer, (conv, linear, gate) in enumerate(zip(self.convs, self.linears, self.gates, strict=True)):
            h_users, h_items = convolve(conv, users, items, graph, first_user_aggregate if layer == 0 else None)
            users = F.leaky_relu(gate(torch.cat([h_users, F.leaky_relu(linear(users)) + user_ids], dim=1)))
            items = F.leaky_relu(gate(torch.cat([h_items, F.leaky_relu(linear(items)) + item_ids], dim=1)))
        return torch.cat([users, items])


def convolve(
    conv: nn.Linear,
    users: torch.Tensor,
    items: torch.Tensor,
    graph: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    user_aggregate: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``g(mean_N(x) C)`` for the users and for the items.

    ``mean_N`` is linear, so ``mean_N(x) C = mean_N(x C)``: the dense product is taken on the
    smaller of the two node sets on both sides (``2 min(U, I)`` rows instead of ``U + I``).
    ``user_aggregate`` is ``user_mean @ items`` when the caller has it precomputed.
    """
    user_mean, user_mean_t, item_mean, item_mean_t = graph
    if users.shape[0] <= items.shape[0]:
        if user_aggregate is None:
            user_aggregate = _MEAN(items, user_mean, transpose=user_mean_t)
        h_users = conv(user_aggregate)
        h_items = _MEAN(conv(users), item_mean, transpose=item_mean_t)
    else:
        h_users = _MEAN(conv(items), user_mean, transpose=user_mean_t)
        h_items = conv(_MEAN(users, item_mean, transpose=item_mean_t))
    return F.leaky_relu(h_users), F.leaky_relu(h_items)


class MMGCN(RecommenderModule):
    """Per-modality GCNs with user preference tables, averaged over modalities.

    Args:
        num_layers: GCN layers per modality (MMRec runs 3 whatever its ``n_layers`` says).
        modalities: modalities to use, one GCN each; None uses every modality of the data set.
        latent_dims: modality -> width of the linear projection its features go through (and of its
            preference table); modalities not listed stay in their raw feature space. None means
            ``{"image": 256}`` (MMRec and the authors), applied where the modality is used.
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`;
            ``embedding_dim`` is the width d of the ID embeddings and of the output (MMRec: 64),
            ``reg_weight`` weights the regulariser (MMRec searches 0, 1e-5, ..., 0.1); MMRec searches
            ``learning_rate`` over 1e-4, 5e-4, 1e-3, 5e-3, 1e-2.
    """

    def __init__(
        self,
        num_layers: int = 3,
        modalities: list[str] | None = None,
        latent_dims: dict[str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.num_layers = num_layers
        self.modalities = select_modalities(type(self).__name__, self.feature_dims, modalities)
        if latent_dims is None:
            latent_dims = {m: w for m, w in DEFAULT_LATENT_DIMS.items() if m in self.modalities}
        unused = [m for m in latent_dims if m not in self.modalities]
        if unused:
            raise ValueError(f"MMGCN: latent_dims names {unused}, which are not among its modalities {self.modalities}")
        if any(w <= 0 for w in latent_dims.values()):
            raise ValueError(f"MMGCN: latent_dims must be positive, got {latent_dims}")
        self.latent_dims = dict(latent_dims)

        # one table in MMRec
        ids = nn.init.xavier_normal_(torch.empty(self.num_users + self.num_items, self.embedding_dim))
        self.user_embedding = nn.Parameter(ids[: self.num_users].clone())
        self.item_embedding = nn.Parameter(ids[self.num_users :].clone())
        self.gcns = nn.ModuleDict(
            {
                m: ModalityGCN(
                    self.num_users, self.feature_dims[m], self.embedding_dim, num_layers, self.latent_dims.get(m)
                )
                for m in self.modalities
            }
        )

    def build(self, dataset: MMRecDataset) -> None:
        require_modalities("MMGCN", dataset.item_features, self.modalities, f"data set {dataset.name}")
        users, items = dataset.train.users.long(), dataset.train.items.long()
        user_mean = mean_matrix(users, items, self.num_users, self.num_items)
        item_mean = mean_matrix(items, users, self.num_items, self.num_users)
        self.register_data("user_mean", user_mean)
        self.register_data("user_mean_t", transpose_csr(user_mean))
        self.register_data("item_mean", item_mean)
        self.register_data("item_mean_t", transpose_csr(item_mean))
        for modality, gcn in self.gcns.items():
            raw = dataset.item_features[modality]
            if gcn.projection is not None:  # projected each step: keep the raw features
                self.register_data(f"features_{modality}", raw)
            else:  # constant inputs: normalise once and, where `convolve` uses it, aggregate once for the users
                normalised = gcn.item_inputs(raw)
                self.register_data(f"item_inputs_{modality}", normalised)
                if self.num_users <= self.num_items:
                    self.register_data(f"first_user_aggregate_{modality}", torch.sparse.mm(user_mean, normalised))

    def _graph(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.user_mean, self.user_mean_t, self.item_mean, self.item_mean_t

    def modality_representation(self, modality: str) -> torch.Tensor:
        """``x^(L)`` of ``modality``'s GCN, ``[num_users + num_items, d]``."""
        gcn = self.gcns[modality]
        ids = torch.cat([self.user_embedding, self.item_embedding])
        if gcn.projection is not None:
            return gcn(gcn.item_inputs(getattr(self, f"features_{modality}")), ids, self._graph())
        return gcn(
            getattr(self, f"item_inputs_{modality}"),
            ids,
            self._graph(),
            first_user_aggregate=getattr(self, f"first_user_aggregate_{modality}", None),
        )

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        total = None
        for modality in self.modalities:
            x = self.modality_representation(modality)
            total = x if total is None else total + x
        representation = total / len(self.modalities)
        return representation[: self.num_users], representation[self.num_users :]

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        user_repr, item_repr = self.forward()
        u = user_repr.index_select(0, users)
        pos, neg = item_repr.index_select(0, positives), item_repr.index_select(0, negatives)
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))}
        if self.reg_weight:
            ids = (
                self.user_embedding.index_select(0, users).pow(2).mean()
                + (
                    self.item_embedding.index_select(0, positives).pow(2).mean()
                    + self.item_embedding.index_select(0, negatives).pow(2).mean()
                )
                / 2
            )
            preferences = sum(gcn.preference.pow(2).mean() for gcn in self.gcns.values())
            terms["reg"] = self.reg_weight * (ids + preferences)
        return terms

    # ------------------------------------------------------------ SG-URInit
    def project_modality(self, modality: str, raw_features: torch.Tensor) -> torch.Tensor:
        """Item features in the space of ``modality``'s preference table (its projection, or raw)."""
        if modality not in self.gcns:
            raise ValueError(f"MMGCN uses the modalities {self.modalities}, not {modality!r}")
        projection = self.gcns[modality].projection
        return projection(raw_features) if projection is not None else raw_features

    def user_init_targets(self) -> list[UserInitTarget]:
        return [
            UserInitTarget(
                f"preference[{m}]",
                gcn.preference,
                item_space=self.project_modality if gcn.projection is not None else "raw",
                modalities=[m],
            )
            for m, gcn in self.gcns.items()
        ]
