"""One synchronised frame in, everything the node publishes out (ROS-free).

:class:`ScenePipeline` moves the scan into the output frame, runs the geometry pipeline
(segment, track, relate), projects every tracked object into the camera image (with the
nearest-depth occlusion test) and renders what a person looks at: a per-pixel instance label
image, the camera overlay and a one-paragraph summary. An object's image mask is the mask a
segmentation model gave its track (moved to the track's current image box; see
:mod:`vlm_seg_ros.core.semantics`), which also refines its points, or else the convex hull of
its visible projected points. Masks are painted far to near, so a closer object covers a
farther one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
import time

import cv2
import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.camera import CameraModel
from vlm_seg_ros.core.config import check_ranges, tunable
from vlm_seg_ros.core.pipeline import GeometryConfig, GeometryFrame, GeometryPipeline
from vlm_seg_ros.core.pixels import PixelBox
from vlm_seg_ros.core.projection import nearest_depth_image, project_points, visible_points
from vlm_seg_ros.core.relations import RelationConfig
from vlm_seg_ros.core.render import OverlayBox, describe, draw_overlay
from vlm_seg_ros.core.segmentation import SegmentationConfig, SegmentedObject
from vlm_seg_ros.core.semantics import (
    LabelConfig,
    MaskConfig,
    PlacedMask,
    PromptConfig,
    TrackMask,
    refine_points,
    warp_mask,
)
from vlm_seg_ros.core.stamps import seconds_to_ns
from vlm_seg_ros.core.tracking import Track, TrackerConfig
from vlm_seg_ros.core.transforms import RigidTransform, as_points
from vlm_seg_ros.errors import InvalidInputError

# How camera images arrive (camera.transport).
TRANSPORTS = ('raw', 'compressed')


@dataclass(frozen=True, kw_only=True)
class CameraConfig:
    """How the camera is used."""

    enabled: bool = tunable(
        True, 'synchronise image + camera_info with the points; false: every scan is a frame '
        'and the image outputs stay silent (LiDAR only)')
    rectified: bool = tunable(
        False, 'the image topic carries rectified images (project with CameraInfo R and P); '
        'false: raw images (K and the distortion D)')
    min_pixels: int = tunable(
        3, 'visible projected points an object needs to get a 2D box and a mask',
        minimum=1, maximum=1000)
    occlusion_radius: int = tunable(
        3, 'pixels around a projected point that its depth occludes (about half the gap '
        'between LiDAR rings in the image)', minimum=0, maximum=50)
    transport: str = tunable(
        'raw', 'how images arrive: raw (sensor_msgs/Image on image) or compressed '
        "(sensor_msgs/CompressedImage, JPEG or PNG, on the image topic's /compressed, as "
        "image_transport's compressed plugin publishes it); read when the node is configured")

    def __post_init__(self) -> None:
        """Check every tunable's type and range."""
        check_ranges(self)
        if self.transport not in TRANSPORTS:
            msg = f'camera.transport is {self.transport!r}; use one of {", ".join(TRANSPORTS)}'
            raise InvalidInputError(msg)


@dataclass(frozen=True, kw_only=True)
class SceneConfig:
    """Every tunable of the per-frame pipeline, grouped as the ROS parameters are."""

    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    tracking: TrackerConfig = field(default_factory=TrackerConfig)
    relations: RelationConfig = field(default_factory=RelationConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    masks: MaskConfig = field(default_factory=MaskConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    prompts: PromptConfig = field(default_factory=PromptConfig)

    @property
    def geometry(self) -> GeometryConfig:
        """The geometry pipeline's part."""
        return GeometryConfig(segmentation=self.segmentation, tracking=self.tracking,
                              relations=self.relations)


@dataclass(frozen=True, eq=False)
class CameraView:
    """The camera side of a frame.

    Attributes:
        image: (H, W, 3) uint8 RGB, the size ``camera`` publishes.
        camera: the calibration of that image.
        lidar_to_camera: maps points from the scan's frame (at the scan's stamp) into the
            camera's optical frame (at the image's stamp).

    """

    image: npt.NDArray[np.uint8]
    camera: CameraModel
    lidar_to_camera: RigidTransform


class ObjectSource(StrEnum):
    """What an object's points come from."""

    LIDAR = 'lidar'  # a LiDAR cluster
    BOTH = 'both'  # a LiDAR cluster refined by a segmentation model's image mask


@dataclass(frozen=True, eq=False)
class ObjectView:
    """A confirmed track as this frame shows it.

    Attributes:
        track: the track (id, box, label votes, age).
        segment: the scan's object matched to the track; None while it coasts.
        image_box: the pixels of its mask; None when unseen.
        label_value: its value in the label image, 0 when unseen.
        indices: its points in the scan: the segment's, refined by a mask when it has one;
            empty while it coasts.
        source: a cluster (``LIDAR``), or a cluster refined by an image mask (``BOTH``).
        lidar_box: the pixels of its visible LiDAR points (the box
            prompt and the reference a mask is stored with); None when unseen.
        caption: a short caption from the vision-language model, '' until there is one.

    """

    track: Track
    segment: SegmentedObject | None
    image_box: PixelBox | None
    label_value: int
    indices: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64))
    source: ObjectSource = ObjectSource.LIDAR
    lidar_box: PixelBox | None = None
    caption: str = ''


