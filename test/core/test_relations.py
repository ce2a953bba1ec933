"""Spatial relations on constructed scenes: a box on a table, objects around a viewpoint."""

from __future__ import annotations

import numpy as np
import pytest

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.relations import (
    PREDICATES,
    RelationConfig,
    candidate_pairs,
    spatial_relations,
)
from vlm_seg_ros.errors import InvalidInputError


def box(x: float, y: float, z: float, size: tuple[float, float, float],
        yaw: float = 0.0) -> OrientedBox:
    """Return a box whose base is at height ``z``."""
    return OrientedBox(np.array([x, y, z + size[2] / 2]), np.array(size), yaw)


def facts(relations: list) -> dict[tuple[int, str, int], float]:
    return {(r.subject, r.predicate, r.object): r.confidence for r in relations}


def test_a_cup_on_a_table_and_a_box_under_it() -> None:
    table = box(3.0, 0.0, 0.0, (1.6, 0.8, 0.75), yaw=0.4)
    cup = box(3.2, 0.1, 0.76, (0.1, 0.1, 0.12))
    crate = box(2.9, -0.1, 0.0, (0.4, 0.3, 0.3))
    found = facts(spatial_relations([table, cup, crate], ids=[10, 11, 12]))
    assert found[(11, 'on', 10)] > 0.9
    assert found[(10, 'under', 11)] == found[(11, 'on', 10)]
    assert found[(12, 'under', 10)] > 0.9
    assert (10, 'on', 11) not in found and (12, 'on', 10) not in found
    # Stacked things are not also left/right/in front/behind of each other.
    assert not any(k[0] in (10, 11) and k[2] in (10, 11) and k[1] not in ('on', 'under', 'near')
                   for k in found)


def test_a_cup_beside_the_table_is_not_on_it() -> None:
    table = box(3.0, 0.0, 0.0, (1.6, 0.8, 0.75))
    hovering = box(3.0, 0.0, 1.5, (0.1, 0.1, 0.12))  # far above the top: no contact
    beside = box(3.0, 1.2, 0.7, (0.1, 0.1, 0.12))  # at table height but off its footprint
    found = facts(spatial_relations([table, hovering, beside]))
    assert (1, 'on', 0) not in found and (2, 'on', 0) not in found


def test_directions_are_judged_from_the_viewpoint() -> None:
    # The viewer at the origin looks along +x; y is to its left (REP 103).
    chair = box(5.0, 0.0, 0.0, (0.5, 0.5, 1.0))
    left = box(5.0, 1.5, 0.0, (0.5, 0.5, 1.0))
    behind = box(7.0, 0.0, 0.0, (0.5, 0.5, 1.0))
    found = facts(spatial_relations([chair, left, behind], ids=[1, 2, 3]))
    assert found[(2, 'left_of', 1)] > 0.95 and found[(1, 'right_of', 2)] > 0.95
    assert found[(3, 'behind', 1)] > 0.95 and found[(1, 'in_front_of', 3)] > 0.95
    assert (2, 'behind', 1) not in found and (3, 'left_of', 1) not in found
    # Seen from the other side of the scene, left and right swap.
    opposite = facts(spatial_relations([chair, left, behind], ids=[1, 2, 3],
                                       viewpoint=(12.0, 0.0, 0.0)))
    assert (2, 'right_of', 1) in opposite and (3, 'in_front_of', 1) in opposite


def test_a_diagonal_neighbour_gets_two_directions() -> None:
    found = facts(spatial_relations([box(5, 0, 0, (0.4, 0.4, 1)), box(6, 1, 0, (0.4, 0.4, 1))]))
    assert found[(1, 'left_of', 0)] > 0.5 and found[(1, 'behind', 0)] > 0.5


def test_near_uses_the_gap_between_boxes_not_the_centres() -> None:
    bus = box(0.0, 0.0, 0.0, (12.0, 2.5, 3.0))
    bike = box(7.0, 0.0, 0.0, (1.8, 0.6, 1.2))  # centres 7 m apart, 0.1 m gap
    far = box(0.0, 5.0, 0.0, (0.5, 0.5, 1.0))  # 3.5 m gap
    found = facts(spatial_relations([bus, bike, far], config=RelationConfig(near_distance=1.0)))
    assert found[(1, 'near', 0)] == pytest.approx(0.9, abs=0.05)
    assert found[(0, 'near', 1)] == found[(1, 'near', 0)]
    assert (2, 'near', 0) not in found


def test_every_relation_is_valid() -> None:
    rng = np.random.default_rng(0)
    boxes = [box(*rng.uniform(-10, 10, 2), rng.uniform(0, 1), tuple(rng.uniform(0.2, 2, 3)),
                 rng.uniform(-1.5, 1.5)) for _ in range(200)]
    relations = spatial_relations(boxes)
    assert relations
    for relation in relations:
        assert relation.predicate in PREDICATES
        assert 0 <= relation.confidence <= 1
        assert relation.subject != relation.object


def test_candidate_pairs_find_every_close_pair_and_few_others() -> None:
    rng = np.random.default_rng(1)
    boxes = [box(*rng.uniform(0, 100, 2), 0.0, (0.5, 0.5, 1.0)) for _ in range(500)]
    boxes.append(box(50.0, 50.0, 0.0, (40.0, 2.0, 3.0)))  # one long wall
    pairs = {tuple(sorted(p)) for p in candidate_pairs(boxes, 1.0).tolist()}
    relations = spatial_relations(boxes, config=RelationConfig(near_distance=1.0,
                                                               direction_distance=1.0))
    for r in relations:
        assert tuple(sorted((r.subject, r.object))) in pairs
    # Every box touching the wall's footprint circle region pairs with it.
    assert sum(500 in p for p in pairs) > 5
    assert len(pairs) < 5 * len(boxes)


def test_bad_arguments_raise_input_errors() -> None:
    boxes = [box(0, 0, 0, (1, 1, 1)), box(1, 0, 0, (1, 1, 1))]
    with pytest.raises(InvalidInputError, match='ids'):
        spatial_relations(boxes, ids=[1])
    with pytest.raises(InvalidInputError, match='viewpoint'):
        spatial_relations(boxes, viewpoint=(0, 0))
    assert spatial_relations([]) == [] and spatial_relations(boxes[:1]) == []
