"""Guidance as a wrapper: checked against the Gaussian-mixture oracle, then on a trained model."""

import pytest
import torch

from genflow.guidance import ClassifierFreeGuidance, ClassifierGuidance
from genflow.oracles import GaussianMixture, GaussianMixtureScore
from genflow.paths import CondOTPath, DiscreteVPPath, LinearSchedule, VPPath
from genflow.samplers.ancestral import AncestralSampler
from genflow.samplers.base import draw
from genflow.samplers.euler_maruyama import EulerMaruyamaSampler
from genflow.samplers.pf_ode import ProbabilityFlowSampler

MIXTURE = GaussianMixture([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]], std=0.4, weights=[0.5, 0.3, 0.2])
N = 3000


def nearest_mode(x):
    return torch.cdist(x.double(), MIXTURE.means).argmin(1)


def cfg_samples(path, sampler, label, scale):
    model = ClassifierFreeGuidance(GaussianMixtureScore(MIXTURE, path), torch.tensor(label), scale)
    return draw(model, sampler, (N, 2), generator=torch.Generator().manual_seed(0))


SETUPS = [(VPPath(LinearSchedule()), EulerMaruyamaSampler(200, progress=False)),
          (DiscreteVPPath(LinearSchedule(), 1000), AncestralSampler(num_steps=200, progress=False)),
          (CondOTPath(), ProbabilityFlowSampler("dopri5", progress=False))]
IDS = ["vp-em", "ddpm-ancestral", "flow-pf_ode"]


@pytest.mark.parametrize("path,sampler", SETUPS, ids=IDS)
def test_scale_one_samples_only_the_requested_component(path, sampler):
    for label in (1, 2):
        x = cfg_samples(path, sampler, label, 1.0).x
        assert (nearest_mode(x) == label).float().mean() > 0.97
        assert (x.double().mean(0) - MIXTURE.means[label]).abs().max() < 0.05


@pytest.mark.parametrize("path,sampler", SETUPS[:1], ids=IDS[:1])
def test_scale_zero_recovers_the_unconditional_mixture(path, sampler):
    x = cfg_samples(path, sampler, 2, 0.0).x
    fractions = torch.bincount(nearest_mode(x), minlength=3) / N
    assert torch.allclose(fractions, MIXTURE.weights.float(), atol=0.03), fractions


OVERLAP = GaussianMixture([[-0.6, 0.0], [0.6, 0.0]], std=0.5)


@pytest.mark.parametrize("path,sampler", SETUPS, ids=IDS)
def test_larger_scale_concentrates_on_the_class(path, sampler):
    """p(x|y)^g p(x)^(1-g) tilts towards where y is certain: the mean Bayes posterior p(y|x) of the
    samples grows with the scale (on overlapping classes; separated ones are already certain)."""
    posterior = {}
    for scale in (1.0, 4.0):
        model = ClassifierFreeGuidance(GaussianMixtureScore(OVERLAP, path), torch.tensor(1), scale)
        x = draw(model, sampler, (2000, 2), generator=torch.Generator().manual_seed(0)).x
        posterior[scale] = OVERLAP.log_posterior(x.double(), torch.zeros(len(x)), None).exp()[:, 1].mean().item()
    # measured: E p(y=1|x) = 0.834 under the exact conditional (all three samplers); 0.976-0.996 at scale 4
    assert 0.80 < posterior[1.0] < 0.87 and posterior[4.0] > posterior[1.0] + 0.08, posterior


def test_classifier_guidance_with_the_exact_classifier_is_conditioning():
    path = VPPath(LinearSchedule())
    uncond = GaussianMixtureScore(MIXTURE, path)
    log_probs = lambda x, t: MIXTURE.log_posterior(x, t, path)  # noqa: E731
    guided = ClassifierGuidance(uncond, log_probs, torch.tensor(2), 1.0)
    x = draw(guided, EulerMaruyamaSampler(150, progress=False), (2000, 2), generator=torch.Generator().manual_seed(0)).x
    assert (nearest_mode(x) == 2).float().mean() > 0.97
    unguided = ClassifierGuidance(uncond, log_probs, torch.tensor(2), 0.0)
    x0 = draw(unguided, EulerMaruyamaSampler(150, progress=False), (2000, 2),
              generator=torch.Generator().manual_seed(0)).x
    assert abs((nearest_mode(x0) == 2).float().mean().item() - 0.2) < 0.03


STEPS = 800  # training steps of the conditional DDPM


def test_trained_conditional_model_follows_guidance():
    from test_trained_models import build, fit

    cfg, dm, module = build("ddpm", ["conditional=true", "path.num_steps=200"])
    fit(cfg, module, dm, STEPS)
    ref, ref_labels = dm.reference_labelled(4000)
    centres = torch.stack([ref[ref_labels == k].mean(0) for k in range(8)])
    sampler = AncestralSampler(progress=False)
    hits = {}
    for scale in (0.0, 3.0):
        x, _ = module.generate(sampler, 800, model=ClassifierFreeGuidance(module.model_function(), torch.tensor(3),
                                                                          scale))
        hits[scale] = (torch.cdist(x, centres).argmin(1) == 3).float().mean().item()
    # measured after 800 steps: 0.126 unguided (1/8 of the mass), 1.0 with guidance scale 3 (same after 2,500)
    assert hits[3.0] > 0.9 and hits[0.0] < 0.3, hits
