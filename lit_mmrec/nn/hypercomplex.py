r"""The Cayley–Dickson product of hypercomplex embeddings (HPMRec's cross-modal interaction).

A hypercomplex number of algebra dimension ``n = 2^p`` has ``n`` real components ``x = (x_0, ..., x_{n-1})``;
an embedding stores them side by side, ``[..., n * d]``: component ``c`` is the block of columns
``c d .. (c + 1) d - 1``, and the product acts on each of the ``d`` positions independently. The
Cayley–Dickson construction writes ``x = (a, b)`` with ``a``, ``b`` its first and second halves (numbers of
dimension ``n / 2``) and defines, recursively down to the real product at ``n = 1``,

    (a, b) (c, d) = (a c - d* b,  d a + b c*),        (a, b)* = (a*, -b),

so the conjugate ``x*`` negates every component but ``x_0``. ``n = 2`` gives the complex numbers, ``n = 4``
the quaternions (components ``1, i, j, k``: the Hamilton product), ``n = 8`` the octonions (not
associative, still normed: ``|x y| = |x| |y|``), ``n = 16`` the sedenions (not normed).

``conjugate=False`` drops the conjugates: ``(a c - d b, a d + b c)``, the product of HPMRec's port in the
authors' library (``CayleyDicksonMult``). It agrees with the above for ``n = 2``; for ``n >= 4`` it is a
different, commutative algebra (at ``n = 4`` the bicomplex numbers, with zero divisors), not the
Cayley–Dickson one.
"""

from __future__ import annotations

import torch


def check_algebra_dim(algebra_dim: int) -> None:
    """Refuse an algebra dimension that is not a power of two (1, 2, 4, 8, 16, ...)."""
    if algebra_dim < 1 or algebra_dim & (algebra_dim - 1):
        raise ValueError(f"algebra_dim must be a power of two, got {algebra_dim}")


def hypercomplex_conjugate(x: torch.Tensor, algebra_dim: int) -> torch.Tensor:
    """``x*``: every component but the first negated (``x [..., n * d]``)."""
    check_algebra_dim(algebra_dim)
    real, imaginary = x.split([x.shape[-1] // algebra_dim, x.shape[-1] - x.shape[-1] // algebra_dim], dim=-1)
    return torch.cat([real, -imaginary], dim=-1)


def cayley_dickson_product(x: torch.Tensor, y: torch.Tensor, algebra_dim: int, conjugate: bool = True) -> torch.Tensor:
    """The product ``x y`` of two hypercomplex embeddings ``[..., n * d]`` (``n = algebra_dim``), ``[..., n * d]``.

    Args:
        x, y: same shape; the last dimension holds the ``n`` components side by side.
        algebra_dim: ``n``, a power of two.
        conjugate: the Cayley–Dickson product (True) or the conjugate-free one of the authors' port.
    """
    check_algebra_dim(algebra_dim)
    if x.shape != y.shape:
        raise ValueError(f"the factors must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[-1] % algebra_dim:
        raise ValueError(f"the last dimension ({x.shape[-1]}) must be a multiple of algebra_dim ({algebra_dim})")
    return _product(x, y, algebra_dim, conjugate)


def _product(x: torch.Tensor, y: torch.Tensor, n: int, conjugate: bool) -> torch.Tensor:
    if n == 1:
        return x * y
    half = n // 2
    a, b = x.chunk(2, dim=-1)
    c, d = y.chunk(2, dim=-1)
    if conjugate:
        first = _product(a, c, half, True) - _product(hypercomplex_conjugate(d, half), b, half, True)
        second = _product(d, a, half, True) + _product(b, hypercomplex_conjugate(c, half), half, True)
    else:
        first = _product(a, c, half, False) - _product(d, b, half, False)
        second = _product(a, d, half, False) + _product(b, c, half, False)
    return torch.cat([first, second], dim=-1)
