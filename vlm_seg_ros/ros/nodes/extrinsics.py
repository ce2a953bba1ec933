"""Transforms between sensor frames at the stamps of their messages.

Through ``tf2_ros`` where it is installed (every ROS 2 install); without it (a pip-only setup)
only the static ``lidar_to_camera`` parameter is known, and any other frame change is refused
with a reason that names both frames.
"""

from __future__ import annotations

from typing import Any

from builtin_interfaces.msg import Time
from rclpy.duration import Duration
from rclpy.node import Node
import rclpy.time

from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.errors import TransformUnavailableError
from vlm_seg_ros.ros.conversions import transform_to_rigid

try:
    import tf2_ros
except ImportError:  # pip-only setups: tf2_ros comes with a ROS install, not from PyPI
    tf2_ros = None


class Extrinsics:
    """Look up sensor-to-sensor and sensor-to-target transforms."""

    def __init__(self, node: Node) -> None:
        """Start listening to ``/tf`` and ``/tf_static`` when tf2_ros is installed."""
        self._buffer: Any = None
        if tf2_ros is not None:
            self._buffer = tf2_ros.Buffer(node=node)
            self._listener = tf2_ros.TransformListener(self._buffer, node, spin_thread=False)

    @property
    def has_tf(self) -> bool:
        """Return whether TF is available (tf2_ros installed)."""
        return self._buffer is not None

    @property
    def source(self) -> str:
        """Say where camera extrinsics come from (for the log and ``/diagnostics``)."""
        return ('TF (tf2_ros), else the lidar_to_camera parameter' if self.has_tf
                else 'the lidar_to_camera parameter (no tf2_ros)')

    def lookup(self, target_frame: str, target_stamp: Time, source_frame: str,
               source_stamp: Time, *, fixed_frame: str, timeout: float) -> RigidTransform:
        """Return the transform of points from ``source_frame`` into ``target_frame``.

        As tf2's ``lookup_transform_full``: the source frame at ``source_stamp``, the target
        frame at ``target_stamp``, related through ``fixed_frame``; waits up to ``timeout`` s.

        Raises:
            TransformUnavailableError: naming both frames and why.

        """
        if target_frame == source_frame:
            return RigidTransform.identity()
        if self._buffer is None:
            msg = (f'no transform from {source_frame!r} to {target_frame!r}: tf2_ros is not '
                   'installed (it comes with a ROS 2 install)')
            raise TransformUnavailableError(msg)
        try:
            transform = self._buffer.lookup_transform_full(
                target_frame, rclpy.time.Time.from_msg(target_stamp), source_frame,
                rclpy.time.Time.from_msg(source_stamp), fixed_frame,
                timeout=Duration(seconds=timeout))
        except tf2_ros.TransformException as exc:
            msg = f'no transform from {source_frame!r} to {target_frame!r}: {exc}'
            raise TransformUnavailableError(msg) from exc
        return transform_to_rigid(transform)
