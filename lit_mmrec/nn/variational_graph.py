r"""Variational graph encoder, product of Gaussian experts and the KL term of MVGAE (Yi and Chen, TMM 2021).

Graph. ``M = D^-1 (A + I)`` over the ``N = U + I`` nodes of the user-item graph (users first), ``A`` the
symmetric user-item adjacency of the training interactions: ``(M x)_v`` is the mean of ``x`` over ``v`` and
its neighbours (PyG's ``aggr="mean"`` after ``add_self_loops``, MVGAE's ``BaseModel``; :func:`mean_adjacency`).

Mean convolution (:class:`MeanConv`, ``BaseModel``): ``conv(x) = dropout_0.1(normalize_rows(M x W + b))``.

Encoder (:class:`VariationalGraphEncoder`, the authors' ``GCN``), with ``P`` a ``[U, d_l]`` user preference
table, ``F`` the ``[I, D]`` item inputs, ``g = leaky_relu`` (slope 0.01) and ``L`` hidden layers:

    x^(0)   = normalize_rows([P ; F W_in + b_in])                        (d_l wide)
    x^(l+1) = g(G_l g(conv_l(x^(l))))                                    (l < L, d wide)
    mu      = G_mu g(conv_mu(x^(L))) + g(H_mu x^(L))
    logvar  = G_lv g(conv_lv(x^(L))) + g(H_lv x^(L))                     (G, H: affine, d wide)

Product of Gaussian experts (:func:`product_of_experts`, Wu and Goodman 2018, arXiv:1410.7827): with
precisions ``T_m = 1 / (exp(logvar_m) + eps)``,

    mu = sum_m T_m mu_m / sum_m T_m,        var = 1 / sum_m T_m            (elementwise)

KL to the standard normal (:func:`gaussian_kl`), averaged over the rows and summed over the dimensions,
with ``logvar`` clamped at 10 as in the original:

    KL = mean_v  -1/2 sum_d (1 + logvar_vd - mu_vd^2 - exp(logvar_vd))

Sampling (:func:`reparametrise`): ``z = mu + 0.1 eps exp(logvar / 2)``, ``eps ~ N(0, I)``, in training; ``mu``
otherwise (the original scales the noise by 0.1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lit_mmrec.data.pairs import pairs_to_csr
from lit_mmrec.nn.sum_conv import SumConv

#: logvar is clamped at this value before it is exponentiated (the original's ``MAX_LOGVAR``)
MAX_LOGVAR = 10.0


def mean_adjacency(users: torch.Tensor, items: torch.Tensor, num_users: int, num_items: int) -> torch.Tensor:
    """``D^-1 (A + I)`` as sparse CSR ``[N, N]``, ``N = num_users + num_items`` (items offset by ``num_users``);
    the ``(user, item)`` pairs must be distinct."""
    n = num_users + num_items
    item_nodes = items.long() + num_users
    nodes = torch.arange(n)
    rows = torch.cat([users.long(), item_nodes, nodes])
    cols = torch.cat([item_nodes, users.long(), nodes])
    degree = torch.bincount(rows, minlength=n).float()
    return pairs_to_csr(rows, cols, n, n, 1.0 / degree[rows])


class MeanConv(nn.Module):
    """``dropout(normalize_rows(M x W + b))``: the original's ``BaseModel`` with ``aggr="mean"``.

    Args:
        in_dim: width of ``x``.
        out_dim: width of the output.
        dropout: dropout probability on the output (the original: 0.1).
    """

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.weight = nn.Parameter(nn.init.xavier_normal_(torch.empty(in_dim, out_dim)))
        bound = in_dim**-0.5  # PyG's inits.uniform(in_dim, bias), as the original
        self.bias = nn.Parameter(torch.empty(out_dim).uniform_(-bound, bound))
        self.dropout = dropout
        self.aggregate = SumConv()

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor, adjacency_t: torch.Tensor) -> torch.Tensor:
        out = self.aggregate(x @ self.weight, adjacency, transpose=adjacency_t) + self.bias
        return F.dropout(F.normalize(out, dim=1), p=self.dropout, training=self.training)


def _linear(in_dim: int, out_dim: int) -> nn.Linear:
    layer = nn.Linear(in_dim, out_dim)
    nn.init.xavier_normal_(layer.weight)
    return layer


class VariationalGraphEncoder(nn.Module):
    """One source's Gaussian ``(mu, logvar)`` for every node of the user-item graph.

    Args:
        num_users: rows of the preference table ``P``.
        input_dim: width ``D`` of the item inputs.
        latent_dim: width ``d_l`` of ``P`` and of the item input projection (the original: 128).
        out_dim: width ``d`` of the hidden layers, ``mu`` and ``logvar``.
        num_layers: hidden layers ``L`` >= 0 (the original: 0 to 2, MMRec's MVGAE.yaml: 1).
        dropout: dropout after each mean convolution (the original: 0.1).
    """

    def __init__(
        self, num_users: int, input_dim: int, latent_dim: int, out_dim: int, num_layers: int, dropout: float = 0.1
    ) -> None:
        super().__init__()
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        self.preference = nn.Parameter(nn.init.xavier_normal_(torch.empty(num_users, latent_dim)))
        self.projection = _linear(input_dim, latent_dim)
        self.convs = nn.ModuleList(
            MeanConv(latent_dim if layer == 0 else out_dim, out_dim, dropout) for layer in range(num_layers)
        )
        self.gates = nn.ModuleList(_linear(out_dim, out_dim) for _ in range(num_layers))
        width = latent_dim if num_layers == 0 else out_dim
        self.conv_mu, self.conv_logvar = MeanConv(width, out_dim, dropout), MeanConv(width, out_dim, dropout)
        self.gate_mu, self.gate_logvar = _linear(out_dim, out_dim), _linear(out_dim, out_dim)
        self.linear_mu, self.linear_logvar = _linear(width, out_dim), _linear(width, out_dim)

    def forward(
        self, item_inputs: torch.Tensor, adjacency: torch.Tensor, adjacency_t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)``, both ``[U + I, d]``, from the ``[I, D]`` item inputs and ``M`` (with ``M^T``)."""
        x = F.normalize(torch.cat([self.preference, self.projection(item_inputs)]), dim=1)
        for conv, gate in zip(self.convs, self.gates, strict=True):
            x = F.leaky_relu(gate(F.leaky_relu(conv(x, adjacency, adjacency_t))))
        mu = self.gate_mu(F.leaky_relu(self.conv_mu(x, adjacency, adjacency_t))) + F.leaky_relu(self.linear_mu(x))
        logvar = self.gate_logvar(F.leaky_relu(self.conv_logvar(x, adjacency, adjacency_t)))
        return mu, logvar + F.leaky_relu(self.linear_logvar(x))


def product_of_experts(
    mu: torch.Tensor, logvar: torch.Tensor, eps: float = 1e-8
) -> tuple[torch.Tensor, torch.Tensor]:
    """The Gaussian product of ``M`` diagonal Gaussian experts stacked on dimension 0.

    Args:
        mu: ``[M, ...]`` means.
        logvar: ``[M, ...]`` log-variances.
        eps: added to each expert's variance (the original: 1e-8).

    Returns:
        ``(mu, logvar)`` of the product, shaped ``[...]``.
    """
    precision = 1.0 / (torch.exp(logvar) + eps)
    total = precision.sum(0)
    return (mu * precision).sum(0) / total, -torch.log(total)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` summed over the last dimension, averaged over the rows
    (``logvar`` clamped at :data:`MAX_LOGVAR`)."""
    logvar = logvar.clamp(max=MAX_LOGVAR)
    return -0.5 * torch.mean(torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1))


def reparametrise(mu: torch.Tensor, logvar: torch.Tensor, training: bool, noise_scale: float = 0.1) -> torch.Tensor:
    """``mu + noise_scale * eps * exp(logvar / 2)`` (``logvar`` clamped at :data:`MAX_LOGVAR`) in training,
    ``mu`` otherwise."""
    if not training:
        return mu
    return mu + torch.randn_like(mu) * noise_scale * torch.exp(0.5 * logvar.clamp(max=MAX_LOGVAR))
