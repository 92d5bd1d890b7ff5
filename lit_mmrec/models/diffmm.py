r"""DiffMM (Jiang, Xia, Wei, Luo, Lin, Huang, "DiffMM: Multi-Modal Diffusion Model for Recommendation",
ACM MM 2024), ported from the authors' code HKUDS/DiffMM@fae20e6 (``Model.py``, ``Main.py``, ``Params.py``).

Each modality ``m`` has a denoiser ``f_m`` of a Gaussian diffusion over users' interaction rows ``x_u`` (binary
``[I]``; :mod:`lit_mmrec.nn.diffusion`: 5 steps, noise scale 0.1 in ``[1e-4, 0.02]``, ``x_0``-prediction).
Every training epoch runs, in this order (``on_train_epoch_start``, the original's ``trainEpoch``):

1. **diffusion phase**: one pass over all users in shuffled batches of ``diffusion_batch_size`` rows; per
   modality the loss ``mean_u ELBO_u + e · mean_u mean_d ((f_m(x_t) F_m)_{u,d} - (x_u E_item)_{u,d})²``
   (the modality-aware term ties the denoised row, read through the modality's projected item features
   ``F_m [I, d]``, to the row read through the item ID table; both detached), each denoiser stepping its own
   Adam;
2. **graph regeneration**: per modality the rows are denoised by the reverse process (from ``x_0``, no
   noise: ``sampling_steps = 0``, ``sampling_noise`` off), each user keeps its ``rebuild_k`` top-scored
   items, and the modality graph ``G_m = D^-1/2 (A_m + I) D^-1/2`` of those edges
   (:mod:`lit_mmrec.nn.self_looped_adjacency`) loses each entry with probability ``1 - keep_rate`` (the kept
   ones divided by ``keep_rate``); it serves the epoch's training and evaluation;
3. **recommender phase**: BPR batches stepping the recommender's Adam.

Recommender, with ``A`` the self-looped normalised training graph, ``E = [E_user; E_item]`` (xavier-uniform),
``F_m = LeakyReLU_0.2(X_m W_m)`` (``projection="matrix"``, the original's ``trans=0``) or ``X_m W_m + b_m``
(``"linear"``, ``trans=1``), ``n(·)`` row L2-normalisation and ``w = softmax(ω)`` (``ω`` learned, ``1/M`` each):

    h_m = A [E_user; n(F_m)],   e_m = h_m + A [h_m^user; E_item] + λ_adj G_m E
    z = Σ_m w_m e_m,   [U; I] = Σ_{l=0..L} A^l z + λ n(z),   score(u, i) = <U_u, I_i>

Contrastive views ``v_m = Σ_{l=0..L} A^l G_m [E_user; n(F_m)]``; with ``nce(a, b, nodes)``
(:mod:`lit_mmrec.nn.node_info_nce`, all nodes as candidates, temperature τ) and a batch ``(u, i+, i-)``:

    loss = BPR + reg_weight (‖E_user‖² + ‖E_item‖²) + ssl Σ_pairs [nce(·^user, ·^user, u) + nce(·^item, ·^item, i+)]

the pairs being every two modality views (``contrast="modalities"``, the original's ``cl_method=0``) or the
final representations with each view (``"main"``, ``cl_method=1``).

Defaults (``Params.py`` and the README's commands): ``num_layers`` 1, ``ris_lambda`` 0.5, ``ris_adj_lambda`` 0.2,
``temperature`` 0.5, ``ssl_weight`` 1e-2, ``keep_rate`` 0.5, ``rebuild_k`` 1, ``e_loss`` 0.1, denoiser
``[1000]`` hidden, timestep embedding 10, input dropout 0.5, Adam 1e-3 for everything, batch 1024,
``reg_weight`` 1e-5 (its ``reg``). Published numbers are on HKUDS' own split of Baby/Sports/TikTok, not
comparable with the MMRec split used here.

Deviations from the original code:

- the diffusion rows are formed per batch of users from the sparse training interactions (the original
  densifies the whole ``users x items`` matrix once); the regenerated graphs are edge lists, never dense;
- the per-epoch graph (its top-k items and its kept entries) is saved in the checkpoint, so a reloaded or
  resumed model evaluates with the graph it trained with; before the first epoch (and for a model that never
  trained) the graph is regenerated from the current denoisers without dropping entries;
- BPR is the mean over the batch (the original divides the sum by the nominal batch size, which shrinks
  the loss of the last, smaller batch) and the InfoNCE log-partition is computed stably (same value);
- the diffusion phase's user order, noise and dropout come from the global generator
  (:class:`~lit_mmrec.callbacks.EpochSeed` reseeds it per epoch, which makes resume exact); the graph
  regeneration takes the users in order;
- the original's ``trans=2`` (image by matrix, text linear: its Allrecipes setting) is not offered;
- the SNR weight at step 0 is 1 directly (the original evaluates ``SNR(-1)``, the last step's, then
  replaces it), and the loss stays float32 (the original's float64 weights promote it).

Defects of the original, kept as they are: the entries dropped at the start of an epoch also shape that
epoch's evaluation (with ``keep_rate < 1`` evaluation is random across epochs); the regulariser is the
squared norm of both full ID tables at every batch. The top-k items are chosen among all items, the
user's own included, as there. ``Params.py`` parses ``--norm`` and
``--sampling_noise`` with ``type=bool``, so any value given on the command line switches them on.

The SG-URInit authors' port (Jinfeng-Xu/Multimodal-Recommendation-Library ``src/models/diffmm.py``) is not
followed: its loss is BPR + regulariser only, so its denoisers never train; its forward never receives a
regenerated graph (the training graph stands in); it has no contrastive term, its denoiser predicts the
noise, and ``rebuild_k`` is fixed at 10.

Training is manual optimisation (``automatic_optimization = False``): ``configure_optimizers`` returns the
recommender's Adam first, then one Adam per modality's denoiser; Lightning checkpoints every state. Under DDP
the denoisers take no part in the recommender's loss, so the strategy is ``ddp_find_unused_parameters_true``;
every rank runs the same diffusion phase (all users, the same epoch seed), so the denoisers and the
regenerated graphs stay identical across ranks.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.data.pairs import row_pointers
from lit_mmrec.errors import require_ddp_unused_parameters
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.diffusion import Denoiser, GaussianDiffusion
from lit_mmrec.nn.light_conv import LightConv, sparse_layer
from lit_mmrec.nn.losses import bpr_loss
from lit_mmrec.nn.modal import select_modalities
from lit_mmrec.nn.node_info_nce import node_info_nce
from lit_mmrec.nn.self_looped_adjacency import self_looped_bipartite_adjacency
from lit_mmrec.nn.sparse import csr_pair, matmul_with_transpose

#: checkpoint key of the per-epoch modality graphs (top-k items and kept entries per modality)
GRAPH_KEY = "diffmm_modality_graphs"


def _adam(parameters, learning_rate: float, weight_decay: float) -> torch.optim.Optimizer:
    """Adam, torch's fused kernel where the device has one (same update rule)."""
    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, lr=learning_rate, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(parameters, lr=learning_rate, weight_decay=weight_decay)


