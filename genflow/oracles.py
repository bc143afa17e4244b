"""Gaussian mixtures: exact scores and densities at every time of every Gaussian path.

If x_0 ~ sum_k w_k N(mu_k, Sigma_k) then under x_t = alpha x_0 + sigma eps
    p_t(x) = sum_k w_k N(x; alpha mu_k, alpha^2 Sigma_k + sigma^2 I),
    grad log p_t(x) = -sum_k r_k(x) C_k^{-1} (x - alpha mu_k),  r_k = posterior responsibility.
``GaussianMixtureScore`` is a perfect model: samplers driven by it must reproduce the mixture,
and the PF-ODE log-likelihood under it must equal ``log_prob``. Useful for teaching and tests.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genflow.prediction import ModelFunction
from genflow.paths.base import GaussianPath


class GaussianMixture:
    def __init__(self, means, covs=None, weights=None, std: float = 1.0):
        self.means = torch.as_tensor(means, dtype=torch.float64)
        k, d = self.means.shape
        if covs is None:
            covs = torch.eye(d, dtype=torch.float64).expand(k, d, d) * std**2
        self.covs = torch.as_tensor(covs, dtype=torch.float64).expand(k, d, d).clone()
        w = torch.ones(k, dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self.weights = w / w.sum()
        self._eig = torch.linalg.eigh(self.covs)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    def sample(self, n: int, generator: torch.Generator | None = None, component: int | None = None):
        """Return (x, labels) with x of shape (n, D) in float32."""
        if component is None:
            labels = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        else:
            labels = torch.full((n,), int(component), dtype=torch.long)
        z = torch.randn(n, self.dim, dtype=torch.float64, generator=generator)
        chol = torch.linalg.cholesky(self.covs)[labels]
        x = self.means[labels] + (chol @ z.unsqueeze(-1)).squeeze(-1)
        return x.float(), labels

    def mean(self) -> Tensor:
        return (self.weights[:, None] * self.means).sum(0)

    def covariance(self) -> Tensor:
        m = self.mean()
        second = (self.weights[:, None, None] * (self.covs + self.means[:, :, None] * self.means[:, None, :])).sum(0)
        return second - m[:, None] * m[None, :]

    def _components_t(self, x: Tensor, t: Tensor, path: GaussianPath | None):
        """Per-sample, per-component log N(x; m_k(t), C_k(t)) and C_k(t)^{-1}(x - m_k(t)).

        With Sigma_k = U_k diag(lam_k) U_k^T, C_k(t) = U_k diag(alpha^2 lam_k + sigma^2) U_k^T, so
        inverses and determinants are elementwise in the eigenbasis (no per-step factorisation).
        """
        x = x.double()
        if path is None:
            a = torch.ones(x.shape[0], dtype=torch.float64, device=x.device)
            s = torch.zeros_like(a)
        else:
            a, s = path.alpha(t.double()), path.sigma(t.double())
        lam, vecs = self._eig[0].to(x.device), self._eig[1].to(x.device)
        var = a[:, None, None] ** 2 * lam + s[:, None, None] ** 2  # B,K,D
        diff = x[:, None, :] - a[:, None, None] * self.means.to(x.device)  # B,K,D
        rot = torch.einsum("kij,bki->bkj", vecs, diff)
        z = torch.einsum("kij,bkj->bki", vecs, rot / var)
        log_n = -0.5 * (rot**2 / var).sum(-1) - 0.5 * var.log().sum(-1) - 0.5 * self.dim * math.log(2 * math.pi)
        return log_n, z

    def log_prob(self, x: Tensor, t: Tensor | None = None, path: GaussianPath | None = None) -> Tensor:
        """log p_t(x) (t = None: the data density p_0)."""
        t = torch.zeros(x.shape[0], device=x.device) if t is None else t
        log_n, _ = self._components_t(x, t, path)
        return torch.logsumexp(log_n + self.weights.to(x.device).log(), dim=1)

    def score(self, x: Tensor, t: Tensor, path: GaussianPath, component: int | None = None,
              labels: Tensor | None = None) -> Tensor:
        """grad_x log p_t(x), or of p_t(x | k) for a component k (or per-sample ``labels``, -1: none)."""
        log_n, z = self._components_t(x, t, path)
        r = torch.softmax(log_n + self.weights.to(x.device).log(), dim=1)
        if component is not None:
            labels = torch.full((x.shape[0],), int(component), dtype=torch.long, device=x.device)
        if labels is not None:
            onehot = torch.nn.functional.one_hot(labels.clamp_min(0), self.num_components).to(r)
            r = torch.where((labels >= 0)[:, None], onehot, r)
        return -(r[:, :, None] * z).sum(1).to(x.dtype)

    def log_posterior(self, x: Tensor, t: Tensor, path: GaussianPath) -> Tensor:
        """log p(k | x_t) for every component: the exact noisy classifier, shape (B, K)."""
        log_n, _ = self._components_t(x, t, path)
        return torch.log_softmax(log_n + self.weights.to(x.device).log(), dim=1).to(x.dtype)


class GaussianMixtureScore(ModelFunction):
    """The exact score of a Gaussian mixture under ``path``: a known-perfect model."""

    kind = "score"

    def __init__(self, mixture: GaussianMixture, path: GaussianPath, component: int | None = None):
        super().__init__()
        self.mixture, self.path, self.component = mixture, path, component

    def raw(self, x: Tensor, t: Tensor) -> Tensor:
        return self.mixture.score(x, t, self.path, self.component)

    def raw_labelled(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        return self.mixture.score(x, t, self.path, labels=y)
