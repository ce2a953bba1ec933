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

from collections.abc import Collection, Mapping, Sequence
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
    """One camera's side of a frame.

    Attributes:
        image: (H, W, 3) uint8 RGB, the size ``camera`` publishes.
        camera: the calibration of that image.
        lidar_to_camera: maps points from the scan's frame (at the scan's stamp) into the
            camera's optical frame (at the image's stamp).
        name: the camera's name (``''``: the one unnamed camera).
        rectified: the image is rectified (project with R and P); None: ``camera.rectified``
            of the configuration.

    """

    image: npt.NDArray[np.uint8]
    camera: CameraModel
    lidar_to_camera: RigidTransform
    name: str = ''
    rectified: bool | None = None

    def is_rectified(self, default: bool) -> bool:
        """Whether to project into the rectified image: the view's own flag, else ``default``."""
        return default if self.rectified is None else self.rectified


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
        camera: the camera that sees it best, whose image ``image_box``, ``lidar_box`` and
            its mask refer to (see :meth:`ScenePipeline.process`); None when unseen.

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
    camera: str | None = None


@dataclass(frozen=True, eq=False)
class CameraImages:
    """What one camera's image shows of a frame.

    Attributes:
        name: the camera's name.
        labels: (H, W) uint16 instance label image, 0 = none: every object the camera sees,
            nearer ones over farther ones (the same value as in every other camera).
        overlay: (H, W, 3) uint8 RGB image with masks, boxes and captions (at most
            ``overlay_max_width`` wide); None when not asked for.

    """

    name: str
    labels: npt.NDArray[np.uint16]
    overlay: npt.NDArray[np.uint8] | None


