"""SpectralFilter against a dense real-DFT reference (odd and even widths, one to three inputs), its
initialisation (standard normal, not the identity, as SMORE's), the identity weight, and the
gradient of the complex weights."""

import math

import pytest
import torch

from lit_mmrec.nn.spectral import SpectralFilter


def dense_filter(inputs, weight):
    """``irfft(w ⊙ Π rfft(x))`` written out with cosine and sine matrices (float64, orthonormal)."""
    n = inputs[0].shape[-1]
    k = torch.arange(n // 2 + 1, dtype=torch.float64).unsqueeze(1)
    j = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    cos, sin = torch.cos(2 * math.pi * k * j / n), torch.sin(2 * math.pi * k * j / n)  # [n//2+1, n]
    real, imag = weight[:, 0], weight[:, 1]
    for x in inputs:  # multiply by X = (x cos^T - i x sin^T) / sqrt(n)
        x_real, x_imag = x @ cos.T / math.sqrt(n), -(x @ sin.T) / math.sqrt(n)
        real, imag = real * x_real - imag * x_imag, real * x_imag + imag * x_real
    # inverse of the Hermitian extension: coefficient k counts twice except k = 0 and k = n/2 (even n)
    multiplicity = torch.full((n // 2 + 1,), 2.0, dtype=torch.float64)
    multiplicity[0] = 1.0
    if n % 2 == 0:
        multiplicity[-1] = 1.0
    return ((real * multiplicity) @ cos - (imag * multiplicity) @ sin) / math.sqrt(n)


@pytest.mark.parametrize("width", [7, 8])
@pytest.mark.parametrize("num_inputs", [1, 2, 3])
def test_matches_dense_dft_reference_with_its_gradient(width, num_inputs):
    torch.manual_seed(width + num_inputs)
    spectral = SpectralFilter(width).double()
    inputs = [torch.randn(5, width, dtype=torch.float64, requires_grad=True) for _ in range(num_inputs)]
    probe = torch.randn(5, width, dtype=torch.float64)

    ours = spectral(*inputs)
    (ours * probe).sum().backward()
    grads = [spectral.weight.grad.clone()] + [x.grad.clone() for x in inputs]
    spectral.zero_grad()
    for x in inputs:
        x.grad = None
    expected = dense_filter(inputs, spectral.weight)
    (expected * probe).sum().backward()

    assert torch.allclose(ours, expected, atol=1e-10)
    for got, want in zip(grads, [spectral.weight.grad] + [x.grad for x in inputs], strict=True):
        assert torch.allclose(got, want, atol=1e-10)


def test_initialisation_is_standard_normal_not_the_identity():
    torch.manual_seed(0)
    spectral = SpectralFilter(64)
    assert spectral.weight.shape == (33, 2)
    reference = torch.randn(33, 2, generator=torch.Generator().manual_seed(1))
    assert spectral.weight.std().item() == pytest.approx(reference.std().item(), abs=0.3)
    x = torch.randn(4, 64)
    assert not torch.allclose(spectral(x), x, atol=1e-2)


def test_unit_weight_is_the_identity_and_the_product_of_convolutions():
    spectral = SpectralFilter(6)
    with torch.no_grad():
        spectral.weight.copy_(torch.tensor([1.0, 0.0]).expand(4, 2))
    x, y = torch.randn(3, 6), torch.randn(3, 6)
    assert torch.allclose(spectral(x), x, atol=1e-6)
    # two inputs with unit weight: the circular convolution of the rows, scaled by n^-1/2 (ortho)
    circular = torch.stack([sum(x[:, j] * y[:, (i - j) % 6] for j in range(6)) for i in range(6)], dim=1)
    assert torch.allclose(spectral(x, y), circular / math.sqrt(6), atol=1e-5)


def test_gradient_reaches_the_complex_weights():
    torch.manual_seed(0)
    spectral = SpectralFilter(8)
    spectral(torch.randn(10, 8), torch.randn(10, 8)).pow(2).sum().backward()
    grad = spectral.weight.grad
    assert torch.isfinite(grad).all()
    assert (grad[:, 0] != 0).all()  # every real part
    assert (grad[1:-1, 1] != 0).all()  # imaginary parts except the zero and Nyquist frequencies
    assert torch.equal(grad[[0, -1], 1], torch.zeros(2))  # irfft drops those two imaginary parts


def test_refuses_wrong_widths_and_no_input():
    with pytest.raises(ValueError, match="positive"):
        SpectralFilter(0)
    spectral = SpectralFilter(4)
    with pytest.raises(ValueError, match="width 4"):
        spectral(torch.randn(2, 5))
    with pytest.raises(ValueError, match="at least one"):
        spectral()
