"""ROS 2 nodes: thin glue that converts messages, calls the core and publishes."""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node


def run(make_node: Callable[[], Node], args: list[str] | None = None, *,
        threads: int = 1) -> None:
    """Init rclpy, spin the node from ``make_node`` until Ctrl-C or shutdown, clean up.

    With ``threads`` > 1 a multi-threaded executor runs callbacks of different callback groups
    in parallel (callbacks of the default group still run one at a time).
    """
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()  # inside the try: Ctrl-C during start-up is a clean exit too
        executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else None
        rclpy.spin(node, executor=executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
