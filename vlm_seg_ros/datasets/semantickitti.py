"""SemanticKITTI per-point labels (``labels/NNNNNN.label`` next to ``velodyne/NNNNNN.bin``).

Format (semantic-kitti-api, ``README.md`` and ``config/semantic-kitti.yaml``): one uint32 per
point, little-endian; the lower 16 bits are the raw semantic class id, the upper 16 bits the
instance id (0 = no instance).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from vlm_seg_ros.errors import InvalidInputError

# Raw class ids (config/semantic-kitti.yaml, `labels`).
UNLABELED, OUTLIER = 0, 1
GROUND_CLASSES = {40: 'road', 44: 'parking', 48: 'sidewalk', 49: 'other-ground',
                  72: 'terrain'}
# The "thing" classes of the panoptic benchmark, static and moving (moving-* ids map onto
# them in `learning_map`: 252 car, 253 bicyclist, 254 person, 255 motorcyclist,
# 256 on-rails, 257 bus and 259 other-vehicle -> other-vehicle, 258 truck).
THING_CLASSES = {10: 'car', 11: 'bicycle', 15: 'motorcycle', 18: 'truck',
                 20: 'other-vehicle', 30: 'person', 31: 'bicyclist', 32: 'motorcyclist',
                 252: 'moving-car', 253: 'moving-bicyclist', 254: 'moving-person',
                 255: 'moving-motorcyclist', 256: 'moving-on-rails', 257: 'moving-bus',
                 258: 'moving-truck', 259: 'moving-other-vehicle'}


def read_labels(path: str | Path, num_points: int | None = None) -> npt.NDArray[np.uint32]:
    """Read a ``.label`` file as (N,) uint32 (split it with :func:`semantic`, :func:`instance`).

    Raises:
        InvalidInputError: if the size is not whole uint32s, or not ``num_points`` of them.

    """
    size = Path(path).stat().st_size
    if size % 4 or (num_points is not None and size != 4 * num_points):
        msg = (f'{path}: {size} bytes is not one uint32 label per point'
               + (f' ({num_points} points)' if num_points is not None else ''))
        raise InvalidInputError(msg)
    return np.fromfile(path, dtype='<u4').astype(np.uint32, copy=False)


def semantic(labels: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    """Raw semantic class id per point (lower 16 bits)."""
    return labels & np.uint32(0xFFFF)


def instance(labels: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    """Instance id per point (upper 16 bits); 0 means none."""
    return labels >> np.uint32(16)
