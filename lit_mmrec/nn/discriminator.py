r"""MMSSL's discriminator (HKUDS/MMSSL ``Models.py``, ``Discriminator``): an MLP scoring a row of user-item
relation strengths ``[B, I]`` (one entry per item) between 0 and ``scale``.

    D(x) = scale · σ( W_3 drop_2(BN(φ(W_2 drop_1(BN(φ(W_1 x + b_1))) + b_2))) + b_3 )

with widths ``I -> int(I / 4) -> int(I / 8) -> 1``, ``φ`` a leaky ReLU, batch normalisation after each
activation, then dropout. The linear layers are Kaiming-normal initialised with zero biases (the original's
``weights_init``). Batch normalisation always normalises with the statistics of the rows given (no
running statistics: the original keeps them, but reads them only when the discriminator is in evaluation
mode, which its training never uses; without them the module holds no buffer). The original writes ``nn.LeakyReLU(True)``, which sets the *negative slope* to 1 (the
identity, so the hidden part is linear); ``negative_slope=1.0`` reproduces that.
"""

from __future__ import annotations

import torch
from torch import nn


class RelationDiscriminator(nn.Module):
    """Scores ``[B, num_inputs]`` relation rows in ``(0, scale)``.

    Args:
        num_inputs: width of a row (the number of items); at least 8, so that every layer has a unit.
        dropouts: dropout after the first and second hidden layers (MMSSL ``G_drop1`` 0.31, ``G_drop2`` 0.5).
        negative_slope: the leaky ReLU's slope for negative inputs (1.0: the original's identity).
        scale: the output multiplier (the original's 100).
    """

    def __init__(
        self,
        num_inputs: int,
        dropouts: tuple[float, float] = (0.31, 0.5),
        negative_slope: float = 0.01,
        scale: float = 100.0,
    ) -> None:
        super().__init__()
        if num_inputs < 8:
            raise ValueError(f"the discriminator needs at least 8 inputs (items), got {num_inputs}")
        if len(dropouts) != 2 or not all(0.0 <= p < 1.0 for p in dropouts):
            raise ValueError(f"dropouts must be two probabilities in [0, 1), got {dropouts}")
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        widths = [num_inputs, num_inputs // 4, num_inputs // 8]
        layers: list[nn.Module] = []
        for (fan_in, fan_out), p in zip(zip(widths[:-1], widths[1:], strict=True), dropouts, strict=True):
            layers += [nn.Linear(fan_in, fan_out), nn.LeakyReLU(negative_slope), nn.BatchNorm1d(fan_out, track_running_stats=False), nn.Dropout(p)]
        layers += [nn.Linear(widths[-1], 1), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)
        self.scale = scale
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_normal_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """Scores ``[B]`` of ``rows`` ``[B, num_inputs]``."""
        return self.scale * self.net(rows.float()).view(-1)
