"""Measure geometric segmentation against ground truth on real LiDAR scans.

Run from the repository root after ``scripts/setup`` and ``source ./activate``::

    python -m vlm_seg_ros.tools.evaluation [--data ../shared/data] [--json]

Two datasets, each optional (a missing one is reported and skipped):

- ``semantickitti_scan_spvnas_sample``: one HDL-64E scan with per-point labels. Ground
  precision/recall/F1 over labelled points (ground = road, parking, sidewalk, other-ground,
  terrain; unlabeled and outlier points are left out), and instance recall: the share of thing
  instances (car, truck, other-vehicle, person, bicyclist, motorcyclist, bicycle, motorcycle,
  static or moving) with >= 30 points matched by one object at point IoU >= 0.5, plus over-
  and under-segmentation counts.
- ``kitti_object_training_3frames``: every Car, Van, Truck, Pedestrian and Cyclist label with
  >= 50 scan points in its 3D box must be matched by an object whose box centre is within
  1 m of the label's; mean centre and size errors of the matches.

Each is run for this package's segmenter and for a naive baseline in the same run: DBSCAN
(open3d) on all points in range, with no ground removal.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import asdict, dataclass
import json
import os
from pathlib import Path
import sys
import time

import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.segmentation import Segmentation, SegmentationConfig, Segmenter
from vlm_seg_ros.datasets import kitti, semantickitti

KITTI_CLASSES = ('Car', 'Van', 'Truck', 'Pedestrian', 'Cyclist')
MIN_INSTANCE_POINTS = 30
MIN_IOU = 0.5
MIN_BOX_POINTS = 50
MAX_CENTRE_DISTANCE = 1.0
# Labels whose points span less than this share of their length were seen from one face.
ONE_FACE_SHARE = 0.5
# A ground-truth instance is over-segmented when two or more objects each hold at least this
# share of its points; an object is under-segmented when it holds at least this share of the
# points of each of two or more instances.
SEGMENT_SHARE = 0.2


@dataclass(frozen=True)
class GroundScore:
    """Ground classification against labels: precision, recall, F1 over ``points``."""

    precision: float
    recall: float
    f1: float
    points: int


@dataclass(frozen=True)
class InstanceScore:
    """Instance recall at point IoU >= 0.5, and segmentation error counts."""

    instances: int
    matched: int
    recall: float
    over_segmented: int
    under_segmented: int
    ious: tuple[float, ...]


@dataclass(frozen=True)
class BoxMatch:
    """One KITTI label with enough points, and the nearest object's box centre."""

    frame: str
    type: str
    points: int
    range: float
    centre_distance: float
    size_error: tuple[float, float, float]
    visible_length: float

    @property
    def one_face(self) -> bool:
        """Whether the scan saw under half the object's length (e.g. only a truck's rear).

        The centre of such an object is not observable from the points: the box of what was
        seen lies up to half the length short of it.
        """
        return self.visible_length < ONE_FACE_SHARE

    @property
    def matched(self) -> bool:
        """Whether the nearest object's centre is within 1 m of the label's."""
        return self.centre_distance <= MAX_CENTRE_DISTANCE


def ground_score(predicted: npt.NDArray[np.bool_],
                 labels: npt.NDArray[np.uint32]) -> GroundScore:
    """Score a per-point ground mask against SemanticKITTI labels (labelled points only)."""
    semantic = semantickitti.semantic(labels)
    valid = (semantic != semantickitti.UNLABELED) & (semantic != semantickitti.OUTLIER)
    truth = np.isin(semantic, list(semantickitti.GROUND_CLASSES))
    true_positive = int((predicted & truth & valid).sum())
    predicted_count = int((predicted & valid).sum())
    truth_count = int((truth & valid).sum())
    precision = true_positive / predicted_count if predicted_count else 0.0
    recall = true_positive / truth_count if truth_count else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return GroundScore(precision, recall, f1, int(valid.sum()))


def instance_score(object_labels: npt.NDArray[np.integer], labels: npt.NDArray[np.uint32], *,
                   min_points: int = MIN_INSTANCE_POINTS,
                   min_iou: float = MIN_IOU) -> InstanceScore:
    """Match thing instances (>= ``min_points``) to objects (per-point index, -1 = none)."""
    semantic = semantickitti.semantic(labels)
    is_thing = np.isin(semantic, list(semantickitti.THING_CLASSES)) & (
        semantickitti.instance(labels) > 0)
    _, instance_of, sizes = np.unique(labels[is_thing], return_inverse=True,
                                         return_counts=True)
    object_of = np.asarray(object_labels)[is_thing]
    object_sizes = np.bincount(object_labels[object_labels >= 0]) if (object_labels >= 0).any() \
        else np.zeros(0, dtype=np.int64)
    # Points shared by each (instance, object) pair.
    assigned = object_of >= 0
    pairs, shared = np.unique(np.column_stack([instance_of[assigned], object_of[assigned]]),
                              axis=0, return_counts=True)
    evaluated = np.flatnonzero(sizes >= min_points)
    ious: list[float] = []
    over = 0
    for key in evaluated:
        rows = pairs[:, 0] == key
        inter = shared[rows]
        objects = pairs[rows, 1]
        union = sizes[key] + object_sizes[objects] - inter
        ious.append(float((inter / union).max()) if len(inter) else 0.0)
        over += int((inter >= SEGMENT_SHARE * sizes[key]).sum() >= 2)
    big = np.isin(pairs[:, 0], evaluated) & (shared >= SEGMENT_SHARE * sizes[pairs[:, 0]])
    objects_holding, counts = np.unique(pairs[big, 1], return_counts=True)
    under = int((counts >= 2).sum())
    matched = sum(iou >= min_iou for iou in ious)
    return InstanceScore(len(evaluated), matched, matched / len(evaluated) if ious else 0.0,
                         over, under, tuple(round(iou, 3) for iou in ious))


