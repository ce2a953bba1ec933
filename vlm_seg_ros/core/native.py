"""The compiled kernels of the per-scan geometry, with numpy-typed signatures.

``vlm_seg_ros.core._geometry`` is built from ``src/geometry.cpp`` by CMake (pybind11) when
colcon builds the package. It holds the loops numpy cannot do in a few passes: voxel hashing,
union-find clustering, counting sort, convex hulls. The rules (what is cropped, clustered,
boxed) stay in :mod:`vlm_seg_ros.core.segmentation` and :mod:`vlm_seg_ros.core.boxes`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

try:
    from vlm_seg_ros.core import _geometry
except ImportError as exc:
    msg = ('vlm_seg_ros.core._geometry (compiled from src/geometry.cpp) is missing: build the '
           'package with scripts/setup (then source ./activate), or colcon build on a ROS '
           'install')
    raise ImportError(msg) from exc

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.int64]


def _points(points: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    return np.ascontiguousarray(points, dtype=np.float32)


def crop(points: npt.NDArray[np.floating], origin: Sequence[float] | FloatArray, *,
         min_range: float, max_range: float, min_z: float, max_z: float) -> tuple[
             npt.NDArray[np.bool_], npt.NDArray[np.float32], IndexArray]:
    """Crop (N, 3) points around ``origin`` in one pass, computing in float32.

    Returns which points are kept (finite, horizontal range within ``[min_range,
    max_range]``, height above the origin within ``[min_z, max_z]``), the kept points
    relative to the origin, and their indices.
    """
    origin3 = [float(v) for v in origin]
    kept, local, index = _geometry.crop(_points(points), origin3, min_range, max_range,
                                        min_z, max_z)
    return kept, local, index


def voxel_means(points: npt.NDArray[np.floating], size: Sequence[float]) -> tuple[
        npt.NDArray[np.float32], IndexArray]:
    """Return the mean point of every occupied voxel of ``size`` (x, y, z) and each point's voxel.

    Voxels are numbered in order of their first point. Raises ValueError on non-finite points,
    a non-positive size, or points spanning more than ~2 million voxels along an axis.
    """
    means, member = _geometry.voxel_means(_points(points), [float(v) for v in size])
    return means, member


def voxel_clusters(points: npt.NDArray[np.floating], size: Sequence[float]) -> IndexArray:
    """Label (N, 3) points by connected components of touching voxels (26-neighbourhood).

    Labels are 0..K-1, numbered in order of each component's first point.
    """
    labels: IndexArray = _geometry.voxel_clusters(_points(points), [float(v) for v in size])
    return labels


def split_supported(points: npt.NDArray[np.floating], labels: npt.NDArray[np.integer], *,
                    min_area: float, min_points: int, tolerance: float,
                    vertical_tolerance: float, thickness: float, cell: float, margin: float,
                    share: float, max_footprint: float) -> IndexArray:
    """Run :func:`vlm_seg_ros.core.segmentation.split_supported`'s rule (documented there)."""
    rule = _geometry.SupportRule(min_area=min_area, min_points=min_points, tolerance=tolerance,
                                 vertical_tolerance=vertical_tolerance, thickness=thickness,
                                 cell=cell, margin=margin, share=share,
                                 max_footprint=max_footprint)
    result: IndexArray = _geometry.split_supported(
        _points(points), np.ascontiguousarray(labels, dtype=np.int64), rule)
    return result


def group(labels: npt.NDArray[np.integer], count: int) -> tuple[IndexArray, IndexArray]:
    """Stable counting sort of labels in 0..count-1: the order, and each label's start (K + 1)."""
    order, starts = _geometry.group(np.ascontiguousarray(labels, dtype=np.int64), count)
    return order, starts


def group_boxes(points: npt.NDArray[np.floating], order: IndexArray, starts: IndexArray,
                boxed: IndexArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per group (rows ``order[starts[k]:starts[k + 1]]`` of ``points``): lows, highs, means.

    float32 points are read as they are, others as float64 (map frames need the precision).
    An empty group's lows, highs and means are NaN; ``boxed`` may not name one (ValueError).

    For the groups listed in ``boxed``, also the least-area footprint rectangle around the
    group's x, y: rows of (centre x, centre y, longer side, shorter side, yaw of the longer
    side in (-pi/2, pi/2]).
    """
    if points.dtype != np.float32:
        points = np.ascontiguousarray(points, dtype=np.float64)
    lows, highs, means, rects = _geometry.group_boxes(
        np.ascontiguousarray(points), np.ascontiguousarray(order, dtype=np.int64),
        np.ascontiguousarray(starts, dtype=np.int64), np.ascontiguousarray(boxed, dtype=np.int64))
    return lows, highs, means, rects
