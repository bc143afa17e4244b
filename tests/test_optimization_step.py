"""Optimisation semantics: gradient accumulation steps with the mean of the micro-batch gradients,
clipping bounds what the optimizer steps with, and the Trainer's keys mean what Lightning says, both
with Lightning's automatic optimisation (the default) and with genflow's opt-in fast step; EMA and the
sample pictures follow optimizer steps, not batches."""

import lightning as L
import pytest
import torch

from genflow.app.callbacks import SamplePlotCallback
from genflow.app.compose import build_run, quiet_trainer
from genflow.app.lightning_notices import silence_lightning_notices
from genflow.errors import UserError

PATHS = pytest.mark.parametrize("fast", [False, True], ids=["lightning", "fast_step"])


def build(fast, *overrides):
    cfg, dm, module = build_run(["data=moons", "data.batch_size=64", "net.hidden=32", f"fast_step={fast}", *overrides])
    return cfg, dm, module


def run(cfg, module, dm, steps, callbacks=(), **trainer_settings):
    """Fit with the run's trainer.* keys; returns the micro-batches seen and the gradients the optimizer
    stepped with (read by a hook after each optimizer step: with Lightning the step runs the closure,
    i.e. the last micro-batch's backward and the clipping, inside ``optimizer.step``)."""
    batches, grads = [], []
    deterministic = lambda batch: module.denoiser.net(module.normalize(batch[0]), torch.full((len(batch[0]),), 0.5)).square().mean()  # noqa: E731
    module.loss = lambda batch: batches.append(batch[0].clone()) or deterministic(batch)
    configure = module.configure_optimizers

    def configure_with_hook():
        optim = configure()
        optim["optimizer"].register_step_post_hook(
            lambda *_: grads.append([p.grad.clone() for p in module.denoiser.parameters()]))
        return optim

    module.configure_optimizers = configure_with_hook
    quiet_trainer(steps, callbacks, cfg=cfg, **trainer_settings).fit(module, datamodule=dm)
    return batches, grads, deterministic


def norm(gs):
    return torch.linalg.vector_norm(torch.cat([g.flatten() for g in gs]))


@PATHS
def test_accumulation_steps_with_the_mean_of_the_micro_batch_gradients(fast):
    cfg, dm, module = build(fast, "trainer.accumulate_grad_batches=3", "trainer.gradient_clip_val=null")
    start = {k: v.clone() for k, v in module.denoiser.state_dict().items()}
    batches, grads, loss = run(cfg, module, dm, steps=2)
    assert module.global_step == 2 and len(batches) == 6 and len(grads) == 2
    assert int(module.ema.n_averaged) == 2  # the EMA follows optimizer steps
    module.denoiser.load_state_dict(start)  # gradients of the first three micro-batches at the initial weights
    module.denoiser.zero_grad()
    for x in batches[:3]:
        loss((x,)).backward()
    for p, g in zip(module.denoiser.parameters(), grads[0]):
        torch.testing.assert_close(g, p.grad / 3, rtol=1e-5, atol=1e-7)


@PATHS
@pytest.mark.parametrize("algorithm,bound", [("norm", norm), ("value", lambda gs: max(g.abs().max() for g in gs))])
def test_clipping_bounds_the_gradient_the_optimizer_steps_with(fast, algorithm, bound):
    cfg, dm, module = build(fast, "trainer.gradient_clip_val=0.01", f"trainer.gradient_clip_algorithm={algorithm}")
    _, grads, _ = run(cfg, module, dm, steps=3)
    assert len(grads) == 3
    for gs in grads:
        assert bound(gs) <= 0.01 * (1 + 1e-5)
    cfg, dm, unclipped = build(fast, "trainer.gradient_clip_val=null")
    _, raw, _ = run(cfg, unclipped, dm, steps=1)
    assert bound(raw[0]) > 0.1  # so the bound above is the clipping's doing


@PATHS
def test_fused_adamw_is_clipped_under_bf16_mixed(fast):
    """Lightning's mixed-precision plugin refuses to clip an optimizer that could unscale its own gradients
    (a fused AdamW); under bf16-mixed there is no scaler, so genflow clips it itself. bf16 autocast runs on
    a CPU too."""
    cfg, dm, module = build(fast, "trainer.gradient_clip_val=0.01")
    _, grads, _ = run(cfg, module, dm, steps=2, precision="bf16-mixed")
    assert len(grads) == 2 and all(norm(gs) <= 0.01 * (1 + 1e-5) for gs in grads)
    assert module.optimizers().optimizer.defaults["fused"]


