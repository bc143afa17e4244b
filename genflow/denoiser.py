"""A network together with its Gaussian path and parameterization.

``Denoiser(x_t, t, y)`` returns the raw prediction of kind ``eps | score | x0 | velocity``.
For ``score`` the network output is divided by sigma(t) (Song & Ermon 2020, technique 3), so
the network itself predicts the unit-scale quantity -eps and training stays well conditioned.
"""

from __future__ import annotations

from torch import Tensor, nn

from genflow.errors import check_choice
from genflow.parameterization import KINDS
from genflow.paths.base import GaussianPath, broadcast_like, collapse_uniform


class Denoiser(nn.Module):
    def __init__(self, net: nn.Module, path: GaussianPath, kind: str):
        super().__init__()
        check_choice("model.parameterization", kind, KINDS)
        self.net, self.path, self.kind = net, path, kind

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        out = self.net(x, t, y)
        if self.kind == "score":
            out = out / broadcast_like(self.path.sigma(collapse_uniform(t)), out)
        return out
