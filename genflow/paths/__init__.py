"""Gaussian paths x_t = alpha(t) x_0 + sigma(t) eps (t = 0 data, t = 1 noise)."""

from genflow.paths.base import GaussianPath, broadcast_like
from genflow.paths.flow import CondOTPath
from genflow.paths.schedules import CosineSchedule, GeometricSchedule, LinearSchedule
from genflow.paths.ve import VEPath
from genflow.paths.vp import DiscreteVPPath, SubVPPath, VPPath

__all__ = [
    "GaussianPath", "broadcast_like", "VPPath", "SubVPPath", "DiscreteVPPath", "VEPath", "CondOTPath",
    "LinearSchedule", "CosineSchedule", "GeometricSchedule",
]
