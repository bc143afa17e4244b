"""Loss weightings of the denoising regression, the same objective for every parameterization.

A weighting is a weight w_eps(t) on the noise-space squared error ||eps_hat - eps||^2 (Kingma & Gao 2023).
At fixed x_t every parameterization is an affine function of eps_hat, so a network of kind k that
regresses its own target with ||pred_k - target_k||^2 gives the same objective when that error is
weighted by w_k = w_eps J_k, with J_k = |d eps / d pred_k|^2:
    eps 1,  x0 alpha^2/sigma^2 = SNR,  score sigma^2,  velocity alpha^2 / (alpha sigma' - sigma alpha')^2.
With lambda = log(alpha/sigma) (so alpha sigma' - sigma alpha' = -alpha sigma lambda' > 0):

``uniform``    w_k = 1 on the kind's own error (DDPM's L_simple for eps, conditional flow matching for
               velocity). The one weighting that depends on the parameterization.
``sigma2``     w_eps = 1: sigma^2 on the score error (Song & Ermon 2019's lambda(sigma) = sigma^2), i.e.
               DDPM's L_simple whatever the network predicts: w_k = J_k.
``likelihood`` w_eps = -2 lambda'(t) = g(t)^2 / sigma^2: g^2 on the score error (Song et al. 2021), whose
               integral over t bounds the negative log-likelihood (with the 1/2; VDM's -SNR'(t) on the x0
               error, Kingma et al. 2021): eps -2 lambda', x0 -2 lambda' SNR, score g^2,
               velocity 2 / (sigma^2 |lambda'|).
``min_snr``    w_eps = min(1, gamma / SNR) (Hang et al. 2023, min-SNR-gamma; gamma = 5): x0 min(SNR, gamma),
               eps min(1, gamma/SNR), score sigma^2 min(1, gamma/SNR), velocity min(SNR, gamma) J_velocity/SNR.
``edm``        w_eps = (sigma~^2 + sigma_data^2) / sigma_data^2, sigma~ = sigma/alpha (Karras et al. 2022):
               on the x0 error EDM's lambda(sigma) = 1/c_out^2 = (sigma~^2 + sigma_data^2)/(sigma~ sigma_data)^2.

Each product w_eps J_k is written in closed form so that it stays finite where it is finite: the x0 and
velocity weights at alpha = 0 (t = 1 of a flow or zero-terminal-SNR path), the min-SNR weights at
sigma = 0. The likelihood weight of a score network is the path's g^2 itself.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genflow.paths.base import GaussianPath

WEIGHTINGS = ("uniform", "sigma2", "likelihood", "min_snr", "edm")


def noise_jacobian(path: GaussianPath, t, kind: str) -> Tensor:
    """J_k = |d eps / d pred_k|^2 at fixed x_t: the factor that turns an eps-space weight into kind k's."""
    c = path.coefficients(t)
    a, s = c.alpha, c.sigma
    return {"eps": torch.ones_like(a), "x0": a**2 / s**2, "score": s**2,
            "velocity": a**2 / c.det**2}[kind]


def loss_weight(weighting: str, path: GaussianPath, t, kind: str, min_snr_gamma: float = 5.0,
                sigma_data: float = 1.0) -> Tensor:
    """w_k(t): the weight on the squared error of a ``kind`` network for ``weighting`` (module docstring)."""
    t = torch.as_tensor(t)
    if weighting == "uniform":
        return torch.ones_like(t)
    if weighting == "likelihood" and kind == "score":
        return path.g2(t)
    c = path.coefficients(t)
    a, s = c.alpha, c.sigma
    det = c.det  # -alpha sigma lambda'
    if weighting == "sigma2":
        return noise_jacobian(path, t, kind)
    if weighting == "likelihood":  # w_eps = 2 det / (alpha sigma)
        return {"eps": 2 * det / (a * s), "x0": 2 * det * a / s**3, "velocity": 2 * a / (s * det)}[kind]
    if weighting == "min_snr":
        gamma = float(min_snr_gamma)
        if kind == "x0":
            return torch.clamp(a**2 / s**2, max=gamma)
        if kind == "velocity":
            return torch.minimum(a**2, gamma * s**2) / det**2
        clipped = torch.clamp(gamma * s**2 / a**2, max=1.0)  # min(1, gamma / SNR): 1 where alpha = 0
        return clipped if kind == "eps" else s**2 * clipped
    if weighting == "edm":
        sd2 = float(sigma_data) ** 2
        q = s**2 + a**2 * sd2
        return {"eps": q / (a**2 * sd2), "x0": q / (s**2 * sd2), "score": s**2 * q / (a**2 * sd2),
                "velocity": q / (det**2 * sd2)}[kind]
    raise ValueError(f"unknown weighting {weighting!r}; valid: {', '.join(WEIGHTINGS)}")
