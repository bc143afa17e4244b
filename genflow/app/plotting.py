"""Pictures of samples: image grids (torchvision's ``make_grid``) for images, 2D scatter plots next
to the data for vectors (first two dims for D > 2), histograms for one-dimensional data."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def _save(fig, path: str | Path, dpi: int) -> Path:
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def scatter_samples(samples: torch.Tensor, path: str | Path, reference: torch.Tensor | None = None,
                    labels: torch.Tensor | None = None, title: str = "samples") -> Path:
    """Scatter plot of samples (coloured by label if given), beside the reference data."""
    panels = [(samples, labels, title)] + ([(reference, None, "data")] if reference is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    both = torch.cat([p[0][:, :2].float().cpu() for p in panels])
    lo, hi = torch.quantile(both, 0.005, 0), torch.quantile(both, 0.995, 0)
    pad = (0.1 * (hi - lo)).clamp_min(0.05 * float((hi - lo).max()) + 1e-3)  # a pinned coordinate has hi = lo
    for ax, (pts, lab, name) in zip(axes[0], panels):
        pts = pts[:, :2].float().cpu()
        c = None if lab is None else lab.cpu().numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5, c=c, cmap="tab10" if c is not None else None)
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        ax.set_aspect("equal")
        ax.set_title(name)
    return _save(fig, path, dpi=110)


def histogram_samples(samples: torch.Tensor, path: str | Path, reference: torch.Tensor | None = None,
                      labels: torch.Tensor | None = None, title: str = "samples") -> Path:
    """One-dimensional samples: their histogram over the reference data's (one per label if given)."""
    x = samples[:, 0].float().cpu()
    both = x if reference is None else torch.cat([x, reference[:, 0].float().cpu()])
    lo, hi = torch.quantile(both, 0.005).item(), torch.quantile(both, 0.995).item()
    pad = 0.1 * (hi - lo) or 1.0
    bins = torch.linspace(lo - pad, hi + pad, 61).numpy()
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    if reference is not None:
        ax.hist(reference[:, 0].float().cpu().numpy(), bins=bins, density=True, color="0.75", label="data")
    groups = [(None, x)] if labels is None else [(int(v), x[labels.cpu() == v]) for v in labels.unique()]
    for label, xs in groups:
        ax.hist(xs.numpy(), bins=bins, density=True, histtype="step", linewidth=1.5,
                label=title if label is None else f"label {label}")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path, dpi=110)


def image_grid(images: torch.Tensor, path: str | Path, labels: torch.Tensor | None = None,
               title: str = "samples", max_images: int = 100) -> Path:
    """A PNG grid of [0, 1] images (N, C, H, W), one row per label when labels are given."""
    from torchvision.utils import make_grid

    images = images[:max_images].float().clamp(0, 1).cpu()
    nrow = int(math.ceil(math.sqrt(len(images))))
    if labels is not None:
        labels = labels[:max_images].cpu()
        nrow = max(int((labels == labels[0]).sum()), 1)
    grid = make_grid(images, nrow=nrow, padding=1, pad_value=1.0).permute(1, 2, 0).numpy()
    inches = max(1.0, 40.0 / images.shape[-1]) / 100  # at least ~40 screen pixels per image side
    fig, ax = plt.subplots(figsize=(max(3.0, grid.shape[1] * inches), max(3.0, grid.shape[0] * inches) + 0.4))
    ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title)
    return _save(fig, path, dpi=100)


def plot_samples(samples: torch.Tensor, path: str | Path, reference: torch.Tensor | None = None,
                 labels: torch.Tensor | None = None, title: str = "samples") -> Path:
    """Image grid for (N, C, H, W) samples, scatter plot beside the reference otherwise."""
    if samples.dim() == 4:
        return image_grid(samples, path, labels, title)
    if samples.shape[-1] == 1:
        return histogram_samples(samples, path, reference, labels, title)
    return scatter_samples(samples, path, reference, labels, title)


