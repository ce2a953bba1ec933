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

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

from vlm_seg_ros.core.config import ParameterSpec, parameter_specs
from vlm_seg_ros.errors import InvalidInputError
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
    # Typed, not set (an empty list would be typed a byte array and refuse names): not set
    # means one unnamed camera.
    node.declare_parameter(CAMERAS, Parameter.Type.STRING_ARRAY, ParameterDescriptor(
        description=CAMERAS_DESCRIPTION, read_only=True))


def _cameras(node: Node, *, declare: bool) -> list[str]:
    """Return the listed cameras; ``declare``: declare each one's own parameters first.

    A camera's own parameter defaults to the global one it stands for (``CAMERA_KEYS``), but
    ``lidar_to_camera``, which is declared unset (see ``runtime.config.to_config``).

    Raises:
        InvalidInputError: on a bad ``cameras`` list (see ``camera_names``).

    """
    names = camera_names(node.get_parameter_or(CAMERAS, Parameter(CAMERAS, value=[])).value)
    for name in names if declare else ():
        for key, default in CAMERA_KEYS.items():
            parameter = camera_parameter(name, key)
            if node.has_parameter(parameter):
                continue
            if key == LIDAR_TO_CAMERA:  # typed, not set: the global one is the only camera's
                value: Any = Parameter.Type.DOUBLE_ARRAY
                description = (f'camera {name!r}: its extrinsic when TF has none (not set: the '
                               f'global {LIDAR_TO_CAMERA} with one camera, TF only with several)')
            else:
                value = node.get_parameter(default).value
                description = f'camera {name!r}: its own {default} (which it defaults to)'
            try:  # declaring runs the node's check of the whole configuration
                node.declare_parameter(parameter, value,
                                       ParameterDescriptor(description=description))
            except InvalidParameterValueException as exc:
                raise InvalidInputError(str(exc)) from exc
    return names


def _values(node: Node, *, declare: bool) -> dict[str, Any]:
    cameras = _cameras(node, declare=declare)
    values: dict[str, Any] = {name: node.get_parameter_or(name).value  # None: declared, unset
                              for name in parameter_names(cameras)
                              if node.has_parameter(name) and name != CAMERAS}
    values[CAMERAS] = cameras
    # Given for a camera that is not listed: never declared, so only the overrides know it;
    # to_config refuses it by name.
    overrides = node._parameter_overrides  # noqa: SLF001 - rclpy has no public accessor
    values.update({name: parameter.value for name, parameter in overrides.items()
                   if is_camera_parameter(name) and name not in values})
    return values


def read(node: Node) -> PerceptionConfig:
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


