"""How learned results attach to tracks: image masks that refine clusters, labels by policy.

ROS-free and model-free (numpy + OpenCV). Models run late (seconds on a CPU), so their results
are kept per track id and reused on later frames:

- A **mask** is stored with the track's LiDAR image box of the frame it was computed on. On a
  later frame it is moved and scaled from that box to the track's current box
  (:func:`warp_mask`), so it follows the object as the robot moves, until it is older than
  ``masks.max_age`` or the box changed scale by more than 2x. It refines the object's points
  (:func:`refine_points`): visible points outside the eroded mask are dropped (hidden points,
  occluded by the depth test or outside the image, are kept: the mask says nothing about
  them), then the largest 3D-connected component is kept. A mask that keeps less than
  ``masks.min_keep`` of the cluster disagrees with the LiDAR and is not used.
- A **label** is asked for once per track and refreshed when the track's appearance changes
  (colour histogram distance of its crop) or after ``labels.refresh_period`` seconds
  (:class:`LabelPolicy`). Answers are votes on the track (``Track.vote``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.config import check_ranges, tunable
from vlm_seg_ros.core.pixels import PixelBox
from vlm_seg_ros.core.segmentation import euclidean_clusters
from vlm_seg_ros.core.stamps import seconds_to_ns


@dataclass(frozen=True, kw_only=True)
class MaskConfig:
    """How image masks refine objects (ROS parameters ``masks.*``)."""

    erosion: int = tunable(
        2, 'pixels eroded from a mask before points are tested against it (mask edges '
        'bleed into the background)', minimum=0, maximum=50)
    min_keep: float = tunable(
        0.3, "a mask is used only if it keeps at least this fraction of its object's points",
        minimum=0.0, maximum=1.0)
    max_age: float = tunable(
        10.0, 'seconds a mask follows its track (moved and scaled with its image box) before '
        'it is dropped', minimum=0.0, maximum=3600.0)
    box_margin: float = tunable(
        0.1, "a box prompt is the object's projected box grown by this fraction per side",
        minimum=0.0, maximum=1.0)
    min_pixels: int = tunable(
        8, 'smallest box side, pixels, for which a box prompt is sent', minimum=1,
        maximum=1000)

    def __post_init__(self) -> None:
        """Check every tunable's type and range."""
        check_ranges(self)


@dataclass(frozen=True, kw_only=True)
class LabelConfig:
    """When the vision-language model is asked (ROS parameters ``labels.*``)."""

    refresh_period: float = tunable(
        30.0, 'seconds after which a labelled track is asked again (0: never)', minimum=0.0,
        maximum=86400.0)
    appearance_change: float = tunable(
        0.5, "colour-histogram (Bhattacharyya) distance between a track's crop now and when "
        'it was labelled that triggers a new label (1: never)', minimum=0.0, maximum=1.0)
    min_crop: int = tunable(
        16, 'smallest crop side, pixels, worth naming', minimum=2, maximum=4096)
    crop_margin: float = tunable(
        0.15, 'crops are the object box grown by this fraction per side (context helps)',
        minimum=0.0, maximum=2.0)
    max_per_call: int = tunable(
        8, 'crops named per model call (the rest wait for the next call)', minimum=1,
        maximum=256)
    captions: bool = tunable(
        True, 'also ask for a one-sentence caption per object (a second, longer answer)')
    scene_period: float = tunable(
        10.0, 'seconds between scene descriptions by the model (0: none)', minimum=0.0,
        maximum=86400.0)

    def __post_init__(self) -> None:
        """Check every tunable's type and range."""
        check_ranges(self)


@dataclass(frozen=True, kw_only=True)
class PromptConfig:
    """Text prompts for the text-promptable segmenter (ROS parameters ``prompts.*``)."""

    text: str = tunable(
        '', "comma-separated noun phrases SAM 3 looks for in every image, e.g. 'chair, "
        "person'; empty: none (SAM 3 is not loaded)")

    def __post_init__(self) -> None:
        """Check every tunable's type."""
        check_ranges(self)

    @property
    def phrases(self) -> list[str]:
        """Return the prompts, split and stripped, without empties or repeats."""
        return list(dict.fromkeys(p.strip() for p in self.text.split(',') if p.strip()))


class MaskSource(StrEnum):
    """What prompted the model for a mask."""

    BOX = 'box'  # the track's own LiDAR box
    TEXT = 'text'  # a SAM 3 text prompt
    PROMPT = 'prompt'  # a user's point or box prompt


@dataclass(frozen=True, eq=False)
class TrackMask:
    """A mask attached to a track.

    Attributes:
        stamp: stamp (integer nanoseconds) of the frame it was computed on.
        crop: (h, w) bool, the mask cut to its bounding rectangle.
        origin: ``(x, y)`` pixel of ``crop``'s top-left corner.
        reference: the track's LiDAR image box on that frame.
        score: the model's quality estimate in [0, 1].
        source: what prompted the model (:class:`MaskSource`).
        camera: the camera whose image it was made in (``''``: the one unnamed camera).

    """

    stamp: int
    crop: npt.NDArray[np.bool_]
    origin: tuple[int, int]
    reference: PixelBox
    score: float
    source: MaskSource = MaskSource.BOX
    camera: str = ''

    @classmethod
    def from_mask(cls, mask: npt.NDArray[np.bool_], *, stamp: int, reference: PixelBox,
                  score: float, source: MaskSource = MaskSource.BOX,
                  camera: str = '') -> TrackMask | None:
        """Cut a full-image mask to its bounding rectangle; None if it is empty."""
        box = PixelBox.of_mask(mask)
        if box is None:
            return None
        x, y, w, h = box
        return cls(stamp, mask[y:y + h, x:x + w].copy(), (x, y), reference, score, source,
                   camera)


