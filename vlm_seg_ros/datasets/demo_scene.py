"""The demo's built-in scene: a yard seen by a LiDAR and a camera, with its ground truth.

A procedural, deterministic scene (numpy only): sloped ground, three cardboard boxes, two
barrels, three people and a table with a toolbox on it; one box and one person stand beside
the robot, where only a side camera sees them. :meth:`DemoScene.scan` ray-casts a spinning
LiDAR (an HDL-64E-like layout, 1.73 m above the ground) and :meth:`DemoScene.render` ray-casts
one of three pinhole cameras (960x540, ``front``, ``left`` and ``right``, 90 degrees apart),
each mounted 0.35 m below the LiDAR and 0.3 m out from it, pitched 8 degrees down, from the same
shapes, so the images and the scan agree to the millimetre. Frames: the LiDAR frame is x
forward, y left, z up; a camera's ``lidar_to_camera`` maps it into the camera's optical frame
(x right, y down, z forward), as the ``lidar_to_camera`` parameters and TF expect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math

import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.camera import CameraModel
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.datasets.synthetic import (
    GROUND,
    Cylinder,
    Shape,
    SpinningLidar,
    ray_distance,
    scan,
    surface_normal,
)

SKY = -2  # render truth of pixels that see no surface
LIGHT = np.array([-0.5, 0.35, 0.8]) / np.linalg.norm([-0.5, 0.35, 0.8])  # sun behind the camera
AMBIENT = 0.45


@dataclass(frozen=True)
class Part:
    """One solid of an object, with its colour (r, g, b bytes)."""

    shape: Shape
    colour: tuple[int, int, int]


@dataclass(frozen=True)
class DemoObject:
    """An object of the scene: what it is and the solids it is made of."""

    label: str
    parts: tuple[Part, ...]

    @property
    def box(self) -> OrientedBox:
        """Its bounding box, turned like its first part (metres, LiDAR frame)."""
        first = self.parts[0].shape
        yaw = first.yaw if isinstance(first, OrientedBox) else 0.0
        c, s = math.cos(yaw), math.sin(yaw)
        points = np.vstack([(part.shape.box if isinstance(part.shape, Cylinder)
                             else part.shape).corners() for part in self.parts])
        local = np.column_stack([c * points[:, 0] + s * points[:, 1],
                                 -s * points[:, 0] + c * points[:, 1], points[:, 2]])
        low, high = local.min(axis=0), local.max(axis=0)
        mid = (low + high) / 2
        centre = np.array([c * mid[0] - s * mid[1], s * mid[0] + c * mid[1], mid[2]])
        return OrientedBox(centre, high - low, yaw)


@dataclass(frozen=True)
class TruthRelation:
    """A relation the scene was built with, by object index."""

    subject: int
    predicate: str
    object: int


@dataclass(frozen=True)
class DemoCamera:
    """One of the robot's cameras: its name (as in ``cameras``), calibration and extrinsic."""

    name: str
    model: CameraModel
    lidar_to_camera: RigidTransform

    @property
    def pose(self) -> list[float]:
        """The extrinsic as the ``lidar_to_camera`` parameter: ``[x, y, z, qx, qy, qz, qw]``."""
        t = self.lidar_to_camera
        return [*map(float, t.translation), *map(float, t.quaternion)]


