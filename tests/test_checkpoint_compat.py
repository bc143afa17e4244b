"""Checkpoints written before the package layout moved (tests/fixtures/pre_layout, genflow of 2026-11-26:
DDPM, flow matching and VE-SDE runs of 3 steps on moons) still load and sample from the CLI."""

from pathlib import Path

import numpy as np
import pytest

from conftest import find_run, run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "pre_layout"


@pytest.mark.parametrize("name", ["ddpm", "flow_matching", "ve_sde"])
def test_a_checkpoint_written_before_the_move_still_samples(tmp_path, name):
    run_cli("sample", f"ckpt={FIXTURES / name}.ckpt", "num_samples=20", cwd=tmp_path)
    x = np.load(find_run(tmp_path, "*_sample") / "samples.npz")["x"]
    assert x.shape == (20, 2) and np.isfinite(x).all()