@dataclass(frozen=True, eq=False)
class PlacedMask:
    """A mask in an image, kept as the window it covers: costs its area, not the image's.

    A camera of 3840x2160 has 8.3 million pixels; a full-image bool mask per object, cleared,
    indexed and scanned for every object on every frame, costs more than the scan's whole
    geometry. Everything here touches only ``crop``.

    Attributes:
        crop: (h, w) bool, the mask inside its window.
        origin: ``(x, y)`` pixel of ``crop``'s top-left corner in the image.
        image_size: ``(rows, cols)`` of the image; the window lies inside it.

    """

    crop: npt.NDArray[np.bool_]
    origin: tuple[int, int]
    image_size: tuple[int, int]

    def contains(self, u: npt.NDArray[np.integer], v: npt.NDArray[np.integer]
                 ) -> npt.NDArray[np.bool_]:
        """Return, per pixel ``(u[i], v[i])`` of the image, whether the mask covers it."""
        x, y = self.origin
        h, w = self.crop.shape
        col, row = np.asarray(u) - x, np.asarray(v) - y
        inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
        result = np.zeros(inside.shape, dtype=bool)
        result[inside] = self.crop[row[inside], col[inside]]
        return result

    def eroded(self, pixels: int) -> PlacedMask:
        """Return the mask eroded by ``pixels`` (a square element), as on the whole image.

        The window grows by ``pixels`` (within the image) first, so the mask's edges erode
        exactly as they would on a full-image mask, image borders included.
        """
        if pixels <= 0:
            return self
        (x, y), (h, w), (rows, cols) = self.origin, self.crop.shape, self.image_size
        x0, y0 = max(x - pixels, 0), max(y - pixels, 0)
        x1, y1 = min(x + w + pixels, cols), min(y + h + pixels, rows)
        window = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        window[y - y0:y - y0 + h, x - x0:x - x0 + w] = self.crop
        return PlacedMask(erode(window, pixels), (x0, y0), self.image_size)

    def box(self) -> PixelBox | None:
        """Return the box of image pixels the mask covers; None if it is empty."""
        box = PixelBox.of_mask(self.crop)
        return None if box is None else box._replace(x=box.x + self.origin[0],
                                                     y=box.y + self.origin[1])

    def paint(self, image: npt.NDArray[np.generic], value: int | float) -> None:
        """Set ``value`` into ``image`` (the image's size) where the mask is."""
        x, y = self.origin
        h, w = self.crop.shape
        image[y:y + h, x:x + w][self.crop] = value

    def full(self) -> npt.NDArray[np.bool_]:
        """Return the mask as a full-image (rows, cols) bool array."""
        full = np.zeros(self.image_size, dtype=bool)
        self.paint(full, True)
        return full


def warp_mask(mask: TrackMask, box: PixelBox, image_size: tuple[int, int],
              max_scale_change: float = 2.0) -> PlacedMask | None:
    """Move and scale a mask from its reference box to ``box`` in an image of ``image_size``.

    Returns None when the box changed scale by more than ``max_scale_change`` (the view of
    the object changed too much for the mask to mean anything) or nothing lands in the image.
    """
    ref_x, ref_y, ref_w, ref_h = mask.reference
    x, y, w, h = box
    sx, sy = max(w, 1) / max(ref_w, 1), max(h, 1) / max(ref_h, 1)
    if not all(1 / max_scale_change <= s <= max_scale_change for s in (sx, sy)):
        return None
    crop_h, crop_w = mask.crop.shape
    width, height = max(round(crop_w * sx), 1), max(round(crop_h * sy), 1)
    left = round(x + (mask.origin[0] - ref_x) * sx)
    top = round(y + (mask.origin[1] - ref_y) * sy)
    rows, cols = image_size
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + width, cols), min(top + height, rows)
    if x0 >= x1 or y0 >= y1:
        return None
    scaled = cv2.resize(mask.crop.view(np.uint8), (width, height),
                        interpolation=cv2.INTER_NEAREST).view(bool)
    return PlacedMask(scaled[y0 - top:y1 - top, x0 - left:x1 - left], (x0, y0),
                      (rows, cols))


def erode(mask: npt.NDArray[np.bool_], pixels: int) -> npt.NDArray[np.bool_]:
    """Return ``mask`` eroded by ``pixels`` (a square structuring element)."""
    if pixels <= 0:
        return mask
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), dtype=np.uint8)
    return cv2.erode(mask.view(np.uint8), kernel).view(bool)


