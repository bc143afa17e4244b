"""guidance=inpaint and guidance=bridge without a command line: masks and images from hostile files, the values a
user types, and the wrappers on an (untrained) network: exact on the known coordinates whatever the model."""

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from genflow.app.compose import build_run
from genflow.conditioning import Bridge, Inpaint
from genflow.conditioning.bridges import bridge
from genflow.conditioning.configs import vector_values
from genflow.conditioning.htransform import GaussianObservation, HTransform
from genflow.conditioning.masks import BUILT_IN, image_file, image_mask
from genflow.errors import UserError

TINY_UNET = ["net.ch=8", "net.num_groups=4", "net.attn_resolutions=[]", "path.num_steps=50"]


@pytest.fixture(scope="module")
def toy_module():
    return build_run(["data=moons", "data.num_samples=500", "path.num_steps=50"])[2]


@pytest.fixture(scope="module")
def digits_module():
    return build_run(["data=digits", *TINY_UNET])[2]


def test_built_in_masks_hide_their_region():
    masks = {name: image_mask(name, (1, 8, 8)) for name in BUILT_IN}
    assert all(m.shape == (1, 8, 8) and m.dtype == torch.bool for m in masks.values())
    assert not masks["left_half"][0, :, :4].any() and masks["left_half"][0, :, 4:].all()
    assert not masks["center_square"][0, 2:6, 2:6].any() and masks["center_square"].sum() == 64 - 16
    assert not masks["every_other_row"][0, 1::2].any() and masks["every_other_row"][0, ::2].all()
    assert torch.equal(image_mask("random_half", (3, 8, 8), seed=1), image_mask("random_half", (3, 8, 8), seed=1))


@pytest.mark.parametrize("content,needle", [
    (np.ones((7, 8)), "has shape (7, 8); the model makes images of shape (1, 8, 8)"),
    (np.full((8, 8), 0.5), "must hold only 0 (to fill in) and 1 (known)"),
    (np.full((8, 8), np.nan), "must hold only 0 (to fill in) and 1 (known)"),
    (np.array([{"a": 1}], dtype=object), "is not a readable .npy file"),
])
def test_bad_mask_files_are_one_line_errors(tmp_path, content, needle):
    np.save(tmp_path / "mask.npy", content, allow_pickle=True)
    with pytest.raises(UserError, match=None) as e:
        image_mask(str(tmp_path / "mask.npy"), (1, 8, 8))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_pickles_and_unknown_names_are_refused(tmp_path):
    (tmp_path / "evil.npy").write_bytes(pickle.dumps({"x": 1}))
    for spec, needle in ((str(tmp_path / "evil.npy"), "not a readable .npy file"),
                         ("half", "choose one of left_half, right_half"),
                         (str(tmp_path / "none.npy"), "no such file")):
        with pytest.raises(UserError, match="guidance.mask") as e:
            image_mask(spec, (1, 8, 8))
        assert needle in str(e.value)