def inpainting_grid(masked: torch.Tensor, samples: torch.Tensor, originals: torch.Tensor, path: str | Path,
                    title: str = "inpainting") -> Path:
    """One row per image: the masked input (grey where unknown), its samples, the original; [0, 1] images."""
    rows = [torch.cat([m[None], s, o[None]]) for m, s, o in zip(masked, samples, originals)]
    width = len(rows[0])
    images = torch.cat(rows)
    heading = "\n".join(textwrap.wrap(title, 30) + [f"masked | {width - 2} samples | original"])
    return image_grid(images, path, labels=torch.arange(len(rows)).repeat_interleave(width), title=heading,
                      max_images=len(images))


def trajectory_plot(times: torch.Tensor, paths: torch.Tensor, samples: torch.Tensor, path: str | Path,
                    labels: torch.Tensor | None = None, path_labels: torch.Tensor | None = None,
                    targets: torch.Tensor | None = None, radius: float = 0.0, reference: torch.Tensor | None = None,
                    title: str = "bridge") -> Path:
    """Sample paths (T, n, 2) from the prior to the data under the data (grey), the samples and each target: a cross
    with circles at one and two radii, or a dashed line where one coordinate is free."""
    from matplotlib.patches import Circle

    fig, ax = plt.subplots(figsize=(5.2, 5.2))
    colours = plt.get_cmap("tab10")
    for i in range(paths.shape[1]):  # beneath the data, the samples and the targets
        c = colours(int(path_labels[i]) % 10) if path_labels is not None else colours(0)
        ax.plot(paths[:, i, 0], paths[:, i, 1], lw=0.5, alpha=0.3, color=c, zorder=1)
    if reference is not None:
        ax.scatter(reference[:, 0], reference[:, 1], s=2, c="0.45", alpha=0.5, label="data", zorder=2)
    c = None if labels is None else [colours(int(v) % 10) for v in labels]
    ax.scatter(samples[:, 0], samples[:, 1], s=4, c=c, alpha=0.8, zorder=3)
    for g, target in enumerate(targets if targets is not None else []):
        colour = colours(g % 10)
        if torch.isfinite(target[:2]).all():
            ax.plot(*target[:2], marker="x", ms=9, mew=2, color="k", zorder=4)
            for k in (1, 2):
                if radius > 0:
                    ax.add_patch(Circle(tuple(target[:2].tolist()), k * radius, fill=False, color="k", lw=1,
                                        ls="-" if k == 1 else "--", zorder=4))
        elif torch.isfinite(target[0]):
            ax.axvline(float(target[0]), color=colour, lw=1.2, ls="--", zorder=4)
        elif torch.isfinite(target[1]):
            ax.axhline(float(target[1]), color=colour, lw=1.2, ls="--", zorder=4)
    both = torch.cat([samples[:, :2]] + ([reference[:, :2]] if reference is not None else []))
    lo, hi = torch.quantile(both, 0.005, 0), torch.quantile(both, 0.995, 0)
    pad = (0.25 * (hi - lo)).clamp_min(0.1 * float((hi - lo).max()) + 1e-3)
    ax.set_xlim(float(lo[0] - pad[0]), float(hi[0] + pad[0]))
    ax.set_ylim(float(lo[1] - pad[1]), float(hi[1] + pad[1]))
    ax.set_aspect("equal")
    ax.set_title(f"{title}\n{paths.shape[1]} paths from t = {float(times[0]):.3g} to {float(times[-1]):.3g}")
    return _save(fig, path, dpi=110)


def plot_figures(figures: dict, out: str | Path, title: str) -> dict[str, str]:
    """Draw what a guidance asks for (genflow.conditioning.configs' figure records) into ``out``."""
    from genflow.conditioning.configs import InpaintingPanels, Trajectories

    written = {}
    for name, fig in figures.items():
        target = Path(out) / name
        if isinstance(fig, InpaintingPanels):
            written[name] = str(inpainting_grid(fig.masked, fig.samples, fig.originals, target, title))
        elif isinstance(fig, Trajectories):
            written[name] = str(trajectory_plot(fig.times, fig.paths, fig.samples, target, fig.labels,
                                                fig.path_labels, fig.targets, fig.radius, fig.reference, title))
    return written
