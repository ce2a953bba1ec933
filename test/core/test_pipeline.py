"""The per-scan geometry pipeline: segmentation, tracking and relations together."""

from __future__ import annotations

import numpy as np

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.config import parameter_specs
from vlm_seg_ros.core.pipeline import GeometryConfig, GeometryPipeline
from vlm_seg_ros.core.stamps import seconds_to_ns as ns
from vlm_seg_ros.datasets.synthetic import scan


def standing(x: float, y: float, size: tuple[float, float, float]) -> OrientedBox:
    return OrientedBox(np.array([x, y, -1.73 + size[2] / 2]), np.array(size), 0.0)


def test_a_walking_person_keeps_its_id_and_relations_use_track_ids() -> None:
    pipeline = GeometryPipeline()
    person_ids, crate_ids = set(), set()
    for k in range(6):
        person = standing(6.0, 2.3 - 0.15 * k, (0.6, 0.6, 1.8))  # 1.5 m/s to the right
        crate = standing(6.0, 0.0, (1.0, 1.0, 2.0))
        points, truth = scan([person, crate])
        frame = pipeline.process(points, ns(0.1 * k))
        for track in frame.tracks:
            obj = frame.object_of(track)
            if obj is not None and obj.num_points > 50:
                main = np.bincount(truth[obj.indices] + 1).argmax() - 1
                {0: person_ids, 1: crate_ids}.get(main, set()).add(track.id)
    assert len(person_ids) == len(crate_ids) == 1
    person_track = next(t for t in frame.tracks if t.id in person_ids)
    np.testing.assert_allclose(person_track.velocity[:2], [0, -1.5], atol=0.4)
    relations = {(r.subject, r.predicate, r.object) for r in frame.relations}
    crate_id = crate_ids.pop()
    # Seen from the LiDAR at the origin looking along +x, the person (y > 0) is on the left.
    assert (person_track.id, 'left_of', crate_id) in relations
    assert (person_track.id, 'near', crate_id) in relations
    assert set(frame.timings) >= {'ground', 'cluster', 'tracking', 'relations'}


def test_config_tree_names_match_the_stage_configs() -> None:
    names = {spec.name.split('.')[0] for spec in parameter_specs(GeometryConfig)}
    assert names == {'segmentation', 'tracking', 'relations'}


def test_an_older_frame_still_describes_its_own_scan_after_later_ones() -> None:
    pipeline = GeometryPipeline()
    frames = []
    for k in range(4):  # the person walks 0.35 m per scan; the crate stays
        person = standing(6.0, 2.3 - 0.35 * k, (0.6, 0.6, 1.8))
        points, _ = scan([person, standing(6.0, -1.5, (1.0, 1.0, 2.0))])
        frames.append(pipeline.process(points, ns(0.1 * k)))
    older = frames[1]

    def as_seen(frame) -> list:
        return [(t.id, t.observations, tuple(np.round(t.box.center, 6)), t.detection,
                 None if frame.object_of(t) is None else frame.object_of(t).num_points)
                for t in frame.tracks]

    seen_then = as_seen(older)
    assert seen_then
    pipeline.process(scan([])[0], ns(0.4))  # and a scan where nothing is left
    assert as_seen(older) == seen_then
    for track in older.tracks:  # each track's object is one of that frame's own segments
        obj = older.object_of(track)
        assert obj is not None and np.allclose(obj.box.center[:2], track.box.center[:2],
                                               atol=0.5)