def kitti_box_matches(frame: str, points: npt.NDArray[np.floating],
                      calibration: kitti.KittiCalibration, objects: Sequence[kitti.KittiObject],
                      centres: npt.NDArray[np.float64],
                      sizes: npt.NDArray[np.float64]) -> list[BoxMatch]:
    """Pair each KITTI label with >= 50 points to the object centre (LiDAR frame) nearest it."""
    points_rect = calibration.velo_to_rect(points[:, :3])
    centres_rect = calibration.velo_to_rect(centres) if len(centres) else np.zeros((0, 3))
    matches = []
    for label in objects:
        if label.type not in KITTI_CLASSES:
            continue
        inside = label.contains(points_rect)
        count = int(inside.sum())
        if count < MIN_BOX_POINTS:
            continue
        # Extent of the points along the box's length (x rotated by rotation_y about y).
        along = (np.cos(label.rotation_y) * points_rect[inside, 0]
                 - np.sin(label.rotation_y) * points_rect[inside, 2])
        distance = np.linalg.norm(centres_rect - label.centre, axis=1)
        nearest = int(distance.argmin()) if len(distance) else -1
        height, width, length = label.dimensions
        if nearest >= 0:
            size = sizes[nearest]
            error = (abs(size[0] - max(length, width)), abs(size[1] - min(length, width)),
                     abs(size[2] - height))
        else:
            error = (float('nan'),) * 3
        matches.append(BoxMatch(frame, label.type, count,
                                float(np.hypot(label.centre[0], label.centre[2])),
                                float(distance[nearest]) if nearest >= 0 else float('inf'),
                                tuple(float(e) for e in error),  # type: ignore[arg-type]
                                float(np.ptp(along) / label.dimensions[2])))
    return matches


def dbscan_baseline(points: npt.NDArray[np.floating], config: SegmentationConfig, *,
                    eps: float = 0.5, min_points: int = 5) -> npt.NDArray[np.int64]:
    """Cluster all cropped points with open3d's DBSCAN, no ground removal; -1 = noise/crop."""
    import open3d as o3d

    from vlm_seg_ros.core.segmentation import crop_mask

    xyz = np.asarray(points[:, :3], dtype=np.float64)
    kept = np.flatnonzero(crop_mask(xyz, config))
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz[kept]))
    labels = np.full(len(xyz), -1, dtype=np.int64)
    labels[kept] = np.asarray(cloud.cluster_dbscan(eps=eps, min_points=min_points))
    return labels


