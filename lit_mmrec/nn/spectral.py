r"""A learnable filter in the frequency domain of the feature dimension (SMORE's spectrum convolution).

With ``x [..., n]`` real rows and ``F`` the orthonormal real DFT over the last dimension
(``torch.fft.rfft(norm="ortho")``, ``n // 2 + 1`` complex coefficients),

    X_k = n^-1/2 Σ_j x_j exp(-2πi jk / n),        k = 0, ..., n // 2,

the filter multiplies the spectra of its ``P`` inputs with each other and with one learnable complex
weight per frequency, then transforms back (``torch.fft.irfft(n=n, norm="ortho")``):

    y = F^-1( w ⊙ X^(1) ⊙ ... ⊙ X^(P) ),          y [..., n] real.

One input is SMORE's uni-modal denoising (a circular convolution of each row with a learned kernel);
several inputs are its cross-modality fusion (the product of the modalities' spectra, a circular
convolution of the modalities with each other and the kernel). ``F^-1`` takes the real part of the
Hermitian extension: the imaginary parts of the zero-frequency coefficient (and of the Nyquist
coefficient for even ``n``) do not reach the output, so their weights receive no gradient.

The weights are stored as ``[n // 2 + 1, 2]`` real pairs (``torch.view_as_real`` of the complex
weights: checkpoints and optimisers see real tensors) and initialised standard normal in each part,
as SMORE's ``torch.randn(1, n // 2 + 1, 2)``: the filter is not the identity at initialisation (the
identity is the weight ``1 + 0i`` at every frequency).
"""

from __future__ import annotations

import torch
from torch import nn


class SpectralFilter(nn.Module):
    """``y = irfft(w ⊙ Π_p rfft(x_p))`` over the last dimension, orthonormal transforms.

    Args:
        width: size ``n`` of the last dimension of the inputs and of the output.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        self.width = width
        self.weight = nn.Parameter(torch.randn(width // 2 + 1, 2))

    def complex_weight(self) -> torch.Tensor:
        """The ``[n // 2 + 1]`` complex weights."""
        return torch.view_as_complex(self.weight)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """``[..., n]`` real inputs (at least one, broadcastable) -> ``[..., n]`` real output."""
        if not inputs:
            raise ValueError("SpectralFilter needs at least one input")
        for x in inputs:
            if x.shape[-1] != self.width:
                raise ValueError(f"SpectralFilter of width {self.width} got an input of width {x.shape[-1]}")
        spectrum = torch.fft.rfft(inputs[0], dim=-1, norm="ortho")
        for x in inputs[1:]:
            spectrum = spectrum * torch.fft.rfft(x, dim=-1, norm="ortho")
        return torch.fft.irfft(spectrum * self.complex_weight(), n=self.width, dim=-1, norm="ortho")

    def extra_repr(self) -> str:
        return f"width={self.width}"
