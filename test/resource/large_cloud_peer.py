"""Child process for the large-message tests: ``pub``, ``sub`` or ``ouster``.

``pub COUNT MB`` and ``sub COUNT SECONDS`` send and count clouds of a given size; ``ouster COUNT
TOPIC`` is an OS1-128-sized driver (128 x 2048 points, 24 bytes each: 6.3 MB).

Every side uses sensor-data QoS (best effort), as a LiDAR driver and perception_node do.
"""

import sys
import time

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header

from vlm_seg_ros.ros.conversions import array_to_pointcloud2, xyz_to_pointcloud2


def publish(count: int, megabytes: float) -> None:
    """Publish ``count`` clouds of about ``megabytes`` MB at 10 Hz once a subscriber matched."""
    node = rclpy.create_node('large_cloud_pub')
    pub = node.create_publisher(PointCloud2, 'large_points', qos_profile_sensor_data)
    points = np.zeros((int(megabytes * 1e6 / 12), 3), dtype=np.float32)
    deadline = time.monotonic() + 20
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # let the reader side finish matching too
    for _ in range(count):
        pub.publish(xyz_to_pointcloud2(points, Header(frame_id='lidar')))
        time.sleep(0.1)
    print(f'sent {count}', flush=True)
    time.sleep(1.0)


def ouster(count: int, topic: str) -> None:
    """Publish ``count`` organised 128 x 2048 scans of a ray-cast scene at 10 Hz on ``topic``."""
    from vlm_seg_ros.core.boxes import OrientedBox
    from vlm_seg_ros.datasets.synthetic import SpinningLidar, scan

    lidar = SpinningLidar(beams=128, min_elevation=-22.5, max_elevation=22.5, columns=2048)
    boxes = [OrientedBox(np.array([x, y, -1.73 + 0.9]), np.array([0.6, 0.6, 1.8]), 0.0)
             for x, y in ((6.0, 1.0), (9.0, -3.0), (-5.0, 4.0))]
    hits, _ = scan(boxes, lidar=lidar)
    cloud = np.zeros((128, 2048), dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4'),
                                         ('intensity', '<f4'), ('t', '<u4'), ('ring', '<u2'),
                                         ('pad', '<u2')])
    flat = cloud.reshape(-1)  # no return: zeros, as Ouster drivers publish them
    flat['x'][:len(hits)], flat['y'][:len(hits)], flat['z'][:len(hits)] = hits.T
    cloud['ring'] = np.arange(128)[:, None]
    node = rclpy.create_node('ouster_driver')
    pub = node.create_publisher(PointCloud2, topic, qos_profile_sensor_data)
    deadline = time.monotonic() + 20
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    message = array_to_pointcloud2(cloud, Header(frame_id='os_lidar'))
    print(f'{len(message.data) / 1e6:.1f} MB per cloud', flush=True)
    start = time.monotonic()
    for i in range(count):
        message.header.stamp = node.get_clock().now().to_msg()
        pub.publish(message)
        time.sleep(max(0.0, start + 0.1 * (i + 1) - time.monotonic()))
    print(f'sent {count}', flush=True)
    time.sleep(1.0)


def subscribe(count: int, seconds: float) -> None:
    """Count received clouds until ``count`` arrived or ``seconds`` passed; print the count."""
    node = rclpy.create_node('large_cloud_sub')
    received = []
    node.create_subscription(PointCloud2, 'large_points', received.append,
                             qos_profile_sensor_data)
    print('subscribed', flush=True)
    deadline = time.monotonic() + seconds
    while len(received) < count and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    print(f'received {len(received)}', flush=True)


if __name__ == '__main__':
    rclpy.init()
    if sys.argv[1] == 'pub':
        publish(int(sys.argv[2]), float(sys.argv[3]))
    elif sys.argv[1] == 'ouster':
        ouster(int(sys.argv[2]), sys.argv[3])
    else:
        subscribe(int(sys.argv[2]), float(sys.argv[3]))
    rclpy.try_shutdown()
