"""Benchmark: perception_node end to end, input stamp -> ~/scene_graph, at 10 Hz and overloaded.

Run after ``scripts/setup`` and ``source ./activate``::

    python benchmarks/latency.py [--seconds 20] [--data ../shared/data]

perception_node runs in its own process (started like ``python -m vlm_seg_ros.bringup``, with
the shipped config and Fast DDS profile); this process plays the sensors: a KITTI frame
(~120k-point PointCloud2, 1242x375 rgb8 Image, CameraInfo) stamped with the current time, at
the input rate. Geometry only (no models). For each rate it prints:

- latency from the input stamp to the graph's arrival here: p50 / p95 / max, and the ratio of
  p50 to the in-process pipeline time measured in the same run (the baseline: what ROS adds);
- processed rate vs input rate, and frames without a graph (skipped by the node's latest-only
  worker when busy: the proof that nothing queues);
- p50 latency over the first and the last quarter of the run (equal when nothing builds up).

Without the shared data a synthetic 120k-point ray-cast scan and a grey image stand in.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import os
from pathlib import Path
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from vlm_seg_ros import bringup
from vlm_seg_ros.conversions import array_to_image, xyz_to_pointcloud2
from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.scene import CameraView, ScenePipeline
from vlm_seg_ros.datasets.kitti_messages import kitti_messages
from vlm_seg_ros.datasets.synthetic import SpinningLidar, scan
from vlm_seg_ros.msg import SceneGraph
from vlm_seg_ros.nodes.parameters import DEFAULT_LIDAR_TO_CAMERA, lidar_to_camera

NAMESPACE = '/latency_bench'


@dataclass
class Sensors:
    """One frame's messages and what the node needs to know about them."""

    cloud: PointCloud2
    image: Image
    info: CameraInfo
    lidar_to_camera: list[float]
    rectified: bool
    source: str


def load_frame(data: Path) -> Sensors:
    """Return the first KITTI frame, or a synthetic stand-in of the same size."""
    folder = data / 'kitti_object_training_3frames'
    if (folder / 'calib' / '000000.txt').exists():
        m = kitti_messages(folder, '000000')
        return Sensors(m.cloud, m.image, m.camera_info, m.lidar_to_camera, True,
                       'KITTI frame 000000')
    boxes = [OrientedBox(np.array([6.0 + 3 * i, 2.0 * (i % 3 - 1), -0.83]),
                         np.array([0.8, 0.8, 1.8]), 0.0) for i in range(8)]
    points, _ = scan(boxes, lidar=SpinningLidar(columns=2000))
    k = [721.5, 0.0, 609.6, 0.0, 721.5, 172.9, 0.0, 0.0, 1.0]
    info = CameraInfo(header=Header(frame_id='camera'), width=1242, height=375, k=k,
                      d=[0.0] * 5, distortion_model='plumb_bob', r=[1.0, 0, 0, 0, 1, 0, 0, 0, 1],
                      p=k[:3] + [0.0] + k[3:6] + [0.0] + k[6:] + [0.0])
    image = array_to_image(np.full((375, 1242, 3), 90, np.uint8), encoding='rgb8',
                           header=Header(frame_id='camera'))
    return Sensors(xyz_to_pointcloud2(points, Header(frame_id='lidar')), image, info,
                   DEFAULT_LIDAR_TO_CAMERA, False, f'synthetic {len(points):,}-point scan')


def in_process_ms(sensors: Sensors, repeat: int = 10) -> float:
    """Median time of the same frame through ScenePipeline alone (no ROS): the baseline."""
    from vlm_seg_ros.conversions import camera_info_to_model, image_to_array, pointcloud2_to_xyz
    from vlm_seg_ros.core.scene import CameraConfig, SceneConfig

    pipeline = ScenePipeline(SceneConfig(camera=CameraConfig(rectified=sensors.rectified)))
    view = CameraView(image_to_array(sensors.image, desired_encoding='rgb8'),
                      camera_info_to_model(sensors.info), lidar_to_camera(sensors.lidar_to_camera))
    times = []
    for i in range(repeat + 1):
        start = time.perf_counter()
        pipeline.process(pointcloud2_to_xyz(sensors.cloud), 0.1 * i, camera=view)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[1:])


def publish_for(node: Node, pubs: list[Any], sensors: Sensors, rate: float,
                seconds: float) -> list[tuple[int, int]]:
    """Publish the frame at ``rate`` Hz for ``seconds``, then listen 1 s; return the stamps."""
    sent: list[tuple[int, int]] = []
    period = 1.0 / rate
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        stamp = node.get_clock().now().to_msg()
        for message in (sensors.cloud, sensors.image, sensors.info):
            message.header.stamp = stamp
        for pub, message in zip(pubs, (sensors.cloud, sensors.image, sensors.info), strict=True):
            pub.publish(message)
        sent.append((stamp.sec, stamp.nanosec))
        deadline = start + period * len(sent)
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=max(0.0, deadline - time.monotonic()))
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    return sent


