"""KITTI object-benchmark files: calibration, Velodyne scans and labels.

File formats as in the KITTI object development kit (``devkit_object/readme.txt``):
``calib/*.txt`` holds ``P0..P3`` (3x4), ``R0_rect`` (3x3) and ``Tr_velo_to_cam`` (3x4) as
row-major numbers; ``velodyne/*.bin`` is float32 ``x y z reflectance``; ``label_2/*.txt`` has
one object per line. Image pixels are ``P2 @ R0_rect @ Tr_velo_to_cam @ [x, y, z, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.camera import CameraModel
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.errors import InvalidInputError


@dataclass(frozen=True, eq=False)
class KittiCalibration:
    """One frame's calibration, expressed as ROS would carry it.

    Attributes:
        p2: (3, 4) projection of the left colour camera (image_2) from rectified camera-0
            coordinates.
        r0_rect: (3, 3) rotation from camera-0 coordinates to rectified camera-0 coordinates.
        velo_to_cam: Velodyne frame -> camera-0 optical frame (``Tr_velo_to_cam``).
        p3: (3, 4) projection of the right colour camera (image_3) from rectified camera-0
            coordinates; None when the file has no ``P3``.

    """

    p2: npt.NDArray[np.float64]
    r0_rect: npt.NDArray[np.float64]
    velo_to_cam: RigidTransform
    p3: npt.NDArray[np.float64] | None = None

    def camera_model(self, width: int, height: int, *, right: bool = False) -> CameraModel:
        """CameraInfo-style model of image_2 (``right``: image_3) in camera-0's optical frame.

        KITTI images are already rectified, so D is zero, R is ``R0_rect`` and P is ``P2``
        (``P3``); ``project_rectified`` then reproduces ``P2 @ R0_rect @ X``. Use only that:
        KITTI publishes no raw image, and ``project_raw`` (K, no R, no baseline) does not match
        it.

        Raises:
            InvalidInputError: for ``right`` without ``P3``.

        """
        p = self.p3 if right else self.p2
        if p is None:
            msg = 'this calibration has no P3 (the right colour camera)'
            raise InvalidInputError(msg)
        return CameraModel(width=width, height=height, k=p[:, :3], d=np.zeros(5),
                           r=self.r0_rect, p=p)

    def velo_to_rect(self, points: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map (N, 3) Velodyne points into rectified camera-0 coordinates (the labels')."""
        rect: npt.NDArray[np.float64] = (
            self.velo_to_cam.apply(np.asarray(points, dtype=np.float64)) @ self.r0_rect.T)
        return rect


def read_calibration(path: str | Path) -> KittiCalibration:
    """Read ``calib/NNNNNN.txt``.

    Raises:
        InvalidInputError: if ``P2``, ``R0_rect`` or ``Tr_velo_to_cam`` is missing or malformed.

    """
    lines = dict(line.split(':', 1) for line in Path(path).read_text().splitlines()
                 if ':' in line)
    values: dict[str, npt.NDArray[np.float64]] = {}
    # Only the keys used are parsed: other calibration files carry text lines (calib_time).
    for key, size in (('P2', 12), ('R0_rect', 9), ('Tr_velo_to_cam', 12), ('P3', 12)):
        if key == 'P3' and key not in lines:
            continue
        try:
            values[key] = np.array(lines.get(key, '').split(), dtype=np.float64)
        except ValueError as error:
            msg = f'{path}: {key} is not a list of numbers ({error})'
            raise InvalidInputError(msg) from error
        if values[key].size != size:
            msg = f'{path}: {key} must hold {size} numbers'
            raise InvalidInputError(msg)
    return KittiCalibration(p2=values['P2'].reshape(3, 4),
                            r0_rect=values['R0_rect'].reshape(3, 3),
                            velo_to_cam=RigidTransform.from_matrix(
                                values['Tr_velo_to_cam'].reshape(3, 4)),
                            p3=values['P3'].reshape(3, 4) if 'P3' in values else None)


def read_velodyne(path: str | Path) -> npt.NDArray[np.float32]:
    """Read ``velodyne/NNNNNN.bin`` as (N, 4) float32: x, y, z (metres), reflectance (0..1)."""
    size = Path(path).stat().st_size
    if size % 16:
        msg = f'{path}: {size} bytes is not a whole number of 16-byte points'
        raise InvalidInputError(msg)
    return np.fromfile(path, dtype='<f4').reshape(-1, 4).astype(np.float32, copy=False)


@dataclass(frozen=True)
class KittiObject:
    """One line of ``label_2/NNNNNN.txt``.

    Attributes:
        type: ``Car``, ``Van``, ``Truck``, ``Pedestrian``, ``Person_sitting``, ``Cyclist``,
            ``Tram``, ``Misc`` or ``DontCare``.
        truncated: 0 (in image) .. 1 (leaving it).
        occluded: 0 fully visible, 1 partly, 2 largely, 3 unknown.
        alpha: observation angle, radians.
        box_2d: ``(left, top, right, bottom)`` pixels in image_2.
        dimensions: ``(height, width, length)`` metres.
        location: bottom centre ``(x, y, z)`` in rectified camera-0 coordinates, metres.
        rotation_y: yaw around camera-0's y axis, radians.

    """

    type: str
    truncated: float
    occluded: int
    alpha: float
    box_2d: tuple[float, float, float, float]
    dimensions: tuple[float, float, float]
    location: tuple[float, float, float]
    rotation_y: float

    @property
    def centre(self) -> npt.NDArray[np.float64]:
        """Centre of the 3D box in rectified camera-0 coordinates (y points down)."""
        x, y, z = self.location
        return np.array([x, y - self.dimensions[0] / 2, z])

    def contains(self, points: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Which (N, 3) points, in rectified camera-0 coordinates, lie inside the 3D box."""
        p = np.asarray(points, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 3:
            msg = f'points must have shape (N, 3), got {p.shape}'
            raise InvalidInputError(msg)
        p = p - self.location
        c, s = np.cos(self.rotation_y), np.sin(self.rotation_y)
        # Box axes: length along x rotated by rotation_y about y (down), width along z.
        along = c * p[:, 0] - s * p[:, 2]
        across = s * p[:, 0] + c * p[:, 2]
        height, width, length = self.dimensions
        inside: npt.NDArray[np.bool_] = ((np.abs(along) <= length / 2)
                                         & (np.abs(across) <= width / 2)
                                         & (p[:, 1] <= 0) & (p[:, 1] >= -height))
        return inside


def read_labels(path: str | Path) -> list[KittiObject]:
    """Read ``label_2/NNNNNN.txt``.

    Raises:
        InvalidInputError: on a line without the 15 fields.

    """
    objects = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 15:
            msg = f'{path}:{number}: expected 15 fields, got {len(parts)}'
            raise InvalidInputError(msg)
        try:
            v = [float(x) for x in parts[1:15]]
        except ValueError as error:
            msg = f'{path}:{number}: {error}'
            raise InvalidInputError(msg) from error
        objects.append(KittiObject(type=parts[0], truncated=v[0], occluded=int(v[1]),
                                   alpha=v[2], box_2d=(v[3], v[4], v[5], v[6]),
                                   dimensions=(v[7], v[8], v[9]), location=(v[10], v[11], v[12]),
                                   rotation_y=v[13]))
    return objects
