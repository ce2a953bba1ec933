"""Child process for the round-trip test: republishes every SceneGraph from ``in`` on ``out``."""

from rclpy.node import Node

from vlm_seg_ros.msg import SceneGraph
from vlm_seg_ros.ros.nodes import run


def make_echo() -> Node:
    """Return a node that echoes graphs."""
    node = Node('scene_graph_echo')
    pub = node.create_publisher(SceneGraph, 'out', 10)
    node.create_subscription(SceneGraph, 'in', pub.publish, 10)
    return node


if __name__ == '__main__':
    run(make_echo)
