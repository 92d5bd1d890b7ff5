"""The Cayley–Dickson product against closed forms: complex numbers (n = 2), the quaternion Hamilton product
(n = 4), norm multiplicativity where it holds (n = 2, 4, 8) and fails (n = 16), non-associativity at n = 8;
and the conjugate-free product of the authors' port."""

import pytest
import torch

from lit_mmrec.nn.hypercomplex import cayley_dickson_product, hypercomplex_conjugate


def random(shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_dimension_two_is_complex_multiplication():
    x, y = random((5, 2, 3), 0), random((5, 2, 3), 1)  # 5 rows, d = 3 positions per component
    got = cayley_dickson_product(x.flatten(1), y.flatten(1), 2).view(5, 2, 3)
    expected = torch.complex(x[:, 0], x[:, 1]) * torch.complex(y[:, 0], y[:, 1])
    assert torch.allclose(got[:, 0], expected.real) and torch.allclose(got[:, 1], expected.imag)


def hamilton(p, q):
    a1, b1, c1, d1 = p.unbind(-1)
    a2, b2, c2, d2 = q.unbind(-1)
    return torch.stack([
        a1 * a2 - b1 * b2 - c1 * c2 - d1 * d2,
        a1 * b2 + b1 * a2 + c1 * d2 - d1 * c2,
        a1 * c2 - b1 * d2 + c1 * a2 + d1 * b2,
        a1 * d2 + b1 * c2 - c1 * b2 + d1 * a2,
    ], dim=-1)


def test_dimension_four_is_the_hamilton_product():
    p, q = random((7, 4), 2), random((7, 4), 3)  # d = 1: the components are the columns 1, i, j, k
    assert torch.allclose(cayley_dickson_product(p, q, 4), hamilton(p, q))
    i, j, k = torch.eye(4, dtype=torch.float64)[1:]
    assert torch.equal(cayley_dickson_product(i, j, 4), k)
    assert torch.equal(cayley_dickson_product(j, i, 4), -k)


def test_components_of_width_d_act_position_by_position():
    p, q = random((3, 4, 5), 4), random((3, 4, 5), 5)  # [rows, components, d]
    got = cayley_dickson_product(p.flatten(1), q.flatten(1), 4).view(3, 4, 5)
    expected = hamilton(p.transpose(1, 2), q.transpose(1, 2)).transpose(1, 2)
    assert torch.allclose(got, expected)


@pytest.mark.parametrize("n", [2, 4, 8])
def test_norm_is_multiplicative_up_to_the_octonions(n):
    x, y = random((50, n), 6), random((50, n), 7)
    product = cayley_dickson_product(x, y, n)
    assert torch.allclose(product.norm(dim=1), x.norm(dim=1) * y.norm(dim=1))


def test_norm_is_not_multiplicative_for_sedenions():
    x, y = random((50, 16), 8), random((50, 16), 9)
    gap = (cayley_dickson_product(x, y, 16).norm(dim=1) - x.norm(dim=1) * y.norm(dim=1)).abs()
    assert gap.max() > 1e-3


def test_octonions_are_not_associative_but_alternative():
    x, y, z = random((20, 8), 10), random((20, 8), 11), random((20, 8), 12)

    def mul(a, b):
        return cayley_dickson_product(a, b, 8)

    assert (mul(mul(x, y), z) - mul(x, mul(y, z))).abs().max() > 1e-3
    assert torch.allclose(mul(mul(x, x), y), mul(x, mul(x, y)))
    for n in (2, 4):  # complex numbers and quaternions associate
        a, b, c = x[:, :n], y[:, :n], z[:, :n]
        left = cayley_dickson_product(cayley_dickson_product(a, b, n), c, n)
        assert torch.allclose(left, cayley_dickson_product(a, cayley_dickson_product(b, c, n), n))


@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_conjugate_gives_the_squared_norm_and_one_is_the_identity(n):
    x = random((9, n), 13)
    product = cayley_dickson_product(x, hypercomplex_conjugate(x, n), n)
    assert torch.allclose(product[:, 0], x.square().sum(1))
    assert torch.allclose(product[:, 1:], torch.zeros_like(product[:, 1:]), atol=1e-12)
    one = torch.zeros(9, n, dtype=torch.float64)
    one[:, 0] = 1
    assert torch.allclose(cayley_dickson_product(one, x, n), x) and torch.allclose(cayley_dickson_product(x, one, n), x)


def test_port_product_agrees_at_two_and_is_commutative_bicomplex_at_four():
    x, y = random((6, 2), 14), random((6, 2), 15)
    assert torch.allclose(cayley_dickson_product(x, y, 2, conjugate=False), cayley_dickson_product(x, y, 2))
    p, q = random((6, 4), 16), random((6, 4), 17)
    port = cayley_dickson_product(p, q, 4, conjugate=False)
    assert torch.allclose(port, cayley_dickson_product(q, p, 4, conjugate=False))
    assert not torch.allclose(port, hamilton(p, q))
    # bicomplex: (a + b j)(c + d j) with j^2 = -1 commuting with i, a..d complex
    a, b = torch.complex(p[:, 0], p[:, 1]), torch.complex(p[:, 2], p[:, 3])
    c, d = torch.complex(q[:, 0], q[:, 1]), torch.complex(q[:, 2], q[:, 3])
    first, second = a * c - b * d, a * d + b * c
    assert torch.allclose(port, torch.stack([first.real, first.imag, second.real, second.imag], 1))


def test_gradient_reaches_both_factors():
    x = random((4, 16), 18).requires_grad_()
    y = random((4, 16), 19).requires_grad_()
    cayley_dickson_product(x, y, 8).square().sum().backward()
    assert x.grad.abs().sum() > 0 and y.grad.abs().sum() > 0


def test_refuses_bad_dimensions():
    with pytest.raises(ValueError, match="power of two"):
        cayley_dickson_product(torch.zeros(2, 6), torch.zeros(2, 6), 3)
    with pytest.raises(ValueError, match="multiple"):
        cayley_dickson_product(torch.zeros(2, 6), torch.zeros(2, 6), 4)
    with pytest.raises(ValueError, match="same shape"):
        cayley_dickson_product(torch.zeros(2, 8), torch.zeros(3, 8), 4)
