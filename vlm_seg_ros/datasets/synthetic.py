"""A spinning LiDAR ray-cast into boxes and cylinders on sloped ground, with per-point truth.

Deterministic and dependency-free (numpy): used by tests, benchmarks and the demo scene to
build scenes whose answer is known (which points are ground, which shape each point hit). The
sensor sits at the origin, level (x forward, y left, z up); the ground is the plane
``z = -sensor_height + slope_x * x + slope_y * y``. The ray functions take any ray origin, so
a camera can be rendered from the same shapes (:mod:`vlm_seg_ros.datasets.demo_scene`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math

import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.boxes import OrientedBox

GROUND = -1  # truth label of points on the ground
MISS = -2  # truth label of a ray without a hit (organised scans only)


@dataclass(frozen=True)
class Cylinder:
    """A solid upright cylinder.

    Attributes:
        center: (3,) the centre of its axis, halfway up, metres.
        radius: metres.
        height: metres.

    """

    center: tuple[float, float, float]
    radius: float
    height: float

    @property
    def box(self) -> OrientedBox:
        """Its bounding box."""
        return OrientedBox(np.array(self.center), np.array([2 * self.radius, 2 * self.radius,
                                                            self.height]), 0.0)


Shape = OrientedBox | Cylinder


@dataclass(frozen=True, kw_only=True)
class SpinningLidar:
    """Beam layout of a spinning LiDAR (defaults: a Velodyne HDL-64E-like sensor)."""

    beams: int = 64
    min_elevation: float = -24.8  # degrees
    max_elevation: float = 2.0  # degrees
    columns: int = 1800  # azimuth steps per turn
    max_range: float = 80.0  # metres
    sensor_height: float = 1.73  # metres above the ground below the sensor


def scan(boxes: Sequence[Shape], *, lidar: SpinningLidar | None = None,
         slope: tuple[float, float] = (0.0, 0.0), noise: float = 0.0,
         seed: int = 0, organized: bool = False) -> tuple[npt.NDArray[np.float32],
                                                          npt.NDArray[np.int64]]:
    """Ray-cast one turn of ``lidar`` into ``boxes`` standing on the sloped ground.

    Args:
        boxes: solid boxes and cylinders (any may float, rest on the ground or on each
            other).
        lidar: the beam layout.
        slope: ground rise per metre along x and along y.
        noise: standard deviation of Gaussian range noise, metres.
        seed: seed of that noise.
        organized: keep every ray, beam by beam (row-major beams x columns, as an organised
            PointCloud2), with NaN for a ray without a hit.

    Returns:
        ``(points, truth)``: (N, 3) float32 hits, nearest first per ray, rays without a hit
        within range dropped (NaN with ``organized``); per point the index of the shape hit,
        ``GROUND``, or (``organized``) ``MISS``.

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

    origin = np.zeros(3)
    for index, box in enumerate(boxes):
        t_box = ray_distance(origin, directions, box)
        nearer = t_box < distance
        distance[nearer] = t_box[nearer]
        truth[nearer] = index
    if noise > 0:
        distance = distance + np.random.default_rng(seed).normal(0, noise, len(distance))
    hit = distance <= lidar.max_range
    if organized:
        points = (directions * np.where(hit, distance, np.nan)[:, None]).astype(np.float32)
        return points, np.where(hit, truth, MISS)
    points = (directions[hit] * distance[hit, None]).astype(np.float32)
    return points, truth[hit]


def ray_distance(origin: npt.ArrayLike, directions: npt.NDArray[np.float64],
                 shape: Shape) -> npt.NDArray[np.float64]:
    """Distance along each ray ``origin + t * direction`` (t > 0) to ``shape``; inf for a miss.

    Args:
        origin: (3,) the rays' common origin.
        directions: (M, 3) unit directions.
        shape: a box or a cylinder.

    """
    if isinstance(shape, Cylinder):
        return _ray_cylinder(np.asarray(origin, dtype=np.float64), directions, shape)
    return _ray_box(np.asarray(origin, dtype=np.float64), directions, shape)


def surface_normal(shape: Shape, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Return the outward unit normals (M, 3) of ``shape`` at (M, 3) points on its surface."""
    if isinstance(shape, Cylinder):
        centre = np.asarray(shape.center)
        radial = points - centre
        radial[:, 2] = 0
        length = np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
        normals: npt.NDArray[np.float64] = radial / length
        cap = np.abs(np.abs(points[:, 2] - centre[2]) - shape.height / 2) < 1e-6
        normals[cap] = [0.0, 0.0, 1.0]
        normals[cap & (points[:, 2] < centre[2])] = [0.0, 0.0, -1.0]
        return normals
    c, s = math.cos(shape.yaw), math.sin(shape.yaw)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    local = (points - shape.center) @ rotation / (shape.size / 2)
    axis = np.abs(local).argmax(axis=1)
    normals = np.zeros_like(points)
    normals[np.arange(len(points)), axis] = np.sign(local[np.arange(len(points)), axis])
    result: npt.NDArray[np.float64] = normals @ rotation.T
    return result


def _ray_cylinder(origin: npt.NDArray[np.float64], directions: npt.NDArray[np.float64],
                  cylinder: Cylinder) -> npt.NDArray[np.float64]:
    """Distance to an upright solid cylinder: its side (a quadratic in x, y) or its caps."""
    centre = np.asarray(cylinder.center, dtype=np.float64)
    o = origin - centre
    half = cylinder.height / 2
    dx, dy, dz = directions[:, 0], directions[:, 1], directions[:, 2]
    a = dx * dx + dy * dy
    b = 2 * (o[0] * dx + o[1] * dy)
    c = o[0] ** 2 + o[1] ** 2 - cylinder.radius ** 2
    disc = b * b - 4 * a * c
    with np.errstate(divide='ignore', invalid='ignore'):
        t_side = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    side = (disc >= 0) & (a > 0) & (t_side > 0) & (np.abs(o[2] + t_side * dz) <= half)
    result = np.where(side, t_side, np.inf)
    for cap in (half, -half):
        with np.errstate(divide='ignore', invalid='ignore'):
            t_cap = (cap - o[2]) / dz
        x, y = o[0] + t_cap * dx, o[1] + t_cap * dy
        on_cap = (t_cap > 0) & (x * x + y * y <= cylinder.radius ** 2)
        result = np.where(on_cap & (t_cap < result), t_cap, result)
    return result


def _ray_box(origin: npt.NDArray[np.float64], directions: npt.NDArray[np.float64],
             box: OrientedBox) -> npt.NDArray[np.float64]:
    """Distance along each ray to ``box`` (slab method); inf for a miss."""
    c, s = math.cos(box.yaw), math.sin(box.yaw)
    # Ray origin and directions in the box's frame.
    offset = origin - box.center
    o = np.array([c * offset[0] + s * offset[1], -s * offset[0] + c * offset[1], offset[2]])
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
