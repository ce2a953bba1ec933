"""Geometric segmentation of a LiDAR scan into objects, with no learned model.

Stages, each a function of numpy arrays:

1. crop: finite points within a horizontal range and a height band around the sensor;
2. voxel downsampling (optional): one point per occupied voxel, the mean of its points;
3. ground removal: Patchwork++ (:mod:`vlm_seg_ros.core.ground`), bin by bin, so slopes work;
4. Euclidean clustering of the rest: connected components of occupied voxels of the cluster
   tolerance's size (two points closer than the tolerance always share a cluster);
5. filters on point count and size; per object its point indices into the *input* cloud,
   centroid, axis-aligned box and yaw-oriented gravity-aligned box.

Frames: the input points are in a gravity-aligned frame (z up); ``sensor_origin`` is where
the LiDAR is in that frame (the origin for a cloud in the LiDAR's own, level frame).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
import time

import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core import native
from vlm_seg_ros.core.boxes import AxisAlignedBox, OrientedBox, box_from_rect
from vlm_seg_ros.core.config import check_ranges, tunable
from vlm_seg_ros.core.ground import GroundConfig, GroundSegmenter
from vlm_seg_ros.core.transforms import as_points
from vlm_seg_ros.errors import InvalidInputError

IndexArray = npt.NDArray[np.int64]


@dataclass(frozen=True, kw_only=True)
class SegmentationConfig:
    """Tunables of geometric segmentation (ROS parameters ``segmentation.*``)."""

    min_range: float = tunable(
        0.5, 'Ignore points nearer to the sensor than this (horizontal distance), metres; '
        'removes hits on the robot itself. Also the inner radius of the ground zones.',
        minimum=0.0, maximum=100.0)
    max_range: float = tunable(
        80.0, 'Ignore points farther from the sensor than this (horizontal distance), metres.',
        minimum=0.1, maximum=1000.0)
    min_z: float = tunable(
        -4.0, 'Ignore points lower than this relative to the sensor, metres.',
        minimum=-100.0, maximum=100.0)
    max_z: float = tunable(
        3.0, 'Ignore points higher than this relative to the sensor, metres '
        '(tree canopies, ceilings).', minimum=-100.0, maximum=100.0)
    voxel_size: float = tunable(
        0.0, 'Edge of the downsampling voxel, metres; 0 keeps every point. Every stage then '
        'works on voxel means. Measured on one core at 0.1: a 128 x 2048 scan 42 -> 21 ms (the '
        'voxel step 5 ms), a 262k-point unorganised one barely faster (the step 15 ms).',
        minimum=0.0, maximum=1.0)
    cluster_tolerance: float = tunable(
        0.25, 'Horizontal clustering distance: points closer than this always join one '
        'object, points up to twice this apart per axis may (voxel connectivity), metres.',
        minimum=0.02, maximum=5.0)
    cluster_vertical_tolerance: float = tunable(
        0.5, 'Vertical clustering distance, metres. Larger than the horizontal one because '
        'a spinning LiDAR samples densely along a ring and sparsely between rings (0.4 deg '
        'apart on an HDL-64E: 0.25 m at 35 m range).', minimum=0.02, maximum=5.0)
    min_points: int = tunable(
        10, 'Smallest object, in points of the input cloud.', minimum=1)
    max_points: int = tunable(
        200000, 'Largest object, in points of the input cloud.', minimum=1)
    min_extent: float = tunable(
        0.0, 'Smallest object: its largest box side must reach this, metres.',
        minimum=0.0, maximum=100.0)
    max_extent: float = tunable(
        20.0, 'Largest object: its longer horizontal box side must stay within this, '
        'metres (drops walls, hedges and building fronts).', minimum=0.0, maximum=1000.0)
    max_height: float = tunable(
        6.0, 'Largest object height (box z extent), metres.', minimum=0.0, maximum=100.0)
    split_supported: bool = tunable(
        True, 'Separate objects resting on a flat horizontal surface (a table top, a shelf) '
        'from the cluster of that surface, so that "on" relations can be found.')
    support_min_area: float = tunable(
        0.25, 'Smallest flat horizontal surface that supports objects, square metres '
        '(smaller flat tops, e.g. shoulders, are left alone).', minimum=0.0, maximum=100.0)
    ground: GroundConfig = field(default_factory=GroundConfig)

    def __post_init__(self) -> None:
        """Check every tunable's range and the pairs that must be ordered."""
        check_ranges(self)
        if self.min_range >= self.max_range:
            msg = (f'SegmentationConfig.min_range = {self.min_range} must be below '
                   f'max_range = {self.max_range}')
            raise InvalidInputError(msg)
        for low, high in (('min_z', 'max_z'),
                          ('min_points', 'max_points'), ('min_extent', 'max_extent')):
            if getattr(self, low) > getattr(self, high):
                msg = (f'SegmentationConfig.{low} = {getattr(self, low)} exceeds '
                       f'{high} = {getattr(self, high)}')
                raise InvalidInputError(msg)


