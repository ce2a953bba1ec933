"""perception_node's parameters as ROS parameters: declared with descriptions and ranges.

The tunables are the fields of :class:`~vlm_seg_ros.runtime.config.PerceptionConfig` (ROS-free,
shared with process-bag and the demo), so the names, defaults, descriptions and ranges a user
sees in ``ros2 param describe`` are those of the code that uses them. The one non-scalar
parameter, ``lidar_to_camera``, is declared beside them.
"""

from __future__ import annotations

import math
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from vlm_seg_ros.core.config import ParameterSpec, parameter_specs
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.runtime.config import (
    DEFAULT_LIDAR_TO_CAMERA,
    LIDAR_TO_CAMERA,
    LIDAR_TO_CAMERA_DESCRIPTION,
    PerceptionConfig,
    parameter_names,
    to_config,
)


def _descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(description=spec.tunable.description)
    low, high = spec.tunable.minimum, spec.tunable.maximum
    if low is None and high is None:
        return descriptor
    if isinstance(spec.default, float):
        descriptor.floating_point_range = [FloatingPointRange(
            from_value=-math.inf if low is None else float(low),
            to_value=math.inf if high is None else float(high))]
    elif isinstance(spec.default, int) and not isinstance(spec.default, bool):
        descriptor.integer_range = [IntegerRange(
            from_value=-2**62 if low is None else int(low),
            to_value=2**62 if high is None else int(high))]
    return descriptor


def declare(node: Node) -> None:
    """Declare every parameter of the node with its default, description and range."""
    for spec in parameter_specs(PerceptionConfig):
        node.declare_parameter(spec.name, spec.default, _descriptor(spec))
    node.declare_parameter(LIDAR_TO_CAMERA, DEFAULT_LIDAR_TO_CAMERA,
                           ParameterDescriptor(description=LIDAR_TO_CAMERA_DESCRIPTION))


def read(node: Node) -> tuple[PerceptionConfig, RigidTransform]:
    """Read the node's parameters into its config (see ``to_config``)."""
    return to_config({name: node.get_parameter(name).value for name in parameter_names()})


def with_changes(node: Node, changes: list[Parameter[Any]]) -> dict[str, Any]:
    """Return the node's parameter values by name with ``changes`` applied."""
    values = {name: node.get_parameter(name).value for name in parameter_names()}
    values.update({p.name: p.value for p in changes if p.name in values})
    return values


