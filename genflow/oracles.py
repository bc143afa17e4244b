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

from genflow.prediction import ModelFunction, Prediction
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
        self._diagonal = bool((self.covs == torch.diag_embed(torch.diagonal(self.covs, dim1=1, dim2=2))).all())
        if self._diagonal:  # eigh may reorder the axes of a diagonal matrix; keep them in place
            self._eig = (torch.diagonal(self.covs, dim1=1, dim2=2), torch.eye(d, dtype=torch.float64).expand(k, d, d))

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

    def _components_t(self, x: Tensor, t: Tensor, path: GaussianPath | None, with_covariance: bool = False):
        """Per-sample, per-component log N(x; m_k(t), C_k(t)), z_k = C_k(t)^{-1}(x - m_k(t)) and, if asked,
        (Sigma_k z_k, alpha, sigma), with m_k = alpha mu_k and C_k = alpha^2 Sigma_k + sigma^2 I.

        With Sigma_k = U_k diag(lam_k) U_k^T, C_k(t) = U_k diag(alpha^2 lam_k + sigma^2) U_k^T, so
        inverses and determinants are elementwise in the eigenbasis (no per-step factorisation; no
        rotation at all for diagonal covariances). One time for the batch (0-d t) is computed once.
        """
        x = x.double()
        if path is None:
            a, s = torch.ones((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
        else:
            t = torch.as_tensor(t, dtype=torch.float64, device=x.device)
            a, s = path.alpha(t), path.sigma(t)
        a_, s_ = (c.reshape(-1, 1, 1) if c.dim() else c for c in (a, s))
        lam, vecs = self._eig[0].to(x.device), self._eig[1].to(x.device)
        var = a_**2 * lam + s_**2  # (K, D), or (B, K, D) for a batch of times
        diff = x[:, None, :] - a_ * self.means.to(x.device)  # B,K,D
        rot = diff if self._diagonal else torch.einsum("kij,bki->bkj", vecs, diff)
        scaled = rot / var
        z = scaled if self._diagonal else torch.einsum("kij,bkj->bki", vecs, scaled)
        log_n = (-0.5 * torch.einsum("bkd,bkd->bk", rot, scaled) - 0.5 * var.log().sum(-1)
                 - 0.5 * self.dim * math.log(2 * math.pi))
        if not with_covariance:
            return log_n, z
        cov_z = lam * scaled if self._diagonal else torch.einsum("kij,bkj->bki", vecs, lam * scaled)
        return log_n, z, cov_z, a, s

    def log_prob(self, x: Tensor, t: Tensor | None = None, path: GaussianPath | None = None) -> Tensor:
        """log p_t(x) (t = None: the data density p_0)."""
        t = torch.zeros(x.shape[0], device=x.device) if t is None else t
        log_n, _ = self._components_t(x, t, path)
        return torch.logsumexp(log_n + self.weights.to(x.device).log(), dim=1)

    def score(self, x: Tensor, t: Tensor, path: GaussianPath, component: int | None = None,
              labels: Tensor | None = None) -> Tensor:
        """grad_x log p_t(x), or of p_t(x | k) for a component k (or per-sample ``labels``, -1: none)."""
        log_n, z = self._components_t(x, t, path)
        r = self._responsibilities(log_n, component, labels)
        return -torch.einsum("bk,bkd->bd", r, z).to(x.dtype)

    def posterior(self, x: Tensor, t: Tensor, path: GaussianPath, component: int | None = None,
                  labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The exact denoiser: (E[x0 | x_t], E[eps | x_t]) under p_t (or given a component / labels).
        Per component E[x0 | x_t, k] = mu_k + alpha Sigma_k z_k and E[eps | x_t, k] = sigma z_k, so
        alpha x0 + sigma eps = x exactly and neither divides by alpha or sigma."""
        log_n, z, cov_z, a, s = self._components_t(x, t, path, with_covariance=True)
        r = self._responsibilities(log_n, component, labels)
        a_, s_ = (c.reshape(-1, 1) if c.dim() else c for c in (a, s))
        x0 = torch.einsum("bk,bkd->bd", r, self.means.to(x.device) + a_[..., None] * cov_z)
        eps = s_ * torch.einsum("bk,bkd->bd", r, z)
        return x0.to(x.dtype), eps.to(x.dtype)

    def _responsibilities(self, log_n: Tensor, component: int | None, labels: Tensor | None) -> Tensor:
        r = torch.softmax(log_n + self.weights.to(log_n.device).log(), dim=1)
        if component is not None:
            labels = torch.full((log_n.shape[0],), int(component), dtype=torch.long, device=log_n.device)
        if labels is not None:
            onehot = torch.nn.functional.one_hot(labels.clamp_min(0), self.num_components).to(r)
            r = torch.where((labels >= 0)[:, None], onehot, r)
        return r

    def log_posterior(self, x: Tensor, t: Tensor, path: GaussianPath) -> Tensor:
        """log p(k | x_t) for every component: the exact noisy classifier, shape (B, K)."""
        log_n, _ = self._components_t(x, t, path)
        return torch.log_softmax(log_n + self.weights.to(x.device).log(), dim=1).to(x.dtype)


class GaussianMixtureScore(ModelFunction):
    """The exact denoiser of a Gaussian mixture under ``path``: a known-perfect model. Its predictions are
    the exact pair (E[x0 | x_t], E[eps | x_t]); its raw output (for guidance mixing) is E[x0 | x_t]."""

    kind = "x0"

    def __init__(self, mixture: GaussianMixture, path: GaussianPath, component: int | None = None):
        super().__init__()
        self.mixture, self.path, self.component = mixture, path, component

    def predict(self, x: Tensor, t: Tensor) -> Prediction:
        x0, eps = self.mixture.posterior(x, t, self.path, self.component)
        return Prediction(x, t, self.path, x0=x0, eps=eps)

    def raw(self, x: Tensor, t: Tensor) -> Tensor:
        return self.mixture.posterior(x, t, self.path, self.component)[0]

    def raw_labelled(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        return self.mixture.posterior(x, t, self.path, labels=y)[0]
