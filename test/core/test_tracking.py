"""The tracker: stable ids, constant velocity through occlusion, birth, death, label votes."""

from __future__ import annotations

import numpy as np
import pytest

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.stamps import seconds_to_ns as ns
from vlm_seg_ros.core.tracking import Tracker, TrackerConfig
from vlm_seg_ros.errors import InvalidInputError


def box(x: float, y: float, size: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> OrientedBox:
    return OrientedBox(np.array([x, y, 0.5]), np.array(size), 0.0)


def ids(tracks: list) -> list[int]:
    return [t.id for t in tracks]


def test_tracks_are_confirmed_after_min_hits_and_keep_their_ids() -> None:
    tracker = Tracker(TrackerConfig(min_hits=2))
    assert tracker.update([box(0, 0), box(5, 5)], ns(0.0)) == []
    first = tracker.update([box(5.1, 5), box(0.1, 0)], ns(0.1))  # order of boxes changed
    assert ids(first) == [1, 2]
    by_id = {t.id: t for t in first}
    assert by_id[1].detection == 1 and by_id[2].detection == 0
    assert by_id[1].observations == 2 and by_id[1].first_seen == 0
    assert by_id[1].last_seen == 100_000_000


def test_constant_velocity_carries_a_track_through_occlusion() -> None:
    tracker = Tracker(TrackerConfig(max_age=0.5, max_distance=1.0))
    speed = 10.0  # m/s, 1 m per 0.1 s scan: farther than the gate without prediction
    for k in range(6):
        tracks = tracker.update([box(speed * 0.1 * k, 0)], ns(0.1 * k))
    assert ids(tracks) == [1]
    np.testing.assert_allclose(tracks[0].velocity[:2], [speed, 0], atol=0.5)
    for k in range(6, 9):  # three scans unseen: coasts on its velocity
        tracks = tracker.update([], ns(0.1 * k))
        assert ids(tracks) == [1] and tracks[0].detection is None
    assert tracks[0].box.center[0] == pytest.approx(speed * 0.8, abs=0.3)
    tracks = tracker.update([box(speed * 0.9, 0)], ns(0.9))
    assert ids(tracks) == [1] and tracks[0].detection == 0
    assert tracks[0].observations == 7


def test_tracks_die_after_max_age_and_ids_are_never_reused() -> None:
    tracker = Tracker(TrackerConfig(max_age=0.25, min_hits=1))
    tracker.update([box(0, 0)], ns(0.0))
    assert ids(tracker.update([], ns(0.2))) == [1]
    assert tracker.update([], ns(0.3)) == []
    assert ids(tracker.update([box(0, 0)], ns(0.4))) == [2]


def test_a_tentative_track_dies_on_its_first_miss() -> None:
    tracker = Tracker(TrackerConfig(min_hits=3))
    tracker.update([box(0, 0)], ns(0.0))
    tracker.update([box(0, 0)], ns(0.1))
    tracker.update([], ns(0.2))
    assert tracker.tracks == []


def test_assignment_is_optimal_not_greedy() -> None:
    # Greedy nearest-first would give track A the box at 0.9 (0.1 away) and leave B's only
    # candidate taken; the optimum matches and B-0.9 for a lower total.
    tracker = Tracker(TrackerConfig(min_hits=1, max_distance=1.5, size_weight=0.0))
    tracker.update([box(0.0, 0), box(1.0, 0)], ns(0.0))
    tracks = tracker.update([box(0.95, 0), box(-0.2, 0)], ns(0.0))
    by_id = {t.id: t.detection for t in tracks}
    assert by_id == {1: 1, 2: 0}


def test_size_separates_neighbours_of_different_size() -> None:
    tracker = Tracker(TrackerConfig(min_hits=1, size_weight=2.0))
    tracker.update([box(0, 0, (4.0, 2.0, 1.5)), box(1.5, 0, (0.5, 0.5, 1.8))], ns(0.0))
    tracks = tracker.update([box(0.9, 0, (0.5, 0.5, 1.8)), box(0.6, 0, (4.0, 2.0, 1.5))], ns(0.1))
    assert {t.id: t.detection for t in tracks} == {1: 1, 2: 0}


def test_gate_starts_a_new_track_for_a_far_box() -> None:
    tracker = Tracker(TrackerConfig(min_hits=1, max_distance=1.0))
    tracker.update([box(0, 0)], ns(0.0))
    tracks = tracker.update([box(3, 0)], ns(0.1))
    assert ids(tracks) == [1, 2]
    assert {t.id: t.detection for t in tracks} == {1: None, 2: 0}


def test_time_going_backwards_resets_the_tracker() -> None:
    tracker = Tracker(TrackerConfig(min_hits=1))
    tracker.update([box(0, 0)], ns(10.0))
    tracks = tracker.update([box(0, 0)], ns(2.0))  # a bag looped
    assert ids(tracks) == [2]
    assert tracks[0].first_seen == 2_000_000_000


def test_label_votes_accumulate_on_the_track() -> None:
    tracker = Tracker(TrackerConfig(min_hits=1))
    assert tracker.update([box(0, 0)], ns(0.0))[0].label == ''
    track = tracker.tracks[0]  # the tracker's own track: votes count
    assert track.label == '' and track.label_confidence == 0.0
    track.vote('chair', 0.6)
    track.vote('table', 0.5)
    track.vote('chair', 0.3)
    tracks = tracker.update([box(0.1, 0)], ns(0.1))
    assert tracks[0].label == 'chair'
    assert tracks[0].label_confidence == pytest.approx(0.9 / 1.4)
    with pytest.raises(InvalidInputError):
        track.vote('chair', 1.5)
    with pytest.raises(InvalidInputError):
        track.vote('', 0.5)


def test_many_objects_keep_their_ids() -> None:
    rng = np.random.default_rng(3)
    centres = rng.uniform(-60, 60, size=(400, 2))
    tracker = Tracker(TrackerConfig(min_hits=1))
    first = tracker.update([box(x, y) for x, y in centres], ns(0.0))
    moved = centres + rng.normal(0, 0.05, size=centres.shape)
    order = rng.permutation(len(centres))
    tracks = tracker.update([box(x, y) for x, y in moved[order]], ns(0.1))
    assert len(tracks) == len(first) == 400
    for track in tracks:
        assert order[track.detection] == track.id - 1


@pytest.mark.parametrize('stamp', [0.1, float('nan'), True, 2**80])
def test_stamps_are_whole_nanoseconds_within_range(stamp: object) -> None:
    with pytest.raises(InvalidInputError, match='stamp'):
        Tracker().update([], stamp)  # type: ignore[arg-type]


def test_max_age_holds_one_missed_scan_at_10_hz_whatever_the_scan_number() -> None:
    # With float seconds, stamps k * 0.1 made `stamp - last_seen <= 0.1` true for some k and
    # false for others; in nanoseconds a gap of one scan period is exactly max_age.
    for k in range(1, 200):
        tracker = Tracker(TrackerConfig(min_hits=1, max_age=0.1))
        tracker.update([box(0, 0)], ns(0.1 * (k - 1)))
        assert ids(tracker.update([], ns(0.1 * k))) == [1], k
        assert tracker.update([], ns(0.1 * (k + 1))) == [], k


def test_returned_tracks_are_snapshots_that_later_scans_never_change() -> None:
    tracker = Tracker(TrackerConfig(min_hits=1))
    first = tracker.update([box(0, 0)], ns(0.0))[0]
    tracker.tracks[0].vote('chair', 0.5)
    second = tracker.update([box(0.5, 0)], ns(0.1))[0]
    assert second.id == first.id and second.observations == 2 and second.label == 'chair'
    # The first scan's track is as it was then: centre, observations, votes, velocity.
    assert first.observations == 1 and first.box.center[0] == 0.0 and first.label == ''
    assert not first.velocity.any() and second.velocity[0] > 0
    tracker.update([], ns(0.2))
    assert second.detection == 0 and second.observations == 2  # coasting shows only later
