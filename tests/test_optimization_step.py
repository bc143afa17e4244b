"""genflow's optimisation step (Lightning manual optimisation): gradient accumulation averages the
micro-batch gradients, clipping bounds what the optimizer sees, and the Trainer keys reach the module."""

import pytest
import torch

from genflow.app.compose import build_run, quiet_trainer
from genflow.errors import UserError


def build(*overrides):
    _, dm, module = build_run(["data=moons", "data.batch_size=64", "net.hidden=32", *overrides])
    return dm, module


def run(module, dm, steps, **trainer_settings):
    """Fit; returns the micro-batches seen and the gradients the optimizer stepped with."""
    batches, grads = [], []
    deterministic = lambda batch: module.denoiser.net(module.normalize(batch[0]), torch.full((len(batch[0]),), 0.5)).square().mean()  # noqa: E731
    module.loss = lambda batch: batches.append(batch[0].clone()) or deterministic(batch)
    module.on_before_optimizer_step = lambda opt: grads.append([p.grad.clone() for p in module.denoiser.parameters()])
    quiet_trainer(steps, **trainer_settings).fit(module, datamodule=dm)
    return batches, grads, deterministic


def test_accumulation_steps_with_the_mean_of_the_micro_batch_gradients():
    dm, module = build("trainer.accumulate_grad_batches=3", "trainer.gradient_clip_val=null")
    start = {k: v.clone() for k, v in module.denoiser.state_dict().items()}
    batches, grads, loss = run(module, dm, steps=2)
    assert module.global_step == 2 and len(batches) == 6 and len(grads) == 2
    module.denoiser.load_state_dict(start)  # gradients of the first three micro-batches at the initial weights
    module.denoiser.zero_grad()
    for x in batches[:3]:
        loss((x,)).backward()
    for p, g in zip(module.denoiser.parameters(), grads[0]):
        torch.testing.assert_close(g, p.grad / 3, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("algorithm,bound", [("norm", lambda gs: torch.linalg.vector_norm(torch.cat([g.flatten() for g in gs]))),
                                             ("value", lambda gs: max(g.abs().max() for g in gs))])
def test_clipping_bounds_the_gradient_the_optimizer_steps_with(algorithm, bound):
    dm, module = build("trainer.gradient_clip_val=0.01", f"trainer.gradient_clip_algorithm={algorithm}")
    _, grads, _ = run(module, dm, steps=3)
    assert len(grads) == 3
    for gs in grads:
        assert bound(gs) <= 0.01 * (1 + 1e-5)
    dm, unclipped = build("trainer.gradient_clip_val=null")
    _, raw, _ = run(unclipped, dm, steps=1)
    assert bound(raw[0]) > 0.1  # so the bound above is the clipping's doing


def test_clipping_works_under_mixed_precision():
    """trainer=gpu trains in bf16-mixed: Lightning refuses to clip for a fused AdamW there (it unscales the
    gradients itself), so the module's AdamW is not fused under mixed precision; bf16 autocast runs on a CPU too."""
    dm, module = build("trainer.gradient_clip_val=0.01")
    _, grads, _ = run(module, dm, steps=2, precision="bf16-mixed")
    assert len(grads) == 2 and all(torch.linalg.vector_norm(torch.cat([g.flatten() for g in gs])) <= 0.01 * (1 + 1e-5)
                                   for gs in grads)
    assert not module.optimizers().optimizer.defaults["fused"]
    dm, full = build()
    run(full, dm, steps=1)
    assert full.optimizers().optimizer.defaults["fused"]  # fused where Lightning can clip it


def test_bad_optimisation_settings_are_one_line_errors():
    with pytest.raises(UserError, match="trainer.gradient_clip_algorithm.*norm, value"):
        build("trainer.gradient_clip_algorithm=bogus")
    with pytest.raises(UserError, match="trainer.accumulate_grad_batches=0"):
        build("trainer.accumulate_grad_batches=0")
