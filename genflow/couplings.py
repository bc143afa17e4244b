"""Couplings of noise and data inside a minibatch (OT-CFM, Tong et al. 2023; Pooladian et al. 2023).

``ot``: exact optimal-transport assignment between the batch of data x0 and a batch of noise eps
under squared Euclidean cost (Hungarian algorithm, scipy's linear_sum_assignment), i.e. the
uniform-weight discrete OT plan, which is a permutation. ``independent``: the identity pairing.
"""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from genflow.errors import check_choice

COUPLINGS = ("independent", "ot")


def ot_pairing(x0: Tensor, eps: Tensor) -> Tensor:
    """Return eps permuted so that (x0[i], eps[i]) is the exact OT plan of the batch."""
    cost = torch.cdist(x0.flatten(1).double(), eps.flatten(1).double()) ** 2
    rows, cols = linear_sum_assignment(cost.cpu().numpy())
    perm = torch.empty(len(rows), dtype=torch.long)
    perm[torch.as_tensor(rows)] = torch.as_tensor(cols)
    return eps[perm.to(eps.device)]


def couple(x0: Tensor, eps: Tensor, coupling: str) -> Tensor:
    check_choice("coupling", coupling, COUPLINGS)
    return ot_pairing(x0, eps) if coupling == "ot" else eps
