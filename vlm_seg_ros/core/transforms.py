"""Rigid transforms between sensor frames, applied to whole point arrays at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from scipy.spatial.transform import Rotation

from vlm_seg_ros.errors import InvalidInputError

# tf2 rejects a transform whose quaternion has |q|^2 further than this from 1
# (QUATERNION_NORMALIZATION_TOLERANCE in tf2/buffer_core.cpp); within it, it is normalised.
QUATERNION_TOLERANCE = 10e-3
_ORTHONORMAL_TOLERANCE = 1e-5
Float = TypeVar('Float', np.float32, np.float64)


@dataclass(frozen=True, eq=False)
class RigidTransform:
    """A proper rigid transform ``p_target = rotation @ p_source + translation``.

    Named as in tf2: ``RigidTransform`` "from lidar to camera" maps points given in the LiDAR
    frame into the camera frame (the ``Tr_velo_to_cam`` of KITTI, the transform tf2 returns
    for ``lookup_transform(target_frame='camera', source_frame='lidar')``).

    Attributes:
        rotation: (3, 3) float64, orthonormal with determinant +1 (read-only).
        translation: (3,) float64, metres, in the target frame (read-only).

    """

    rotation: npt.NDArray[np.float64]
    translation: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        """Check shapes, finiteness and that the rotation is proper; freeze the arrays."""
        rotation = np.array(self.rotation, dtype=np.float64)
        translation = np.array(self.translation, dtype=np.float64).reshape(-1)
        if rotation.shape != (3, 3) or translation.shape != (3,):
            msg = (f'a rigid transform needs a (3, 3) rotation and a 3-vector translation, got '
                   f'{rotation.shape} and {translation.shape}')
            raise InvalidInputError(msg)
        if not (np.isfinite(rotation).all() and np.isfinite(translation).all()):
            msg = 'rigid transform has NaN or infinite values'
            raise InvalidInputError(msg)
        if not is_rotation(rotation):
            msg = f'rotation is not a proper rotation matrix: {rotation.tolist()}'
            raise InvalidInputError(msg)
        rotation.flags.writeable = False
        translation.flags.writeable = False
        object.__setattr__(self, 'rotation', rotation)
        object.__setattr__(self, 'translation', translation)

    @classmethod
    def identity(cls) -> RigidTransform:
        """Return the transform that leaves points where they are."""
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_quaternion(cls, translation: npt.ArrayLike,
                        quaternion: npt.ArrayLike) -> RigidTransform:
        """Build from a translation and a unit quaternion, in ROS order.

        Args:
            translation: ``(x, y, z)`` metres.
            quaternion: ``(x, y, z, w)`` as in ``geometry_msgs/Quaternion``. Like tf2, a
                quaternion with ``|q|^2`` within 0.01 of 1 is normalised; others are refused.

        Raises:
            InvalidInputError: on a wrong shape, NaN, or a quaternion that is not unit length.

        """
        q = np.asarray(quaternion, dtype=np.float64).reshape(-1)
        if q.shape != (4,) or not np.isfinite(q).all():
            msg = f'quaternion must be 4 finite numbers (x, y, z, w), got {q.tolist()}'
            raise InvalidInputError(msg)
        norm2 = float(q @ q)
        if abs(norm2 - 1.0) > QUATERNION_TOLERANCE:
            msg = (f'quaternion {q.tolist()} is not unit length (|q| = {np.sqrt(norm2):.4g}); '
                   'for no rotation use (0, 0, 0, 1)')
            raise InvalidInputError(msg)
        return cls(Rotation.from_quat(q).as_matrix(), np.asarray(translation, dtype=np.float64))

    @classmethod
    def from_matrix(cls, matrix: npt.ArrayLike) -> RigidTransform:
        """Build from a (4, 4) homogeneous matrix or its top (3, 4) rows ``[R | t]``."""
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape not in ((3, 4), (4, 4)):
            msg = f'matrix must be (3, 4) or (4, 4), got {m.shape}'
            raise InvalidInputError(msg)
        if m.shape == (4, 4) and not np.allclose(m[3], (0.0, 0.0, 0.0, 1.0)):
            msg = f'last row of a rigid transform matrix must be (0, 0, 0, 1), got {m[3]}'
            raise InvalidInputError(msg)
        return cls(m[:3, :3], m[:3, 3])

    @property
    def quaternion(self) -> npt.NDArray[np.float64]:
        """Rotation as a unit quaternion ``(x, y, z, w)`` with ``w >= 0``."""
        q: npt.NDArray[np.float64] = Rotation.from_matrix(self.rotation).as_quat(canonical=True)
        return q

    def as_matrix(self) -> npt.NDArray[np.float64]:
        """Return the (4, 4) homogeneous matrix."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.translation
        return m

    def inverse(self) -> RigidTransform:
        """Return the transform from the target frame back to the source frame."""
        return RigidTransform(self.rotation.T, -(self.rotation.T @ self.translation))

    def __matmul__(self, other: RigidTransform) -> RigidTransform:
        """Compose: ``(a @ b).apply(p) == a.apply(b.apply(p))`` (b first, then a)."""
        if not isinstance(other, RigidTransform):
            return NotImplemented
        return RigidTransform(self.rotation @ other.rotation,
                              self.rotation @ other.translation + self.translation)

    @property
    def is_identity(self) -> bool:
        """Whether the transform leaves every point exactly where it is."""
        return bool(not self.translation.any()
                    and np.array_equal(self.rotation, np.eye(3)))

    def apply(self, points: npt.ArrayLike) -> npt.NDArray[np.floating]:
        """Transform (N, 3) points (or one 3-vector) from the source into the target frame.

        float32 input stays float32 (computed in float32: ~1e-7 relative error, well under a
        LiDAR's noise); anything else is computed and returned in float64.
        """
        p = np.asarray(points)
        xyz = as_points(p.reshape(1, 3) if p.shape == (3,) else p, keep_float32=True)
        return affine(xyz, self.rotation, self.translation).reshape(p.shape)

    def __repr__(self) -> str:
        """Show translation and quaternion, the way ROS users read transforms."""
        t = ', '.join(f'{v:.4g}' for v in self.translation)
        q = ', '.join(f'{v:.4g}' for v in self.quaternion)
        return f'RigidTransform(translation=({t}), quaternion_xyzw=({q}))'


