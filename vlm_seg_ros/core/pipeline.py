"""The per-scan geometry pipeline: segmentation, then tracking, then spatial relations.

This is what runs on every LiDAR scan with no model weights. Its configuration,
:class:`GeometryConfig`, is the tree of tunables a node exposes as ROS parameters
(``segmentation.*``, ``segmentation.ground.*``, ``tracking.*``, ``relations.*``; see
:func:`vlm_seg_ros.core.config.parameter_specs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import time

import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.relations import Relation, RelationConfig, spatial_relations
from vlm_seg_ros.core.segmentation import (
    Segmentation,
    SegmentationConfig,
    SegmentedObject,
    Segmenter,
)
from vlm_seg_ros.core.tracking import Track, Tracker, TrackerConfig


@dataclass(frozen=True, kw_only=True)
class GeometryConfig:
    """Every tunable of the geometry pipeline, grouped as the ROS parameters are."""

    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    tracking: TrackerConfig = field(default_factory=TrackerConfig)
    relations: RelationConfig = field(default_factory=RelationConfig)


@dataclass(frozen=True, eq=False)
class GeometryFrame:
    """What one scan produced.

    Attributes:
        segmentation: the scan's ground mask, objects and per-point labels.
        tracks: confirmed tracks, by id; ``track.detection`` indexes ``segmentation.objects``
            (None while a track coasts through an occlusion).
        relations: relations between the confirmed tracks, by track id.
        timings: seconds per stage: the segmentation's stages, ``tracking``, ``relations``.

    """

    segmentation: Segmentation
    tracks: tuple[Track, ...]
    relations: tuple[Relation, ...]
    timings: dict[str, float]

    def object_of(self, track: Track) -> SegmentedObject | None:
        """Return the segmented object a track was matched to in this scan, if any."""
        if track.detection is None:
            return None
        return self.segmentation.objects[track.detection]


class GeometryPipeline:
    """Segment, track and relate, scan after scan."""

    def __init__(self, config: GeometryConfig | None = None) -> None:
        """Create the stages (see :class:`GeometryConfig`)."""
        self.config = config or GeometryConfig()
        self.segmenter = Segmenter(self.config.segmentation)
        self.tracker = Tracker(self.config.tracking)

    def process(self, points: npt.ArrayLike, stamp: int, *,
                sensor_origin: npt.ArrayLike = (0.0, 0.0, 0.0),
                viewpoint: npt.ArrayLike | None = None,
                intensity: npt.ArrayLike | None = None) -> GeometryFrame:
        """Run the pipeline on one scan.

        Args:
            points: (N, 3) points in a gravity-aligned frame (z up).
            stamp: the scan's time, integer nanoseconds.
            sensor_origin: the LiDAR's position in that frame.
            viewpoint: the observer for directional relations (the camera); default: the
                LiDAR.
            intensity: (N,) intensities, used only by the ground reflection filter.

        """
        segmentation = self.segmenter.segment(points, intensity=intensity,
                                              sensor_origin=sensor_origin)
        timings = dict(segmentation.timings)
        start = time.perf_counter()
        tracks = self.tracker.update([o.box for o in segmentation.objects], stamp)
        timings['tracking'] = time.perf_counter() - start
        start = time.perf_counter()
        relations = spatial_relations(
            [track.box for track in tracks], ids=[track.id for track in tracks],
            viewpoint=np.asarray(sensor_origin if viewpoint is None else viewpoint),
            config=self.config.relations)
        timings['relations'] = time.perf_counter() - start
        return GeometryFrame(segmentation, tuple(tracks), tuple(relations), timings)
