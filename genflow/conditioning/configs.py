"""``guidance=inpaint`` and ``guidance=bridge``: the config-group objects that check the conditioning against a
trained model (``bind``), choose what to draw (``groups``: one observation or target each), wrap the model
function (``wrap``) and describe the pictures worth drawing (``figures``). Values on the command line are in data
units; the wrappers work in model units (x_model = (x - shift) / scale)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from genflow.conditioning.bridges import TrajectoryRecorder, bridge
from genflow.conditioning.inpainting import Inpainting
from genflow.conditioning.masks import image_file, image_mask
from genflow.errors import UserError, check_choice
from genflow.guidance import Guidance

METHODS = ("replacement", "reconstruction")


@dataclass
class InpaintingPanels:
    """Rows of (masked input, samples, original), images in data units [0, 1]."""
    masked: Tensor  # (R, C, H, W)
    samples: Tensor  # (R, S, C, H, W)
    originals: Tensor  # (R, C, H, W)


@dataclass
class Trajectories:
    """Paths in data units from the prior to the samples, with the targets and their radii."""
    times: Tensor  # (T,)
    paths: Tensor  # (T, n, D), one group's paths after another (n = groups x paths per group)
    samples: Tensor  # (N, D)
    labels: Tensor  # (N,) and (n,) below: the group of each
    path_labels: Tensor
    targets: Tensor  # (G, D), NaN where a coordinate is free
    radius: float
    reference: Tensor | None = None


def checkpoint_data(module, key: str):
    """The checkpoint's data module on its test split (where it has one); only genflow's own data classes."""
    from hydra.utils import instantiate

    config = dict((module.run_config or {}).get("data") or {})
    if not str(config.get("_target_", "")).startswith("genflow.data."):
        raise UserError(f"the checkpoint records no genflow data set to take examples from; pass {key}=<file>")
    if "split" in config:
        config["split"] = "test"
    return instantiate(config)


def check_numbers(**values) -> None:
    """guidance.scale, radius, snr_min >= 0 and data_var > 0, finite, with one line naming the bad key."""
    for key, v in values.items():
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and (
            v > 0 if key == "data_var" else v >= 0)
        if not ok:
            raise UserError(f"guidance.{key}={v!r} must be a finite number {'> 0' if key == 'data_var' else '>= 0'}")


def check_count(key: str, value, minimum: int) -> None:
    """An integer guidance.<key> >= minimum, with one line naming the bad key."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"guidance.{key}={value!r} must be an integer >= {minimum}")


def reference_data(module, key: str) -> Tensor | None:
    """Points of the checkpoint's data set to draw behind the paths, or None where it records none."""
    try:
        return checkpoint_data(module, key).reference(2000)
    except (UserError, OSError):  # a picture without the data behind it is still a picture
        return None


def vector_values(raw, dim: int, key: str) -> list[list[float | None]]:
    """One or several observations, each a list of ``dim`` numbers or nulls (null: free), or {index: value}."""
    if raw is None:
        raise UserError(f"{key} is required for vector data: one value per coordinate, null where free, "
                        f"e.g. {key}=[null,0.5] (several: {key}=[[null,0.5],[null,-0.5]])")
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(raw) if OmegaConf.is_config(raw) else raw
    if isinstance(raw, dict) or not isinstance(raw, (list, tuple)) or not any(isinstance(v, (list, tuple, dict))
                                                                               for v in raw):
        raw = [raw]
    out = []
    for entry in raw:
        if not isinstance(entry, (list, tuple, dict)):
            raise UserError(f"{key}={entry!r} is not a list of {dim} values (null where free)")
        if isinstance(entry, dict):
            bad = [k for k in entry if not str(k).lstrip("-").isdigit() or not 0 <= int(k) < dim]
            if bad:
                raise UserError(f"{key} has coordinate {bad[0]!r}; valid: 0..{dim - 1}")
            entry = [entry.get(i, entry.get(str(i))) for i in range(dim)]
        entry = list(entry)
        if len(entry) != dim:
            raise UserError(f"{key}={entry} has {len(entry)} entries; the model makes vectors of {dim} coordinates "
                            f"(one value or null each)")
        for v in entry:
            if v is not None and (isinstance(v, (bool, str)) or not isinstance(v, (int, float))):
                raise UserError(f"{key} entry {v!r} is not a number or null")
        if all(v is None for v in entry):
            raise UserError(f"{key}={entry} fixes no coordinate; give at least one number")
        out.append(entry)
    return out


