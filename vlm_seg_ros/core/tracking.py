"""Multi-object tracking in 3D: stable ids for segmented objects across scans.

Each scan's boxes are matched to the tracks' predicted boxes by optimal assignment
(``scipy.optimize.linear_sum_assignment``) on a cost of horizontal centre distance plus
size difference, gated by a maximum distance. Tracks move at constant velocity (an
alpha-beta filter on the box centre), so an object keeps its id through a short occlusion.
Birth and death:

- an unmatched box starts a *tentative* track, confirmed after ``min_hits`` observations;
- a tentative track that misses one scan is deleted (clutter rarely repeats);
- a confirmed track that misses scans coasts on its velocity and is deleted once it has not
  been observed for more than ``max_age`` seconds;
- time going backwards (a bag looping, a simulator reset) clears all tracks; ids are never
  reused.

Labels are votes: whoever names an object (a vision-language model, a detector) adds
``(label, confidence)`` to its track; the label is the one with the largest total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
import math

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.config import check_ranges, tunable
from vlm_seg_ros.core.stamps import check_stamp, ns_to_seconds, seconds_to_ns
from vlm_seg_ros.errors import InvalidInputError

# Cost of a pair outside the gate; larger than any gated cost.
_FORBIDDEN = 1e9


@dataclass(frozen=True, kw_only=True)
class TrackerConfig:
    """Tunables of the tracker (ROS parameters ``tracking.*``)."""

    max_distance: float = tunable(
        2.0, "Largest distance between a track's predicted centre and a box's centre for "
        'them to match, metres (horizontal).', minimum=0.05, maximum=100.0)
    size_weight: float = tunable(
        0.5, 'Cost of one metre of box size difference, added to the centre distance '
        '(tells neighbours of different size apart).', minimum=0.0, maximum=100.0)
    min_hits: int = tunable(
        2, 'Observations before a track is confirmed.', minimum=1, maximum=1000)
    max_age: float = tunable(
        1.0, 'Seconds a confirmed track lives on without being observed (occlusion) before '
        'it is deleted.', minimum=0.0, maximum=3600.0)
    position_gain: float = tunable(
        0.7, 'Alpha of the alpha-beta filter: how far the centre moves toward a new '
        'observation (1 = all the way).', minimum=0.0, maximum=1.0)
    velocity_gain: float = tunable(
        0.3, 'Beta of the alpha-beta filter: how much of the remaining residual updates the '
        'velocity.', minimum=0.0, maximum=2.0)
    max_speed: float = tunable(
        40.0, 'Velocity estimates are clamped to this speed, metres per second.',
        minimum=0.0, maximum=1000.0)

    def __post_init__(self) -> None:
        """Check every tunable's range."""
        check_ranges(self)


@dataclass(eq=False)
class Track:
    """One tracked object.

    Attributes:
        id: stable id, from 1 up; never reused by the same tracker.
        box: the latest observed box, moved to the filtered centre (coasting while missed).
        velocity: (3,) metres per second, in the boxes' frame.
        observations: scans in which a box was matched to the track.
        first_seen: stamp (integer nanoseconds) of the first observation.
        last_seen: stamp (integer nanoseconds) of the latest observation.
        detection: index of this scan's box matched to the track; None when it was missed.
        label_votes: label -> summed confidence of every vote.

    """

    id: int
    box: OrientedBox
    velocity: npt.NDArray[np.float64]
    observations: int
    first_seen: int
    last_seen: int
    detection: int | None
    confirmed: bool = False
    label_votes: dict[str, float] = field(default_factory=dict)

    def vote(self, label: str, confidence: float) -> None:
        """Add a vote for ``label`` with weight ``confidence`` in (0, 1]."""
        if not label or not 0 < confidence <= 1 or not math.isfinite(confidence):
            msg = f'a vote needs a label and a confidence in (0, 1], got {label!r}, {confidence}'
            raise InvalidInputError(msg)
        self.label_votes[label] = self.label_votes.get(label, 0.0) + confidence

    def snapshot(self) -> Track:
        """Return a copy of the track as it is now: what the tracker does next never shows in it.

        (Votes cast on a snapshot stay on it: vote on the tracker's own :attr:`Tracker.tracks`.)
        """
        velocity = self.velocity.copy()
        velocity.flags.writeable = False
        return replace(self, velocity=velocity, label_votes=dict(self.label_votes))

    @property
    def label(self) -> str:
        """The label with the most votes (by summed confidence); empty without votes."""
        if not self.label_votes:
            return ''
        return max(self.label_votes.items(), key=lambda item: (item[1], item[0]))[0]

    @property
    def label_confidence(self) -> float:
        """The winning label's share of all votes, in [0, 1]; 0 without votes."""
        if not self.label_votes:
            return 0.0
        return self.label_votes[self.label] / sum(self.label_votes.values())


