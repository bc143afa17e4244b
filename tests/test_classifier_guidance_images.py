"""Classifier guidance on image data: the U-Net's classifier head, the noisy classifier taking the image
presets' optimisation keys, and a digits DDPM sampled with a noisy classifier's guidance from the command line
(``genflow train model=noisy_classifier data=digits`` composes the run that ``build_run`` builds here)."""

import numpy as np
import pytest
import torch

from conftest import find_run, run_cli
from genflow.errors import UserError
from genflow.nets.unet import UNet

TINY_UNET = ["net.ch=8", "net.num_groups=4"]
SCALE = 100.0  # a classifier trained for 3 steps has small gradients


def test_unet_classifier_head_is_the_encoder_with_pooled_logits():
    full = UNet((1, 8, 8), ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,), num_groups=4)
    clf = UNet((1, 8, 8), ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,), num_groups=4, out_shape=[10])
    x = torch.randn(5, 1, 8, 8)
    logits = clf(x, torch.full((5,), 0.3))
    assert logits.shape == (5, 10) and torch.isfinite(logits).all()
    size = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert not hasattr(clf, "up") and size(clf) < size(full)
    assert not torch.allclose(logits, clf(x, torch.full((5,), 0.9)))  # conditioned on time
    assert full(x, torch.tensor(0.3)).shape == x.shape  # out_shape=None: the data's shape
    same = UNet((1, 8, 8), ch=8, ch_mult=(1, 2), num_groups=4, out_shape=[1, 8, 8])
    assert same(x, torch.tensor(0.3)).shape == x.shape
    with pytest.raises(UserError, match=r"out_shape=\[2, 5\]"):
        UNet((1, 8, 8), ch=8, ch_mult=(1, 2), num_groups=4, out_shape=[2, 5])


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory):
    """A DDPM and a noisy classifier trained 3 steps on digits as ``genflow train`` builds them (tiny U-Nets),
    saved as checkpoints: {"ddpm": (cfg, dm, module, trainer, ckpt), "classifier": ...}."""
    from genflow.app.compose import build_run, quiet_trainer

    root, runs = tmp_path_factory.mktemp("digits"), {}
    for name, overrides in (("ddpm", ["model=ddpm", "path.num_steps=50"]), ("classifier", ["model=noisy_classifier"])):
        cfg, dm, module = build_run([*overrides, "data=digits", *TINY_UNET, "data.batch_size=16"])
        before = [p.clone() for p in module.ema.module.parameters()]
        trainer = quiet_trainer(3)
        trainer.fit(module, datamodule=dm)
        trainer.save_checkpoint(root / f"{name}.ckpt")
        runs[name] = cfg, dm, module, trainer, root / f"{name}.ckpt", before
    return runs


def test_noisy_classifier_takes_the_image_presets_warmup_and_ema(digits_runs):
    cfg, dm, module, trainer, _, ema_before = digits_runs["classifier"]
    assert (module.hparams.warmup_steps, module.hparams.ema_decay) == (200, 0.9999)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(cfg.model.lr * 4 / 200)  # warm-up, 3 steps
    assert any(not torch.equal(a, b) for a, b in zip(ema_before, module.ema.module.parameters()))  # the EMA follows
    x, y = dm.reference_labelled(16)
    assert 0.0 <= module.accuracy(x, y, 0.1) <= 1.0


def test_classifier_guidance_on_digits_from_the_cli(tmp_path, digits_runs):
    """Sample a digits DDPM guided towards 3 by a noisy classifier from the command line (exit 0, finite samples
    labelled 3); with the same noise, guidance towards 3 raises the classifier's log p(3 | x) - log p(5 | x)
    over the unguided samples and guidance towards 5 lowers it."""
    model, classifier = digits_runs["ddpm"][4], digits_runs["classifier"][4]
    run_cli("sample", f"ckpt={model}", "guidance=classifier", f"guidance.classifier_ckpt={classifier}",
            "guidance.label=3", f"guidance.scale={SCALE}", "num_samples=12", "sampler=ddim", "sampler.num_steps=5",
            "seed=0", cwd=tmp_path)
    data = np.load(find_run(tmp_path, "*_sample") / "samples.npz")
    x3, labels = torch.from_numpy(data["x"]), data["labels"]
    assert x3.shape == (12, 1, 8, 8) and torch.isfinite(x3).all() and labels.tolist() == [3] * 12

    from genflow.guidance import Classifier
    from genflow.modules.loading import load_module
    from genflow.samplers.ddim import DDIMSampler

    module, guidance = load_module(model), Classifier(str(classifier), scale=SCALE, label=5)
    guidance.bind(module)

    def draw(model_fn=None):  # the CLI's first batch: the same seeded noise, deterministic DDIM
        g = torch.Generator().manual_seed(0)
        return module.generate(DDIMSampler(num_steps=5, progress=False), 12, generator=g, model=model_fn)[0]

    def margin(x):
        clf = guidance.classifier
        with torch.no_grad():
            logits = clf.classify(clf.normalize(x), torch.full((len(x),), 1e-3))
        return (logits[:, 3] - logits[:, 5]).mean().item()

    towards_5 = draw(guidance.wrap(module.model_function(), 5))
    assert margin(x3) > margin(draw()) > margin(towards_5)
