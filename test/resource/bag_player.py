"""Child process: plays a bag's sensor topics to a node, slowly, as ``ros2 bag play`` would.

    bag_player.py BAG NAMESPACE [--slowdown F]

Publishes every PointCloud2, Image and CameraInfo message of the bag, in log-time order, on
``NAMESPACE/points``, ``NAMESPACE/image`` and ``NAMESPACE/camera_info`` (reliable, depth 10,
Fast DDS as the process finds it), waiting ``F`` times the bag's log-time gaps between
messages, so that a node keeps up with every frame. It waits for the node's subscriptions
first, and prints ``played N messages`` at the end.
"""

from __future__ import annotations

import argparse
import time

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from vlm_seg_ros.ros.bags import BagReader, to_ros

TOPICS = {PointCloud2: 'points', Image: 'image', CameraInfo: 'camera_info'}
TYPES = {'sensor_msgs/msg/PointCloud2', 'sensor_msgs/msg/Image', 'sensor_msgs/msg/CameraInfo'}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('bag')
    parser.add_argument('namespace')
    parser.add_argument('--slowdown', type=float, default=5.0)
    args = parser.parse_args()
    rclpy.init()
    node = rclpy.create_node('bag_player', namespace=args.namespace)
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pubs = {kind: node.create_publisher(kind, topic, qos) for kind, topic in TOPICS.items()}
    deadline = time.monotonic() + 30
    while any(p.get_subscription_count() == 0 for p in pubs.values()) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the node's subscriptions follow the publishers' reliability
    played, start, first = 0, time.monotonic(), None
    with BagReader(args.bag) as bag:
        for message in bag.messages():
            if message.msgtype not in TYPES:  # /tf_static: the node takes the parameter
                continue
            ros = to_ros(message)
            first = message.timestamp if first is None else first
            due = start + args.slowdown * (message.timestamp - first) / 1e9
            time.sleep(max(0.0, due - time.monotonic()))
            pubs[type(ros)].publish(ros)
            played += 1
    time.sleep(1.0)
    print(f'played {played} messages', flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
