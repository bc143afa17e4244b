"""Checkpoints written before the package layout moved (tests/fixtures/pre_layout, genflow of 2026-11-26:
DDPM, flow matching and VE-SDE runs of 3 steps on moons) still load and sample, as ``genflow sample``
loads them (in-process for each, and once through the CLI)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import find_run, run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "pre_layout"


@pytest.mark.parametrize("name", ["ddpm", "flow_matching", "ve_sde"])
def test_a_checkpoint_written_before_the_move_still_samples(name):
    from genflow.app.sample import trained_or_given
    from genflow.modules.loading import load_module

    module = load_module(FIXTURES / f"{name}.ckpt")
    sampler = trained_or_given({}, module, "sampler")  # the sampler the old run recorded
    x, nfe = module.generate(sampler, 20, generator=torch.Generator().manual_seed(0),
                             grid=trained_or_given({}, module, "grid"))
    assert x.shape == (20, 2) and torch.isfinite(x).all() and nfe > 0


def test_the_cli_samples_a_checkpoint_written_before_the_move(tmp_path):
    run_cli("sample", f"ckpt={FIXTURES / 'flow_matching'}.ckpt", "num_samples=20", cwd=tmp_path)
    x = np.load(find_run(tmp_path, "*_sample") / "samples.npz")["x"]
    assert x.shape == (20, 2) and np.isfinite(x).all()