@dataclass(frozen=True, eq=False)
class DemoScene:
    """Objects on sloped ground, a LiDAR at the origin and a camera, with their calibration.

    Attributes:
        objects: the objects; their index is their truth id in ``scan`` and ``render``.
        relations: relations that hold by construction (the toolbox is on the table).
        slope: ground rise per metre along x and y.
        lidar: the LiDAR's beam layout (its height above the ground included).
        camera: the front camera's calibration (no distortion).
        lidar_to_camera: LiDAR frame -> front camera optical frame.
        side_cameras: the left and right cameras (the same lens, turned 90 degrees).

    """

    objects: tuple[DemoObject, ...]
    relations: tuple[TruthRelation, ...]
    slope: tuple[float, float]
    lidar: SpinningLidar
    camera: CameraModel
    lidar_to_camera: RigidTransform
    side_cameras: tuple[DemoCamera, ...] = ()
    _owner: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Index which object each solid belongs to."""
        object.__setattr__(self, '_owner', tuple(
            index for index, item in enumerate(self.objects) for _ in item.parts))

    @property
    def cameras(self) -> tuple[DemoCamera, ...]:
        """Every camera: ``front`` (``camera``, ``lidar_to_camera``), then the side ones."""
        return (DemoCamera('front', self.camera, self.lidar_to_camera), *self.side_cameras)

    @property
    def shapes(self) -> list[Shape]:
        """Every solid of every object, in order."""
        return [part.shape for item in self.objects for part in item.parts]

    def scan(self, *, noise: float = 0.01, seed: int = 0) -> tuple[
            npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Ray-cast one LiDAR turn.

        Returns:
            ``(points, truth)``: (N, 3) float32 metres in the LiDAR frame; per point the index
            of the object hit, or ``GROUND`` (-1).

        """
        points, hit = scan(self.shapes, lidar=self.lidar, slope=self.slope, noise=noise,
                           seed=seed)
        owner = np.array(self._owner + (GROUND,), dtype=np.int64)
        return points, owner[np.where(hit >= 0, hit, len(self._owner))]

    def render(self, view: DemoCamera | None = None) -> tuple[npt.NDArray[np.uint8],
                                                               npt.NDArray[np.int64]]:
        """Ray-cast a camera's image (default: the front one): shaded solids, ground, sky.

        Returns:
            ``(image, truth)``: (H, W, 3) uint8 RGB; (H, W) index of the object each pixel
            sees, ``GROUND`` (-1) or ``SKY`` (-2).

        """
        view = view or self.cameras[0]
        camera = view.model
        width, height = camera.image_width, camera.image_height
        u, v = np.meshgrid(np.arange(width, dtype=np.float64),
                           np.arange(height, dtype=np.float64))
        rays = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1) @ np.linalg.inv(
            camera.image_k).T
        to_lidar = view.lidar_to_camera.inverse()
        directions = rays @ to_lidar.rotation.T
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        origin = to_lidar.translation

        sx, sy = self.slope
        rise = directions[:, 2] - sx * directions[:, 0] - sy * directions[:, 1]
        drop = -self.lidar.sensor_height + sx * origin[0] + sy * origin[1] - origin[2]
        with np.errstate(divide='ignore', invalid='ignore'):
            distance = np.where(rise < 0, drop / rise, np.inf)
        truth = np.where(np.isfinite(distance), GROUND, SKY).astype(np.int64)
        solid = np.full(len(directions), -1, dtype=np.int64)
        shapes = self.shapes
        for index, shape in enumerate(shapes):
            t = ray_distance(origin, directions, shape)
            nearer = t < distance
            distance[nearer], solid[nearer] = t[nearer], index
        truth[solid >= 0] = np.array(self._owner, dtype=np.int64)[solid[solid >= 0]]

        colour = np.empty((len(directions), 3))
        # Sky: pale at the horizon, deeper blue above.
        up = np.clip(directions[:, 2], 0, 1)[:, None]
        colour[:] = (1 - up) * np.array([200, 220, 240]) + up * np.array([90, 140, 210])
        ground = truth == GROUND
        hits = origin + directions[ground] * distance[ground, None]
        tile = (np.floor(hits[:, 0]) + np.floor(hits[:, 1])) % 2
        lines = (np.abs(hits[:, :2] - np.round(hits[:, :2])) < 0.02).any(axis=1)
        base = np.where(tile[:, None] > 0, [118, 124, 112], [128, 134, 120])
        base = np.where(lines[:, None], [92, 96, 88], base)
        haze = 1 - np.exp(-distance[ground] / 60.0)
        colour[ground] = (1 - haze[:, None]) * base + haze[:, None] * [200, 220, 240]
        parts = [part for item in self.objects for part in item.parts]
        for index, shape in enumerate(shapes):
            rows = np.flatnonzero(solid == index)
            if not rows.size:
                continue
            points = origin + directions[rows] * distance[rows, None]
            light = AMBIENT + (1 - AMBIENT) * np.clip(surface_normal(shape, points) @ LIGHT, 0, 1)
            colour[rows] = light[:, None] * np.array(parts[index].colour)
        image = np.clip(np.round(colour), 0, 255).astype(np.uint8).reshape(height, width, 3)
        return image, truth.reshape(height, width)


def match_truth(scene: DemoScene, centres: npt.ArrayLike, *,
                max_distance: float) -> dict[int, tuple[int, float]]:
    """Pair truth objects with found objects by box centre distance, nearest first.

    In 3D: a toolbox and the table under it have nearly the same horizontal centre.

    Args:
        scene: the scene whose objects are the truth.
        centres: (M, 3) box centres of the found objects, metres, in the LiDAR frame.
        max_distance: farthest pairing, metres.

    Returns:
        Per paired truth index: ``(found index, distance)``; each found object pairs once.

    """
    truth = np.array([item.box.center for item in scene.objects])
    found = np.asarray(centres, dtype=np.float64).reshape(-1, 3)
    distance = np.linalg.norm(truth[:, None] - found[None], axis=2)
    pairs: dict[int, tuple[int, float]] = {}
    taken: set[int] = set()
    for flat in np.argsort(distance, axis=None, kind='stable') if found.size else ():
        t, f = divmod(int(flat), len(found))
        if distance[t, f] > max_distance:
            break
        if t not in pairs and f not in taken:
            pairs[t] = (f, float(distance[t, f]))
            taken.add(f)
    return pairs


