r"""ItemKNNCBF: content-based item kNN (Dacrema, Cremonesi and Jannach, "Are We Really Making Much
Progress? A Worrying Analysis of Recent Neural Recommendation Approaches", ACM RecSys 2019), as MMRec
runs it (``enoche/MMRec`` ``src/models/itemknncbf.py`` and ``src/configs/model/ItemKNNCBF.yaml``,
commit e775373).

With ``x_i`` the concatenation of item ``i``'s raw modal features (MMRec: image then text), ``h`` the
shrink term and ``R`` the binary user-item matrix of the training interactions,

    s_ij = <x_i, x_j> / (|x_i| |x_j| + h),    W_ij = s_ij if j is among the k largest s_i. else 0
    score(u, j) = (R W)_uj = sum over the training items i of u of W_ij

(:func:`lit_mmrec.nn.shrunk_cosine.shrunk_cosine_graph`). Defaults ``knn_k`` 10 and ``shrink`` 10:
MMRec's ``ItemKNNCBF.yaml`` (its one-point grid). There is no user table and nothing to learn.

Training. MMRec marks the model ``req_training: False`` (its trainer skips every batch; ``epochs: 1``)
and keeps a dummy two-element parameter only so that its optimiser can be built. Here the module has
no parameter and no optimiser, and its ``training_step`` logs the BPR loss of the fixed scores on the
batch (``train/loss``, which every backbone reports) and returns None, so Lightning takes no step:
``train.py fit`` walks the training batches once per epoch, then runs validation, early stopping and
checkpointing as for any backbone (the configs run one epoch, as MMRec). A checkpoint holds the hyperparameters only; reloading rebuilds ``W`` from the data.

Ranking. The scores of a chunk of users are ``(W^T H^T)^T`` with ``H`` their dense ``[chunk, items]``
history rows: a ``users x items`` matrix is never formed. :meth:`forward` returns ``(R, W^T)`` as sparse
CSR tensors (``score = R (W^T)^T``), not dense representations: what reads dense ones (the cold-item fill of
``ColdItems``, the cold-start report, ``UserTableDiagnostics``) does not apply to this model.

Deviations from MMRec's code:

- ``W`` is built over chunks of rows and kept sparse (``k`` entries per item); MMRec forms the dense
  ``items x items`` similarity and the dense ``users x items`` score matrix in its constructor;
- a zero denominator (an all-zero feature row with ``shrink`` 0) gives similarity 0 instead of NaN;
- the modalities are an argument (default: every modality of the data set, sorted by name, which is
  MMRec's image-then-text order); MMRec uses image and text when both exist, else the one present;
- SG-URInit cannot apply (no user table): requesting it stops the run with one line saying so; so does a
  multi-process ``fit`` (torch's DDP cannot wrap a module without parameters), while evaluation and
  prediction run distributed as for any backbone.
"""

from __future__ import annotations

from typing import Any

import torch

from lit_mmrec.data.loader import MMRecDataset
from lit_mmrec.data.pairs import UserItemIndex
from lit_mmrec.errors import InputError
from lit_mmrec.metrics.retrieval import mask_items_
from lit_mmrec.models.base import RecommenderModule
from lit_mmrec.nn.losses import bpr_loss
from lit_mmrec.nn.modal import require_modalities, select_modalities
from lit_mmrec.nn.shrunk_cosine import shrunk_cosine_graph


class ItemKNNCBF(RecommenderModule):
    """Content-based item kNN: a user's scores sum the feature-similarity rows of its training items.

    Args:
        knn_k: neighbours kept per item, k (MMRec ``ItemKNNCBF.yaml``: 10).
        shrink: h, added to the product of feature norms in the cosine (MMRec: 10).
        modalities: modalities whose raw features are concatenated; None uses every modality of the data set.
        **kwargs: the common hyperparameters of :class:`~lit_mmrec.models.base.RecommenderModule`; only
            ``topk`` matters (nothing is trained or embedded).
    """

    def __init__(self, knn_k: int = 10, shrink: float = 10.0, modalities: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(knn_k, bool) or not isinstance(knn_k, int) or knn_k < 1:
            raise ValueError(f"ItemKNNCBF: knn_k must be an integer >= 1, got {knn_k!r}")
        if not shrink >= 0:
            raise ValueError(f"ItemKNNCBF: shrink must be a finite number >= 0, got {shrink}")
        self.knn_k = knn_k
        self.shrink = float(shrink)
        self.modalities = select_modalities(type(self).__name__, self.feature_dims, modalities)

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.trainer.world_size > 1:  # torch's DDP refuses a module without parameters
            raise InputError(
                f"ItemKNNCBF has nothing to train and DDP cannot wrap it: fit it on one device (--trainer.devices 1); "
                f"validate, test and predict run on any number ({self.trainer.world_size} asked for)"
            )
        super().setup(stage)

    def build(self, dataset: MMRecDataset) -> None:
        require_modalities("ItemKNNCBF", dataset.item_features, self.modalities, f"data set {dataset.name}")
        features = torch.cat([dataset.item_features[m].float() for m in self.modalities], dim=1)
        similarity = shrunk_cosine_graph(features, self.knn_k, self.shrink)
        self.register_data("similarity_t", similarity.t().to_sparse_coo().coalesce().to_sparse_csr())
        self.register_data("history", dataset.train_csr())

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(R [num_users, num_items], W^T [num_items, num_items])``, sparse CSR: ``score = R (W^T)^T``."""
        return self.history, self.similarity_t

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        """``(R W)[users]``, dense ``[len(users), num_items]``."""
        rows, items = self.index("train").entries(users)
        history = torch.zeros(users.numel(), self.num_items, device=self.similarity_t.device)
        history[rows, items] = 1.0
        return torch.sparse.mm(self.similarity_t, history.T).T

    def rank(self, users: torch.Tensor, k: int, exclude: UserItemIndex | None = None):
        exclude = self.index("train") if exclude is None else exclude
        scores = mask_items_(self.scores(users), users, exclude)
        return torch.topk(scores, min(k, self.num_items), dim=1)

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        """BPR of the fixed scores on a batch (no gradient: there is nothing to learn)."""
        scores = self.scores(users)
        rows = torch.arange(users.numel(), device=scores.device)
        return {"bpr": bpr_loss(scores[rows, positives], scores[rows, negatives])}

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        """Log the batch's BPR loss of the fixed scores (``train/loss``, as every backbone) and return None:
        Lightning takes no optimisation step (there is nothing to optimise)."""
        super().training_step(batch, batch_idx)
        return None

    def configure_optimizers(self) -> None:
        """No optimiser: the module has no parameter."""
        return None
