r"""Per-modality user preference tables beside MLP-projected item features: the user-item inputs
that DRAGON and DualGNN build the same way (as MMRec's ports of both do).

Per modality ``m`` (all ``d`` wide): a user preference table ``P_m`` (xavier-normal) and the item
features ``F_m`` through an MLP ``D_m -> hidden -> d`` with a leaky ReLU between; both sides are
L2-normalised row-wise and stacked, users first, to be propagated over the user-item graph::

    X_m = [normalize(P_m); normalize(MLP_m(F_m))]

With several modalities a learned per-user weight ``alpha [U, M]`` (xavier-normal on ``[U, M, 1]``,
then a softmax over the modalities, as MMRec) lets each backbone weigh its users' modality blocks;
with one there is none. The regulariser is ``sum_m mean(P_m[u]^2)`` over a batch's users plus
``mean(alpha^2)`` over all users.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.init.targets import UserInitTarget


class ModalPreferenceMixin:
    """Preference tables ``preference[m]``, item MLPs ``item_mlp[m]`` and modality weights
    ``modality_weight`` of a :class:`~lit_mmrec.models.base.RecommenderModule` whose ``modalities``
    are set; list it before the module's base class and call :meth:`init_modal_preferences` from
    ``__init__``. Provides the stacked inputs ``X_m``, the regulariser and the SG-URInit targets.
    """

    num_users: int
    modalities: list[str]
    item_features: Callable[[str], torch.Tensor]
    preference: nn.ParameterDict
    item_mlp: nn.ModuleDict
    modality_weight: nn.Parameter | None

    def init_modal_preferences(self, feature_dims: dict[str, int], embedding_dim: int, hidden_dim: int) -> None:
        """Create ``preference``, ``item_mlp`` and ``modality_weight``, in this order (seeded runs
        draw their initial values in it).

        Args:
            feature_dims: modality -> raw feature width.
            embedding_dim: width ``d`` of the tables and of the MLPs' outputs.
            hidden_dim: hidden width of the MLPs.
        """
        self.preference = nn.ParameterDict(
            {
                m: nn.Parameter(nn.init.xavier_normal_(torch.empty(self.num_users, embedding_dim)))
                for m in self.modalities
            }
        )
        self.item_mlp = nn.ModuleDict(
            {
                m: nn.Sequential(
                    nn.Linear(feature_dims[m], hidden_dim),
                    nn.LeakyReLU(),
                    nn.Linear(hidden_dim, embedding_dim),
                )
                for m in self.modalities
            }
        )
        if len(self.modalities) > 1:  # MMRec: xavier-normal on [U, M, 1], then a softmax over M (~1/M each)
            init = nn.init.xavier_normal_(torch.empty(self.num_users, len(self.modalities), 1)).squeeze(2)
            self.modality_weight = nn.Parameter(torch.softmax(init, dim=1))
        else:
            self.modality_weight = None

    def project_items(self, modality: str, raw: torch.Tensor) -> torch.Tensor:
        """``normalize(MLP_m(F_m))``: the item rows of ``X_m``, in the preference table's space."""
        return F.normalize(self.item_mlp[modality](raw), dim=1)

    def modal_inputs(self) -> torch.Tensor:
        """``[X_1 || ... || X_M]``, ``[U + I, M d]``: every modality's inputs side by side."""
        blocks = [
            torch.cat([F.normalize(self.preference[m], dim=1), self.project_items(m, self.item_features(m))])
            for m in self.modalities
        ]
        return torch.cat(blocks, dim=1) if len(blocks) > 1 else blocks[0]

    def preference_penalty(self, users: torch.Tensor) -> torch.Tensor:
        """``sum_m mean(P_m[users]^2) (+ mean(alpha^2))``, before the regulariser's weight."""
        penalised = [self.preference[m][users] for m in self.modalities]
        if self.modality_weight is not None:
            penalised.append(self.modality_weight)
        return sum(rows.pow(2).mean() for rows in penalised)

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
