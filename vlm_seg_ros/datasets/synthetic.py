"""A spinning LiDAR ray-cast into a scene of boxes on sloped ground, with per-point truth.

Deterministic and dependency-free (numpy): used by tests and benchmarks to build scenes whose
answer is known (which points are ground, which box each point hit). The sensor sits at the
origin, level (x forward, y left, z up); the ground is the plane
``z = -sensor_height + slope_x * x + slope_y * y``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math

import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.boxes import OrientedBox

GROUND = -1  # truth label of points on the ground


@dataclass(frozen=True, kw_only=True)
class SpinningLidar:
    """Beam layout of a spinning LiDAR (defaults: a Velodyne HDL-64E-like sensor)."""

    beams: int = 64
    min_elevation: float = -24.8  # degrees
    max_elevation: float = 2.0  # degrees
    columns: int = 1800  # azimuth steps per turn
    max_range: float = 80.0  # metres
    sensor_height: float = 1.73  # metres above the ground below the sensor


def scan(boxes: Sequence[OrientedBox], *, lidar: SpinningLidar | None = None,
         slope: tuple[float, float] = (0.0, 0.0), noise: float = 0.0,
         seed: int = 0) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Ray-cast one turn of ``lidar`` into ``boxes`` standing on the sloped ground.

    Args:
        boxes: solid boxes (any may float, rest on the ground or on each other).
        lidar: the beam layout.
        slope: ground rise per metre along x and along y.
        noise: standard deviation of Gaussian range noise, metres.
        seed: seed of that noise.

    Returns:
        ``(points, truth)``: (N, 3) float32 hits, nearest first per ray, rays without a hit
        within range dropped; per point the index of the box hit, or ``GROUND``.

    """
    lidar = lidar or SpinningLidar()
    elevation = np.radians(np.linspace(lidar.min_elevation, lidar.max_elevation, lidar.beams))
    azimuth = np.linspace(-math.pi, math.pi, lidar.columns, endpoint=False)
    el, az = np.meshgrid(elevation, azimuth, indexing='ij')
    directions = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)],
                          axis=-1).reshape(-1, 3)
    distance = np.full(len(directions), np.inf)
    truth = np.full(len(directions), GROUND, dtype=np.int64)

    # Ground: origin + t d on the plane z = -h + sx x + sy y.
    rise = directions[:, 2] - slope[0] * directions[:, 0] - slope[1] * directions[:, 1]
    with np.errstate(divide='ignore'):
        t_ground = np.where(rise < 0, -lidar.sensor_height / rise, np.inf)
    distance = np.minimum(distance, t_ground)

    for index, box in enumerate(boxes):
        t_box = _ray_box(directions, box)
        nearer = t_box < distance
        distance[nearer] = t_box[nearer]
        truth[nearer] = index
    if noise > 0:
        distance = distance + np.random.default_rng(seed).normal(0, noise, len(distance))
    hit = distance <= lidar.max_range
    points = (directions[hit] * distance[hit, None]).astype(np.float32)
    return points, truth[hit]


def _ray_box(directions: npt.NDArray[np.float64], box: OrientedBox) -> npt.NDArray[np.float64]:
    """Distance along each ray from the origin to ``box`` (slab method); inf for a miss."""
    c, s = math.cos(box.yaw), math.sin(box.yaw)
    # Ray origin and directions in the box's frame.
    origin = -box.center
    o = np.array([c * origin[0] + s * origin[1], -s * origin[0] + c * origin[1], origin[2]])
    d = np.column_stack([c * directions[:, 0] + s * directions[:, 1],
                         -s * directions[:, 0] + c * directions[:, 1], directions[:, 2]])
    half = box.size / 2
    with np.errstate(divide='ignore', invalid='ignore'):
        t1 = (-half - o) / d
        t2 = (half - o) / d
    near = np.nanmax(np.minimum(t1, t2), axis=1)
    far = np.nanmin(np.maximum(t1, t2), axis=1)
    inside_slabs = np.all((d != 0) | (np.abs(o) <= half), axis=1)
    hit = inside_slabs & (near <= far) & (far > 0)
    return np.where(hit, np.maximum(near, 0.0), np.inf)
