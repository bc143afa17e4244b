"""DDIM (Song, Meng & Ermon 2021): x_s = alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z with
c = eta sqrt(v_post) (v_post the ancestral posterior variance); eta = 0 is deterministic and equals
an Euler step of the probability-flow ODE in (x/alpha, sigma/alpha) coordinates."""

from __future__ import annotations

from genflow.samplers.ancestral import AncestralSampler


class DDIMSampler(AncestralSampler):
    needs = ("x0", "eps")

    def __init__(self, num_steps: int | None = 50, eta: float = 0.0, t_eps: float = 1e-3, progress: bool = True,
                 spacing: str = "linspace"):
        super().__init__(num_steps, "posterior", t_eps, progress, spacing)
        self.eta = float(eta)

    def update(self, x, eps, a_t, a_s, s_t, s_s, last, generator):
        x0 = (x - s_t * eps) / a_t
        v_post = (s_t**2 - (a_t / a_s) ** 2 * s_s**2).clamp_min(0) * s_s**2 / s_t**2
        c = self.eta * v_post.sqrt()
        x = a_s * x0 + (s_s**2 - c**2).clamp_min(0).sqrt() * eps
        if self.eta > 0 and not last:
            x = x + c * self.noise_like(x, generator)
        return x
