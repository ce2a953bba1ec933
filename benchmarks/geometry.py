"""Benchmark: segmentation + tracking per LiDAR scan, and relations, against baselines.

Run after ``scripts/setup`` and ``source ./activate``::

    python benchmarks/geometry.py [--repeat 20] [--data ../shared/data]

Figures are medians of ``--repeat`` runs, each with its ratio to a baseline measured in the
same run:

- segmentation + tracking per real KITTI scan (~120k points) vs the 100 ms period of a 10 Hz
  LiDAR (goal: <= 50 %), and vs the naive baseline (open3d DBSCAN on all points, once);
- scaling at 30k / 120k / 260k points (the SemanticKITTI scan subsampled, as is, and doubled
  with 1 cm jitter, the density of a 128-beam sensor), with per-stage times;
- spatial relations for 10 / 100 / 1000 boxes at constant density (a 10 x 10 m patch holds
  10 boxes), vs testing every pair (the quadratic way).

Without the shared data a synthetic ray-cast scan stands in for the real ones.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import os
from pathlib import Path
import platform
import statistics
import time

import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.pipeline import GeometryConfig, GeometryPipeline
from vlm_seg_ros.core.relations import spatial_relations
from vlm_seg_ros.core.segmentation import SegmentationConfig
from vlm_seg_ros.datasets import kitti
from vlm_seg_ros.datasets.synthetic import scan
from vlm_seg_ros.tools.evaluation import dbscan_baseline

SCAN_PERIOD_MS = 100.0
STAGES = ('crop', 'voxel', 'ground', 'cluster', 'objects', 'tracking')


def median_ms(function: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``function`` in milliseconds (after one warm-up call)."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def load_scans(data: Path) -> tuple[str, list[npt.NDArray[np.float32]]]:
    """Return the real scans (3 KITTI frames + the SemanticKITTI scan) or synthetic ones."""
    scans = [kitti.read_velodyne(path)[:, :3] for path in
             sorted((data / 'kitti_object_training_3frames' / 'velodyne').glob('*.bin'))]
    semantic = data / 'semantickitti_scan_spvnas_sample' / '000000.bin'
    if semantic.is_file():
        scans.append(kitti.read_velodyne(semantic)[:, :3])
    if scans:
        return 'real HDL-64E scans (KITTI object + SemanticKITTI)', scans
    boxes = [OrientedBox(np.array([x, y, -1.0]), np.array([4.0, 1.8, 1.5]), 0.3)
             for x, y in ((8, 3), (-6, 4), (15, -5), (25, 8))]
    return 'synthetic ray-cast scans (shared data not found)', [scan(boxes)[0]]


def per_scan(pipeline: GeometryPipeline, scans: list[npt.NDArray[np.float32]],
             repeat: int) -> tuple[float, dict[str, float]]:
    """Median ms of segmentation + tracking per scan over all scans; median ms per stage."""
    totals: list[float] = []
    stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
    stamp = 0
    for _ in range(repeat + 1):
        for points in scans:
            stamp += round(SCAN_PERIOD_MS * 1e6)  # ns
            start = time.perf_counter()
            segmentation = pipeline.segmenter.segment(points)
            pipeline.tracker.update([o.box for o in segmentation.objects], stamp)
            totals.append(time.perf_counter() - start)
            tracking = totals[-1] - sum(segmentation.timings.values())
            for stage in STAGES:
                stages[stage].append(segmentation.timings.get(stage, tracking))
    warm = len(scans)  # the first round warms up
    return (1000 * statistics.median(totals[warm:]),
            {stage: 1000 * statistics.median(values[warm:]) for stage, values in stages.items()})


def scaled(points: npt.NDArray[np.float32], count: int,
           rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """``points`` subsampled to ``count``, or repeated with 1 cm jitter up to ``count``."""
    if count <= len(points):
        return points[rng.choice(len(points), count, replace=False)]
    copies = [points]
    while sum(len(c) for c in copies) < count:
        copies.append(points + rng.normal(0, 0.01, points.shape).astype(np.float32))
    return np.vstack(copies)[:count]


def boxes_at_density(count: int, rng: np.random.Generator) -> list[OrientedBox]:
    """``count`` boxes of 0.3-2 m scattered at 10 per 100 m^2, some stacked on others."""
    side = 10.0 * np.sqrt(count / 10)
    boxes: list[OrientedBox] = []
    for k in range(count):
        size = rng.uniform(0.3, 2.0, 3)
        if k % 10 == 9:  # something on the previous box
            below = boxes[-1]
            boxes.append(OrientedBox(below.center + [0, 0, below.size[2] / 2 + 0.1],
                                     np.full(3, 0.2), 0.0))
            continue
        x, y = rng.uniform(0, side, 2)
        boxes.append(OrientedBox(np.array([x, y, size[2] / 2]), size,
                                 float(rng.uniform(-1.5, 1.5))))
    return boxes


def all_pairs_relations(boxes: list[OrientedBox]) -> object:
    """Run the same tests on every pair of boxes (the quadratic way)."""
    first, second = np.triu_indices(len(boxes), k=1)
    return spatial_relations(boxes, pairs=np.column_stack([first, second]))


def main() -> None:
    """Print every figure."""
    default = Path(os.environ.get('VLM_SEG_ROS_DATA',
                                  Path(__file__).resolve().parents[2] / 'shared' / 'data'))
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeat', type=int, default=20, help='runs per figure (median)')
    parser.add_argument('--data', type=Path, default=default, help='shared data folder')
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f'vlm_seg_ros geometry benchmark: {platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} cores, repeat {args.repeat}')
    source, scans = load_scans(args.data)
    mean_points = int(np.mean([len(s) for s in scans]))
    print(f'scans: {source}, {len(scans)} scans, {mean_points:,} points on average')

    pipeline = GeometryPipeline()
    total, stages = per_scan(pipeline, scans, args.repeat)
    dbscan = median_ms(lambda: dbscan_baseline(scans[-1], pipeline.config.segmentation),
                       1)
    print('segmentation + tracking per scan')
    print(f'  {"median per scan":<40} {total:9.1f} ms   {100 * total / SCAN_PERIOD_MS:5.1f} % '
          f'of the 100 ms scan period (goal <= 50 %)')
    print('  ' + ', '.join(f'{stage} {ms:.1f}' for stage, ms in stages.items()) + ' ms')
    print(f'  {"naive baseline: open3d DBSCAN, all points":<40} {dbscan:9.1f} ms   '
          f'{dbscan / total:5.1f}x ours')

    print('scaling (SemanticKITTI scan resampled)')
    base = scans[-1]
    for count, voxel in ((30_000, 0.0), (120_000, 0.0), (260_000, 0.0), (260_000, 0.1)):
        cloud = scaled(base, count, rng)
        config = GeometryConfig(segmentation=SegmentationConfig(voxel_size=voxel))
        ms, parts = per_scan(GeometryPipeline(config), [cloud], args.repeat)
        print(f'  {count:>9,} points, voxel {voxel:.1f} m {ms:7.1f} ms   '
              f'{100 * ms / SCAN_PERIOD_MS:5.1f} % of 100 ms   '
              + ', '.join(f'{s} {v:.1f}' for s, v in parts.items()))

    print('spatial relations, boxes at constant density (10 per 100 m^2)')
    for count in (10, 100, 1000):
        boxes = boxes_at_density(count, rng)
        ours = median_ms(lambda: spatial_relations(boxes), args.repeat)  # noqa: B023
        brute = median_ms(lambda: all_pairs_relations(boxes),  # noqa: B023
                          max(1, args.repeat // 4))
        print(f'  {count:>5} boxes {ours:9.2f} ms   ({1000 * ours / count:6.1f} us per box; '
              f'all pairs tested: {brute:9.2f} ms, {brute / ours:6.1f}x)')


if __name__ == '__main__':
    main()