def to_model_units(module, entries: list[list[float | None]]) -> tuple[Tensor, Tensor]:
    """(values (G, D) in model units, 0 where free; masks (G, D))."""
    masks = torch.tensor([[v is not None for v in e] for e in entries])
    data = torch.tensor([[0.0 if v is None else float(v) for v in e] for e in entries])
    shift, scale = module.data_shift.cpu(), module.data_scale.cpu()
    return torch.where(masks, (data - shift) / scale, 0.0), masks


class Inpaint(Guidance):
    """``guidance=inpaint``: sample x0 given some of its coordinates (vectors: ``known``) or pixels (images:
    ``mask`` and images from ``image`` or the checkpoint's data set); ``method`` replacement or reconstruction
    (guidance weight ``scale``, posterior variance of data of variance ``data_var`` in model units, taken where
    alpha^2 / sigma^2 >= ``snr_min``); for vectors ``paths`` trajectories per observation go into trajectories.png."""

    def __init__(self, method: str = "reconstruction", scale: float = 1.0, data_var: float = 1.0,
                 snr_min: float = 1e-3, known=None, mask: str | None = None, image: str | None = None,
                 num_images: int = 8, paths: int = 24, seed: int = 0):
        super().__init__(scale, 0)
        check_choice("guidance.method", method, METHODS)
        check_numbers(scale=scale, data_var=data_var, snr_min=snr_min)
        check_count("num_images", num_images, 1)
        check_count("paths", paths, 0)
        self.method, self.data_var, self.snr_min, self.paths = method, float(data_var), float(snr_min), int(paths)
        self.known, self.mask_spec, self.image = known, mask, image
        self.num_images, self.seed = int(num_images), int(seed)
        self.values = self.masks = self.originals = self.module = self.reference = None
        self.recorders: dict[int, TrajectoryRecorder] = {}

    def bind(self, module) -> None:
        shape = tuple(module.hparams.data_shape)
        if len(shape) == 3:
            return self.bind_images(module, shape)
        if self.mask_spec is not None or self.image is not None:
            raise UserError("guidance.mask and guidance.image apply to image models; for vectors pass "
                            "guidance.known=[...] (one value per coordinate, null where free)")
        self.entries = vector_values(self.known, shape[0], "guidance.known")
        self.values, self.masks = to_model_units(module, self.entries)
        self.module, self.reference = module, reference_data(module, "guidance.known")

    def bind_images(self, module, shape) -> None:
        if self.known is not None:
            raise UserError("guidance.known applies to vector models; for images pass guidance.mask=<name or file>")
        if self.mask_spec is None:
            raise UserError("guidance.mask is required for image models: left_half, right_half, top_half, "
                            "bottom_half, center_square, every_other_row, random_half, or a .npy / .png file "
                            "(1 = known)")
        mask = image_mask(self.mask_spec, shape, self.seed)
        if self.image is not None:
            images = image_file(self.image, shape)[:self.num_images]
        else:
            images = checkpoint_data(module, "guidance.image").reference(self.num_images, seed=1000 + self.seed)
        if tuple(images.shape[1:]) != shape:
            raise UserError(f"the data set's images have shape {tuple(images.shape[1:])}, the model makes {shape}")
        self.originals = images.float().cpu()
        self.values = ((self.originals - module.data_shift.cpu()) / module.data_scale.cpu())
        self.masks = mask.expand_as(self.values)

    def groups(self) -> list[int]:
        return list(range(len(self.values)))

    def wrap(self, model, group: int):
        scale = self.scale if self.method == "reconstruction" else 0.0
        conditioned = Inpainting(model, self.masks[group], self.values[group], scale, self.data_var, self.snr_min)
        if self.originals is not None or group in self.recorders or self.paths == 0:
            return conditioned
        self.recorders[group] = TrajectoryRecorder(conditioned, self.paths)
        return self.recorders[group]

    def describe(self) -> str:
        return "inpaint: " + (f"reconstruction x{self.scale:g}" if self.method == "reconstruction" else "replacement")

    def figures(self, samples: Tensor, labels: Tensor) -> dict:
        if self.originals is None:
            return trajectories(self, samples, labels, 0.0)
        masked = torch.where(self.masks, self.originals, torch.full_like(self.originals, 0.5))
        rows = [samples[labels == g][:8] for g in range(len(self.originals))]
        return {"inpainting.png": InpaintingPanels(masked, torch.stack(rows), self.originals)}


