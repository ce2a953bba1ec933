"""``perception_node``: LiDAR (+ camera) in, scene graph out.

Subscribes (relative names, remappable; sensor-data QoS, overridable with the standard
``qos_overrides.<topic>.subscription.*`` parameters):
    ``points`` (sensor_msgs/PointCloud2)

Publishes (under the node's private namespace):
    ``~/scene_graph`` (vlm_seg_ros/msg/SceneGraph): one graph per LiDAR scan, stamped and
    framed like the scan. Objects and relations fill in as the segmentation, tracking and
    model layers land; until then the graph is empty.
"""

from __future__ import annotations

import copy

from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import PointCloud2

from vlm_seg_ros.msg import SceneGraph
from vlm_seg_ros.nodes import run

NODE_NAME = 'perception'


class PerceptionNode(Node):
    """Turns each LiDAR scan into a ``SceneGraph``."""

    def __init__(self, **kwargs: object) -> None:
        """Create publishers and subscriptions; ``kwargs`` go to ``rclpy.node.Node``."""
        super().__init__(NODE_NAME, **kwargs)  # type: ignore[arg-type]
        self._graph_pub = self.create_publisher(SceneGraph, '~/scene_graph', 10)
        self._points_sub = self.create_subscription(
            PointCloud2,
            'points',
            self._on_points,
            # A copy: rclpy writes QoS overrides into the profile object it is given.
            copy.copy(qos_profile_sensor_data),
            qos_overriding_options=QoSOverridingOptions.with_default_policies(),
        )
        self.get_logger().info(
            f'listening on {self._points_sub.topic_name}, '
            f'publishing {self._graph_pub.topic_name}'
        )

    def _on_points(self, cloud: PointCloud2) -> None:
        graph = SceneGraph()
        graph.header = cloud.header
        self._graph_pub.publish(graph)


def main(args: list[str] | None = None) -> None:
    """Run the node until Ctrl-C or ROS shutdown."""
    run(PerceptionNode, args)
