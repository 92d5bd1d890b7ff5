r"""HPMRec (Chen, Xu, Wang, Yang, Wan & Hu, "Hypercomplex Prompt-aware Multimodal Recommendation", CIKM 2025,
arXiv:2508.10753), after its only public code: the port in the authors' library
(``Jinfeng-Xu/Multimodal-Recommendation-Library`` commit df1768a, ``src/models/hpmrec.py`` and
``src/configs/model/HPMRec.yaml``), with that port's defects mended (below).

Branches ``b`` in ``B = [id, m_1, ...]``: the ID branch (a learned item table ``E_i [I, d]``) and one per
modality (the raw item features ``x^m``). Each branch is a hypercomplex embedding of algebra dimension ``n``
(:mod:`lit_mmrec.nn.hypercomplex`): ``n`` components of width ``d``, side by side. With ``U_{b,c} [U, d]`` the
user table of component ``c`` of branch ``b``, ``f_b`` the branch's item encoder
``Linear(4d -> d) ∘ LeakyReLU ∘ Linear(D_b -> 4d)``, ``Â`` the symmetric-normalised user-item graph:

    h^(0)_{b,c} = rownorm([U_{b,c}; f_b(x^b)])                          ([U + I, d], L2 per row)
    H_b = [Σ_{l=1..L} Â^l h^(0)_{b,c}]_{c=0..n-1} + P_b                  ([U + I, n d]; P_b the prompt table)
    H'_m = H_m + γ H_id ⊗ H_m                                           (⊗ the Cayley–Dickson product, γ = 0.1)
    Z = [H_id; H'_m1; ...] = [Z_u; Z_i],    item = Z_i + S^k Z_i,    score(u, i) = <Z_u, item_i>

``S`` is FREEDOM's frozen item graph (binary cosine kNN per modality, ``D^-1/2 A D^-1/2``, mixed 0.1 image +
0.9 text: MMRec's ``mm_image_weight`` as HPMRec.yaml sets it; the port's code default 0.5 is overridden by the
yaml), applied ``k = n_mm_layers`` times. The prompt tables ``P_b [U + I, n d]`` are free parameters added
after propagation ("prompt-aware compensation").

Loss for a batch ``(u, i+, i-)``:

    BPR  +  reg_weight x Σ_{b,c} mean(U_{b,c}[u]^2)
         +  ssl_weight x ( Σ_{b < b'} mean|H'_b,items - H'_b',items|  -  Σ_b mean|re(H'_b) - im(H'_b)| )

with ``re`` the first component and ``im`` the mean of the others (``H'_id = H_id``): the L1 alignment of the
branches' item rows and the "diversity" term that pushes the real part away from the imaginary ones.

Defaults: HPMRec.yaml (learning rate 1e-4, knn_k 10, n_mm_layers 1, mm_image_weight 0.1); its grids
(n_layers {1, 2, 3}, algebra_dim {2, 4, 8, 16}, reg_weight and ssl_weight {1e-2, 1e-3, 1e-4}) have no
published winner: n_layers 2 and algebra_dim 2 are the port's code defaults, the weights the grids' middle.

Deviations from the port (its defects named):

- every user component is a registered parameter: the port keeps the components ``1 .. n-1`` (``emb_x``) in a
  plain Python list, so they are never trained, never saved and stay on the CPU, and it writes
  ``nn.Parameter(...).to(device)`` for component 0 (``emb_s``), which on a GPU leaves a non-leaf copy that the
  optimiser never sees either; there, only the prompts carry any user signal;
- the alignment runs over every pair of branches once (with image and text: id–v, id–t and v–t; the paper
  aligns the modalities with one another); the port adds id–t twice and id–v never;
- the layers are ``Â^l h^(0)``: the port overwrites each component's ``.data`` with the previous layer's
  output, so its forward is the same but its backward treats every layer as one hop (``Â^T`` instead of
  ``(Â^T)^l``);
- the Cayley–Dickson product with conjugates (quaternions at ``n = 4``, octonions at 8); the port's recursion
  omits them (``(a c - d b, a d + b c)``), a commutative algebra that is not Cayley–Dickson above ``n = 2``:
  ``conjugate=False`` reproduces it (identical at the default ``n = 2``);
- ``warm_up_epochs``, named among the yaml's searched hyperparameters, is defined nowhere (the port reads no
  such key): there is nothing to reproduce. Unused members of the port (``image_trs``, ``text_trs``, the
  fine-tunable copies of the raw features, ``result_embed``, ``k = 40``) are left out; the raw features
  are fixed, as in the port's forward;
- BPR as ``-mean log σ(Δ)`` without the port's ``+ 1e-8`` inside the log; any number of modalities (the
  port needs image and text both).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.init.targets import UserInitTarget
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.hypercomplex import cayley_dickson_product, check_algebra_dim
from lit_mmrec.nn.knn_graph import mixing_weights
from lit_mmrec.nn.light_conv import LightConv, sparse_layer
from lit_mmrec.nn.losses import bpr_loss
from lit_mmrec.nn.modal import select_modalities
from lit_mmrec.nn.normalisation import bipartite_adjacency
from lit_mmrec.nn.sum_conv import SumConv

ID = "id"


class HPMRec(RecommenderModule):
    """HPMRec: per-branch hypercomplex user components propagated on the user-item graph, prompt tables,
    Cayley–Dickson interaction of the ID branch with each modality, L1 alignment and diversity terms.

    Args:
        modalities: modalities to use; None = every modality of the data set.
        algebra_dim: components per hypercomplex embedding, a power of two (HPMRec.yaml searches 2, 4, 8, 16).
        num_layers: user-item propagation layers, at least 1 (``n_layers``: the port's default 2).
        num_item_graph_layers: products with the frozen item graph (``n_mm_layers``: 1).
        knn_k: neighbours per item in the kNN graphs (``knn_k``: 10).
        modality_weights: item-graph weight per modality; None = ``{image: 0.1, text: 0.9}``
            (``mm_image_weight``: 0.1), renormalised over the modalities used.
        interaction_weight: ``γ`` of the hypercomplex interaction ``H_m + γ H_id ⊗ H_m`` (the port: 0.1).
        conjugate: the Cayley–Dickson product (True) or the port's conjugate-free one.
        ssl_weight: weight of the alignment and diversity terms (HPMRec.yaml searches 1e-2, 1e-3, 1e-4).
        reg_weight: weight of the mean squared user components of the batch (searched 1e-2, 1e-3, 1e-4).
        learning_rate: Adam learning rate (HPMRec.yaml: 1e-4).
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`.
    """

    def __init__(
        self,
        modalities: list[str] | None = None,
        algebra_dim: int = 2,
        num_layers: int = 2,
        num_item_graph_layers: int = 1,
        knn_k: int = 10,
        modality_weights: dict[str, float] | None = None,
        interaction_weight: float = 0.1,
        conjugate: bool = True,
        ssl_weight: float = 1e-3,
        reg_weight: float = 1e-3,
        learning_rate: float = 1e-4,
        **kwargs: Any,
    ) -> None:
        super().__init__(reg_weight=reg_weight, learning_rate=learning_rate, **kwargs)
        check_algebra_dim(algebra_dim)
        if algebra_dim < 2:
            raise ValueError(f"algebra_dim must be at least 2 (a real part and an imaginary one), got {algebra_dim}")
        if num_layers < 1 or num_item_graph_layers < 0:
            raise ValueError(f"num_layers must be >= 1 and num_item_graph_layers >= 0, got {num_layers}, {num_item_graph_layers}")
        if knn_k <= 0:
            raise ValueError(f"knn_k must be positive, got {knn_k}")
        if interaction_weight < 0 or ssl_weight < 0:
            raise ValueError(f"interaction_weight and ssl_weight must be >= 0, got {interaction_weight}, {ssl_weight}")
        self.modalities = select_modalities("HPMRec", self.feature_dims, modalities)
        self.graph_weights = mixing_weights(self.modalities, modality_weights, "HPMRec")
        self.branches = [ID, *self.modalities]
        self.algebra_dim = algebra_dim
        self.num_layers = num_layers
        self.num_item_graph_layers = num_item_graph_layers
        self.knn_k = knn_k
        self.interaction_weight = interaction_weight
        self.conjugate = conjugate
        self.ssl_weight = ssl_weight
        # Σ_{l=1..L} Â^l x as Σ_{l=0..L-1} Â^l (Â x): no layer 0
        self.conv = LightConv(num_layers - 1, combine="sum")
        self.item_graph_conv = SumConv()

        d, n = self.embedding_dim, algebra_dim
        widths = {ID: d} | {m: self.feature_dims[m] for m in self.modalities}
        self.item_embedding = nn.Parameter(nn.init.xavier_normal_(torch.empty(self.num_items, d)))
        self.encoders = nn.ModuleDict(
            {b: nn.Sequential(nn.Linear(widths[b], 4 * d), nn.LeakyReLU(), nn.Linear(4 * d, d)) for b in self.branches}
        )
        self.user_components = nn.ModuleDict({
            b: nn.ParameterList(
                [nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_users, d))) for _ in range(n)]
            )
            for b in self.branches
        })
        self.prompts = nn.ParameterDict({
            b: nn.Parameter(nn.init.xavier_normal_(torch.empty(self.num_users + self.num_items, n * d)))
            for b in self.branches
        })

    # ------------------------------------------------------------------ data
    def build(self, dataset: MMRecDataset) -> None:
        self.register_mixed_item_graph(dataset, self.graph_weights, self.knn_k)
        train = dataset.train
        self.register_data("adjacency", bipartite_adjacency(train.users, train.items, self.num_users, self.num_items))

    # ------------------------------------------------------------- backbone API
    def branch_items(self, branch: str) -> torch.Tensor:
        """``f_b(x^b)``, ``[I, d]``: the item rows every component of the branch starts from."""
        source = self.item_embedding if branch == ID else self.item_features(branch)
        return self.encoders[branch](source)

    def encode(self) -> dict[str, torch.Tensor]:
        """Branch -> ``H'_b`` ``[U + I, n d]`` (users first): propagated components plus prompts, each
        modality branch with its hypercomplex interaction with the ID branch."""
        layer0 = []
        for branch in self.branches:
            items = self.branch_items(branch)
            layer0 += [F.normalize(torch.cat([users, items]), dim=1) for users in self.user_components[branch]]
        stacked = torch.cat(layer0, dim=1)
        propagated = self.conv(sparse_layer(self.adjacency, stacked), self.adjacency)
        width = self.algebra_dim * self.embedding_dim
        parts = dict(zip(self.branches, propagated.split(width, dim=1), strict=True))
        hidden = {b: parts[b] + self.prompts[b] for b in self.branches}
        for modality in self.modalities:
            interaction = cayley_dickson_product(hidden[ID], hidden[modality], self.algebra_dim, self.conjugate)
            hidden[modality] = hidden[modality] + self.interaction_weight * interaction
        return hidden

    def score_representations(self, hidden: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Z_u, Z_i + S^k Z_i)`` from the branches' ``H'_b``."""
        joint = torch.cat([hidden[b] for b in self.branches], dim=1)
        users, items = joint[: self.num_users], joint[self.num_users :]
        side = items
        for _ in range(self.num_item_graph_layers):
            side = self.item_graph_conv(side, self.item_graph, transpose=self.item_graph_t)
        return users, items + side if self.num_item_graph_layers else items

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.score_representations(self.encode())

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.encode()
        user_repr, item_repr = self.score_representations(hidden)
        u = user_repr.index_select(0, users)
        pos, neg = item_repr.index_select(0, torch.cat([positives, negatives])).split(users.numel())
        terms = {"bpr": bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))}
        if self.reg_weight:
            squares = [table.index_select(0, users).square().mean() for b in self.branches for table in self.user_components[b]]
            terms["reg"] = self.reg_weight * sum(squares)
        if self.ssl_weight:
            items = {b: h[self.num_users :] for b, h in hidden.items()}
            if len(self.branches) > 1:
                alignment = sum((items[a] - items[b]).abs().mean() for a, b in combinations(self.branches, 2))
                terms["alignment"] = self.ssl_weight * alignment
            d = self.embedding_dim
            diversity = sum((h[:, :d] - h[:, d:].unflatten(1, (-1, d)).mean(1)).abs().mean() for h in hidden.values())
            terms["diversity"] = -self.ssl_weight * diversity
        return terms

    def user_init_targets(self) -> list[UserInitTarget]:
        # Every component of a branch is propagated next to that branch's encoded items f_b(x^b): a modality's
        # components are compared with the model's own (fresh) encoding of the raw features; the ID branch's
        # with ID item embeddings (no feature space: PCA).
        def encoded(modality: str, raw: torch.Tensor) -> torch.Tensor:
            first = self.encoders[modality][0].weight
            with torch.no_grad():
                return self.encoders[modality](raw.to(first.device, first.dtype))

        targets = []
        for branch in self.branches:
            for c, table in enumerate(self.user_components[branch]):
                name = f"user_components[{branch}][{c}]"
                if branch == ID:
                    targets.append(UserInitTarget(name, table, item_space="none"))
                else:
                    targets.append(UserInitTarget(name, table, item_space=encoded, modalities=[branch]))
        return targets