class DiffMM(RecommenderModule):
    """DiffMM: per-modality diffusion-regenerated user-item graphs, LightGCN propagation, cross-modal contrast.

    Args:
        modalities: modalities to use; None = every modality of the data set.
        num_layers: propagation layers ``L`` over the training graph (``gnn_layer``: 1).
        projection: ``"matrix"`` (``LeakyReLU(X W)``, ``trans=0``) or ``"linear"`` (``X W + b``, ``trans=1``).
        ris_lambda: ``λ``, weight of the normalised modal sum added to the output (``ris_lambda``: 0.5).
        ris_adj_lambda: ``λ_adj``, weight of the ID propagation over the regenerated graph (``ris_adj_lambda``: 0.2).
        contrast: ``"modalities"`` (modality views against each other, ``cl_method=0``; needs two modalities)
            or ``"main"`` (the final representations against each view, ``cl_method=1``).
        ssl_weight: weight of the contrastive terms (``ssl_reg``: 1e-2).
        temperature: InfoNCE temperature (``temp``: 0.5).
        keep_rate: share of the regenerated graph's entries kept each epoch (``keepRate``: 0.5), in (0, 1].
        rebuild_k: items each user keeps in the regenerated graph (``rebuild_k``: 1).
        denoiser_dims: hidden widths of each denoiser (``dims``: [1000]).
        time_embedding_dim: width of the denoiser's timestep embedding (``d_emb_size``: 10).
        normalise_rows: L2-normalise the denoiser's input rows (``norm``: False).
        denoiser_dropout: dropout on the denoiser's input rows in training (0.5, ``Denoise``'s default).
        steps: diffusion steps (``steps``: 5).
        noise_scale: diffusion noise scale (``noise_scale``: 0.1).
        noise_min: lower noise bound (``noise_min``: 1e-4).
        noise_max: upper noise bound (``noise_max``: 0.02).
        sampling_steps: the step the regeneration's reverse process starts from; 0 = the rows themselves
            (``sampling_steps``: 0).
        sampling_noise: add the posterior noise in the reverse process (``sampling_noise``: False).
        e_loss: weight of the modality-aware term of the diffusion loss (``e_loss``: 0.1).
        diffusion_batch_size: users per diffusion batch (``batch``: 1024).
        diffusion_learning_rate: the denoisers' Adam learning rate; None = ``learning_rate`` (the original's).
        reg_weight: weight of ``‖E_user‖² + ‖E_item‖²`` added to every batch's loss (``reg``: 1e-5).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`.
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        num_layers: int = 1,
        projection: Literal["matrix", "linear"] = "matrix",
        ris_lambda: float = 0.5,
        ris_adj_lambda: float = 0.2,
        contrast: Literal["modalities", "main"] = "modalities",
        ssl_weight: float = 1e-2,
        temperature: float = 0.5,
        keep_rate: float = 0.5,
        rebuild_k: int = 1,
        denoiser_dims: list[int] | None = None,
        time_embedding_dim: int = 10,
        normalise_rows: bool = False,
        denoiser_dropout: float = 0.5,
        steps: int = 5,
        noise_scale: float = 0.1,
        noise_min: float = 1e-4,
        noise_max: float = 0.02,
        sampling_steps: int = 0,
        sampling_noise: bool = False,
        e_loss: float = 0.1,
        diffusion_batch_size: int = 1024,
        diffusion_learning_rate: float | None = None,
        reg_weight: float = 1e-5,
        **kwargs: Any,
    ) -> None:
        super().__init__(reg_weight=reg_weight, **kwargs)
        self.automatic_optimization = False
        self.modalities = select_modalities("DiffMM", self.feature_dims, modalities)
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        if projection not in ("matrix", "linear"):
            raise ValueError(f"projection must be 'matrix' or 'linear', got {projection!r}")
        if contrast not in ("modalities", "main"):
            raise ValueError(f"contrast must be 'modalities' or 'main', got {contrast!r}")
        if contrast == "modalities" and len(self.modalities) < 2:
            raise ValueError(f"contrast='modalities' needs two modalities, got {self.modalities}: use contrast='main'")
        if not 0.0 < keep_rate <= 1.0:
            raise ValueError(f"keep_rate must lie in (0, 1], got {keep_rate}")
        if not 1 <= rebuild_k <= self.num_items:
            raise ValueError(f"rebuild_k must lie in [1, num_items={self.num_items}], got {rebuild_k}")
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if min(ssl_weight, e_loss, ris_lambda, ris_adj_lambda) < 0:
            raise ValueError("ssl_weight, e_loss, ris_lambda and ris_adj_lambda must be non-negative")
        if diffusion_batch_size <= 0:
            raise ValueError(f"diffusion_batch_size must be positive, got {diffusion_batch_size}")
        if diffusion_learning_rate is not None and not diffusion_learning_rate > 0:
            raise ValueError(f"diffusion_learning_rate must be positive, got {diffusion_learning_rate}")
        self.diffusion = GaussianDiffusion(noise_scale, noise_min, noise_max, steps)
        if not 0 <= sampling_steps <= steps:
            raise ValueError(f"sampling_steps must lie in [0, steps={steps}], got {sampling_steps}")
        self.num_layers = num_layers
        self.projection_kind = projection
        self.ris_lambda = ris_lambda
        self.ris_adj_lambda = ris_adj_lambda
        self.contrast = contrast
        self.ssl_weight = ssl_weight
        self.temperature = temperature
        self.keep_rate = keep_rate
        self.rebuild_k = rebuild_k
        self.sampling_steps = sampling_steps
        self.sampling_noise = sampling_noise
        self.e_loss = e_loss
        self.diffusion_batch_size = diffusion_batch_size
        self.diffusion_learning_rate = diffusion_learning_rate or self.learning_rate

        dim = self.embedding_dim
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_items, dim)))
        if projection == "matrix":  # the original's xavier-uniform W [D_m, d], no bias
            self.projection = nn.ModuleDict(
                {m: nn.Linear(self.feature_dims[m], dim, bias=False) for m in self.modalities}
            )
            for layer in self.projection.values():
                nn.init.xavier_uniform_(layer.weight)
        else:
            self.projection = nn.ModuleDict({m: nn.Linear(self.feature_dims[m], dim) for m in self.modalities})
        self.modality_weight = nn.Parameter(torch.full((len(self.modalities),), 1.0 / len(self.modalities)))
        self.conv = LightConv(num_layers, combine="sum")
        hidden = [1000] if denoiser_dims is None else list(denoiser_dims)
        self.denoisers = nn.ModuleDict({
            m: Denoiser(self.num_items, hidden, time_embedding_dim, normalise_rows, denoiser_dropout)
            for m in self.modalities
        })
        # per modality: the regenerated graph's top items [U, k] and kept entries (None: all), and its CSR pair
        self._top_items: dict[str, torch.Tensor] = {}
        self._kept: dict[str, torch.Tensor | None] = {}
        self._graphs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    # ------------------------------------------------------------------ data
    def setup(self, stage: str) -> None:
        if stage == "fit":
            require_ddp_unused_parameters("DiffMM", self.trainer)
        super().setup(stage)

    def build(self, dataset: MMRecDataset) -> None:
        self.register_item_features(dataset, self.modalities)
        train = dataset.train
        self.register_data(
            "adjacency", self_looped_bipartite_adjacency(train.users, train.items, self.num_users, self.num_items)
        )
        keys = torch.unique(train.users.long() * self.num_items + train.items.long())
        users = torch.div(keys, self.num_items, rounding_mode="floor")
        self.register_data("row_pointers", row_pointers(users, self.num_users))
        self.register_data("row_items", keys - users * self.num_items)

    def interaction_rows(self, users: torch.Tensor) -> torch.Tensor:
        """The binary training rows ``[B, I]`` of ``users`` (only this batch of rows is dense)."""
        starts, ends = self.row_pointers[users], self.row_pointers[users + 1]
        counts = ends - starts
        owner = torch.repeat_interleave(torch.arange(users.numel(), device=users.device), counts)
        offset = torch.arange(int(counts.sum()), device=users.device) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts
        )
        rows = torch.zeros(users.numel(), self.num_items, device=users.device)
        rows[owner, self.row_items[torch.repeat_interleave(starts, counts) + offset]] = 1.0
        return rows

    def modal_features(self, modality: str) -> torch.Tensor:
        """``F_m [I, d]``: the projected item features of ``modality``."""
        projected = self.projection[modality](self.item_features(modality))
        return F.leaky_relu(projected, 0.2) if self.projection_kind == "matrix" else projected

    # ------------------------------------------------------- diffusion phase
    def diffusion_losses(self, rows: torch.Tensor, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per modality the denoiser's loss on the batch ``rows [B, I]``: mean ELBO + ``e_loss`` x the mean
        modality-aware term; ``features`` holds the detached ``F_m``."""
        id_side = rows @ self.item_embedding.detach()
        losses = {}
        for modality in self.modalities:
            elbo, prediction = self.diffusion.training_losses(self.denoisers[modality], rows)
            aware = (prediction @ features[modality] - id_side).square().mean(1)
            losses[modality] = elbo.mean() + self.e_loss * aware.mean()
        return losses

    def train_denoisers(self) -> dict[str, float]:
        """One pass over all users in shuffled batches, each denoiser stepping its own optimiser; returns the
        mean loss per modality."""
        optimisers = self.optimizers(use_pl_optimizer=False)[1:]
        with torch.no_grad():
            features = {m: self.modal_features(m) for m in self.modalities}
        totals = dict.fromkeys(self.modalities, 0.0)
        batches = torch.randperm(self.num_users, device=self.device).split(self.diffusion_batch_size)
        for users in batches:
            for optimiser in optimisers:
                optimiser.zero_grad()
            losses = self.diffusion_losses(self.interaction_rows(users), features)
            sum(losses.values()).backward()
            for optimiser in optimisers:
                optimiser.step()
            for modality, value in losses.items():
                totals[modality] += value.item() / len(batches)
        return totals

    @torch.no_grad()
    def regenerate_graphs(self, drop: bool = True) -> None:
        """Each modality's top-``rebuild_k`` items per user from its denoised rows; ``drop``: draw this epoch's
        kept entries (``keep_rate``), else keep all."""
        for modality in self.modalities:
            tops = [
                self.diffusion.p_sample(
                    self.denoisers[modality], self.interaction_rows(users), self.sampling_steps, self.sampling_noise
                ).topk(self.rebuild_k, dim=1).indices
                for users in torch.arange(self.num_users, device=self.device).split(self.diffusion_batch_size)
            ]
            self._top_items[modality] = torch.cat(tops).cpu()
            self._kept[modality] = None
            if drop and self.keep_rate < 1.0:
                entries = self._modality_graph(self._top_items[modality])._nnz()
                self._kept[modality] = (torch.rand(entries) + self.keep_rate).floor().bool()
        self._graphs = {}

    def _modality_graph(self, top_items: torch.Tensor, kept: torch.Tensor | None = None) -> torch.Tensor:
        """``G_m`` (sparse COO, coalesced) of the users' top items, with only the ``kept`` entries (divided by
        ``keep_rate``) when given."""
        users = torch.arange(self.num_users).repeat_interleave(top_items.shape[1])
        graph = self_looped_bipartite_adjacency(users, top_items.reshape(-1), self.num_users, self.num_items)
        graph = graph.to_sparse_coo().coalesce()
        if kept is None:
            return graph
        return torch.sparse_coo_tensor(
            graph.indices()[:, kept], graph.values()[kept] / self.keep_rate, graph.shape
        ).coalesce()

    def modality_graph(self, modality: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(G_m, G_m^T)`` as CSR on the module's device (regenerated without dropping when none exists)."""
        if modality not in self._top_items:
            self.regenerate_graphs(drop=False)
        cached = self._graphs.get(modality)
        if cached is None or cached[0].device != self.device:
            graph, graph_t = csr_pair(self._modality_graph(self._top_items[modality], self._kept[modality]))
            cached = self._graphs[modality] = (graph.to(self.device), graph_t.to(self.device))
        return cached

    # ------------------------------------------------------------- backbone API
    def _modal_layer0(self, modality: str) -> torch.Tensor:
        return torch.cat([self.user_embedding, F.normalize(self.modal_features(modality), dim=1)])

    def _split(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return rows[: self.num_users], rows[self.num_users :]

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(U, I)``: the propagated modality-weighted sum plus ``λ n(z)``."""
        ids = torch.cat([self.user_embedding, self.item_embedding])
        weights = torch.softmax(self.modality_weight, 0)
        fused = 0.0
        for weight, modality in zip(weights, self.modalities, strict=True):
            graph, graph_t = self.modality_graph(modality)
            h = sparse_layer(self.adjacency, self._modal_layer0(modality))
            h = h + sparse_layer(self.adjacency, torch.cat([h[: self.num_users], self.item_embedding]))
            fused = fused + weight * (h + self.ris_adj_lambda * matmul_with_transpose(graph, graph_t, ids))
        out = self.conv(fused, self.adjacency) + self.ris_lambda * F.normalize(fused, dim=1)
        return self._split(out)

    def views(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per modality the contrastive view ``(users, items)``: ``Σ_l A^l G_m [E_user; n(F_m)]``."""
        views = {}
        for modality in self.modalities:
            graph, graph_t = self.modality_graph(modality)
            start = matmul_with_transpose(graph, graph_t, self._modal_layer0(modality))
            views[modality] = self._split(self.conv(start, self.adjacency))
        return views

    def contrastive_loss(
        self, main: tuple[torch.Tensor, torch.Tensor], users: torch.Tensor, positives: torch.Tensor
    ) -> torch.Tensor:
        views = list(self.views().values())
        if self.contrast == "main":
            pairs = [(main, view) for view in views]
        else:
            pairs = [(views[a], views[b]) for a in range(len(views)) for b in range(a + 1, len(views))]
        total = 0.0
        for (user_a, item_a), (user_b, item_b) in pairs:
            total = total + node_info_nce(user_a, user_b, users, self.temperature)
            total = total + node_info_nce(item_a, item_b, positives, self.temperature)
        return self.ssl_weight * total

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        user_repr, item_repr = self.forward()
        u = user_repr.index_select(0, users)
        pos, neg = item_repr.index_select(0, torch.cat([positives, negatives])).split(users.numel())
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))}
        if self.reg_weight:
            terms["reg"] = self.reg_weight * (self.user_embedding.square().sum() + self.item_embedding.square().sum())
        if self.ssl_weight:
            terms["contrast"] = self.contrastive_loss((user_repr, item_repr), users, positives)
        return terms

    # --------------------------------------------------------------- training
    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """The recommender's Adam (every parameter but the denoisers'), then one Adam per denoiser."""
        denoising = {id(p) for p in self.denoisers.parameters()}
        recommender = [p for p in self.parameters() if id(p) not in denoising]
        return [_adam(recommender, self.learning_rate, self.weight_decay)] + [
            _adam(self.denoisers[m].parameters(), self.diffusion_learning_rate, 0.0) for m in self.modalities
        ]

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        losses = self.train_denoisers()
        self.regenerate_graphs(drop=True)
        self.log_dict({f"train/diffusion_{m}": v for m, v in losses.items()}, on_step=False, on_epoch=True)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        users, positives, negatives = batch
        optimiser = self.optimizers()[0]
        terms = self.loss(users, positives, negatives)
        total = sum(terms.values())
        optimiser.zero_grad()
        self.manual_backward(total)
        optimiser.step()
        size = users.numel()
        self.log("train/loss", total, prog_bar=True, on_step=False, on_epoch=True, batch_size=size)
        self.log_dict({f"train/{k}": v for k, v in terms.items()}, on_step=False, on_epoch=True, batch_size=size)
        return total.detach()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self._top_items:
            checkpoint[GRAPH_KEY] = {m: (self._top_items[m], self._kept[m]) for m in self.modalities}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get(GRAPH_KEY)
        if saved:
            self._top_items = {m: top.cpu() for m, (top, _) in saved.items()}
            self._kept = {m: None if kept is None else kept.cpu() for m, (_, kept) in saved.items()}
            self._graphs = {}

    def user_init_targets(self) -> list[UserInitTarget]:
        # The user table is propagated beside the normalised projected features n(F_m): compare it with the
        # model's own (freshly initialised) projection of the raw features, normalised.
        def project(modality: str, raw: torch.Tensor) -> torch.Tensor:
            layer = self.projection[modality]
            with torch.no_grad():
                projected = layer(raw.to(layer.weight.device, layer.weight.dtype))
                if self.projection_kind == "matrix":
                    projected = F.leaky_relu(projected, 0.2)
                return F.normalize(projected, dim=1)

        return [UserInitTarget("user_embedding", self.user_embedding, item_space=project, modalities=self.modalities)]
