"""One synchronised frame in, everything the node publishes out (ROS-free).

:class:`ScenePipeline` moves the scan into the output frame, runs the geometry pipeline
(segment, track, relate), projects every tracked object into the camera image (with the
nearest-depth occlusion test) and renders what a person looks at: a per-pixel instance label
image, the camera overlay and a one-paragraph summary. Until a segmentation model refines them
(SAM, a later layer), an object's image mask is the convex hull of its visible projected
points, painted far to near so that a closer object covers a farther one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import time

import cv2
import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.camera import CameraModel
from vlm_seg_ros.core.config import check_ranges, tunable
from vlm_seg_ros.core.pipeline import GeometryConfig, GeometryFrame, GeometryPipeline
from vlm_seg_ros.core.projection import nearest_depth_image, project_points, visible_points
from vlm_seg_ros.core.relations import RelationConfig
from vlm_seg_ros.core.render import OverlayBox, describe, draw_overlay
from vlm_seg_ros.core.segmentation import SegmentationConfig, SegmentedObject
from vlm_seg_ros.core.tracking import Track, TrackerConfig
from vlm_seg_ros.core.transforms import RigidTransform, as_points


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

    def __post_init__(self) -> None:
        """Check every tunable's type and range."""
        check_ranges(self)


@dataclass(frozen=True, kw_only=True)
class SceneConfig:
    """Every tunable of the per-frame pipeline, grouped as the ROS parameters are."""

    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    tracking: TrackerConfig = field(default_factory=TrackerConfig)
    relations: RelationConfig = field(default_factory=RelationConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)

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


@dataclass(frozen=True, eq=False)
class ObjectView:
    """A confirmed track as this frame shows it.

    Attributes:
        track: the track (id, box, label votes, age).
        segment: the scan's object matched to the track; None while it coasts.
        image_box: ``(x, y, width, height)`` pixels of its visible points; None when unseen.
        label_value: its value in the label image, 0 when unseen.

    """

    track: Track
    segment: SegmentedObject | None
    image_box: tuple[int, int, int, int] | None
    label_value: int


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
        description: one paragraph about the scene from geometry.
        relation_evidence: per ``(subject, predicate, object)`` of this frame's relations,
            the number of consecutive frames that had it.
        timings: seconds per stage (geometry stages, ``transform``, ``project``, ``render``).

    """

    points: npt.NDArray[np.float32]
    geometry: GeometryFrame
    objects: tuple[ObjectView, ...]
    labels: npt.NDArray[np.uint16] | None
    overlay: npt.NDArray[np.uint8] | None
    description: str
    relation_evidence: dict[tuple[int, str, int], int]
    timings: dict[str, float]


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

    def reset(self) -> None:
        """Forget every track and relation (e.g. when time jumps back)."""
        self.geometry.tracker.reset()
        self._evidence = {}

    def process(self, points: npt.ArrayLike, stamp: float, *,
                lidar_to_target: RigidTransform | None = None,
                camera: CameraView | None = None,
                intensity: npt.ArrayLike | None = None,
                render_overlay: bool = True) -> SceneFrame:
        """Run the pipeline on one frame.

        Args:
            points: (N, 3) metres, in the LiDAR's frame.
            stamp: the scan's time, seconds.
            lidar_to_target: maps the LiDAR frame into the output frame, which must be
                gravity-aligned (z up); default: the LiDAR frame itself.
            camera: the synchronised image with its calibration and extrinsics, if any.
            intensity: (N,) intensities (for the ground reflection filter).
            render_overlay: draw the overlay image (skip it when nobody listens).

        Raises:
            InvalidInputError: if ``points`` is not (N, 3) numbers.

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
        boxes: dict[int, tuple[int, int, int, int]] = {}
        if camera is not None:
            start = time.perf_counter()
            labels, boxes = self._paint_labels(lidar, frame, camera)
            timings['project'] = time.perf_counter() - start
        objects = tuple(
            ObjectView(track, frame.object_of(track), boxes.get(track.id),
                       label_value_of(track.id) if track.id in boxes else 0)
            for track in frame.tracks)
        start = time.perf_counter()
        if camera is not None and labels is not None and render_overlay:
            overlay = draw_overlay(camera.image, labels, [
                OverlayBox(o.track.id, o.label_value, *o.image_box,
                           f'#{o.track.id} {o.track.label}'.strip())
                for o in objects if o.image_box is not None])
        description = describe(
            [(o.track.id, o.track.label, o.track.box.center, o.track.box.size) for o in objects],
            frame.relations, origin=viewpoint)
        timings['render'] = time.perf_counter() - start
        self._evidence = {
            key: self._evidence.get(key, 0) + 1
            for key in ((r.subject, r.predicate, r.object) for r in frame.relations)}
        return SceneFrame(target, frame, objects, labels, overlay, description,
                          dict(self._evidence), timings)

    def _paint_labels(self, lidar: npt.NDArray[np.floating], frame: GeometryFrame,
                      camera: CameraView) -> tuple[npt.NDArray[np.uint16],
                                                   dict[int, tuple[int, int, int, int]]]:
        config = self.config.camera
        model = camera.camera
        labels = np.zeros((model.image_height, model.image_width), dtype=np.uint16)
        projection = project_points(lidar, model, rectified=config.rectified,
                                    transform=camera.lidar_to_camera)
        depth_image = nearest_depth_image(projection, radius=config.occlusion_radius)
        visible = visible_points(projection, depth_image=depth_image)
        # Per input point: its row in the projection if visible, else -1.
        row = np.full(projection.num_points, -1, dtype=np.int64)
        row[projection.indices[visible]] = np.flatnonzero(visible)
        painted: list[tuple[float, int, npt.NDArray[np.int32]]] = []
        for track in frame.tracks:
            segment = frame.object_of(track)
            if segment is None:
                continue
            rows = row[segment.indices]
            rows = rows[rows >= 0]
            if rows.size < config.min_pixels:
                continue
            painted.append((float(np.median(projection.depth[rows])), track.id,
                            projection.pixels[rows]))
        boxes: dict[int, tuple[int, int, int, int]] = {}
        for _, track_id, pixels in sorted(painted, key=lambda p: -p[0]):
            hull = cv2.convexHull(pixels.reshape(-1, 1, 2))
            cv2.fillConvexPoly(labels, hull, label_value_of(track_id))
            x, y, w, h = cv2.boundingRect(pixels.reshape(-1, 1, 2))
            boxes[track_id] = (int(x), int(y), int(w), int(h))
        return labels, boxes