@dataclass(frozen=True, eq=False)
class SceneFrame:
    """Everything one frame produced.

    Attributes:
        points: (N, 3) float32, the scan in the output frame (row i is input point i).
        geometry: segmentation, tracks and relations (3D quantities in the output frame).
        objects: one view per confirmed track, by id.
        labels: (H, W) uint16 instance label image, 0 = none; None without a camera.
        overlay: (H, W, 3) uint8 RGB camera image with masks, boxes and captions; None
            without a camera (or when not asked for).
        description: one paragraph about the scene: from geometry, or the latest from the
            vision-language model (see ``description_stamp``).
        relation_evidence: per ``(subject, predicate, object)`` of this frame's relations,
            the number of consecutive frames that had it.
        timings: seconds per stage (geometry stages, ``transform``, ``project``, ``render``).
        stamp: the scan's stamp, integer nanoseconds.
        description_stamp: stamp (ns) of the frame ``description`` describes.

    """

    points: npt.NDArray[np.float32]
    geometry: GeometryFrame
    objects: tuple[ObjectView, ...]
    labels: npt.NDArray[np.uint16] | None
    overlay: npt.NDArray[np.uint8] | None
    description: str
    relation_evidence: dict[tuple[int, str, int], int]
    timings: dict[str, float]
    stamp: int = 0
    description_stamp: int = 0


def label_value_of(object_id: int) -> int:
    """Return the label-image value of a track id: the id itself, wrapped into 1..65535."""
    return (object_id - 1) % 65535 + 1