@dataclass(frozen=True, eq=False)
class SceneFrame:
    """Everything one frame produced.

    Attributes:
        points: (N, 3) float32, the scan in the output frame (row i is input point i).
        geometry: segmentation, tracks and relations (3D quantities in the output frame).
        objects: one view per confirmed track, by id.
        images: per camera of the frame, in its order, its label image and overlay.
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
    images: tuple[CameraImages, ...]
    description: str
    relation_evidence: dict[tuple[int, str, int], int]
    timings: dict[str, float]
    stamp: int = 0
    description_stamp: int = 0

    @property
    def labels(self) -> npt.NDArray[np.uint16] | None:
        """The first camera's label image; None without a camera."""
        return self.images[0].labels if self.images else None

    @property
    def overlay(self) -> npt.NDArray[np.uint8] | None:
        """The first camera's overlay; None without a camera (or when not asked for)."""
        return self.images[0].overlay if self.images else None


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
                cameras: Sequence[CameraView] = (),
                intensity: npt.ArrayLike | None = None,
                render_overlay: bool | Collection[str] = True,
                overlay_max_width: int = 0,
                masks: Mapping[int, TrackMask] | None = None,
                captions: Mapping[int, str] | None = None) -> SceneFrame:
        """Run the pipeline on one frame.

        Every object is projected into every camera, with the depth-buffer occlusion test.
        Each camera's label image and overlay show every object it sees. An object's 2D
        fields (``ObjectView.camera``, ``image_box``, ``lidar_box``) come from the camera that
        sees it best: one whose image border does not cut its box (no side on the border)
        before one that does, then the one with the most visible points; a tie goes to the
        camera listed first. Its model mask refines its points when it was made in that
        camera (a mask is drawn in the camera it was made in). Relations and the summary are
        told from the first camera's viewpoint.

        Args:
            points: (N, 3) metres, in the LiDAR's frame.
            stamp: the scan's time, integer nanoseconds.
            lidar_to_target: maps the LiDAR frame into the output frame, which must be
                gravity-aligned (z up); default: the LiDAR frame itself.
            camera: one camera (the same as ``cameras=(camera,)``).
            cameras: the synchronised cameras, each with its image, calibration and
                extrinsics; names must differ.
            intensity: (N,) intensities (for the ground reflection filter).
            render_overlay: draw the overlays, or those of the cameras named (skip them when
                nobody listens).
            overlay_max_width: draw overlays at most this wide (downscaled; 0: the image's
                size).
            masks: the latest model mask of each track id (used while ``masks.max_age``).
            captions: the vision-language model's caption of each track id.

        Raises:
            InvalidInputError: if ``points`` is not (N, 3) numbers, or ``stamp`` is not
                whole nanoseconds or is absurd (see ``Tracker.update``), or the cameras are
                given twice or share a name.

        """
        views = _cameras(camera, cameras)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        lidar = as_points(points, keep_float32=True)
        to_target = lidar_to_target or RigidTransform.identity()
        # The cloud's own frame (the usual case without TF): a copy, not a matrix product.
        target = (lidar.astype(np.float32) if to_target.is_identity
                  else np.asarray(to_target.apply(lidar), dtype=np.float32))
        origin = to_target.translation
        viewpoint = origin
        if views:
            # The first camera's centre, mapped from the LiDAR frame into the output frame.
            viewpoint = to_target.apply(views[0].lidar_to_camera.inverse().translation[None])[0]
        timings['transform'] = time.perf_counter() - start
        frame = self.geometry.process(target, stamp, sensor_origin=origin,
                                      viewpoint=viewpoint, intensity=intensity)
        timings.update(frame.timings)

        start = time.perf_counter()
        seen = [self._seen(lidar, target, frame, index, view, stamp, masks or {})
                for index, view in enumerate(views)]
        label_images, boxes = zip(*(self._paint(view, sightings)
                                    for view, sightings in zip(views, seen, strict=True)),
                                  strict=True) if views else ((), ())
        best = best_sightings(seen)
        timings['project'] = time.perf_counter() - start
        captions = captions or {}
        objects = tuple(self._view(track, frame.object_of(track), best.get(track.id), views,
                                   boxes, captions.get(track.id, ''))
                        for track in frame.tracks)
        start = time.perf_counter()
        names = {track.id: track.label for track in frame.tracks}
        images = tuple(CameraImages(view.name, labels, draw_overlay(view.image, labels, [
            OverlayBox(track_id, label_value_of(track_id), box,
                       f'#{track_id} {names[track_id]}'.strip())
            for track_id, box in camera_boxes.items()], max_width=overlay_max_width)
            if _wanted(render_overlay, view.name) else None)
            for view, labels, camera_boxes in zip(views, label_images, boxes, strict=True))
        description = describe(
            [(o.track.id, o.track.label, o.track.box.center, o.track.box.size) for o in objects],
            frame.relations, origin=viewpoint)
        timings['render'] = time.perf_counter() - start
        self._evidence = {
            key: self._evidence.get(key, 0) + 1
            for key in ((r.subject, r.predicate, r.object) for r in frame.relations)}
        return SceneFrame(target, frame, objects, images, description,
                          dict(self._evidence), timings, stamp, stamp)

    @staticmethod
    def _view(track: Track, segment: SegmentedObject | None, best: Sighting | None,
              views: Sequence[CameraView], boxes: Sequence[dict[int, PixelBox]],
              caption: str) -> ObjectView:
        indices = segment.indices if segment is not None else np.zeros(0, dtype=np.int64)
        if best is None:
            return ObjectView(track, segment, None, 0, indices, caption=caption)
        refined = best.refined
        return ObjectView(track, segment, boxes[best.camera][track.id], label_value_of(track.id),
                          indices if refined is None else refined,
                          ObjectSource.LIDAR if refined is None else ObjectSource.BOTH,
                          best.lidar_box, caption, views[best.camera].name)

    def _seen(self, lidar: npt.NDArray[np.floating], target: npt.NDArray[np.float32],
              frame: GeometryFrame, index: int, view: CameraView, stamp: int,
              masks: Mapping[int, TrackMask]) -> dict[int, Sighting]:
        """Return how camera ``index`` sees each track it sees (at least ``min_pixels``)."""
        config = self.config.camera
        model = view.camera
        size = (model.image_height, model.image_width)
        projection = project_points(lidar, model, rectified=view.is_rectified(config.rectified),
                                    transform=view.lidar_to_camera)
        depth_image = nearest_depth_image(projection, radius=config.occlusion_radius)
        visible = visible_points(projection, depth_image=depth_image)
        # Per input point: its row in the projection if visible, else -1.
        row = np.full(projection.num_points, -1, dtype=np.int64)
        row[projection.indices[visible]] = np.flatnonzero(visible)
        sightings: dict[int, Sighting] = {}
        for track in frame.tracks:
            segment = frame.object_of(track)
            if segment is None:
                continue
            rows = row[segment.indices]
            seen = rows >= 0
            count = int(np.count_nonzero(seen))
            if count < config.min_pixels:
                continue
            pixels = projection.pixels[rows[seen]]
            box = PixelBox.around(pixels)
            mask = masks.get(track.id)
            placed, refined = self._apply_mask(
                mask if mask is not None and mask.camera == view.name else None, stamp, box,
                size, segment, target, rows, projection.pixels)
            cut = box.x <= 0 or box.y <= 0 or box.x + box.width >= size[1] \
                or box.y + box.height >= size[0]
            sightings[track.id] = Sighting(index, count, cut,
                                        float(np.median(projection.depth[rows[seen]])), box,
                                        pixels, placed, refined)
        return sightings

    @staticmethod
    def _paint(view: CameraView, sightings: Mapping[int, Sighting]
               ) -> tuple[npt.NDArray[np.uint16], dict[int, PixelBox]]:
        """Paint a camera's label image far to near; return it and each track's box in it.

        A track's box is its mask's where a mask is drawn, else its LiDAR box (its visible
        points' convex hull is painted).
        """
        model = view.camera
        labels = np.zeros((model.image_height, model.image_width), dtype=np.uint16)
        boxes: dict[int, PixelBox] = {}
        for track_id, seen in sorted(sightings.items(), key=lambda item: -item[1].depth):
            value = label_value_of(track_id)
            box = seen.mask.box() if seen.mask is not None else None
            if seen.mask is not None and box is not None:
                seen.mask.paint(labels, value)
            else:
                box = seen.lidar_box
                cv2.fillConvexPoly(labels, cv2.convexHull(seen.pixels.reshape(-1, 1, 2)), value)
            boxes[track_id] = box
        return labels, boxes

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