def is_rotation(matrix: npt.NDArray[np.float64]) -> bool:
    """Whether a finite (3, 3) matrix is orthonormal with determinant +1 (within 1e-5)."""
    # The bound on the entries comes first: it keeps R^T R from overflowing on absurd input.
    return bool(np.abs(matrix).max() <= 1 + _ORTHONORMAL_TOLERANCE
                and np.abs(matrix.T @ matrix - np.eye(3)).max() <= _ORTHONORMAL_TOLERANCE
                and np.linalg.det(matrix) > 0)


def as_points(points: npt.ArrayLike, *, keep_float32: bool = False) -> npt.NDArray[np.floating]:
    """Check that ``points`` is an (N, 3) array of numbers; return it as float64.

    Args:
        points: array-like of shape (N, 3), any integer or float type.
        keep_float32: return float32 input as it is, without a float64 copy.

    Raises:
        InvalidInputError: on another shape or a non-numeric type.

    """
    xyz = np.asarray(points)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or xyz.dtype.kind not in 'fiu':
        msg = f'points must be an (N, 3) array of numbers, got {xyz.dtype} {xyz.shape}'
        raise InvalidInputError(msg)
    if keep_float32 and xyz.dtype == np.float32:
        return xyz
    return xyz.astype(np.float64, copy=False)


def affine(points: npt.NDArray[Float], matrix: npt.NDArray[np.float64],
           offset: npt.NDArray[np.float64]) -> npt.NDArray[Float]:
    """Return ``points @ matrix.T + offset`` for (N, 3) points, in the points' dtype.

    The offset is added column by column: numpy broadcasting over a trailing axis of length 3
    runs a 3-element inner loop per row and is ~5x slower on a LiDAR scan.
    """
    result = points @ matrix.T.astype(points.dtype)
    for column, value in enumerate(offset):
        result[:, column] += value
    return result
