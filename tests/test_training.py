"""A short DDPM run on eight_gaussians beats the prior on sample distances (no CLI involved)."""

import lightning as L
import torch

from genflow.app.compose import quiet_trainer
from genflow.data.toy import ToyDataModule
from genflow.metrics.sample_distance import sample_distances
from genflow.modules.diffusion import DiffusionModule
from genflow.oracles import GaussianMixture, GaussianMixtureScore
from genflow.samplers.ancestral import AncestralSampler


def small_module(**kw):
    cfg = dict(
        net={"_target_": "genflow.nets.mlp.MLP", "hidden": 128, "depth": 3},
        path={"_target_": "genflow.paths.DiscreteVPPath", "num_steps": 200,
              "schedule": {"_target_": "genflow.paths.LinearSchedule"}},
        objective={"_target_": "genflow.objectives.DenoisingObjective"},
        parameterization="eps", data_shape=[2], lr=3e-3, warmup_steps=50, ema_decay=0.99,
    )
    cfg.update(kw)
    return DiffusionModule(**cfg)


def fit(module, dm, steps):
    quiet_trainer(steps).fit(module, datamodule=dm)


def test_short_ddpm_run_beats_the_prior():
    L.seed_everything(0, verbose=False)
    dm = ToyDataModule("eight_gaussians", num_samples=20_000, batch_size=256)
    module = small_module()
    fit(module, dm, 1500)
    g = torch.Generator().manual_seed(0)
    x, nfe = module.generate(AncestralSampler(progress=False), 3000, generator=g)
    ref = dm.reference(3000)
    prior = module.path.prior_sample((3000, 2), g)
    ours, base = sample_distances(x, ref), sample_distances(prior, ref)
    assert nfe == 200
    # measured with this seed: SW 0.084 vs 0.27 for the prior, energy distance 0.005 vs 0.042
    assert ours["sliced_wasserstein"] < 0.5 * base["sliced_wasserstein"], (ours, base)
    assert ours["energy_distance"] < 0.25 * base["energy_distance"], (ours, base)


def test_normalisation_is_undone_when_sampling():
    """Samples come back in data units: x = x_model * scale + shift."""
    module = small_module()
    shift, scale = torch.tensor([100.0, -50.0]), torch.tensor([10.0, 0.1])
    module.set_normalization(shift, scale)
    unit = GaussianMixtureScore(GaussianMixture([[0.0, 0.0]]), module.path)  # N(0, I) in model space
    x, _ = module.generate(AncestralSampler(progress=False), 20_000, model=unit)
    assert torch.allclose(x.mean(0), shift, atol=0.05 * scale.max().item())
    assert torch.allclose(x.std(0), scale, rtol=0.05)