def figures(sent: list[tuple[int, int]], graphs: dict[tuple[int, int], float],
            seconds: float) -> dict[str, float]:
    """Latency and rate figures of one run (``graphs``: stamp -> latency, ms)."""
    latencies = [graphs[s] for s in sent if s in graphs]
    quarter = max(1, len(sent) // 4)
    first = [graphs[s] for s in sent[:quarter] if s in graphs]
    last = [graphs[s] for s in sent[-quarter:] if s in graphs]
    ordered = sorted(latencies)
    return {
        'sent': len(sent), 'processed': len(latencies),
        'input_hz': len(sent) / seconds, 'processed_hz': len(latencies) / seconds,
        'p50': statistics.median(latencies), 'p95': ordered[int(0.95 * (len(ordered) - 1))],
        'max': ordered[-1], 'first_p50': statistics.median(first),
        'last_p50': statistics.median(last),
    }


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=float, default=20.0, help='per rate (default 20)')
    parser.add_argument('--rates', type=float, nargs='+', default=[10.0, 25.0],
                        help='input rates, Hz (default 10 and 25: 2.5x overload)')
    parser.add_argument('--data', type=Path, default=Path('..') / 'shared' / 'data')
    args = parser.parse_args()

    sensors = load_frame(args.data)
    baseline = in_process_ms(sensors)
    print(f'machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; '
          f'input: {sensors.source}, {len(sensors.cloud.data) / 1e6:.1f} MB cloud + '
          f'{len(sensors.image.data) / 1e6:.1f} MB image')
    print(f'baseline: the same frame through ScenePipeline in-process: {baseline:.1f} ms '
          f'(median of 10)')

    with tempfile.TemporaryDirectory() as folder:
        params = Path(folder) / 'bench.yaml'
        params.write_text('/**:\n  ros__parameters:\n    camera:\n      rectified: '
                          f'{str(sensors.rectified).lower()}\n    lidar_to_camera: '
                          f'{sensors.lidar_to_camera}\n')
        [launch] = bringup.nodes({'namespace': NAMESPACE})
        command = [*launch.command(), '--params-file', str(params)]
        env = {**os.environ, **launch.env}
        os.environ.update(launch.env)  # this process plays the driver: same DDS profile
        node_proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        try:
            rclpy.init()
            node = rclpy.create_node('latency_bench_sensors')
            pubs = [node.create_publisher(t, f'{NAMESPACE}/{name}', qos_profile_sensor_data)
                    for t, name in ((PointCloud2, 'points'), (Image, 'image'),
                                    (CameraInfo, 'camera_info'))]
            graphs: dict[tuple[int, int], float] = {}

            def on_graph(graph: SceneGraph) -> None:
                now = node.get_clock().now().nanoseconds
                stamp = graph.header.stamp
                graphs[(stamp.sec, stamp.nanosec)] = (
                    now - (stamp.sec * 1_000_000_000 + stamp.nanosec)) / 1e6

            node.create_subscription(SceneGraph, f'{NAMESPACE}/perception/scene_graph',
                                     on_graph, QoSProfile(depth=50))
            deadline = time.monotonic() + 30
            while not graphs and time.monotonic() < deadline:  # matched and warm
                publish_for(node, pubs, sensors, 10.0, 1.0)
            if not graphs:
                print('latency: FAILED, perception_node published nothing', file=sys.stderr)
                return 1
            for rate in args.rates:
                graphs.clear()
                sent = publish_for(node, pubs, sensors, rate, args.seconds)
                r = figures(sent, graphs, args.seconds)
                print(f'input {r["input_hz"]:.1f} Hz for {args.seconds:.0f} s: '
                      f'processed {r["processed"]} of {r["sent"]} frames '
                      f'({r["processed_hz"]:.1f} Hz, {r["sent"] - r["processed"]} skipped by '
                      'the latest-only worker)')
                print(f'  latency stamp -> scene_graph: p50 {r["p50"]:.1f} ms, p95 '
                      f'{r["p95"]:.1f} ms, max {r["max"]:.1f} ms; p50 / in-process baseline '
                      f'{r["p50"] / baseline:.2f}x')
                print(f'  p50 first quarter {r["first_p50"]:.1f} ms, last quarter '
                      f'{r["last_p50"]:.1f} ms (no queue: no growth)')
        finally:
            rclpy.try_shutdown()
            node_proc.terminate()
            node_proc.wait(timeout=10)
    return 0


if __name__ == '__main__':
    sys.exit(main())