def _ground_z(x: float, y: float, slope: tuple[float, float], height: float) -> float:
    return -height + slope[0] * x + slope[1] * y


def demo_scene() -> DemoScene:
    """Return the demo's scene (always the same one)."""
    lidar = SpinningLidar()
    slope = (0.02, -0.015)

    def on_ground(x: float, y: float, z_above: float) -> float:
        """Return the height of a point ``z_above`` metres over the ground at (x, y)."""
        return _ground_z(x, y, slope, lidar.sensor_height) + z_above

    def box(x: float, y: float, size: tuple[float, float, float], yaw: float,
            colour: tuple[int, int, int], *, base: float = 0.0) -> Part:
        centre = (x, y, on_ground(x, y, base + size[2] / 2))
        return Part(OrientedBox(np.array(centre), np.array(size), yaw), colour)

    def cylinder(x: float, y: float, radius: float, height: float,
                 colour: tuple[int, int, int], *, base: float = 0.0) -> Part:
        return Part(Cylinder((x, y, on_ground(x, y, base + height / 2)), radius, height), colour)

    def person(x: float, y: float, shirt: tuple[int, int, int]) -> DemoObject:
        return DemoObject('person', (
            cylinder(x, y, 0.17, 0.85, (52, 58, 96)),  # legs
            cylinder(x, y, 0.23, 0.62, shirt, base=0.85),  # torso
            cylinder(x, y, 0.11, 0.25, (224, 172, 140), base=1.47)))  # head

    table_x, table_y, table_yaw = 6.0, 0.9, 0.25
    c, s = math.cos(table_yaw), math.sin(table_yaw)
    wood = (150, 100, 60)
    legs = tuple(
        box(table_x + c * lx - s * ly, table_y + s * lx + c * ly, (0.06, 0.06, 0.73),
            table_yaw, (110, 72, 42))
        for lx in (-0.62, 0.62) for ly in (-0.32, 0.32))
    table = DemoObject('table', (box(table_x, table_y, (1.4, 0.8, 0.04), table_yaw, wood,
                                     base=0.73), *legs))
    objects = (
        table,
        DemoObject('toolbox', (box(5.95, 0.85, (0.45, 0.24, 0.22), table_yaw, (200, 40, 36),
                                   base=0.77),)),
        person(5.0, -1.8, (190, 60, 50)),
        person(9.0, 3.0, (60, 150, 90)),
        DemoObject('cardboard box', (box(8.5, -4.5, (0.8, 0.6, 0.6), 0.5, (196, 150, 102)),)),
        DemoObject('cardboard box', (box(11.0, -0.8, (1.0, 0.9, 1.0), -0.3,
                                         (186, 140, 92)),)),
        DemoObject('barrel', (cylinder(4.6, 2.6, 0.3, 0.9, (40, 90, 170)),)),
        DemoObject('barrel', (cylinder(8.5, -1.6, 0.3, 0.9, (230, 120, 30)),)),
        # Beside the robot: only the left or the right camera sees these.
        DemoObject('cardboard box', (box(0.6, 4.2, (0.8, 0.6, 0.7), 0.2, (190, 146, 98)),)),
        person(-0.2, -4.5, (200, 170, 40)),
    )
    k = np.array([[620.0, 0.0, 479.5], [0.0, 620.0, 269.5], [0.0, 0.0, 1.0]])
    camera = CameraModel(width=960, height=540, k=k, d=np.zeros(5), r=np.eye(3),
                         p=np.hstack([k, np.zeros((3, 1))]))
    front, left, right = (_mounted(yaw) for yaw in (0.0, 90.0, -90.0))
    return DemoScene(objects, (TruthRelation(1, 'on', 0),), slope, lidar, camera, front,
                     (DemoCamera('left', camera, left), DemoCamera('right', camera, right)))


def _mounted(yaw_degrees: float) -> RigidTransform:
    """Return LiDAR -> optical frame of a camera 0.3 m out from the LiDAR's axis.

    It is 0.35 m below the LiDAR, pitched 8 degrees down and turned ``yaw_degrees`` left of the
    LiDAR's x axis.
    """
    pitch, yaw = math.radians(8.0), math.radians(yaw_degrees)
    # Columns: the optical frame's x (right), y (down), z (forward) in the LiDAR frame, facing
    # along x; then turned about z.
    facing_x = np.array([[0.0, -math.sin(pitch), math.cos(pitch)],
                         [-1.0, 0.0, 0.0],
                         [0.0, -math.cos(pitch), -math.sin(pitch)]])
    turn = np.array([[math.cos(yaw), -math.sin(yaw), 0.0], [math.sin(yaw), math.cos(yaw), 0.0],
                     [0.0, 0.0, 1.0]])
    camera_to_lidar = turn @ facing_x
    camera_in_lidar = turn @ np.array([0.3, 0.0, -0.35])
    return RigidTransform(camera_to_lidar.T, -camera_to_lidar.T @ camera_in_lidar)
