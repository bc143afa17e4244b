"""genflow eval on the user's own held-out data: data=file data.path=... (or any data group) is scored with
the checkpoint's stored normalisation, through the data-file checks, and refused in one line when its
shape is not the model's."""

import numpy as np
import pytest

from genflow.app.compose import compose_config
from genflow.app.evaluate import compute_metrics, test_data as eval_points
from genflow.errors import UserError
from genflow.modules.loading import load_module

FAST = ["method=rk4", "num_steps=4", "device=cpu", "num_points=64"]


@pytest.fixture(scope="module")
def model(tiny_ckpt):
    return load_module(tiny_ckpt)


def eval_config(ckpt, *overrides):
    return compose_config([f"ckpt={ckpt}", *FAST, *overrides], name="eval")


@pytest.mark.parametrize("metric", ["nll", "sample_distance"])
def test_a_file_of_points_scores_as_the_same_points_drawn_from_the_checkpoints_data(tiny_ckpt, model, tmp_path,
                                                                                     metric):
    cfg = eval_config(tiny_ckpt, f"metric={metric}")
    points = eval_points(model, cfg)  # what eval draws from the checkpoint's own data (moons)
    np.save(tmp_path / "held_out.npy", points.numpy()[::-1])  # the same points, in another order
    from_file = compute_metrics(eval_config(tiny_ckpt, f"metric={metric}", "data=file",
                                            f"data.path={tmp_path / 'held_out.npy'}"), model)
    drawn = compute_metrics(cfg, model)
    assert from_file["num_points" if metric == "nll" else "nfe"] == drawn["num_points" if metric == "nll" else "nfe"]
    for key in ("nll_nats", "prior_nll_nats") if metric == "nll" else ("sliced_wasserstein", "energy_distance"):
        assert from_file[key] == pytest.approx(drawn[key], rel=1e-5, abs=1e-6), key


def test_the_checkpoints_normalisation_is_used_not_refitted(tiny_ckpt, model, tmp_path):
    points = eval_points(model, eval_config(tiny_ckpt)).numpy()
    np.save(tmp_path / "near.npy", points)
    np.save(tmp_path / "far.npy", points + 50.0)  # refitted statistics would score both alike
    near, far = (compute_metrics(eval_config(tiny_ckpt, "data=file", f"data.path={tmp_path / name}"), model)
                 for name in ("near.npy", "far.npy"))
    # the prior's NLL of the normalised points: 1/2 |(x + 50 - shift) / scale|^2 grows by about 1/2 |50 / scale|^2
    assert far["prior_nll_nats"] > near["prior_nll_nats"] + 1000
    assert far["nll_nats"] != pytest.approx(near["nll_nats"], abs=1.0)


@pytest.mark.parametrize("rows,needle", [
    (np.zeros((10, 3)), "holds examples of shape (3,), but the checkpoint's model takes shape (2,)"),
    (np.array([[0.0, 1.0], [np.nan, 0.0], [1.0, 1.0]]), "row 1 (counting from 0) holds a NaN or infinite value"),
    (np.array([[1 + 1j, 0], [0, 1]]), "holds complex numbers"),
])
def test_bad_files_are_refused_in_one_line(tiny_ckpt, model, tmp_path, rows, needle):
    np.save(tmp_path / "bad.npy", rows)
    for metric in ("nll", "sample_distance"):
        with pytest.raises(UserError) as refused:
            compute_metrics(eval_config(tiny_ckpt, f"metric={metric}", "data=file",
                                        f"data.path={tmp_path / 'bad.npy'}"), model)
        assert needle in str(refused.value) and "\n" not in str(refused.value)


def test_bpd_needs_images_and_fid_an_image_model(tiny_ckpt, model, tmp_path):
    np.save(tmp_path / "points.npy", np.zeros((10, 2)))
    for metric, needle in (("bpd", "metric=bpd applies to 8-bit image data"), ("fd_digits", "applies to image models")):
        with pytest.raises(UserError, match=needle):
            compute_metrics(eval_config(tiny_ckpt, f"metric={metric}", "data=file",
                                        f"data.path={tmp_path / 'points.npy'}"), model)
