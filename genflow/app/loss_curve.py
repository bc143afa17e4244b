"""``loss_curve.png``: the training curves of ``metrics.csv`` (Lightning's CSV logger), drawn at the end
of training. Every ``train/*`` column against the optimizer step, on a log scale where all values are
positive."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_curves(csv_path: str | Path) -> dict[str, tuple[list[int], list[float]]]:
    """``{column: (steps, values)}`` for the ``train/*`` columns, rows without a value left out."""
    curves: dict[str, tuple[list[int], list[float]]] = {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            step = row.get("step")
            if not step:
                continue
            for key, value in row.items():
                if key and key.startswith("train/") and value not in (None, ""):
                    steps, values = curves.setdefault(key, ([], []))
                    steps.append(int(float(step)))
                    values.append(float(value))
    return curves


def plot_loss_curve(csv_path: str | Path, png_path: str | Path) -> Path | None:
    """Draw the curves of ``csv_path`` into ``png_path``; None (and no file) when there is no curve."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        return None
    curves = read_curves(csv_path)
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    positive = True
    for key, (steps, values) in sorted(curves.items()):
        ax.plot(steps, values, label=key, lw=1)
        positive &= all(v > 0 and math.isfinite(v) for v in values)
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.set_title("training loss")
    fig.tight_layout()
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path
