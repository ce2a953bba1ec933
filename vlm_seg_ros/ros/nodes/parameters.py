"""perception_node's parameters as ROS parameters: declared with descriptions and ranges.

The tunables are the fields of :class:`~vlm_seg_ros.runtime.config.PerceptionConfig` (ROS-free,
shared with process-bag and the demo), so the names, defaults, descriptions and ranges a user
sees in ``ros2 param describe`` are those of the code that uses them. The non-scalar
parameters are declared beside them: ``lidar_to_camera``, ``cameras`` (read-only: the topics
are made from it) and, for each listed camera, its own ``camera.<name>.*``.
"""

from __future__ import annotations

import math
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
)
from rclpy.node import Node
from rclpy.parameter import Parameter

from vlm_seg_ros.core.config import ParameterSpec, parameter_specs
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.runtime.config import (
    CAMERA_KEYS,
    CAMERAS,
    CAMERAS_DESCRIPTION,
    DEFAULT_LIDAR_TO_CAMERA,
    LIDAR_TO_CAMERA,
    LIDAR_TO_CAMERA_DESCRIPTION,
    PerceptionConfig,
    camera_names,
    camera_parameter,
    is_camera_parameter,
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
    node.declare_parameter(CAMERAS, [], ParameterDescriptor(
        type=ParameterType.PARAMETER_STRING_ARRAY, description=CAMERAS_DESCRIPTION,
        read_only=True))


def _cameras(node: Node, *, declare: bool) -> list[str]:
    """Return the listed cameras; ``declare``: declare each one's own parameters first.

    A camera's own parameter defaults to the global one it stands for (``CAMERA_KEYS``).

    Raises:
        InvalidInputError: on a bad ``cameras`` list (see ``camera_names``).

    """
    # An empty list in a parameters file has no type: the parameter is then not set.
    names = camera_names(node.get_parameter_or(CAMERAS, Parameter(CAMERAS, value=[])).value)
    for name in names if declare else ():
        for key, default in CAMERA_KEYS.items():
            parameter = camera_parameter(name, key)
            if not node.has_parameter(parameter):
                node.declare_parameter(parameter, node.get_parameter(default).value,
                                       ParameterDescriptor(description=(
                                           f'camera {name!r}: its own {default} (which it '
                                           'defaults to)')))
    return names


def _values(node: Node, *, declare: bool) -> dict[str, Any]:
    values = {name: node.get_parameter(name).value
              for name in parameter_names(_cameras(node, declare=declare))
              if node.has_parameter(name)}
    # Given for a camera that is not listed: never declared, so only the overrides know it;
    # to_config refuses it by name.
    overrides = node._parameter_overrides  # noqa: SLF001 - rclpy has no public accessor
    values.update({name: parameter.value for name, parameter in overrides.items()
                   if is_camera_parameter(name) and name not in values})
    return values


def read(node: Node) -> tuple[PerceptionConfig, RigidTransform]:
    """Read the node's parameters into its config (see ``to_config``).

    Raises:
        InvalidInputError: on a value out of range or malformed, naming the parameter.

    """
    return to_config(_values(node, declare=True))


def with_changes(node: Node, changes: list[Parameter[Any]]) -> dict[str, Any]:
    """Return the node's parameter values by name with ``changes`` applied.

    Declares nothing: it runs inside the set-parameters callback.
    """
    values = _values(node, declare=False)
    values.update({p.name: p.value for p in changes if p.name in values})
    return values