@dataclass(frozen=True, eq=False)
class Sighting:
    """One track as one camera sees it (what chooses the camera that sees it best)."""

    camera: int  # the camera's index in the frame
    count: int  # visible points
    cut: bool  # its LiDAR box touches the image border
    depth: float  # median depth of its visible points, metres
    lidar_box: PixelBox
    pixels: npt.NDArray[np.int32]  # its visible points' pixels
    mask: PlacedMask | None  # its model mask, moved to this frame (the mask's camera only)
    refined: npt.NDArray[np.int64] | None  # the points the mask keeps; None: not refined

    @property
    def rank(self) -> tuple[bool, int, int]:
        """Order of preference: not cut by the border, most points, camera listed first."""
        return not self.cut, self.count, -self.camera


def _cameras(camera: CameraView | None, cameras: Sequence[CameraView]) -> tuple[CameraView, ...]:
    if camera is not None and cameras:
        msg = 'give camera or cameras, not both'
        raise InvalidInputError(msg)
    views = (camera,) if camera is not None else tuple(cameras)
    names = [view.name for view in views]
    if len(set(names)) != len(names):
        msg = f'camera names must differ, got {names}'
        raise InvalidInputError(msg)
    return views


def best_sightings(seen: Sequence[Mapping[int, Sighting]]) -> dict[int, Sighting]:
    """Return, per track, its sighting by the camera that sees it best (``Sighting.rank``)."""
    best: dict[int, Sighting] = {}
    for sightings in seen:
        for track_id, sighting in sightings.items():
            if track_id not in best or sighting.rank > best[track_id].rank:
                best[track_id] = sighting
    return best


def _wanted(render: bool | Collection[str], camera: str) -> bool:
    """Return whether ``render`` (all, none, or the cameras named) asks for ``camera``."""
    return render if isinstance(render, bool) else camera in render