class Bridge(Guidance):
    """``guidance=bridge``: paths conditioned to end at ``target`` (data units; null entries free; a list of
    targets draws each in turn): pinned exactly with ``radius`` 0, else within a Gaussian ball of std ``radius``
    through the h-transform (weight ``scale``, where alpha^2 / sigma^2 >= ``snr_min``); ``paths`` trajectories per
    target go into trajectories.png."""

    def __init__(self, target=None, radius: float = 0.25, scale: float = 1.0, data_var: float = 1.0,
                 snr_min: float = 1e-3, paths: int = 24):
        super().__init__(scale, 0)
        check_numbers(radius=radius, scale=scale, data_var=data_var, snr_min=snr_min)
        check_count("paths", paths, 0)
        self.target, self.radius, self.data_var, self.paths = target, float(radius), float(data_var), int(paths)
        self.snr_min = float(snr_min)
        self.recorders: dict[int, TrajectoryRecorder] = {}
        self.module = self.reference = None

    def bind(self, module) -> None:
        shape = tuple(module.hparams.data_shape)
        if len(shape) != 1:
            raise UserError("guidance=bridge applies to vector models (the toy sets); for images use guidance=inpaint")
        self.entries = vector_values(self.target, shape[0], "guidance.target")
        self.values, self.masks = to_model_units(module, self.entries)
        self.radii = self.radius / module.data_scale.cpu()
        self.module, self.reference = module, reference_data(module, "guidance.target")

    def groups(self) -> list[int]:
        return list(range(len(self.values)))

    def wrap(self, model, group: int):
        conditioned = bridge(model, self.values[group], self.masks[group], self.radii, self.scale, self.data_var,
                             self.snr_min)
        if group in self.recorders or self.paths == 0:
            return conditioned
        self.recorders[group] = TrajectoryRecorder(conditioned, self.paths)
        return self.recorders[group]

    def describe(self) -> str:
        return f"bridge, radius {self.radius:g}" + (f" x{self.scale:g}" if self.radius > 0 else " (pinned)")

    def figures(self, samples: Tensor, labels: Tensor) -> dict:
        return trajectories(self, samples, labels, self.radius)


def trajectories(guidance, samples: Tensor, labels: Tensor, radius: float) -> dict:
    """The recorded paths of each group in data units, ending at its samples, with its target or known values."""
    if not guidance.recorders:
        return {}
    shift, scale = guidance.module.data_shift.cpu(), guidance.module.data_scale.cpu()
    groups = sorted(guidance.recorders)
    traced = [guidance.recorders[g].trajectories() for g in groups]
    length = min(len(t) for t, _ in traced)
    ends = [samples[labels == g][:p.shape[1]] for g, (_, p) in zip(groups, traced)]
    paths = torch.cat([torch.cat([p[:length] * scale + shift, end[None].float()]) for (_, p), end in zip(traced, ends)],
                      dim=1)
    times = torch.cat([traced[0][0][:length], torch.zeros(1)])
    path_labels = torch.cat([torch.full((p.shape[1],), g) for g, (_, p) in zip(groups, traced)])
    targets = torch.tensor([[float("nan") if v is None else float(v) for v in e] for e in guidance.entries])
    return {"trajectories.png": Trajectories(times, paths, samples, labels, path_labels, targets, radius,
                                             guidance.reference)}
