"""Pictures of samples: 2D scatter plots next to the data (first two dims for D > 2)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def scatter_samples(samples: torch.Tensor, path: str | Path, reference: torch.Tensor | None = None,
                    labels: torch.Tensor | None = None, title: str = "samples") -> Path:
    """Scatter plot of samples (coloured by label if given), beside the reference data."""
    panels = [(samples, labels, title)] + ([(reference, None, "data")] if reference is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    both = torch.cat([p[0][:, :2].float().cpu() for p in panels])
    lo, hi = torch.quantile(both, 0.005, 0), torch.quantile(both, 0.995, 0)
    pad = 0.1 * (hi - lo)
    for ax, (pts, lab, name) in zip(axes[0], panels):
        pts = pts[:, :2].float().cpu()
        c = None if lab is None else lab.cpu().numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5, c=c, cmap="tab10" if c is not None else None)
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        ax.set_aspect("equal")
        ax.set_title(name)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