@dataclass(frozen=True, eq=False)
class SegmentedObject:
    """One object of a scan.

    Attributes:
        indices: sorted indices of the object's points in the input cloud (read-only).
        centroid: (3,) mean of those points.
        aabb: axis-aligned box of the points.
        box: yaw-oriented gravity-aligned box of the points (least footprint area).

    """

    indices: IndexArray
    centroid: npt.NDArray[np.float64]
    aabb: AxisAlignedBox
    box: OrientedBox

    @property
    def num_points(self) -> int:
        """Number of the object's points in the input cloud."""
        return len(self.indices)


@dataclass(frozen=True, eq=False)
class Segmentation:
    """The result of one scan; every mask and label array has one entry per input point.

    Attributes:
        objects: the objects that passed the filters, largest first.
        kept: points that are finite and inside the range and height crop.
        ground: points classified as ground (a subset of ``kept``).
        labels: index into ``objects`` per point, -1 for none (ground, cropped, filtered).
        timings: seconds per stage (``crop``, ``voxel``, ``ground``, ``cluster``,
            ``objects``).

    """

    objects: tuple[SegmentedObject, ...]
    kept: npt.NDArray[np.bool_]
    ground: npt.NDArray[np.bool_]
    labels: npt.NDArray[np.int32]
    timings: dict[str, float]

    @property
    def obstacles(self) -> npt.NDArray[np.bool_]:
        """Points in the crop that are not ground (what a costmap's obstacle layer wants)."""
        return self.kept & ~self.ground


def crop_mask(points: npt.NDArray[np.floating], config: SegmentationConfig) -> npt.NDArray[
        np.bool_]:
    """Return which (N, 3) points, relative to the sensor, are finite and inside the crop."""
    return _crop(points, (0.0, 0.0, 0.0), config)[0]


def _crop(points: npt.NDArray[np.floating], origin: Sequence[float] | npt.NDArray[np.float64],
          config: SegmentationConfig) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float32],
                                               IndexArray]:
    """Crop in float32 (the precision LiDAR drivers publish); NaN and inf are cropped too.

    Returns the mask, the kept points relative to ``origin``, and their indices.
    """
    return native.crop(points, origin,
                       min_range=config.min_range, max_range=config.max_range,
                       min_z=config.min_z, max_z=config.max_z)


def voxel_downsample(points: npt.NDArray[np.floating], voxel_size: float) -> tuple[
        npt.NDArray[np.floating], IndexArray]:
    """Return the mean point of each occupied voxel and, per input point, its voxel's index.

    Voxels are numbered in order of their first point; means are float32.
    """
    return native.voxel_means(points, (voxel_size,) * 3)


def euclidean_clusters(points: npt.NDArray[np.floating], tolerance: float,
                       vertical_tolerance: float | None = None) -> npt.NDArray[np.int64]:
    """Label (N, 3) points by connected components of touching voxels.

    Voxels are ``tolerance`` wide and ``vertical_tolerance`` (default: ``tolerance``) high, and
    touch when they share a face, edge or corner. Two points closer than the tolerances (per
    axis) are in the same or touching voxels, so they always share a label; points in touching
    voxels can be up to twice the tolerances apart per axis.
    Returns one label per point, 0..K-1, numbered in order of each cluster's first point.
    """
    return native.voxel_clusters(points, (tolerance, tolerance, vertical_tolerance or tolerance))


