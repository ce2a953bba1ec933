"""Segmentation measured against ground truth on the real scans in ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from vlm_seg_ros.core.ground import GroundConfig
from vlm_seg_ros.core.segmentation import SegmentationConfig, Segmenter
from vlm_seg_ros.datasets import semantickitti
from vlm_seg_ros.tools.evaluation import (
    evaluate_kitti,
    evaluate_semantickitti,
    ground_score,
    instance_score,
)


@pytest.fixture(scope='module')
def semantic_report(semantickitti_dir: Path) -> dict:
    return evaluate_semantickitti(semantickitti_dir, Segmenter(), baseline=True)


def test_ground_f1_on_semantickitti_reaches_the_goal(semantic_report: dict) -> None:
    ground = semantic_report['segmenter']['ground']
    assert ground['f1'] >= 0.97, ground  # issue 20's floor: speed may not cost this
    # The naive baseline removes no ground at all.
    assert semantic_report['baseline']['ground']['f1'] == 0.0


def test_coarser_ground_resolution_keeps_the_ground_and_the_instances(
        semantickitti_dir: Path, semantic_report: dict) -> None:
    # segmentation.ground.resolution 0.2: Patchwork++ on a third of the points. Measured:
    # F1 0.9720 against 0.9732 with every point; instances as with every point.
    coarse = evaluate_semantickitti(semantickitti_dir, Segmenter(SegmentationConfig(
        ground=GroundConfig(resolution=0.2))), baseline=False)['segmenter']
    full = semantic_report['segmenter']
    assert coarse['ground']['f1'] >= 0.97, coarse['ground']
    assert coarse['ground']['f1'] >= full['ground']['f1'] - 0.003
    assert coarse['instances']['recall'] >= full['instances']['recall']


def test_instance_recall_on_semantickitti_reaches_the_goal(semantic_report: dict) -> None:
    ours = semantic_report['segmenter']['instances']
    assert ours['instances'] == 7  # cars and people with >= 30 points in this scan
    assert ours['recall'] >= 0.85, ours
    assert ours['recall'] > semantic_report['baseline']['instances']['recall']
    assert ours['under_segmented'] == 0


def test_kitti_labels_seen_whole_are_matched_within_a_metre(kitti_dir: Path) -> None:
    report = evaluate_kitti(kitti_dir, Segmenter(), baseline=False)['segmenter']
    assert report['labels'] == 3  # a pedestrian, a car and a truck have >= 50 points
    for match in report['matches']:
        if not match['one_face']:
            assert match['matched'], match
    # The truck 69 m ahead shows only its rear (15 % of its 12.3 m length): the box of what
    # the LiDAR saw is ~6 m short of the label's centre. Geometry alone cannot see that far
    # side; a label-size prior could (not done yet).
    truck = next(m for m in report['matches'] if m['type'] == 'Truck')
    assert truck['one_face'] and not truck['matched']


def test_metrics_on_a_tiny_hand_made_example() -> None:
    car = 10 | (1 << 16)
    person = 30 | (2 << 16)
    labels = np.array([40] * 4 + [car] * 40 + [person] * 40 + [0] * 2, dtype=np.uint32)
    predicted_ground = np.array([True] * 3 + [False] * 81 + [True] * 2)
    score = ground_score(predicted_ground, labels)
    assert score.points == 84  # unlabeled points are left out
    assert score.precision == 1.0 and score.recall == 0.75
    # Objects: the car in three pieces (16 + 14 + 10), the last with the whole person.
    objects = np.array([-1] * 4 + [0] * 16 + [1] * 14 + [2] * 10 + [2] * 40 + [-1] * 2)
    result = instance_score(objects, labels)
    assert result.instances == 2 and result.matched == 1
    assert result.over_segmented == 1  # the car: three objects each hold >= 20 % of it
    assert result.under_segmented == 1  # object 2 holds >= 20 % of the car and the person
    assert result.ious == (0.4, 0.8)


def test_semantickitti_label_split() -> None:
    value = np.array([252 | (7 << 16)], dtype=np.uint32)
    assert semantickitti.semantic(value)[0] == 252
    assert semantickitti.instance(value)[0] == 7


def test_evaluation_command_prints_json(semantickitti_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, '-m', 'vlm_seg_ros.tools.evaluation', '--data',
         str(semantickitti_dir.parent), '--no-baseline', '--json'],
        capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(result.stdout)  # nothing but JSON on stdout (Patchwork++ is quiet)
    assert report['semantickitti_scan_spvnas_sample']['segmenter']['ground']['f1'] >= 0.95