def test_a_plain_lightning_trainer_takes_its_standard_keys():
    """The Python API: any Trainer with Lightning's own clipping and accumulation arguments."""
    silence_lightning_notices()
    _, dm, module = build(False)
    trainer = L.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, gradient_clip_val=0.5,
                        gradient_clip_algorithm="value", accumulate_grad_batches=2)
    trainer.fit(module, datamodule=dm)
    assert module.global_step == 2 and int(module.ema.n_averaged) == 2


def test_the_cli_trainer_keeps_its_keys_with_and_without_the_fast_step(tmp_path):
    from hydra.utils import instantiate

    from genflow.app.compose import compose_config
    from genflow.app.train import build_trainer

    for fast in (False, True):
        cfg = compose_config(["data=moons", f"fast_step={fast}", "trainer.gradient_clip_val=0.3",
                              "trainer.accumulate_grad_batches=2", "plot_every_n_steps=0"])
        _, dm, module = build(fast, "trainer.gradient_clip_val=0.3", "trainer.accumulate_grad_batches=2")
        trainer = build_trainer(cfg, tmp_path / str(fast), (instantiate(cfg.sampler), None), dm)
        if fast:
            assert not module.automatic_optimization and trainer.gradient_clip_val is None
            assert module.fast_step == {"gradient_clip_val": 0.3, "gradient_clip_algorithm": "norm",
                                        "accumulate_grad_batches": 2}
        else:
            assert module.automatic_optimization and module.fast_step is None
            assert trainer.gradient_clip_val == 0.3 and trainer.accumulate_grad_batches == 2


@PATHS
def test_sample_pictures_are_drawn_once_per_optimizer_step(fast, tmp_path):
    cfg, dm, module = build(fast, "trainer.accumulate_grad_batches=2")
    drawn = []
    module.generate = lambda *a, **k: drawn.append(module.global_step) or (torch.zeros(4, 2), 1)
    plots = SamplePlotCallback(sampler=type("S", (), {"progress": False})(), grid=None, out_dir=tmp_path, every_n_steps=1)
    plots_made = []
    import genflow.app.callbacks as callbacks
    plot, callbacks.plot_samples = callbacks.plot_samples, lambda x, path, *a, **k: plots_made.append(path) or path
    try:
        run(cfg, module, dm, steps=3, callbacks=[plots])
    finally:
        callbacks.plot_samples = plot
    assert drawn == [1, 2, 3] and len(plots_made) == 3


def test_bad_optimisation_settings_are_one_line_errors():
    with pytest.raises(UserError, match="trainer.gradient_clip_algorithm.*norm, value"):
        build(False, "trainer.gradient_clip_algorithm=bogus")
    with pytest.raises(UserError, match="trainer.accumulate_grad_batches=0"):
        build(True, "trainer.accumulate_grad_batches=0")


@pytest.mark.parametrize("at_once", [True, False], ids=["at_once", "deferred"])
@PATHS
def test_a_non_finite_loss_stops_training_before_any_checkpoint_holds_it(fast, at_once, tmp_path):
    """Deferred (as on a GPU, where reading the loss every step would sync the host): the first bad step is
    recorded on the device and read before the checkpoint of step 10 is written; nothing after step 5 is
    saved, and the error names step 7."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    cfg, dm, module = build(fast, "trainer.log_every_n_steps=50")
    module.check_loss_at_once = at_once
    loss, calls = module.loss, []
    module.loss = lambda batch: calls.append(1) or loss(batch) * (float("nan") if len(calls) == 8 else 1.0)
    ckpt = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=5, save_top_k=-1, filename="{step}")
    with pytest.raises(FloatingPointError, match="loss is nan at step 7"):
        quiet_trainer(20, [ckpt], cfg=cfg, enable_checkpointing=True).fit(module, datamodule=dm)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step=5.ckpt"]
    assert len(calls) == (8 if at_once else 10)  # deferred: found at the checkpoint of step 10


def test_a_non_finite_loss_after_the_last_check_stops_at_the_end():
    cfg, dm, module = build(False, "trainer.log_every_n_steps=50")
    module.check_loss_at_once = False
    loss, calls = module.loss, []
    module.loss = lambda batch: calls.append(1) or loss(batch) * (float("nan") if len(calls) == 3 else 1.0)
    with pytest.raises(FloatingPointError, match="loss is nan at step 2"):
        quiet_trainer(4, cfg=cfg).fit(module, datamodule=dm)