def refine_points(points: npt.NDArray[np.floating], pixels: npt.NDArray[np.integer],
                  visible: npt.NDArray[np.bool_], mask: PlacedMask, *,
                  erosion: int, tolerance: float) -> npt.NDArray[np.int64]:
    """Return the rows of an object's points that a mask supports.

    Args:
        points: (N, 3) the object's points.
        pixels: (N, 2) their ``(u, v)`` pixels (any value where not ``visible``).
        visible: (N,) whether each point is seen by the camera (in the image, not occluded).
        mask: the object's mask in the image.
        erosion: pixels eroded from the mask first.
        tolerance: gap, metres, that still connects two points (the clustering tolerance).

    Returns:
        Sorted rows: hidden points and visible points inside the eroded mask, restricted to
        their largest 3D-connected component.

    """
    keep = ~visible
    rows = np.flatnonzero(visible)
    keep[rows] = mask.eroded(erosion).contains(pixels[rows, 0], pixels[rows, 1])
    kept = np.flatnonzero(keep)
    if kept.size == 0:
        return kept.astype(np.int64)
    labels = euclidean_clusters(np.asarray(points[kept], dtype=np.float64), tolerance)
    largest = np.bincount(labels[labels >= 0]).argmax() if (labels >= 0).any() else -1
    return np.asarray(kept[labels == largest], dtype=np.int64)


def colour_histogram(crop: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Return the normalised hue-saturation histogram of an RGB crop (appearance signature)."""
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(hist, hist).astype(np.float32)


def appearance_distance(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Return the Bhattacharyya distance of two histograms: 0 same, 1 disjoint."""
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


@dataclass
class TrackLabelling:
    """What the label policy remembers about one track."""

    stamp: int
    histogram: npt.NDArray[np.float32]
    caption: str = ''


@dataclass(frozen=True, eq=False)
class LabelRequest:
    """One crop to name: the track, its crop and the crop's appearance signature."""

    track_id: int
    stamp: int
    crop: npt.NDArray[np.uint8]
    histogram: npt.NDArray[np.float32]


@dataclass
class LabelPolicy:
    """Decides which tracks the vision-language model names, so each is asked rarely.

    A track is due when it was never named, when its crop's colour histogram moved more than
    ``appearance_change`` from the one it was named with, or ``refresh_period`` seconds after
    it was named. Tracks already asked (in flight) are not asked again until answered.
    """

    config: LabelConfig = field(default_factory=LabelConfig)
    labelled: dict[int, TrackLabelling] = field(default_factory=dict)
    in_flight: set[int] = field(default_factory=set)
    requested: int = 0

    def due(self, images: Mapping[str, npt.NDArray[np.uint8]], stamp: int,
            boxes: Iterable[tuple[int, str, PixelBox]]) -> list[LabelRequest]:
        """Return the crops to name on this frame, never-named tracks first, then largest.

        Args:
            images: each camera's image by camera name.
            stamp: the frame's stamp, integer nanoseconds.
            boxes: ``(track id, camera, box)``: where to crop each track (the camera that
                sees it best).

        """
        config = self.config
        candidates: list[tuple[bool, int, LabelRequest]] = []
        for track_id, camera, box in boxes:
            if track_id in self.in_flight:
                continue
            image = images[camera]
            x, y, w, h = box.expanded(config.crop_margin, (image.shape[0], image.shape[1]))
            if min(w, h) < config.min_crop:
                continue
            crop = np.ascontiguousarray(image[y:y + h, x:x + w])
            histogram = colour_histogram(crop)
            previous = self.labelled.get(track_id)
            if previous is not None:
                fresh = (config.refresh_period <= 0
                         or stamp - previous.stamp < seconds_to_ns(config.refresh_period))
                similar = appearance_distance(histogram, previous.histogram) \
                    <= config.appearance_change
                if fresh and similar and stamp >= previous.stamp:
                    continue
            candidates.append((previous is not None, -w * h,
                               LabelRequest(track_id, stamp, crop, histogram)))
        candidates.sort(key=lambda c: (c[0], c[1]))
        chosen = [request for _, _, request in candidates[:config.max_per_call]]
        self.in_flight.update(r.track_id for r in chosen)
        self.requested += len(chosen)
        return chosen

    def answered(self, request: LabelRequest, caption: str = '') -> None:
        """Record that a track was named (or that asking failed: then it is asked again)."""
        self.in_flight.discard(request.track_id)
        self.labelled[request.track_id] = TrackLabelling(request.stamp, request.histogram,
                                                         caption)

    def failed(self, requests: Iterable[LabelRequest]) -> None:
        """Forget requests that got no answer, so they are asked again."""
        for request in requests:
            self.in_flight.discard(request.track_id)

    def forget(self, live_ids: Iterable[int]) -> None:
        """Drop what is remembered about tracks that no longer exist."""
        live = set(live_ids)
        self.labelled = {k: v for k, v in self.labelled.items() if k in live}
        self.in_flight &= live

    def caption(self, track_id: int) -> str:
        """Return the latest caption of a track ('' if none)."""
        labelling = self.labelled.get(track_id)
        return labelling.caption if labelling is not None else ''
