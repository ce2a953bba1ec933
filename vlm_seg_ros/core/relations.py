"""Spatial relations between boxes in a gravity-aligned frame, seen from a viewpoint.

Predicates (the strings of ``vlm_seg_ros/msg/SceneRelation``), each with a confidence in
[0, 1]; every relation is emitted in both directions (``A left_of B`` and ``B right_of A``):

- ``on`` / ``under``: A's bottom is within ``contact_tolerance`` of B's top and at least
  ``min_support`` of A's footprint lies over B's; then A on B and B under A. A box wholly
  below another's top with that footprint overlap and no contact (a box under a table) is
  ``under`` too. Confidence: the overlapping share of the footprint, lowered by the gap.
- ``near``: the gap between the two boxes is at most ``near_distance``;
  confidence ``1 - gap / near_distance``.
- ``left_of`` / ``right_of`` / ``in_front_of`` / ``behind``: judged from the viewpoint,
  looking from it toward the pair's midpoint, for boxes at most ``direction_distance`` apart
  and not stacked. Confidence: the cosine between the offset from B to A and the direction
  (left, right, away = behind, toward = in front); a predicate is kept when its cosine is at
  least ``min_direction_cosine`` (0.5: within 60 degrees, so a diagonal gives two).

Only candidate pairs are tested: pairs whose footprints' bounding circles come within the
larger of the two distances. Each box looks for partners within twice its own radius plus
that distance, and a pair is kept by its larger member, so the cost grows with the number of
nearby pairs, not with the square of the number of boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.config import check_ranges, tunable
from vlm_seg_ros.errors import InvalidInputError

ON, UNDER, NEAR = 'on', 'under', 'near'
LEFT_OF, RIGHT_OF, IN_FRONT_OF, BEHIND = 'left_of', 'right_of', 'in_front_of', 'behind'
PREDICATES = (ON, UNDER, NEAR, LEFT_OF, RIGHT_OF, IN_FRONT_OF, BEHIND)


@dataclass(frozen=True, kw_only=True)
class RelationConfig:
    """Tunables of spatial relations (ROS parameters ``relations.*``)."""

    near_distance: float = tunable(
        1.0, 'Boxes at most this far apart (gap between them) are near, metres.',
        minimum=0.0, maximum=100.0)
    direction_distance: float = tunable(
        3.0, 'left_of / right_of / in_front_of / behind only between boxes at most this far '
        'apart (gap), metres.', minimum=0.0, maximum=100.0)
    contact_tolerance: float = tunable(
        0.15, "Largest gap between one box's bottom and another's top for 'on', metres.",
        minimum=0.0, maximum=2.0)
    min_support: float = tunable(
        0.5, "Least share of the upper box's footprint over the lower one for 'on' and "
        "'under'.", minimum=0.0, maximum=1.0)
    min_direction_cosine: float = tunable(
        0.5, 'Least cosine between the offset and a direction for a directional predicate '
        '(0.5: within 60 degrees).', minimum=0.0, maximum=1.0)

    def __post_init__(self) -> None:
        """Check every tunable's range."""
        check_ranges(self)


@dataclass(frozen=True)
class Relation:
    """``subject predicate object`` with a confidence in [0, 1]; ids are the caller's."""

    subject: int
    predicate: str
    object: int
    confidence: float


def candidate_pairs(boxes: Sequence[OrientedBox], reach: float) -> npt.NDArray[np.int64]:
    """Return (P, 2) index pairs whose footprint circles come within ``reach`` of each other."""
    if len(boxes) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    centres = np.array([box.center[:2] for box in boxes])
    radii = np.array([np.hypot(box.size[0], box.size[1]) / 2 for box in boxes])
    tree = cKDTree(centres)
    # Searching from each box with 2 * its radius + reach finds every partner that is not
    # larger than itself; the larger member of each pair keeps it.
    found = tree.query_ball_point(centres, 2 * radii + reach, return_sorted=False)
    counts = np.fromiter((len(f) for f in found), dtype=np.int64, count=len(found))
    first = np.repeat(np.arange(len(boxes)), counts)
    second = np.fromiter((j for f in found for j in f), dtype=np.int64, count=int(counts.sum()))
    larger = (radii[first] > radii[second]) | ((radii[first] == radii[second])
                                               & (first < second))
    first, second = first[larger], second[larger]
    distance = np.linalg.norm(centres[first] - centres[second], axis=1)
    close = distance <= radii[first] + radii[second] + reach
    return np.column_stack([first[close], second[close]])


