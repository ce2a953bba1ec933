"""Child process for the round-trip test: republishes every SceneGraph from ``in`` on ``out``."""

import sys

import rclpy
from rclpy.executors import ExternalShutdownException

from vlm_seg_ros.msg import SceneGraph


def main() -> None:
    """Echo graphs until interrupted."""
    rclpy.init()
    node = rclpy.create_node('scene_graph_echo')
    pub = node.create_publisher(SceneGraph, 'out', 10)
    node.create_subscription(SceneGraph, 'in', pub.publish, 10)
    print('echo ready', flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    sys.exit(main())