class Tracker:
    """Keep tracks of boxes across scans; call :meth:`update` once per scan."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        """Create a tracker with no tracks (see :class:`TrackerConfig` for the tunables)."""
        self.config = config or TrackerConfig()
        self._tracks: list[Track] = []
        self._next_id = 1
        self._stamp: int | None = None

    @property
    def tracks(self) -> list[Track]:
        """Every live track, tentative ones included, oldest first.

        These are the tracker's own tracks: votes cast on them count (``update`` returns
        snapshots instead).
        """
        return list(self._tracks)

    def reset(self) -> None:
        """Drop every track (ids keep counting up)."""
        self._tracks = []
        self._stamp = None

    def update(self, boxes: Sequence[OrientedBox], stamp: int) -> list[Track]:
        """Match one scan's boxes to the tracks; return the confirmed tracks.

        Args:
            boxes: the scan's object boxes, in one gravity-aligned frame that does not move
                with the robot (e.g. ``odom`` or ``map``) for velocities to mean anything.
            stamp: the scan's time, integer nanoseconds. Earlier than the previous stamp
                resets the tracker.

        Returns:
            Snapshots of the confirmed tracks (later updates do not change them), each with
            ``detection`` set to the index of its box in ``boxes`` or None when it was not
            observed in this scan (coasting).

        Raises:
            InvalidInputError: on a stamp that is not whole nanoseconds, or is absurd
                (beyond ``stamps.MAX_STAMP_NS``).

        """
        stamp = check_stamp(stamp)
        if self._stamp is not None and stamp < self._stamp:
            self.reset()
        dt = 0.0 if self._stamp is None else ns_to_seconds(stamp - self._stamp)
        self._stamp = stamp
        config = self.config

        predicted = [self._moved(track.box, track.velocity * dt) for track in self._tracks]
        pairs = self._assign(predicted, boxes)
        matched_tracks = {t for t, _ in pairs}
        matched_boxes = {b for _, b in pairs}

        for t, b in pairs:
            self._observe(self._tracks[t], predicted[t], boxes[b], b, stamp, dt)
        survivors = [self._tracks[t] for t in sorted(matched_tracks)]
        for t, track in enumerate(self._tracks):
            if t in matched_tracks or not track.confirmed:
                continue  # an unmatched tentative track dies at once
            if stamp - track.last_seen <= seconds_to_ns(config.max_age):
                track.box = predicted[t]
                track.detection = None
                survivors.append(track)
        for b, box in enumerate(boxes):
            if b not in matched_boxes:
                survivors.append(Track(self._next_id, box, np.zeros(3), 1, stamp, stamp, b,
                                       confirmed=config.min_hits <= 1))
                self._next_id += 1
        survivors.sort(key=lambda track: track.id)
        self._tracks = survivors
        return [track.snapshot() for track in survivors if track.confirmed]

    def _assign(self, predicted: list[OrientedBox],
                boxes: Sequence[OrientedBox]) -> list[tuple[int, int]]:
        """Return (track, box) index pairs of the least total cost within the gate.

        Only gated pairs are costed (a k-d tree finds them), and the assignment is solved per
        connected group of tracks and boxes that compete, so a scan of hundreds of objects
        costs little more than its few contested neighbourhoods.
        """
        if not predicted or not boxes:
            return []
        track_xy = np.array([box.center[:2] for box in predicted])
        box_xy = np.array([box.center[:2] for box in boxes])
        gated = cKDTree(track_xy).sparse_distance_matrix(
            cKDTree(box_xy), self.config.max_distance, output_type='ndarray')
        if not len(gated):
            return []
        rows, cols = gated['i'].astype(np.int64), gated['j'].astype(np.int64)
        track_size = np.array([box.size for box in predicted])
        box_size = np.array([box.size for box in boxes])
        cost = gated['v'] + self.config.size_weight * np.abs(
            track_size[rows] - box_size[cols]).sum(axis=1)
        # Groups: connected components of the bipartite graph of gated pairs.
        n_tracks = len(predicted)
        graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, n_tracks + cols)),
                           shape=(n_tracks + len(boxes),) * 2)
        _, group = connected_components(graph, directed=False)
        pair_group = group[rows]
        pairs_per_group = np.bincount(pair_group)
        single = pairs_per_group[pair_group] == 1  # one track, one box: nothing to decide
        matches = list(zip(rows[single].tolist(), cols[single].tolist(), strict=True))
        contested = np.flatnonzero(~single)
        order = contested[np.argsort(pair_group[contested], kind='stable')]
        bounds = np.flatnonzero(np.diff(pair_group[order])) + 1
        for members in np.split(order, bounds) if len(order) else []:
            track_ids, r = np.unique(rows[members], return_inverse=True)
            box_ids, c = np.unique(cols[members], return_inverse=True)
            matrix = np.full((len(track_ids), len(box_ids)), _FORBIDDEN)
            matrix[r, c] = cost[members]
            best_r, best_c = linear_sum_assignment(matrix)
            keep = matrix[best_r, best_c] < _FORBIDDEN
            matches += zip(track_ids[best_r[keep]].tolist(), box_ids[best_c[keep]].tolist(),
                           strict=True)
        return matches

    def _observe(self, track: Track, predicted: OrientedBox, box: OrientedBox, index: int,
                 stamp: int, dt: float) -> None:
        """Alpha-beta update of ``track`` with the matched ``box`` (``dt`` seconds)."""
        config = self.config
        residual = box.center - predicted.center
        centre = predicted.center + config.position_gain * residual
        if dt > 0:  # one stamp later at least: a residual over dt stays finite
            velocity = track.velocity + (config.velocity_gain / dt) * residual
            speed = math.hypot(*velocity)
            if speed > config.max_speed:
                velocity *= config.max_speed / speed
            track.velocity = velocity
        track.box = _box_at(centre, box)
        track.observations += 1
        track.last_seen = stamp
        track.detection = index
        track.confirmed = track.confirmed or track.observations >= config.min_hits

    @staticmethod
    def _moved(box: OrientedBox, offset: npt.NDArray[np.float64]) -> OrientedBox:
        if not offset.any():
            return box
        return _box_at(box.center + offset, box)


def _box_at(centre: npt.NDArray[np.float64], box: OrientedBox) -> OrientedBox:
    """``box`` moved to ``centre`` (finite: made from finite boxes and a finite stamp)."""
    centre.flags.writeable = False
    return OrientedBox.trusted(centre, box.size, box.yaw)
