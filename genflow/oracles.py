"""Gaussian mixtures: exact scores and densities at every time of every Gaussian path.

If x_0 ~ sum_k w_k N(mu_k, Sigma_k) then under x_t = alpha x_0 + sigma eps
    p_t(x) = sum_k w_k N(x; alpha mu_k, alpha^2 Sigma_k + sigma^2 I),
    grad log p_t(x) = -sum_k r_k(x) C_k^{-1} (x - alpha mu_k),  r_k = posterior responsibility.
``GaussianMixtureScore`` is a perfect model: samplers driven by it must reproduce the mixture,
and the PF-ODE log-likelihood under it must equal ``log_prob``. Useful for teaching and tests.

Conditioning stays in the family: given an observation y = x0[I] + n, n ~ N(0, tau^2 I), each component
is conditioned by Gaussian (Schur-complement) algebra and reweighted by its evidence N(y; mu_k[I], S_k)
(``given``); the denoiser of that posterior mixture is the exact Doob h-transform of the model, and
``log_observation_likelihood`` is the exact h(x_t, t) = p(y | x_t).
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
        lam, vecs = torch.linalg.eigh(self.covs)
        self._eig = (lam.clamp_min(0), vecs)  # a conditioned mixture is singular on its pinned coordinates
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
        chol, info = torch.linalg.cholesky_ex(self.covs)
        if bool(info.any()):  # singular (pinned coordinates): the symmetric square root U diag(sqrt(lam))
            chol = self._eig[1] * self._eig[0].sqrt()[:, None, :]
        x = self.means[labels] + (chol[labels] @ z.unsqueeze(-1)).squeeze(-1)
        return x.float(), labels

    def mean(self) -> Tensor:
        return (self.weights[:, None] * self.means).sum(0)

    def covariance(self) -> Tensor:
        m = self.mean()
        second = (self.weights[:, None, None] * (self.covs + self.means[:, :, None] * self.means[:, None, :])).sum(0)
        return second - m[:, None] * m[None, :]

    # --- conditioning ---------------------------------------------------------------------
    def marginal(self, indices) -> "GaussianMixture":
        """The law of the coordinates ``indices``: sum_k w_k N(mu_k[I], Sigma_k[I, I])."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return GaussianMixture(self.means[:, idx], self.covs[:, idx][:, :, idx], self.weights)

    def given(self, indices, values, noise_std: float = 0.0) -> "GaussianMixture":
        """The posterior p(x0 | y) for the observation y = x0[I] + n, n ~ N(0, tau^2 I) (tau = ``noise_std``):
            S_k = Sigma_k[I, I] + tau^2 I,   G_k = Sigma_k[:, I] S_k^{-1},
            mu_k' = mu_k + G_k (y - mu_k[I]),   Sigma_k' = Sigma_k - G_k Sigma_k[I, :],
            w_k' proportional to w_k N(y; mu_k[I], S_k).
        With tau = 0 the coordinates I are pinned to y (zero variance there)."""
        idx = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        y = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
        if len(y) != len(idx):
            raise ValueError(f"{len(idx)} observed coordinates but {len(y)} values")
        s = self.covs[:, idx][:, :, idx] + float(noise_std) ** 2 * torch.eye(len(idx), dtype=torch.float64)
        cross = self.covs[:, :, idx]  # Sigma_k[:, I]
        gain = torch.linalg.solve(s, cross.transpose(1, 2)).transpose(1, 2)  # Sigma_k[:, I] S_k^{-1} (S symmetric)
        resid = y - self.means[:, idx]
        means = self.means + (gain @ resid[..., None])[..., 0]
        covs = self.covs - gain @ cross.transpose(1, 2)
        covs = (covs + covs.transpose(1, 2)) / 2
        if float(noise_std) == 0:
            means[:, idx] = y
            covs[:, idx, :] = 0
            covs[:, :, idx] = 0
        evidence = torch.distributions.MultivariateNormal(self.means[:, idx], s).log_prob(y)
        return GaussianMixture(means, covs, torch.softmax(self.weights.log() + evidence, 0))

    def condition(self, known: dict[int, float]) -> "GaussianMixture":
        """p(x0[U] | x0[K] = y), a mixture over the unknown coordinates U (in order) for ``known`` {k: y_k}."""
        indices = sorted(int(k) for k in known)
        unknown = [i for i in range(self.dim) if i not in indices]
        return self.given(indices, [known[k] for k in indices]).marginal(unknown)

    def log_observation_likelihood(self, x: Tensor, t: Tensor, path: GaussianPath, indices, values,
                                   noise_std: float = 0.0) -> Tensor:
        """log h(x_t, t) = log p(y | x_t) for y = x0[I] + N(0, tau^2 I): under p(x0 | x_t) = sum_k r_k N(m_k, P_k),
        m_k = mu_k + alpha Sigma_k z_k, P_k = Sigma_k - alpha^2 Sigma_k C_k^{-1} Sigma_k (eigenvalues
        lam sigma^2 / (alpha^2 lam + sigma^2)), it is log sum_k r_k N(y; m_k[I], P_k[I, I] + tau^2 I).
        Differentiable in x (autograd gives the h-transform's drift)."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=x.device).reshape(-1)
        y = torch.as_tensor(values, dtype=torch.float64, device=x.device).reshape(-1)
        log_n, _, cov_z, a, s = self._components_t(x, t, path, with_covariance=True)
        log_r = torch.log_softmax(log_n + self.weights.to(x.device).log(), dim=1)
        a_, s_ = (c.reshape(-1, 1, 1) if c.dim() else c for c in (a, s))
        m = self.means.to(x.device)[:, idx] + a_ * cov_z[..., idx]  # (B, K, |I|)
        lam, vecs = (e.to(x.device) for e in self._eig)
        post = lam * s_**2 / (a_**2 * lam + s_**2)  # (K, D) or (B, K, D)
        rows = vecs[:, idx, :]  # (K, |I|, D)
        p = torch.einsum("kid,...kd,kjd->...kij", rows, post, rows)
        cov = p + float(noise_std) ** 2 * torch.eye(len(idx), dtype=torch.float64, device=x.device)
        chol = torch.linalg.cholesky(cov)  # (K or B x K, |I|, |I|)
        white = torch.linalg.solve_triangular(chol, (y - m)[..., None], upper=False)[..., 0]  # (B, K, |I|)
        log_y = (-0.5 * white.pow(2).sum(-1) - torch.diagonal(chol, dim1=-2, dim2=-1).log().sum(-1)
                 - 0.5 * len(idx) * math.log(2 * math.pi))
        return torch.logsumexp(log_r + log_y, dim=1)

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
