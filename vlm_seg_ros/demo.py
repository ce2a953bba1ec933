"""Demo: start ``perception_node`` and feed it a built-in scan, printing the graphs it publishes.

Run with ``python -m vlm_seg_ros.demo`` after ``source ./activate`` (``scripts/demo`` does
both). Everything runs in the ``/vlm_seg_ros_demo`` namespace so that it never mixes with a
robot's own ``points`` topic on the same ROS domain.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import signal
import subprocess
import sys
import time

from ament_index_python.packages import get_package_prefix
import numpy as np
import numpy.typing as npt
import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header

from vlm_seg_ros.conversions import xyz_to_pointcloud2
from vlm_seg_ros.msg import SceneGraph

NAMESPACE = '/vlm_seg_ros_demo'
LIDAR_FRAME = 'demo_lidar'


def demo_scan() -> npt.NDArray[np.float32]:
    """Return a small fixed scan: flat ground 1.7 m below the sensor and a 1 m box ahead.

    Returns:
        (N, 3) float32, metres, in the LiDAR frame (x forward, y left, z up).

    """
    gx, gy = np.meshgrid(np.arange(-10.0, 10.0, 0.25), np.arange(-10.0, 10.0, 0.25))
    ground = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, -1.7)], axis=1)
    bx, bz = np.meshgrid(np.arange(-0.5, 0.5, 0.05), np.arange(-1.7, -0.7, 0.05))
    box_face = np.stack([np.full(bx.size, 5.0), bx.ravel(), bz.ravel()], axis=1)
    return np.concatenate([ground, box_face]).astype(np.float32)


def _node_executable() -> Path:
    return Path(get_package_prefix('vlm_seg_ros')) / 'lib' / 'vlm_seg_ros' / 'perception_node'


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the process exit code (0 when graphs were received)."""
    parser = argparse.ArgumentParser(prog='python -m vlm_seg_ros.demo', description=__doc__)
    parser.add_argument('--graphs', type=int, default=5, help='graphs to receive (default 5)')
    parser.add_argument('--timeout', type=float, default=30.0, help='seconds (default 30)')
    args = parser.parse_args(argv)

    node_proc = subprocess.Popen(
        # LiDAR only: this demo publishes no camera (the full camera + LiDAR demo is issue 7's).
        [str(_node_executable()), '--ros-args', '-r', f'__ns:={NAMESPACE}',
         '-p', 'camera.enabled:=false']
    )
    rclpy.init()
    sensors = Node('demo_sensors', namespace=NAMESPACE)
    scan = demo_scan()
    points_pub = sensors.create_publisher(PointCloud2, 'points', qos_profile_sensor_data)
    received: list[tuple[SceneGraph, float]] = []

    def on_graph(graph: SceneGraph) -> None:
        age = (sensors.get_clock().now() - Time.from_msg(graph.header.stamp)).nanoseconds
        received.append((graph, age / 1e9))
        print(
            f'SceneGraph #{len(received)}: frame {graph.header.frame_id!r}, '
            f'stamp {graph.header.stamp.sec}.{graph.header.stamp.nanosec:09d}, '
            f'{len(graph.objects)} objects, {len(graph.relations)} relations, '
            f'age {age / 1e6:.1f} ms'
        )

    graph_sub = sensors.create_subscription(SceneGraph, 'perception/scene_graph', on_graph, 10)

    def publish_scan() -> None:
        header = Header(frame_id=LIDAR_FRAME, stamp=sensors.get_clock().now().to_msg())
        points_pub.publish(xyz_to_pointcloud2(scan, header))

    sensors.create_timer(0.1, publish_scan)
    print(f'demo: publishing a {len(scan)}-point scan at 10 Hz on {points_pub.topic_name}, '
          f'listening on {graph_sub.topic_name}')
    deadline = time.monotonic() + args.timeout
    try:
        while (len(received) < args.graphs and time.monotonic() < deadline
               and node_proc.poll() is None):
            rclpy.spin_once(sensors, timeout_sec=0.1)
    finally:
        sensors.destroy_node()
        rclpy.try_shutdown()
        if node_proc.poll() is None:
            node_proc.send_signal(signal.SIGINT)
        try:
            node_proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node_proc.kill()

    if len(received) < args.graphs:
        why = ('perception_node exited with code ' f'{node_proc.returncode}'
               if node_proc.returncode not in (None, 0, -signal.SIGINT) else 'timed out')
        print(f'demo: FAILED, received {len(received)} of {args.graphs} graphs ({why})')
        return 1
    ages = [age for _, age in received]
    print(f'demo: OK, perception_node published {len(received)} SceneGraphs; '
          f'median age {1e3 * float(np.median(ages)):.1f} ms')
    return 0


if __name__ == '__main__':
    sys.exit(main())