def test_masks_and_images_from_png_and_npy(tmp_path):
    mask = np.zeros((8, 8), dtype=np.uint8)
    mask[:, :3] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    m = image_mask(str(tmp_path / "mask.png"), (1, 8, 8))
    assert m[0, :, :3].all() and not m[0, :, 3:].any()
    images = np.random.default_rng(0).uniform(size=(3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    assert torch.allclose(image_file(str(tmp_path / "images.npy"), (1, 8, 8))[:, 0], torch.from_numpy(images))
    for bad, needle in ((images * 2, "finite values in [0, 1]"), (np.full((2, 8, 8), np.inf), "finite values"),
                        (np.zeros((2, 7, 8)), "holds images of shape (2, 7, 8)")):
        np.save(tmp_path / "bad.npy", bad)
        with pytest.raises(UserError, match="guidance.image") as e:
            image_file(str(tmp_path / "bad.npy"), (1, 8, 8))
        assert needle in str(e.value)


@pytest.mark.parametrize("raw,needle", [
    (None, "guidance.known is required"), ([1.0, 2.0, 3.0], "has 3 entries"), ([None, None], "fixes no coordinate"),
    (["a", 1.0], "is not a number or null"), ({"5": 1.0}, "coordinate '5'; valid: 0..1"),
])
def test_known_values_are_checked(raw, needle):
    with pytest.raises(UserError) as e:
        vector_values(raw, 2, "guidance.known")
    assert needle in str(e.value)


def test_known_values_forms():
    assert vector_values([None, 0.5], 2, "k") == [[None, 0.5]]
    assert vector_values([[None, 0.5], [1, None]], 2, "k") == [[None, 0.5], [1, None]]
    assert vector_values({1: 0.5}, 2, "k") == [[None, 0.5]]


@pytest.mark.parametrize("kwargs,needle", [
    (dict(method="repaint"), "guidance.method='repaint' is not valid; choose one of replacement, reconstruction"),
    (dict(data_var=0), "guidance.data_var=0 must be a finite number > 0"),
    (dict(scale=float("nan")), "guidance.scale=nan must be a finite number >= 0"),
    (dict(snr_min=-1), "guidance.snr_min=-1 must be"),
    (dict(num_images="abc"), "guidance.num_images='abc' must be an integer >= 1"),
    (dict(paths=-2), "guidance.paths=-2 must be an integer >= 0"),
])
def test_inpaint_settings_are_checked(kwargs, needle):
    with pytest.raises(UserError) as e:
        Inpaint(**kwargs)
    assert needle in str(e.value)


def test_inpainting_a_toy_model_keeps_the_known_coordinate_for_every_group(toy_module):
    from genflow.samplers.ancestral import AncestralSampler

    guidance = Inpaint(known=[[None, 0.5], [-0.25, None]], paths=4)
    guidance.bind(toy_module)
    sampler = AncestralSampler(num_steps=10, progress=False)
    for group, (k, v) in zip(guidance.groups(), ((1, 0.5), (0, -0.25))):
        x, nfe = toy_module.generate(sampler, 50, model=guidance.wrap(toy_module.model_function(), group))
        assert torch.allclose(x[:, k], torch.tensor(v), atol=1e-5) and x[:, 1 - k].std() > 0 and nfe == 10
    with pytest.raises(UserError, match="apply to image models"):
        Inpaint(mask="left_half").bind(toy_module)


def test_bridge_settings_and_the_exact_pinned_end(toy_module):
    with pytest.raises(UserError, match="guidance.radius=-1"):
        Bridge(target=[0, 0], radius=-1)
    with pytest.raises(UserError, match="guidance.target is required"):
        Bridge(target=None).bind(toy_module)
    target = torch.tensor([0.3, -0.2])
    model = bridge(toy_module.model_function(), target, torch.ones(2, dtype=torch.bool), 0.0)
    assert model.everything_known
    pred = model(torch.randn(5, 2), torch.tensor(0.4))
    assert torch.equal(pred.x0, target.expand(5, 2))
    c = toy_module.path.coefficients(torch.tensor(0.4))
    assert torch.allclose(c.alpha * pred.x0 + c.sigma * pred.eps, pred.x, atol=1e-6)
    assert isinstance(bridge(toy_module.model_function(), target, torch.ones(2, dtype=torch.bool), 0.1), HTransform)


def test_reconstruction_guidance_moves_only_the_unknown_pixels_of_a_network(digits_module, tmp_path):
    images = np.random.default_rng(0).uniform(size=(2, 8, 8)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    guidance = Inpaint(mask="center_square", image=str(tmp_path / "images.npy"), num_images=5)
    guidance.bind(digits_module)
    assert guidance.groups() == [0, 1] and guidance.masks.shape == (2, 1, 8, 8)
    base = digits_module.model_function()
    x, t = torch.randn(3, 1, 8, 8), torch.tensor(0.3)
    pred = guidance.wrap(base, 1)(x, t)
    plain = base(x, t)
    known = guidance.masks[1]
    assert torch.allclose(pred.x0[:, known], guidance.values[1][known].expand(3, -1))
    assert not torch.allclose(pred.x0[:, ~known], plain.x0[:, ~known])  # the gradient reaches the unknown pixels
    replaced = Inpaint(method="replacement", mask="center_square", image=str(tmp_path / "images.npy"))
    replaced.bind(digits_module)
    assert torch.allclose(replaced.wrap(base, 1)(x, t).x0[:, ~known], plain.x0[:, ~known])
    with pytest.raises(UserError, match="guidance.mask is required"):
        Inpaint().bind(digits_module)


def test_gaussian_observation_is_the_log_density_of_the_observed_coordinates():
    from genflow.paths import CondOTPath
    from genflow.prediction import Prediction

    path, x0 = CondOTPath(), torch.tensor([[0.2, -1.0]])
    pred = Prediction(torch.zeros(1, 2), torch.tensor(0.5), path, x0=x0, eps=torch.zeros(1, 2))
    log_h = GaussianObservation(torch.tensor([True, False]), torch.tensor([1.0, 9.0]), 0.5, data_var=2.0)(pred)
    c = path.coefficients(torch.tensor(0.5))
    var = 2.0 * c.sigma**2 / (c.alpha**2 * 2.0 + c.sigma**2) + 0.25
    expected = torch.distributions.Normal(0.2, var.sqrt()).log_prob(torch.tensor(1.0))
    assert torch.allclose(log_h, expected.reshape(1))
