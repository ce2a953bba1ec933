"""Benchmark: segmentation + tracking per LiDAR scan, and relations, against baselines.

Run after ``scripts/setup`` and ``source ./activate``::

    python benchmarks/geometry.py [--repeat 20] [--data ../shared/data]

Figures are medians of ``--repeat`` runs, each with its ratio to a baseline measured in the
same run:

- the whole geometry (crop, ground, clusters, boxes, tracking, relations) per real KITTI scan
  (~120k points) vs the 100 ms period of a 10 Hz LiDAR, vs the naive baseline (open3d DBSCAN
  on all points, once), and vs copying the scan once (memcpy, the floor of any per-scan work);
- scaling with per-stage times (goal, issue 20: <= 15 ms at 120k points, <= 30 ms at 262k, one
  core): unorganised clouds of 30k / 120k / 262k points (the SemanticKITTI scan subsampled,
  as is, and doubled with 1 cm jitter, the density of a 128-beam sensor) and organised
  ray-cast 128-beam scans (131k and 262k rays, NaN where a ray hits nothing), each with
  every point to Patchwork++ and with ``segmentation.ground.resolution`` 0.2 m (and, at 262k
  unorganised, ``voxel_size`` 0.1 m);
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
from vlm_seg_ros.core.ground import GroundConfig
from vlm_seg_ros.core.pipeline import GeometryConfig, GeometryPipeline
from vlm_seg_ros.core.relations import spatial_relations
from vlm_seg_ros.core.segmentation import SegmentationConfig
from vlm_seg_ros.datasets import kitti
from vlm_seg_ros.datasets.synthetic import Cylinder, SpinningLidar, scan
from vlm_seg_ros.tools.evaluation import dbscan_baseline

SCAN_PERIOD_MS = 100.0
STAGES = ('crop', 'voxel', 'ground', 'cluster', 'objects', 'tracking', 'relations')


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
    """Median ms of the whole geometry per scan over all scans; median ms per stage."""
    totals: list[float] = []
    stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
    stamp = 0
    for _ in range(repeat + 1):
        for points in scans:
            stamp += round(SCAN_PERIOD_MS * 1e6)  # ns
            start = time.perf_counter()
            frame = pipeline.process(points, stamp)
            totals.append(time.perf_counter() - start)
            for stage in STAGES:
                stages[stage].append(frame.timings.get(stage, 0.0))
    warm = len(scans)  # the first round warms up
    return (1000 * statistics.median(totals[warm:]),
            {stage: 1000 * statistics.median(values[warm:]) for stage, values in stages.items()})


def street(beams: int, columns: int) -> npt.NDArray[np.float32]:
    """Ray-cast an organised scan of a street: parked cars, people, poles (NaN for misses)."""
    rng = np.random.default_rng(1)
    shapes: list[OrientedBox | Cylinder] = []
    for column in range(-40, 41, 6):  # two rows of parked cars
        for row in (-5.0, 5.0):
            shapes.append(OrientedBox(np.array([column + rng.uniform(-1, 1), row, -0.98]),
                                      np.array([4.3, 1.8, 1.5]), float(rng.uniform(-0.1, 0.1))))
    for _ in range(20):  # people and poles on the pavements
        x, y = float(rng.uniform(-40, 40)), float(rng.choice([-8.0, 8.0]) + rng.uniform(-1, 1))
        shapes.append(Cylinder((x, y, -0.85), 0.25, 1.75))
    lidar = SpinningLidar(beams=beams, columns=columns, min_elevation=-25.0,
                          max_elevation=15.0, max_range=120.0)
    points, _ = scan(shapes, lidar=lidar, noise=0.01, organized=True)
    return points


def memcpy_ms(points: npt.NDArray[np.float32], repeat: int) -> float:
    """Median ms to copy the scan's (N, 3) array once: the floor under any work on every point.

    The copy is of a contiguous array (a reader's x, y, z out of wider rows is a slower gather).
    """
    return median_ms(np.ascontiguousarray(points).copy, max(repeat, 20))


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
    copy = memcpy_ms(scans[-1], args.repeat)
    print('whole geometry per scan (crop, ground, clusters, boxes, tracking, relations)')
    print(f'  {"median per scan":<40} {total:9.1f} ms   {100 * total / SCAN_PERIOD_MS:5.1f} % '
          f'of the 100 ms scan period')
    print('  ' + ', '.join(f'{stage} {ms:.1f}' for stage, ms in stages.items()) + ' ms')
    print(f'  {"naive baseline: open3d DBSCAN, all points":<40} {dbscan:9.1f} ms   '
          f'{dbscan / total:5.1f}x ours')
    print(f'  {"memcpy of the scan (in-run baseline)":<40} {copy:9.3f} ms   '
          f'ours = {total / copy:5.0f}x')

    print('scaling, one core: per stage (ms); goal <= 15 ms at 120k points, <= 30 ms at 262k')
    base = scans[-1]
    clouds = [(f'{count // 1000}k unorganised', scaled(base, count, rng))
              for count in (30_000, 120_000, 262_000)]
    clouds += [(f'{beams * columns // 1000}k organised {beams}x{columns}',
                street(beams, columns)) for beams, columns in ((128, 1024), (128, 2048))]
    for name, cloud in clouds:
        finite = int(np.isfinite(cloud).all(axis=1).sum())
        variants = [(0.0, 0.0), (0.2, 0.0)] + ([(0.0, 0.1)] if name.startswith('262k') else [])
        for resolution, voxel in variants:
            config = GeometryConfig(segmentation=SegmentationConfig(
                voxel_size=voxel, ground=GroundConfig(resolution=resolution)))
            ms, parts = per_scan(GeometryPipeline(config), [cloud], args.repeat)
            setting = (f'voxel_size {voxel:.1f} m' if voxel
                       else f'ground resolution {resolution:.1f} m')
            print(f'  {name:<26} ({finite:>7,} hits) {setting:<23} {ms:7.1f} ms  (memcpy '
                  f'{memcpy_ms(cloud, args.repeat):.3f} ms)  '
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
