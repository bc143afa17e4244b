"""Learning-rate schedules: linear warm-up, then constant or a cosine / linear decay that reaches zero
at the run's last optimizer step."""

import math

import pytest
from lightning.pytorch.callbacks import Callback

from genflow.app.compose import build_run, quiet_trainer
from genflow.errors import UserError
from genflow.modules.lr_schedules import lr_multiplier


def test_multipliers_warm_up_then_follow_their_shape():
    warm, total = 4, 24
    cosine, linear, constant = (lr_multiplier(name, warm, total) for name in ("cosine", "linear", "constant"))
    for m in (cosine, linear, constant):
        assert [m(n) for n in range(warm)] == [0.25, 0.5, 0.75, 1.0]
        assert m(warm) == 1.0
    middle = warm + (total - warm) // 2
    assert cosine(middle) == pytest.approx(0.5) and linear(middle) == pytest.approx(0.5)
    assert cosine(warm + 5) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert cosine(total) == pytest.approx(0.0) and linear(total) == 0.0 and constant(total) == 1.0
    assert cosine(total + 10) == pytest.approx(0.0)  # clipped past the end


def test_decay_needs_a_finite_run_and_a_known_name():
    with pytest.raises(UserError, match="trainer.max_steps"):
        lr_multiplier("cosine", 10, math.inf)
    with pytest.raises(UserError, match="model.lr_schedule='step'.*cosine"):
        lr_multiplier("step", 10, 100)
    with pytest.raises(Exception, match="model.lr_schedule='step'"):  # refused when the module is built
        build_run(["data.batch_size=64", "net.hidden=16", "model.lr_schedule=step"])


class RecordLR(Callback):
    def __init__(self):
        self.lrs = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_the_trainer_steps_the_schedule_over_max_steps(schedule):
    _, dm, module = build_run(["data.batch_size=64", "net.hidden=16", "model.lr=1e-3", "model.warmup_steps=2",
                               f"model.lr_schedule={schedule}"])
    record = RecordLR()
    quiet_trainer(10, callbacks=[record]).fit(module, datamodule=dm)
    expected = [1e-3 * lr_multiplier(schedule, 2, 10)(n) for n in range(10)]
    assert record.lrs == pytest.approx(expected)
    assert record.lrs[1] == pytest.approx(1e-3)
    if schedule == "cosine":  # the last step's multiplier: (1 + cos(7 pi / 8)) / 2 = 0.038
        assert record.lrs[-1] == pytest.approx(0.038e-3, abs=1e-6)
