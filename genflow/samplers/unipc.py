"""UniPC (Zhao et al. 2023): the UniP-k predictor and UniC-k corrector in data prediction, B(h) form, on any
Gaussian path, as diffusers' ``UniPCMultistepScheduler`` (bh2, order 2, lower_order_final by default).

A step t_i -> s = t_{i+1} of order k (notation of genflow.samplers.exponential; m0 = x0_hat at t_i, m_j the
value at t_{i-j}):
    r_j = (lambda_{i-j} - lambda_i)/h (j < k),  r_k = 1,   D_j = (m_j - m0)/r_j,
    hphi1 = expm1(-h),   B = expm1(-h) (bh2) | -h (bh1),
    b_m = m! g_m / B with g_1 = hphi1/(-h) - 1, g_{m+1} = g_m/(-h) - 1/(m+1)!   (g_m = -h phi_{m+1}(-h)),
    R[m][j] = r_j^m (m, j < k),   base = rho x_t - alpha_s hphi1 m0  (the first-order step),
    predictor  x~_s = base - alpha_s B sum_{j<k} a_p[j] D_j,  a_p = [1/2] for k = 2, else solve(R', b')
               over the first k - 1 rows and columns,
    corrector  x_s  = base - alpha_s B (sum_{j<k} a_c[j] D_j + a_c[k] (m_new - m0)),  a_c = [1/2] for k = 1,
               else solve(R, b), with m_new = x0_hat(x~_s, s): the one evaluation at s, which also serves the
               next step (it stays in the history, taken at the uncorrected point, as in diffusers).
UniPC-k converges at order k + 1 (UniP-k alone at k). UniP-2 with bh2 is DPM-Solver++ 2M (midpoint).

No corrector on the last step of the walk: the grid's final jump evaluates x0_hat at the predicted point (what
diffusers returns), and without the jump nothing is evaluated after it. ``disable_corrector``: step indices
whose result is not corrected (diffusers' option, for large guidance scales). ``lower_order_final`` caps the
order at n - i on step i of n (diffusers applies it at every n). A step out of alpha_t = 0 (t = 1 on a flow
path, h = inf) is order 1 with B = expm1(-h) = -1 for either variant (bh1's -h is infinite there), and its
corrector is the finite base + alpha_s (m_new - m0)/2; values at lambda = -inf never enter a difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genflow.errors import UserError, check_choice, flag
from genflow.samplers.exponential import LogSNRStep, MultistepSampler

VARIANTS = ("bh1", "bh2")


@dataclass(frozen=True)
class UniPCUpdate:
    """Predictor x~_s = px * x_t + sum_j p[j] m_j; corrector x_s = cx * x_t + sum_j c[j] m_j + c_new * m_new
    (m_0 the current x0_hat, m_j the one j steps back); no corrector when c is None."""

    px: float
    p: tuple[float, ...]
    cx: float
    c: tuple[float, ...] | None
    c_new: float


def unipc_coefficients(h: float, r: list[float], variant: str = "bh2") -> tuple[list[float], list[float], float]:
    """(a_p, a_c, B) for a step of order k = len(r) + 1 with r_j = (lambda_{i-j} - lambda_i)/h (j = 1..k-1)."""
    k = len(r) + 1
    hphi1 = math.expm1(-h)
    big_b = -h if variant == "bh1" and math.isfinite(h) else hphi1
    if k == 1:
        return [], [0.5], big_b
    rks = torch.tensor([*r, 1.0], dtype=torch.float64)
    rows, b, g, fact = [], [], hphi1 / -h - 1, 1.0
    for m in range(1, k + 1):
        rows.append(rks ** (m - 1))
        b.append(g * fact / big_b)
        fact *= m + 1
        g = g / -h - 1 / fact
    big_r, b = torch.stack(rows), torch.tensor(b, dtype=torch.float64)
    a_p = [0.5] if k == 2 else torch.linalg.solve(big_r[:-1, :-1], b[:-1]).tolist()
    a_c = torch.linalg.solve(big_r, b).tolist()
    return a_p, a_c, big_b


def unipc_update(step: LogSNRStep, previous: list[float], variant: str = "bh2", correct: bool = True) -> UniPCUpdate:
    """The coefficients of one UniPC step of order 1 + len(previous); ``previous``: lambda at the earlier
    evaluations, most recent first, all finite."""
    h, a_s = step.h, step.alpha_s
    r = [(lam - step.lambda_t) / h for lam in previous]
    a_p, a_c, big_b = unipc_coefficients(h, r, variant)
    base = -a_s * math.expm1(-h)  # on m0
    scale = -a_s * big_b

    def combine(a: list[float]) -> list[float]:
        """base - alpha_s B sum_j a[j] (m_j - m0)/r_j as coefficients on m0, m1, ..."""
        on_past = [scale * a_j / r_j for a_j, r_j in zip(a, r)]
        return [base - sum(on_past), *on_past]

    p = combine(a_p)
    if not correct:
        return UniPCUpdate(step.rho, tuple(p), step.rho, None, 0.0)
    c = combine(a_c[:-1])
    c_new = scale * a_c[-1]
    c[0] -= c_new
    return UniPCUpdate(step.rho, tuple(p), step.rho, tuple(c), c_new)


class UniPCSampler(MultistepSampler):
    """``order`` k in 1..3 (UniPC-k, order k + 1), ``variant`` bh2 | bh1, ``lower_order_final``,
    ``disable_corrector`` (step indices), ``corrector`` false: UniP alone."""

    option = "unipc"

    def __init__(self, num_steps: int | None = 20, order: int = 2, variant: str = "bh2", lower_order_final: bool = True,
                 disable_corrector: list[int] | tuple[int, ...] = (), corrector: bool = True, x0_clip: str = "auto",
                 clip_value: float = 1.0, clip_percentile: float = 0.995, progress: bool = True, **legacy):
        super().__init__(num_steps, x0_clip, clip_value, clip_percentile, progress, **legacy)
        check_choice("sampler.order", order, (1, 2, 3))
        check_choice("sampler.variant", variant, VARIANTS)
        disabled = list(disable_corrector or [])
        if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in disabled):
            raise UserError(f"sampler.disable_corrector={disabled} must be a list of step indices (integers >= 0)")
        self.order, self.variant = int(order), variant
        self.lower_order_final = flag("sampler.lower_order_final", lower_order_final)
        self.corrector = flag("sampler.corrector", corrector)
        self.disable_corrector = frozenset(disabled)

    def plan(self, path, times, denoise: bool = True) -> list[UniPCUpdate]:
        """Every step's coefficients, from the grid alone (float64, once per grid)."""
        planned = self.orders(path, times, denoise, self.lower_order_final)
        return [unipc_update(step, past, self.variant,
                             self.corrector and i < len(planned) - 1 and i not in self.disable_corrector)
                for i, (step, past) in enumerate(planned)]

    def walk(self, model, x, times, generator):
        plan = self.plan(model.path, times, self.denoise)
        last = len(times) - 2
        history = []  # x0_hat at t_i, t_{i-1}, ...
        for i, t, s in self.steps(times):
            if i == 0:
                history = [model(x, t).x0]
            u = plan[i]
            predicted = combine(u.px, x, u.p, history)
            if i == last:
                x = predicted
            else:
                new = model(predicted, s).x0
                if u.c is not None:
                    x = combine(u.cx, x, u.c, history) + u.c_new * new
                else:
                    x = predicted
                history = [new, *history[: self.order - 1]]
            self.track(x, t, s)
        return x

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_steps={self.num_steps}, order={self.order}, variant={self.variant}, "
                f"lower_order_final={self.lower_order_final}, corrector={self.corrector})")


def combine(cx: float, x, coefficients, values):
    out = cx * x
    for c, v in zip(coefficients, values):
        out = out + c * v
    return out
