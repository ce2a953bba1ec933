"""perception_node's output topics: lifecycle publishers, built lazily from a ``SceneFrame``.

An output is created only when its toggle in ``outputs.*`` is on, and built only when someone
subscribes to it (the scene graph, its consumers' main input, always is).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rclpy.lifecycle import LifecycleNode
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header, String
from visualization_msgs.msg import MarkerArray

from vlm_seg_ros.core.scene import SceneFrame
from vlm_seg_ros.msg import SceneGraph
from vlm_seg_ros.ros import outputs
from vlm_seg_ros.runtime.config import OutputConfig

# Outputs are reliable (a best-effort subscriber such as RViz matches a reliable publisher,
# not the other way round) and keep only the newest message of each topic.
OUTPUT_QOS = QoSProfile(depth=1)


class Publishers:
    """Every output topic of perception_node, under its private namespace."""

    def __init__(self, node: LifecycleNode, config: OutputConfig,
                 cameras: Sequence[str] = ('',)) -> None:
        """Create the enabled publishers (inactive until the node activates).

        ``cameras``: the camera names; each gets its label image and overlay
        (``outputs.image_topics``).
        """
        self._node = node
        self._builder = outputs.OutputBuilder(config)
        self._pubs: dict[str, Any] = {}

        def add(name: str, msg_type: type, enabled: bool = True) -> None:
            if enabled:
                self._pubs[name] = node.create_lifecycle_publisher(msg_type, f'~/{name}',
                                                                   OUTPUT_QOS)

        add('scene_graph', SceneGraph)
        add('scene_graph/json', String, config.scene_graph_json)
        add('objects/cloud', PointCloud2, config.object_cloud)
        add('obstacles', PointCloud2, config.obstacles)
        add('markers', MarkerArray, config.markers)
        for camera in cameras:
            labels, overlay = outputs.image_topics(camera)
            add(labels, Image, config.labels)
            add(overlay, Image, config.overlay)
        add('description', String)

    def wanted(self, name: str) -> bool:
        """Return whether output ``name`` is enabled and has a subscriber."""
        pub = self._pubs.get(name)
        return pub is not None and pub.get_subscription_count() > 0

    def publish(self, frame: SceneFrame, header: Header, image_headers: Sequence[Header]
                ) -> None:
        """Publish a frame on every enabled output (images of the cameras it has)."""
        for name, message in self._builder.build(frame, header, image_headers,
                                                 wanted=self.wanted):
            self._pubs[name].publish(message)

    def clear_markers(self, header: Header) -> None:
        """Delete every marker drawn so far (before deactivating)."""
        if 'markers' in self._pubs:
            self._pubs['markers'].publish(self._builder.clear_markers(header))

    def destroy(self) -> None:
        """Destroy every publisher."""
        for pub in self._pubs.values():
            self._node.destroy_lifecycle_publisher(pub)
        self._pubs.clear()
