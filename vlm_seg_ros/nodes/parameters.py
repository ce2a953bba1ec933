"""perception_node's parameters: one config tree, declared with descriptions and ranges.

Every tunable is a field of :class:`PerceptionConfig` (the core's ``segmentation.*``,
``tracking.*``, ``relations.*``, ``camera.*``, ``masks.*``, ``labels.*`` and ``prompts.*``,
the models' ``models.*``, plus the node's ``sync.*``, ``outputs.*``, ``target_frame``,
``tf_timeout``, ``diagnostics_period`` and ``autostart``), so the names, defaults,
descriptions and ranges a user sees in ``ros2 param describe`` are those of the code that
uses them. The one non-scalar parameter, ``lidar_to_camera``, is declared beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
import math
from pathlib import Path
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter
import yaml

from vlm_seg_ros.core.config import (
    ParameterSpec,
    check_ranges,
    from_parameters,
    parameter_specs,
    tunable,
)
from vlm_seg_ros.core.scene import SceneConfig
from vlm_seg_ros.core.sync import SyncConfig
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.models.loading import ModelConfig
from vlm_seg_ros.outputs import OutputConfig


@dataclass(frozen=True, kw_only=True)
class PerceptionConfig(SceneConfig):
    """The node's whole configuration (see ``config/perception.yaml``)."""

    target_frame: str = tunable(
        '', 'frame of the scene graph and output clouds; gravity-aligned (z up), e.g. '
        "base_link or odom; empty: the point cloud's own frame")
    tf_timeout: float = tunable(
        0.05, 'seconds to wait for a TF transform before the frame is dropped (tf2_ros only)',
        minimum=0.0, maximum=5.0)
    diagnostics_period: float = tunable(
        1.0, 'seconds between /diagnostics reports (frame rate, drops by reason, TF failures, '
        'latency per stage, model status); 0: none', minimum=0.0, maximum=3600.0)
    autostart: bool = tunable(
        True, 'configure and activate on start; false: wait for lifecycle transitions '
        '(e.g. from a lifecycle manager)')
    sync: SyncConfig = field(default_factory=SyncConfig)
    outputs: OutputConfig = field(default_factory=OutputConfig)
    models: ModelConfig = field(default_factory=ModelConfig)

    def __post_init__(self) -> None:
        """Check the node's own tunables (the nested configs check theirs)."""
        check_ranges(self)


LIDAR_TO_CAMERA = 'lidar_to_camera'
# A LiDAR (x forward, y left, z up) at the camera's optical centre (z forward, x right, y down).
DEFAULT_LIDAR_TO_CAMERA = [0.0, 0.0, 0.0, 0.5, -0.5, 0.5, 0.5]
LIDAR_TO_CAMERA_DESCRIPTION = (
    'transform [x, y, z, qx, qy, qz, qw] (metres; unit quaternion) that maps points from the '
    "point cloud's frame into the camera's optical frame; used when TF has none between the "
    "two frames (default: LiDAR at the camera's optical centre, x forward, z up)")


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


def parameter_names() -> list[str]:
    """Return the name of every parameter ``declare`` declares."""
    return [spec.name for spec in parameter_specs(PerceptionConfig)] + [LIDAR_TO_CAMERA]


def to_config(values: dict[str, Any]) -> tuple[PerceptionConfig, RigidTransform]:
    """Build the config and the static extrinsic from parameter values by name.

    Raises:
        InvalidInputError: naming the parameter that is out of range or malformed.

    """
    values = dict(values)
    pose = values.pop(LIDAR_TO_CAMERA, DEFAULT_LIDAR_TO_CAMERA)
    config = from_parameters(PerceptionConfig, values)
    return config, lidar_to_camera(pose)


def lidar_to_camera(values: Any) -> RigidTransform:
    """Parse ``[x, y, z, qx, qy, qz, qw]`` into a transform.

    Raises:
        InvalidInputError: unless there are 7 finite numbers and the quaternion is unit length
            (within 1e-3; it is then normalised).

    """
    pose = [float(v) for v in values]
    norm = math.sqrt(sum(q * q for q in pose[3:])) if len(pose) == 7 else 0.0
    if len(pose) != 7 or not all(math.isfinite(v) for v in pose) or abs(norm - 1) > 1e-3:
        msg = (f'{LIDAR_TO_CAMERA} must be [x, y, z, qx, qy, qz, qw] with a unit quaternion, '
               f'got {pose}')
        raise InvalidInputError(msg)
    return RigidTransform.from_quaternion(pose[:3], [q / norm for q in pose[3:]])


def read(node: Node) -> tuple[PerceptionConfig, RigidTransform]:
    """Read the node's parameters into its config (see ``to_config``)."""
    return to_config({name: node.get_parameter(name).value for name in parameter_names()})


def with_changes(node: Node, changes: list[Parameter[Any]]) -> dict[str, Any]:
    """Return the node's parameter values by name with ``changes`` applied."""
    values = {name: node.get_parameter(name).value for name in parameter_names()}
    values.update({p.name: p.value for p in changes if p.name in values})
    return values


def read_values(params_file: Path | None, overrides: Sequence[str]) -> dict[str, Any]:
    """Return parameter values by dotted name: the file's, then ``name:=value`` overrides.

    The file is a ROS 2 parameters file (``<node or /**>: ros__parameters: {...}``); every
    section with ``ros__parameters`` is read, in order. Values are YAML (``-p a:=1.5``).

    Raises:
        InvalidInputError: on an unreadable file or a malformed override.

    """
    values: dict[str, Any] = {}

    def flatten(prefix: str, tree: dict[str, Any]) -> None:
        for key, value in tree.items():
            name = f'{prefix}{key}'
            if isinstance(value, dict):
                flatten(f'{name}.', value)
            else:
                values[name] = value

    if params_file is not None:
        try:
            document = yaml.safe_load(params_file.read_text())
        except (OSError, yaml.YAMLError) as exc:
            msg = f'cannot read the parameters file {params_file}: {exc}'
            raise InvalidInputError(msg) from exc
        sections = [v['ros__parameters']
                    for v in (document.values() if isinstance(document, dict) else ())
                    if isinstance(v, dict) and isinstance(v.get('ros__parameters'), dict)]
        if not sections:
            msg = f'{params_file} has no "<node>: ros__parameters:" section'
            raise InvalidInputError(msg)
        for section in sections:
            flatten('', section)
    for override in overrides:
        name, sep, text = override.partition(':=')
        if not sep or not name:
            msg = f'parameters are -p name:=value, got {override!r}'
            raise InvalidInputError(msg)
        try:
            values[name] = yaml.safe_load(text) if text.strip() else ''  # as ROS reads `-p a:=`
        except yaml.YAMLError as exc:
            msg = f'-p {name}: the value is not valid YAML ({exc})'
            raise InvalidInputError(msg) from exc
    values = {k: v for k, v in values.items() if not k.startswith('qos_overrides.')}
    unknown = sorted(set(values) - set(parameter_names()) - {'use_sim_time'})
    if unknown:
        msg = f'unknown parameters {unknown}; see config/perception.yaml for the names'
        raise InvalidInputError(msg)
    values.pop('use_sim_time', None)
    return values
