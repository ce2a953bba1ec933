"""Gravity-aligned 3D boxes of point sets: axis-aligned and yaw-oriented.

Frames: every box lives in the frame of its points, which must be gravity-aligned (z up) for
"yaw-oriented" to mean a rotation about the vertical (REP 103: x forward, y left, z up).
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core import native
from vlm_seg_ros.errors import InvalidInputError

FloatArray = npt.NDArray[np.float64]


def _vector(values: npt.ArrayLike, name: str) -> FloatArray:
    array = np.array(values, dtype=np.float64).reshape(-1)
    if array.shape != (3,) or not np.isfinite(array).all():
        msg = f'{name} must be 3 finite numbers, got {values!r}'
        raise InvalidInputError(msg)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class AxisAlignedBox:
    """A box with faces parallel to the frame's axes.

    Attributes:
        minimum: (3,) lowest x, y, z, metres (read-only).
        maximum: (3,) highest x, y, z, metres (read-only).

    """

    minimum: FloatArray
    maximum: FloatArray

    def __post_init__(self) -> None:
        """Check that the corners are finite and ordered; freeze them."""
        minimum = _vector(self.minimum, 'minimum')
        maximum = _vector(self.maximum, 'maximum')
        if (minimum > maximum).any():
            msg = f'box minimum {minimum.tolist()} exceeds maximum {maximum.tolist()}'
            raise InvalidInputError(msg)
        object.__setattr__(self, 'minimum', minimum)
        object.__setattr__(self, 'maximum', maximum)

    @classmethod
    def trusted(cls, minimum: FloatArray, maximum: FloatArray) -> AxisAlignedBox:
        """Wrap corners already known to be valid (computed here), skipping the checks."""
        box = object.__new__(cls)
        object.__setattr__(box, 'minimum', minimum)
        object.__setattr__(box, 'maximum', maximum)
        return box

    @property
    def center(self) -> FloatArray:
        """Centre of the box."""
        return (self.minimum + self.maximum) / 2

    @property
    def size(self) -> FloatArray:
        """Extent along x, y and z."""
        return self.maximum - self.minimum


@dataclass(frozen=True, eq=False)
class OrientedBox:
    """A gravity-aligned box turned by ``yaw`` about the vertical.

    Attributes:
        center: (3,) centre, metres (read-only).
        size: (3,) extent along the box's own x (length, the longer horizontal side),
            y (width) and z (height) axes, metres (read-only).
        yaw: angle from the frame's x axis to the box's x axis about z, radians, in
            (-pi/2, pi/2] (a box is the same box turned by pi).

    """

    center: FloatArray
    size: FloatArray
    yaw: float

    def __post_init__(self) -> None:
        """Check the values; freeze the arrays."""
        center = _vector(self.center, 'center')
        size = _vector(self.size, 'size')
        if (size < 0).any() or not math.isfinite(self.yaw):
            msg = f'box size must be >= 0 and yaw finite, got {size.tolist()}, {self.yaw}'
            raise InvalidInputError(msg)
        object.__setattr__(self, 'center', center)
        object.__setattr__(self, 'size', size)
        object.__setattr__(self, 'yaw', float(self.yaw))

    @classmethod
    def trusted(cls, center: FloatArray, size: FloatArray, yaw: float) -> OrientedBox:
        """Wrap values already known to be valid (computed here), skipping the checks."""
        box = object.__new__(cls)
        object.__setattr__(box, 'center', center)
        object.__setattr__(box, 'size', size)
        object.__setattr__(box, 'yaw', yaw)
        return box

    def footprint(self) -> FloatArray:
        """Return the (4, 2) x, y corners of the box's base, counter-clockwise."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        half_l, half_w = self.size[0] / 2, self.size[1] / 2
        local = np.array([[half_l, half_w], [-half_l, half_w],
                          [-half_l, -half_w], [half_l, -half_w]])
        corners: FloatArray = local @ np.array([[c, s], [-s, c]]) + self.center[:2]
        return corners

    def corners(self) -> FloatArray:
        """Return the (8, 3) corners: the base counter-clockwise, then the top."""
        base = self.footprint()
        low = self.center[2] - self.size[2] / 2
        high = self.center[2] + self.size[2] / 2
        return np.vstack([np.column_stack([base, np.full(4, low)]),
                          np.column_stack([base, np.full(4, high)])])

    def quaternion(self) -> FloatArray:
        """Return the orientation as an (x, y, z, w) quaternion (a rotation about z)."""
        return np.array([0.0, 0.0, math.sin(self.yaw / 2), math.cos(self.yaw / 2)])


def oriented_box(points: npt.NDArray[np.floating]) -> OrientedBox:
    """Fit the gravity-aligned box of least footprint area around (N >= 1, 3) finite points.

    The footprint is the least-area rectangle around the convex hull of x, y (one side along a
    hull edge, as OpenCV's ``minAreaRect``); z spans the points' lowest to highest.
    """
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        msg = f'a box needs an (N >= 1, 3) array of points, got shape {points.shape}'
        raise InvalidInputError(msg)
    if not np.isfinite(points).all():
        msg = 'a box needs finite points'
        raise InvalidInputError(msg)
    lows, highs, _, rects = native.group_boxes(points, np.arange(len(points)),
                                               np.array([0, len(points)]),
                                               np.zeros(1, dtype=np.int64))
    return box_from_rect(rects[0], float(lows[0, 2]), float(highs[0, 2]))


def box_from_rect(rect: FloatArray, low: float, high: float) -> OrientedBox:
    """Return the box over a footprint rectangle (centre x, y, longer side, shorter side, yaw).

    The rectangle is the least-area one around the convex hull of the points' x, y (one of its
    sides lies along a hull edge), as :func:`vlm_seg_ros.core.native.group_boxes` fits it.
    """
    center = np.array([rect[0], rect[1], (low + high) / 2])
    size = np.array([rect[2], rect[3], high - low])
    center.flags.writeable = False
    size.flags.writeable = False
    return OrientedBox.trusted(center, size, float(rect[4]))
