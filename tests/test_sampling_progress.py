"""Progress outside training: samplers and the likelihood ODE call progress(t) with times that move one
way (an adaptive solver's rejected steps included); the app shows them with rich on a terminal and as a
few plain lines elsewhere; genflow never uses tqdm."""

import io
import itertools
import re
from pathlib import Path

import pytest
import torch
from rich.console import Console

from genflow.app import progress as app_progress
from genflow.app.progress import StepProgress
from genflow.likelihood import VelocityField, log_likelihood
from genflow.oracles import GaussianMixture, GaussianMixtureScore
from genflow.paths import LinearSchedule, VPPath
from genflow.samplers import base
from genflow.samplers.base import draw
from genflow.samplers.ddim import DDIMSampler
from genflow.samplers.grids import UniformGrid
from genflow.samplers.pf_ode import ProbabilityFlowSampler

MIXTURE = GaussianMixture([[-2.0, 0.0], [2.0, 0.0]], std=0.3)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def every_call_reports(monkeypatch):
    """A clock that moves 1 s per reading, so the 0.1 s throttle lets every report through."""
    clock = itertools.count()
    monkeypatch.setattr(base.time, "monotonic", lambda: float(next(clock)))


def reported_times(sampler, grid=UniformGrid()):
    times = []
    model = GaussianMixtureScore(MIXTURE, VPPath(LinearSchedule()))
    draw(model, sampler, (64, 2), grid, torch.Generator().manual_seed(0), progress=times.append)
    return times


def test_an_adaptive_pf_ode_solve_reports_decreasing_times(every_call_reports):
    times = reported_times(ProbabilityFlowSampler("dopri5", rtol=1e-3, atol=1e-3), UniformGrid(denoise=False))
    assert len(times) > 5
    assert all(a > b for a, b in zip(times, times[1:])), times
    assert times[0] < 1.0 and times[-1] == 0.0


def test_a_fixed_step_sampler_reports_each_step_in_turn(every_call_reports):
    times = reported_times(DDIMSampler(num_steps=10), UniformGrid(t_eps=1e-3, denoise=True))
    grid = UniformGrid(t_eps=1e-3, denoise=True)(VPPath(LinearSchedule()), 10).times
    assert times[:-1] == pytest.approx(grid[1:].tolist()) and times[-1] == 0.0


def test_the_likelihood_ode_reports_increasing_times(every_call_reports):
    times = []
    model = GaussianMixtureScore(MIXTURE, VPPath(LinearSchedule()))
    x = MIXTURE.sample(32, torch.Generator().manual_seed(0))[0].float()
    log_likelihood(VelocityField(model), x, model.path.prior_logp, 1e-3, 1.0, rtol=1e-3, atol=1e-3,
                   progress=times.append)
    assert len(times) > 3 and all(a < b for a, b in zip(times, times[1:])) and times[-1] == 1.0


def test_off_a_terminal_a_long_step_writes_a_few_lines(monkeypatch):
    clock = iter(float(s) for s in range(0, 1000, 1))  # one second per reading: a 10-minute sampling run
    monkeypatch.setattr(app_progress.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    with StepProgress("sampling ddim", total=2, console=Console(file=out, width=100)) as bar:
        for i in range(2):
            hook = bar.hook(i)
            for t in torch.linspace(1, 0, 200).tolist():
                hook(t)
    lines = out.getvalue().splitlines()
    assert lines[0] == "sampling ddim: started" and re.fullmatch(r"sampling ddim: done in 0:0\d:\d\d", lines[-1])
    assert 10 <= len(lines) <= 50 and len(out.getvalue()) < 2500, out.getvalue()  # a line per 10 s at most
    assert any("batch 2/2 t=0." in line for line in lines)


def test_on_a_terminal_it_is_a_rich_bar_showing_t():
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, color_system=None)
    with StepProgress("sampling pf_ode", console=console) as bar:
        assert bar.live
        bar.hook()(0.25)
    text = out.getvalue()
    assert "sampling pf_ode" in text and "75%" in text and "t=0.250" in text
    assert "started" not in text


def test_a_disabled_progress_shows_nothing():
    out = io.StringIO()
    with StepProgress("sampling", console=Console(file=out), enabled=False) as bar:
        bar.hook()(0.5)
    assert out.getvalue() == ""


def test_genflow_uses_no_tqdm():
    sources = [p for p in (REPO / "genflow").rglob("*.py")]
    assert sources and not [p for p in sources if "tqdm" in p.read_text()]
    assert "tqdm" not in (REPO / "pyproject.toml").read_text()


def test_a_failed_step_leaves_only_its_start_line():
    out = io.StringIO()
    with pytest.raises(ValueError):
        with StepProgress("sampling", console=Console(file=out)):
            raise ValueError("non-finite samples")
    assert out.getvalue() == "sampling: started\n"
