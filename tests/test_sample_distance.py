"""Sample distances against closed forms."""

import math

import torch

from genflow.metrics.sample_distance import _distance_sum, energy_distance, sliced_wasserstein


def test_energy_distance_of_two_unit_gaussians_matches_the_closed_form():
    """X ~ N(0, 1), Y ~ N(m, 1): E = 2 E|X - Y| - E|X - X'| - E|Y - Y'| with E|N(mu, s^2)| known."""
    g = torch.Generator().manual_seed(0)
    m, n = 1.0, 6000
    x, y = torch.randn(n, 1, generator=g), torch.randn(n, 1, generator=g) + m

    def mean_abs(mu, s):  # E|Z|, Z ~ N(mu, s^2)
        return s * math.sqrt(2 / math.pi) * math.exp(-mu**2 / (2 * s**2)) + mu * math.erf(mu / (s * math.sqrt(2)))

    exact = 2 * mean_abs(m, math.sqrt(2)) - 2 * mean_abs(0.0, math.sqrt(2))
    assert abs(energy_distance(x, y) - exact) < 0.02, (energy_distance(x, y), exact)
    assert abs(energy_distance(x, x[torch.randperm(n, generator=g)])) < 1e-3


def test_chunked_distance_sum_equals_the_full_matrix():
    x, y = torch.randn(5000, 3, dtype=torch.float64), torch.randn(300, 3, dtype=torch.float64)
    assert torch.allclose(_distance_sum(x, y, chunk=777), torch.cdist(x, y).sum())


def test_sliced_w2_of_a_shift_is_the_shift_over_sqrt_d():
    """Y = X + v: every projection is shifted by theta.v, so SW2^2 = E_theta (theta.v)^2 = |v|^2 / d."""
    x = torch.randn(4000, 2, generator=torch.Generator().manual_seed(1))
    v = torch.tensor([3.0, -1.0])
    assert abs(sliced_wasserstein(x, x + v, n_projections=2000) - v.norm().item() / math.sqrt(2)) < 0.05