class ScenePipeline:
    """Turn synchronised frames into scene frames; keeps the tracks between calls."""

    def __init__(self, config: SceneConfig | None = None) -> None:
        """Create the stages (see :class:`SceneConfig`)."""
        self.config = config or SceneConfig()
        self.geometry = GeometryPipeline(self.config.geometry)
        self._evidence: dict[tuple[int, str, int], int] = {}

    def reconfigure(self, config: SceneConfig) -> None:
        """Use new ``masks.*``, ``labels.*`` and ``prompts.*`` from the next frame on.

        Raises:
            InvalidInputError: if the geometry or camera settings differ: those need a new
                pipeline (new tracks).

        """
        if config.geometry != self.config.geometry or config.camera != self.config.camera:
            msg = 'segmentation, tracking, relations and camera changes need a new ScenePipeline'
            raise InvalidInputError(msg)
        self.config = config

    def reset(self) -> None:
        """Forget every track and relation (e.g. when time jumps back)."""
        self.geometry.tracker.reset()
        self._evidence = {}

    def process(self, points: npt.ArrayLike, stamp: int, *,
                lidar_to_target: RigidTransform | None = None,
                camera: CameraView | None = None,
                intensity: npt.ArrayLike | None = None,
                render_overlay: bool = True,
                overlay_max_width: int = 0,
                masks: Mapping[int, TrackMask] | None = None,
                captions: Mapping[int, str] | None = None) -> SceneFrame:
        """Run the pipeline on one frame.

        Args:
            points: (N, 3) metres, in the LiDAR's frame.
            stamp: the scan's time, integer nanoseconds.
            lidar_to_target: maps the LiDAR frame into the output frame, which must be
                gravity-aligned (z up); default: the LiDAR frame itself.
            camera: the synchronised image with its calibration and extrinsics, if any.
            intensity: (N,) intensities (for the ground reflection filter).
            render_overlay: draw the overlay image (skip it when nobody listens).
            overlay_max_width: draw the overlay at most this wide (downscaled; 0: the
                image's size).
            masks: the latest model mask of each track id (used while ``masks.max_age``).
            captions: the vision-language model's caption of each track id.

        Raises:
            InvalidInputError: if ``points`` is not (N, 3) numbers, or ``stamp`` is not
                whole nanoseconds or is absurd (see ``Tracker.update``).

        """
        timings: dict[str, float] = {}
        start = time.perf_counter()
        lidar = as_points(points, keep_float32=True)
        to_target = lidar_to_target or RigidTransform.identity()
        target = np.asarray(to_target.apply(lidar), dtype=np.float32)
        origin = to_target.translation
        viewpoint = origin
        if camera is not None:
            # The camera's centre, mapped from the LiDAR frame into the output frame.
            viewpoint = to_target.apply(camera.lidar_to_camera.inverse().translation[None])[0]
        timings['transform'] = time.perf_counter() - start
        frame = self.geometry.process(target, stamp, sensor_origin=origin,
                                      viewpoint=viewpoint, intensity=intensity)
        timings.update(frame.timings)

        labels = overlay = None
        painted: dict[int, _Painted] = {}
        if camera is not None:
            start = time.perf_counter()
            labels, painted = self._paint_labels(lidar, target, frame, camera, stamp,
                                                 masks or {})
            timings['project'] = time.perf_counter() - start
        captions = captions or {}
        objects = tuple(self._view(track, frame.object_of(track), painted.get(track.id),
                                   captions.get(track.id, ''))
                        for track in frame.tracks)
        start = time.perf_counter()
        if camera is not None and labels is not None and render_overlay:
            overlay = draw_overlay(camera.image, labels, [
                OverlayBox(o.track.id, o.label_value, o.image_box,
                           f'#{o.track.id} {o.track.label}'.strip())
                for o in objects if o.image_box is not None], max_width=overlay_max_width)
        description = describe(
            [(o.track.id, o.track.label, o.track.box.center, o.track.box.size) for o in objects],
            frame.relations, origin=viewpoint)
        timings['render'] = time.perf_counter() - start
        self._evidence = {
            key: self._evidence.get(key, 0) + 1
            for key in ((r.subject, r.predicate, r.object) for r in frame.relations)}
        return SceneFrame(target, frame, objects, labels, overlay, description,
                          dict(self._evidence), timings, stamp, stamp)

    @staticmethod
    def _view(track: Track, segment: SegmentedObject | None, painted: _Painted | None,
              caption: str) -> ObjectView:
        indices = segment.indices if segment is not None else np.zeros(0, dtype=np.int64)
        if painted is None:
            return ObjectView(track, segment, None, 0, indices, caption=caption)
        if painted.indices is not None:
            indices = painted.indices
        return ObjectView(track, segment, painted.image_box, label_value_of(track.id),
                          indices, ObjectSource.BOTH if painted.indices is not None
                          else ObjectSource.LIDAR,
                          painted.lidar_box, caption)

    def _paint_labels(self, lidar: npt.NDArray[np.floating], target: npt.NDArray[np.float32],
                      frame: GeometryFrame, camera: CameraView, stamp: int,
                      masks: Mapping[int, TrackMask]) -> tuple[npt.NDArray[np.uint16],
                                                               dict[int, _Painted]]:
        config = self.config.camera
        model = camera.camera
        size = (model.image_height, model.image_width)
        labels = np.zeros(size, dtype=np.uint16)
        projection = project_points(lidar, model, rectified=config.rectified,
                                    transform=camera.lidar_to_camera)
        depth_image = nearest_depth_image(projection, radius=config.occlusion_radius)
        visible = visible_points(projection, depth_image=depth_image)
        # Per input point: its row in the projection if visible, else -1.
        row = np.full(projection.num_points, -1, dtype=np.int64)
        row[projection.indices[visible]] = np.flatnonzero(visible)
        layers: list[tuple[float, int, PlacedMask | None, npt.NDArray[np.int32],
                           _Painted]] = []
        for track in frame.tracks:
            segment = frame.object_of(track)
            if segment is None:
                continue
            rows = row[segment.indices]
            seen = rows >= 0
            if np.count_nonzero(seen) < config.min_pixels:
                continue
            pixels = projection.pixels[rows[seen]]
            lidar_box = PixelBox.around(pixels)
            mask, refined = self._apply_mask(masks.get(track.id), stamp, lidar_box, size,
                                             segment, target, rows, projection.pixels)
            depth = float(np.median(projection.depth[rows[seen]]))
            layers.append((depth, track.id, mask, pixels,
                           _Painted(lidar_box, lidar_box, refined)))
        painted: dict[int, _Painted] = {}
        for _, track_id, mask, pixels, info in sorted(layers, key=lambda p: -p[0]):
            value = label_value_of(track_id)
            box = mask.box() if mask is not None else None
            if mask is not None and box is not None:
                mask.paint(labels, value)
                info = _Painted(box, info.lidar_box, info.indices)
            else:
                cv2.fillConvexPoly(labels, cv2.convexHull(pixels.reshape(-1, 1, 2)), value)
            painted[track_id] = info
        return labels, painted

    def _apply_mask(self, mask: TrackMask | None, stamp: int,
                    lidar_box: PixelBox, size: tuple[int, int],
                    segment: SegmentedObject, target: npt.NDArray[np.float32],
                    rows: npt.NDArray[np.int64], pixels: npt.NDArray[np.int32]
                    ) -> tuple[PlacedMask | None, npt.NDArray[np.int64] | None]:
        """Return a track's mask moved to this frame and the points it keeps, or Nones.

        ``rows`` are the segment points' rows in the projection (-1: not visible).
        """
        config = self.config.masks
        if mask is None or not 0 <= stamp - mask.stamp <= seconds_to_ns(config.max_age):
            return None, None
        placed = warp_mask(mask, lidar_box, size)
        if placed is None:
            return None, None
        seen = rows >= 0
        segment_pixels = np.zeros((segment.num_points, 2), dtype=np.int64)
        segment_pixels[seen] = pixels[rows[seen]]
        kept = refine_points(target[segment.indices], segment_pixels, seen, placed,
                             erosion=config.erosion,
                             tolerance=self.config.segmentation.cluster_tolerance)
        if kept.size == 0 or kept.size < config.min_keep * segment.num_points:
            return None, None
        return placed, segment.indices[kept]


@dataclass(frozen=True)
class _Painted:
    image_box: PixelBox
    lidar_box: PixelBox
    indices: npt.NDArray[np.int64] | None  # refined by a mask; None: not refined