def spatial_relations(boxes: Sequence[OrientedBox], *, ids: Sequence[int] | None = None,
                      viewpoint: npt.ArrayLike = (0.0, 0.0, 0.0),
                      config: RelationConfig | None = None,
                      pairs: npt.NDArray[np.int64] | None = None) -> list[Relation]:
    """Return the relations between ``boxes`` (see the module docstring for the rules).

    Args:
        boxes: gravity-aligned boxes in one frame (z up).
        ids: the id of each box in the relations (default: its index).
        viewpoint: where the observer (camera or robot) is, in the boxes' frame.
        config: tunables; defaults if None.
        pairs: (P, 2) box index pairs to test instead of the candidate search (benchmarks
            compare with all pairs).

    Raises:
        InvalidInputError: on ids of another length than boxes, or a bad viewpoint.

    """
    config = config or RelationConfig()
    names = list(range(len(boxes))) if ids is None else [int(i) for i in ids]
    if len(names) != len(boxes):
        msg = f'{len(names)} ids for {len(boxes)} boxes'
        raise InvalidInputError(msg)
    eye = np.asarray(viewpoint, dtype=np.float64).reshape(-1)
    if eye.shape != (3,) or not np.isfinite(eye).all():
        msg = f'viewpoint must be 3 finite numbers, got {viewpoint!r}'
        raise InvalidInputError(msg)
    if pairs is None:
        reach = max(config.near_distance, config.direction_distance, config.contact_tolerance)
        pairs = candidate_pairs(boxes, reach)
    if not len(pairs):
        return []
    a, b = pairs[:, 0], pairs[:, 1]
    centre = np.array([box.center for box in boxes])
    size = np.array([box.size for box in boxes])
    yaw = np.array([box.yaw for box in boxes])
    low, high = centre[:, 2] - size[:, 2] / 2, centre[:, 2] + size[:, 2] / 2

    # Gap between the boxes: horizontal along the line of centres (separating-axis distance
    # of the footprints on that line) combined with the vertical gap.
    offset = centre[a, :2] - centre[b, :2]
    distance = np.linalg.norm(offset, axis=1)
    direction = offset / np.maximum(distance, 1e-9)[:, None]
    reach_a = _support(direction, size[a], yaw[a])
    reach_b = _support(direction, size[b], yaw[b])
    horizontal_gap = np.maximum(distance - reach_a - reach_b, 0.0)
    vertical_gap = np.maximum.reduce([low[a] - high[b], low[b] - high[a], np.zeros(len(a))])
    gap = np.hypot(horizontal_gap, vertical_gap)

    relations: list[Relation] = []

    def emit(subject: int, predicate: str, target: int, confidence: float) -> None:
        relations.append(Relation(names[subject], predicate, names[target],
                                  min(max(float(confidence), 0.0), 1.0)))

    # Vertical predicates: only pairs whose footprints overlap along the centre line.
    stacked = np.zeros(len(a), dtype=bool)
    for k in np.flatnonzero(horizontal_gap == 0):
        i, j = int(a[k]), int(b[k])
        for upper, lower in ((i, j), (j, i)):
            contact = abs(low[upper] - high[lower])
            if contact <= config.contact_tolerance and centre[upper, 2] > centre[lower, 2]:
                support = _overlap_share(boxes[upper], boxes[lower])
                if support >= config.min_support and support > 0:
                    confidence = support * (
                        1 - 0.5 * contact / max(config.contact_tolerance, 1e-9))
                    emit(upper, ON, lower, confidence)
                    emit(lower, UNDER, upper, confidence)
                    stacked[k] = True
                    continue
            if high[lower] < high[upper] - config.contact_tolerance \
                    and size[lower, 2] < size[upper, 2]:
                # `lower` sits beneath `upper`'s top, inside its footprint (under a table).
                share = _overlap_share(boxes[lower], boxes[upper])
                if share >= config.min_support and share > 0:
                    emit(lower, UNDER, upper, share)
                    stacked[k] = True

    # near, both ways.
    if config.near_distance > 0:
        for k in np.flatnonzero(gap <= config.near_distance):
            confidence = 1 - gap[k] / config.near_distance
            emit(int(a[k]), NEAR, int(b[k]), confidence)
            emit(int(b[k]), NEAR, int(a[k]), confidence)

    # Directions from the viewpoint: forward = from the eye to the pair's midpoint.
    look = (centre[a, :2] + centre[b, :2]) / 2 - eye[:2]
    look /= np.maximum(np.linalg.norm(look, axis=1), 1e-9)[:, None]
    left = np.column_stack([-look[:, 1], look[:, 0]])
    sideways = (direction * left).sum(axis=1)  # cosine of a's offset from b with "left"
    away = (direction * look).sum(axis=1)  # cosine with "away from the viewer"
    directional = (~stacked) & (gap <= config.direction_distance) & (distance > 1e-9)
    threshold = max(config.min_direction_cosine, 1e-9)
    for k in np.flatnonzero(directional):
        i, j = int(a[k]), int(b[k])
        if sideways[k] >= threshold:
            emit(i, LEFT_OF, j, sideways[k])
            emit(j, RIGHT_OF, i, sideways[k])
        elif -sideways[k] >= threshold:
            emit(i, RIGHT_OF, j, -sideways[k])
            emit(j, LEFT_OF, i, -sideways[k])
        if away[k] >= threshold:
            emit(i, BEHIND, j, away[k])
            emit(j, IN_FRONT_OF, i, away[k])
        elif -away[k] >= threshold:
            emit(i, IN_FRONT_OF, j, -away[k])
            emit(j, BEHIND, i, -away[k])
    return relations


def _support(direction: npt.NDArray[np.float64], size: npt.NDArray[np.float64],
             yaw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Half-extent of each footprint along its unit ``direction`` (support function)."""
    along = np.abs(direction[:, 0] * np.cos(yaw) + direction[:, 1] * np.sin(yaw))
    across = np.abs(-direction[:, 0] * np.sin(yaw) + direction[:, 1] * np.cos(yaw))
    result: npt.NDArray[np.float64] = size[:, 0] / 2 * along + size[:, 1] / 2 * across
    return result


def _overlap_share(upper: OrientedBox, lower: OrientedBox) -> float:
    """Share of ``upper``'s footprint area that lies over ``lower``'s footprint."""
    area = float(upper.size[0] * upper.size[1])
    if area <= 1e-9:  # a degenerate footprint (a pole, a line): is its centre over `lower`?
        inside = cv2.pointPolygonTest(lower.footprint().astype(np.float32),
                                      (float(upper.center[0]), float(upper.center[1])), False)
        return 1.0 if inside >= 0 else 0.0
    overlap, _ = cv2.intersectConvexConvex(upper.footprint().astype(np.float32),
                                           lower.footprint().astype(np.float32))
    return min(float(overlap) / area, 1.0)