def _boxes(labels: npt.NDArray[np.integer], points: npt.NDArray[np.floating]) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Centres and sizes of the yaw boxes of each labelled group of points (baseline)."""
    from vlm_seg_ros.core.boxes import oriented_box

    boxes = [oriented_box(points[labels == k, :3]) for k in range(int(labels.max()) + 1)]
    if not boxes:
        return np.zeros((0, 3)), np.zeros((0, 3))
    return np.array([b.center for b in boxes]), np.array([b.size for b in boxes])


def _object_boxes(result: Segmentation) -> tuple[npt.NDArray[np.float64],
                                                 npt.NDArray[np.float64]]:
    if not result.objects:
        return np.zeros((0, 3)), np.zeros((0, 3))
    return (np.array([o.box.center for o in result.objects]),
            np.array([o.box.size for o in result.objects]))


def evaluate_semantickitti(folder: Path, segmenter: Segmenter, *,
                           baseline: bool = True) -> dict[str, object]:
    """Score the segmenter (and the baseline) on the labelled scan in ``folder``."""
    points = kitti.read_velodyne(folder / '000000.bin')
    labels = semantickitti.read_labels(folder / '000000.label', len(points))
    segmenter.segment(points[:, :3])  # warm-up: first-call allocations are not the method
    start = time.perf_counter()
    result = segmenter.segment(points[:, :3])
    elapsed = time.perf_counter() - start
    report: dict[str, object] = {
        'points': len(points),
        'segmenter': {
            'ground': asdict(ground_score(result.ground, labels)),
            'instances': asdict(instance_score(result.labels, labels)),
            'objects': len(result.objects),
            'seconds': elapsed,
        },
    }
    if baseline:
        start = time.perf_counter()
        naive = dbscan_baseline(points, segmenter.config)
        elapsed = time.perf_counter() - start
        report['baseline'] = {
            'ground': asdict(ground_score(np.zeros(len(points), dtype=bool), labels)),
            'instances': asdict(instance_score(naive, labels)),
            'objects': int(naive.max()) + 1,
            'seconds': elapsed,
        }
    return report


def evaluate_kitti(folder: Path, segmenter: Segmenter, *,
                   baseline: bool = True) -> dict[str, object]:
    """Match the segmenter's (and the baseline's) objects to the labels of every frame."""
    ours: list[BoxMatch] = []
    naive: list[BoxMatch] = []
    for scan in sorted((folder / 'velodyne').glob('*.bin')):
        frame = scan.stem
        points = kitti.read_velodyne(scan)
        calibration = kitti.read_calibration(folder / 'calib' / f'{frame}.txt')
        objects = kitti.read_labels(folder / 'label_2' / f'{frame}.txt')
        result = segmenter.segment(points[:, :3])
        ours += kitti_box_matches(frame, points, calibration, objects, *_object_boxes(result))
        if baseline:
            labels = dbscan_baseline(points, segmenter.config)
            naive += kitti_box_matches(frame, points, calibration, objects,
                                       *_boxes(labels, points))
    report: dict[str, object] = {'segmenter': _summary(ours)}
    if baseline:
        report['baseline'] = _summary(naive)
    return report


def _summary(matches: list[BoxMatch]) -> dict[str, object]:
    hits = [m for m in matches if m.matched]
    return {
        'labels': len(matches),
        'matched': len(hits),
        'seen_whole': sum(not m.one_face for m in matches),
        'matched_seen_whole': sum(m.matched and not m.one_face for m in matches),
        'mean_centre_error': float(np.mean([m.centre_distance for m in hits])) if hits else None,
        'mean_size_error': (np.mean([m.size_error for m in hits], axis=0).round(3).tolist()
                            if hits else None),
        'matches': [{**asdict(m), 'matched': m.matched, 'one_face': m.one_face}
                    for m in matches],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate on the shared data; print a table (or JSON); exit 1 if no dataset is found."""
    # The module runs from the install prefix, so the default is relative to the current
    # folder: ../shared/data seen from the repository root.
    default = Path(os.environ.get('VLM_SEG_ROS_DATA', Path('..') / 'shared' / 'data'))
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', type=Path, default=default,
                        help='folder holding the two datasets (default: %(default)s)')
    parser.add_argument('--no-baseline', action='store_true', help='skip the DBSCAN baseline')
    parser.add_argument('--json', action='store_true', help='print the report as JSON')
    args = parser.parse_args(argv)
    segmenter = Segmenter()
    report: dict[str, object] = {}
    for name, function in (('semantickitti_scan_spvnas_sample', evaluate_semantickitti),
                           ('kitti_object_training_3frames', evaluate_kitti)):
        folder = args.data / name
        if folder.is_dir():
            report[name] = function(folder, segmenter, baseline=not args.no_baseline)
        else:
            print(f'skipping {name}: not found in {args.data}', file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report)
    return 0 if report else 1


def _print_report(report: dict[str, object]) -> None:
    semantic = report.get('semantickitti_scan_spvnas_sample')
    if isinstance(semantic, dict):
        print(f"SemanticKITTI scan, {semantic['points']} points")
        for who in ('segmenter', 'baseline'):
            if who not in semantic:
                continue
            r = semantic[who]
            g, i = r['ground'], r['instances']
            print(f"  {who:9s} ground P {g['precision']:.3f} R {g['recall']:.3f} "
                  f"F1 {g['f1']:.3f} | instances {i['matched']}/{i['instances']} "
                  f"recall {i['recall']:.2f} (IoU {list(i['ious'])}) over-seg "
                  f"{i['over_segmented']} under-seg {i['under_segmented']} | "
                  f"{r['objects']} objects, {1000 * r['seconds']:.0f} ms")
    boxes = report.get('kitti_object_training_3frames')
    if isinstance(boxes, dict):
        print('KITTI object frames (labels with >= 50 points)')
        for who in ('segmenter', 'baseline'):
            if who not in boxes:
                continue
            r = boxes[who]
            centre = r['mean_centre_error']
            print(f"  {who:9s} matched {r['matched']}/{r['labels']} within 1 m "
                  f"({r['matched_seen_whole']}/{r['seen_whole']} of those seen over >= half "
                  f"their length); mean centre error "
                  f"{'-' if centre is None else f'{centre:.2f} m'}, mean size error "
                  f"(l, w, h) {r['mean_size_error']} m")
            for m in r['matches']:
                print(f"    {m['frame']} {m['type']:10s} {m['points']:5d} pts at "
                      f"{m['range']:5.1f} m, {100 * m['visible_length']:3.0f} % of its length "
                      f"seen: nearest centre {m['centre_distance']:.2f} m")


if __name__ == '__main__':
    sys.exit(main())
