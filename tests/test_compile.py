"""Speed options: compile=true compiles the networks in place (training and sampling, checkpoints
unchanged); sampling under bf16 autocast; bad values are one-line errors.

torch.compile's default backend (inductor) takes about a minute to build even a tiny MLP on the 2-core
CPU, so these tests compile with the ``aot_eager`` backend (the same Dynamo capture and AOT autograd
graphs, run eagerly); benchmarks/compiled_sampling.py and benchmarks/gpu_checks.sh run inductor."""

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from conftest import REPO, find_run, run_cli
from genflow.app.acceleration import apply_sampling_precision, apply_tf32, compile_options
from genflow.app.compose import build_run, quiet_trainer
from genflow.errors import UserError

SMALL = ["data=moons", "data.batch_size=64", "net.hidden=32", "path.num_steps=50"]


@pytest.fixture
def aot_eager(monkeypatch):
    """torch.compile with the aot_eager backend whatever the options, recording each call's options."""
    calls, compile_ = [], torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: calls.append(kw) or compile_(fn, backend="aot_eager"))
    return calls


@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compile_true_compiles_the_networks_for_training_and_sampling(aot_eager, mode):
    cfg, dm, module = build_run([*SMALL, "compile=true", f"compile_mode={mode}"])
    assert aot_eager == [{} if mode == "default" else {"mode": mode}] * 2  # the denoiser's net and its EMA copy
    keys = set(module.state_dict())
    quiet_trainer(3, cfg=cfg).fit(module, datamodule=dm)
    assert module.global_step == 3 and set(module.state_dict()) == keys  # no _orig_mod: checkpoints unchanged
    x, t = torch.randn(5, 2), torch.rand(5)
    with torch.no_grad():
        eager = type(module.denoiser.net).forward(module.denoiser.net, x, t)
        torch.testing.assert_close(module.denoiser.net(x, t), eager)
    samples, nfe = module.generate(instantiate(cfg.sampler, progress=False), 50, generator=torch.Generator().manual_seed(0))
    assert nfe == 50 and torch.isfinite(samples).all()


def test_bf16_sampling_runs_the_network_in_bf16_and_returns_float32():
    _, _, module = build_run(SMALL)
    x, t = torch.randn(64, 2), torch.rand(64)
    with torch.no_grad():
        full = module.ema.module.net(x, t)
    dtypes = []
    module.ema.module.net.body[0].register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    apply_sampling_precision(module, "bf16-mixed")
    with torch.no_grad():
        half = module.ema.module.net(x, t)
    assert dtypes == [torch.bfloat16] and half.dtype == torch.float32
    torch.testing.assert_close(half, full, rtol=0.05, atol=0.02)
    assert not torch.equal(half, full)


def test_bad_speed_options_are_one_line_errors():
    with pytest.raises(UserError, match="compile_mode='fastest' is not valid; choose one of default, reduce-overhead"):
        compile_options(True, "fastest")
    _, _, module = build_run(SMALL)
    with pytest.raises(UserError, match="precision='fp8' is not valid; choose one of 32-true"):
        apply_sampling_precision(module, "fp8")


def test_sample_in_bf16_from_the_cli(tmp_path):
    ckpt = REPO / "tests" / "fixtures" / "pre_layout" / "ddpm.ckpt"
    run_cli("sample", f"ckpt={ckpt}", "num_samples=50", "precision=bf16-mixed", "sampler=ddim", "sampler.num_steps=10",
            cwd=tmp_path)
    x = np.load(find_run(tmp_path, "*_sample") / "samples.npz")["x"]
    assert x.shape == (50, 2) and x.dtype == np.float32 and np.isfinite(x).all()


def test_tf32_is_set_for_cuda_training_only_and_lightning_can_read_it():
    before = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    try:
        apply_tf32(torch.device("cpu"), True)
        apply_tf32(torch.device("cuda", 0), False)
        assert torch.get_float32_matmul_precision() == before[0]
        apply_tf32(torch.device("cuda", 0), True)  # sets process state only: no GPU needed
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32
    finally:
        torch.set_float32_matmul_precision(before[0])
        torch.backends.cudnn.allow_tf32 = before[1]
