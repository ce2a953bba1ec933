"""Child process for the Fast DDS profile test: ``pub COUNT MB`` or ``sub COUNT SECONDS``.

Both sides use sensor-data QoS (best effort), as a LiDAR driver and perception_node do.
"""

import sys
import time

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header

from vlm_seg_ros.conversions import xyz_to_pointcloud2


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
    else:
        subscribe(int(sys.argv[2]), float(sys.argv[3]))
    rclpy.try_shutdown()