# Support surfaces: a surface is the densest horizontal layer of a cluster, this thick (m);
# footprints are compared on a grid of this cell (m).
SURFACE_THICKNESS = 0.05
SURFACE_CELL = 0.1
# Points this far above the surface's median height rest on it (m): over the LiDAR's noise.
SURFACE_MARGIN = 0.03
# What rests on a surface: at least this share of its points lies over the surface's footprint
# (grown by one cell), and its footprint is at most this share of the surface's.
SUPPORTED_SHARE = 0.9
SUPPORTED_MAX_FOOTPRINT = 0.5


def split_supported(points: npt.NDArray[np.floating], labels: npt.NDArray[np.int64], *,
                    min_area: float, min_points: int, tolerance: float,
                    vertical_tolerance: float) -> npt.NDArray[np.int64]:
    """Give what rests on a flat horizontal surface its own cluster labels.

    Euclidean clustering joins a cup to the table it stands on. As in PCL's tabletop
    segmentation (a support plane, then the points in the prism above its hull), each cluster's
    densest horizontal layer (``2 * SURFACE_THICKNESS`` thick) is a candidate surface. It
    supports objects when its footprint covers ``min_area`` and the points more than
    ``SURFACE_MARGIN`` above its median height (at least ``min_points``) lie over that footprint
    (``SUPPORTED_SHARE``) and cover at most ``SUPPORTED_MAX_FOOTPRINT`` of it. A car's cabin
    reaches beyond its bonnet and a person's head sits on no flat surface wide enough, so
    neither is split. The points above are clustered again with the same tolerances; each
    part of at least ``min_points`` and ``SURFACE_MARGIN`` tall gets a new label, smaller or
    flat ones stay with the surface.

    Args:
        points: (N, 3) non-ground points, z up, metres.
        labels: (N,) cluster label per point, 0..K-1.
        min_area: smallest supporting footprint, square metres.
        min_points: fewest points above a surface worth separating.
        tolerance: horizontal clustering tolerance, metres.
        vertical_tolerance: vertical clustering tolerance, metres.

    Returns:
        (N,) labels: the input's, with separated parts numbered from K on (in cluster order,
        then part order). The loops are compiled (``src/geometry.cpp``); coordinates are read
        as float32.

    """
    return native.split_supported(points, labels, min_area=min_area, min_points=min_points,
                                  tolerance=tolerance, vertical_tolerance=vertical_tolerance,
                                  thickness=SURFACE_THICKNESS, cell=SURFACE_CELL,
                                  margin=SURFACE_MARGIN, share=SUPPORTED_SHARE,
                                  max_footprint=SUPPORTED_MAX_FOOTPRINT)


