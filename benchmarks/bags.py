"""Benchmark: process-bag's throughput, against the pipeline alone on the same frames.

Run after ``scripts/setup`` and ``source ./activate``::

    python benchmarks/bags.py [--frames 30]

Writes the demo scene as a 10 Hz bag (a 960x540 camera image and a ~100k-point scan per
frame, MCAP), runs ``process-bag`` on it geometry-only (every output enabled, written to a new
bag), and in the same run the scene pipeline alone on the same decoded frames. It prints the
time per frame of both, their ratio (what reading, decoding, building the output messages and
writing cost on top of the pipeline) and process-bag's speed against the 10 Hz recording.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import platform
import statistics
import tempfile
import time

from vlm_seg_ros.core.scene import CameraView, SceneConfig, ScenePipeline
from vlm_seg_ros.core.segmentation import SegmentationConfig
from vlm_seg_ros.core.stamps import seconds_to_ns
from vlm_seg_ros.datasets.demo_bag import write_demo_bag
from vlm_seg_ros.datasets.demo_scene import demo_scene
from vlm_seg_ros.tools.process_bag import main as process_bag

RECORDING_HZ = 10.0


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=30, help='frames in the bag (default 30)')
    args = parser.parse_args()
    print(f'vlm_seg_ros bag benchmark: {platform.machine()}, {os.cpu_count()} cores, '
          f'{args.frames} frames of the demo scene (960x540 image, 64-beam scan)')
    with tempfile.TemporaryDirectory() as folder:
        source, output = Path(folder) / 'recording', Path(folder) / 'annotated'
        write_demo_bag(source, args.frames)
        started = time.perf_counter()
        code = process_bag([str(source), str(output), '--quiet', '--no-models',
                            '-p', 'segmentation.max_range:=30.0'])
        bag_seconds = time.perf_counter() - started
        if code != 0:
            raise SystemExit(f'process-bag failed with exit code {code}')
        size = sum(p.stat().st_size for p in output.rglob('*') if p.is_file())

    scene = demo_scene()
    image, _ = scene.render()
    camera = CameraView(image, scene.camera, scene.lidar_to_camera)
    scans = [scene.scan(seed=index)[0] for index in range(args.frames)]
    pipeline = ScenePipeline(SceneConfig(segmentation=SegmentationConfig(max_range=30.0)))
    times = []
    for index, points in enumerate(scans):
        started = time.perf_counter()
        pipeline.process(points, seconds_to_ns(index / RECORDING_HZ), camera=camera)
        times.append(time.perf_counter() - started)
    alone = statistics.fmean(times) * 1e3
    per_frame = bag_seconds / args.frames * 1e3
    print(f'  process-bag, per frame (whole run / frames)   {per_frame:7.1f} ms   '
          f'{1e3 / per_frame:5.1f} frames/s = {1e3 / per_frame / RECORDING_HZ:.2f}x the '
          f'{RECORDING_HZ:g} Hz recording')
    print(f'  pipeline alone on the same frames (mean)     {alone:7.1f} ms')
    print(f'  process-bag / pipeline alone                 {per_frame / alone:7.2f}x   (reading, '
          'decoding, output messages, writing, start-up)')
    print(f'  output bag                                   {size / 1e6:7.1f} MB '
          f'({size / 1e6 / args.frames:.2f} MB per frame)')


if __name__ == '__main__':
    main()
