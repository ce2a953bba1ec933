"""ROS 2 nodes: thin glue that converts messages, calls the core and publishes."""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def run(make_node: Callable[[], Node], args: list[str] | None = None) -> None:
    """Init rclpy, spin the node from ``make_node`` until Ctrl-C or shutdown, clean up."""
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()  # inside the try: Ctrl-C during start-up is a clean exit too
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