class Segmenter:
    """Segment scans into objects (stateless: each scan is segmented on its own)."""

    def __init__(self, config: SegmentationConfig | None = None) -> None:
        """Create a segmenter (see :class:`SegmentationConfig` for the tunables).

        Raises:
            MissingDependencyError: when Patchwork++ is not installed.

        """
        self.config = config or SegmentationConfig()
        self._ground = GroundSegmenter(self.config.ground, min_range=self.config.min_range,
                                       max_range=self.config.max_range)

    def segment(self, points: npt.ArrayLike, *, intensity: npt.ArrayLike | None = None,
                sensor_origin: npt.ArrayLike = (0.0, 0.0, 0.0)) -> Segmentation:
        """Segment one scan.

        Args:
            points: (N, 3) points in a gravity-aligned frame (z up); NaN/inf rows are ignored.
            intensity: (N,) intensities, needed only with ``ground.reflection_filter``.
            sensor_origin: the LiDAR's position in the points' frame.

        Raises:
            InvalidInputError: on points of the wrong shape or type, or a bad origin.

        """
        # One contiguous copy at most (a driver's x, y, z are often a strided view of wider
        # points); the compiled stages then read it in place.
        xyz = np.ascontiguousarray(as_points(points, keep_float32=True))
        origin = np.asarray(sensor_origin, dtype=np.float64).reshape(-1)
        if origin.shape != (3,) or not np.isfinite(origin).all():
            msg = f'sensor_origin must be 3 finite numbers, got {sensor_origin!r}'
            raise InvalidInputError(msg)
        config = self.config
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        # 1. Crop, relative to the sensor.
        kept, local, kept_index = _crop(xyz, origin, config)
        clock = _lap(timings, 'crop', clock)

        # 2. Voxels: work on one mean point per voxel; `member` maps kept points to them.
        if config.voxel_size > 0 and len(local):
            work, member = voxel_downsample(local, config.voxel_size)
        else:
            work, member = local, None
        clock = _lap(timings, 'voxel', clock)

        # 3. Ground.
        work_intensity = None
        if intensity is not None and config.ground.reflection_filter:
            values = np.asarray(intensity, dtype=np.float32).reshape(-1)
            if len(values) != len(xyz):
                msg = f'intensity has {len(values)} values for {len(xyz)} points'
                raise InvalidInputError(msg)
            work_intensity = values[kept_index]
            if member is not None:
                work_intensity = (np.bincount(member, weights=work_intensity)
                                  / np.bincount(member)).astype(np.float32)
        work_ground = self._ground.ground_mask(work, work_intensity)
        clock = _lap(timings, 'ground', clock)

        # 4. Clusters of the non-ground points.
        above = np.flatnonzero(~work_ground)
        work_labels = np.full(len(work), -1, dtype=np.int64)
        work_labels[above] = euclidean_clusters(
            work[above], config.cluster_tolerance, config.cluster_vertical_tolerance)
        if config.split_supported and len(above):
            work_labels[above] = split_supported(
                work[above], work_labels[above], min_area=config.support_min_area,
                min_points=config.min_points, tolerance=config.cluster_tolerance,
                vertical_tolerance=config.cluster_vertical_tolerance)
        point_labels = work_labels if member is None else work_labels[member]
        point_ground = work_ground if member is None else work_ground[member]
        clock = _lap(timings, 'cluster', clock)

        # 5. Objects: group kept points by cluster, filter, measure.
        objects, object_of_cluster = self._objects(xyz, kept_index, point_labels)
        labels = np.full(len(xyz), -1, dtype=np.int32)
        clustered = point_labels >= 0
        labels[kept_index[clustered]] = object_of_cluster[point_labels[clustered]]
        ground = np.zeros(len(xyz), dtype=bool)
        ground[kept_index] = point_ground
        _lap(timings, 'objects', clock)
        return Segmentation(objects, kept, ground, labels, timings)

    def _objects(self, xyz: npt.NDArray[np.floating], kept_index: IndexArray,
                 point_labels: IndexArray) -> tuple[tuple[SegmentedObject, ...], IndexArray]:
        """Group kept points by cluster label; return the objects and cluster -> object map."""
        config = self.config
        clustered = np.flatnonzero(point_labels >= 0)
        num_clusters = int(point_labels.max()) + 1 if len(clustered) else 0
        object_of_cluster = np.full(num_clusters, -1, dtype=np.int64)
        if not num_clusters:
            return (), object_of_cluster
        order, starts = native.group(point_labels[clustered], num_clusters)
        counts = np.diff(starts)
        candidates = np.flatnonzero((counts >= config.min_points)
                                    & (counts <= config.max_points))
        # Largest first: stable order makes results reproducible and big objects come first.
        candidates = candidates[np.argsort(-counts[candidates], kind='stable')]
        # Within a cluster the indices ascend: `clustered` ascends and the sort is stable.
        sorted_index = kept_index[clustered[order]]
        lows, highs, means, rects = native.group_boxes(xyz, sorted_index, starts, candidates)
        for array in (lows, highs, means):
            array.flags.writeable = False
        objects: list[SegmentedObject] = []
        for label, rect in zip(candidates, rects, strict=True):
            start, stop = starts[label], starts[label + 1]
            box = box_from_rect(rect, lows[label, 2], highs[label, 2])
            if (box.size[0] > config.max_extent or box.size[2] > config.max_height
                    or max(box.size[0], box.size[2]) < config.min_extent):
                continue
            indices = sorted_index[start:stop]
            object_of_cluster[label] = len(objects)
            objects.append(SegmentedObject(indices, means[label], AxisAlignedBox.trusted(
                lows[label], highs[label]), box))
        sorted_index.flags.writeable = False
        return tuple(objects), object_of_cluster


def _lap(timings: dict[str, float], stage: str, since: float) -> float:
    now = time.perf_counter()
    timings[stage] = now - since
    return now
