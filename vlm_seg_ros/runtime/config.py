"""The whole configuration of the perception runtime, ROS-free: one tree of tunables.

:class:`PerceptionConfig` holds every tunable: the core's ``segmentation.*``, ``tracking.*``,
``relations.*``, ``camera.*``, ``masks.*``, ``labels.*`` and ``prompts.*``, the models'
``models.*``, the runtime's ``sync.*`` and ``outputs.*``, ``target_frame``, ``tf_timeout``,
``diagnostics_period`` and ``autostart``. The node declares them as ROS parameters
(``ros.nodes.parameters``); process-bag and the demo read the same names from a parameters file
and ``-p name:=value`` (:func:`read_values`). The one non-scalar parameter,
``lidar_to_camera``, is parsed by :func:`lidar_to_camera`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
import math
from pathlib import Path
import re
from typing import Any

import yaml

from vlm_seg_ros.core.config import check_ranges, from_parameters, parameter_specs, tunable
from vlm_seg_ros.core.scene import SceneConfig
from vlm_seg_ros.core.sync import SyncConfig
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.models.loading import ModelConfig


@dataclass(frozen=True, kw_only=True)
class OutputConfig:
    """Which outputs the node builds (each costs time on every frame)."""

    object_points: bool = tunable(
        True, "fill SceneObject.points (each object's own cloud) in ~/scene_graph")
    scene_graph_json: bool = tunable(True, 'publish ~/scene_graph/json (the graph as JSON)')
    object_cloud: bool = tunable(
        True, 'publish ~/objects/cloud (object points coloured per id, for RViz)')
    obstacles: bool = tunable(
        True, 'publish ~/obstacles (non-ground points in range, for costmaps)')
    markers: bool = tunable(True, 'publish ~/markers (boxes, ids, relations, for RViz)')
    labels: bool = tunable(True, 'publish ~/labels (mono16 instance ids; needs the camera)')
    overlay: bool = tunable(True, 'publish ~/overlay (annotated camera image; needs the camera)')
    overlay_max_width: int = tunable(
        1280, 'largest width, pixels, of ~/overlay: a wider camera image is drawn downscaled '
        '(aspect kept), so a 4K camera costs the LiDAR path about what a 720p one does; 0: '
        "the camera's size", minimum=0, maximum=65536)
    description_period: float = tunable(
        1.0, 'seconds between ~/description messages (0: every frame)', minimum=0.0,
        maximum=3600.0)
    marker_lifetime: float = tunable(
        2.0, 'seconds RViz keeps a marker that is not refreshed (boxes vanish when the node '
        'stops publishing, e.g. the LiDAR drops out); 0: until deleted', minimum=0.0,
        maximum=3600.0)

    def __post_init__(self) -> None:
        """Check every tunable's type and range."""
        check_ranges(self)


@dataclass(frozen=True)
class CameraSetup:
    """One camera of the robot, as the ``cameras`` parameters describe it.

    Attributes:
        name: the camera's name (``''``: the one unnamed camera); its topics are
            ``<name>/image`` and ``<name>/camera_info`` (``image`` and ``camera_info``
            unnamed), its outputs ``~/<name>/labels`` and ``~/<name>/overlay``.
        rectified: its images are rectified (``camera.<name>.rectified``, default
            ``camera.rectified``).
        transport: ``raw`` or ``compressed`` (``camera.<name>.transport``, default
            ``camera.transport``).
        offset: seconds added to its stamps before matching (``camera.<name>.sync_offset``,
            default ``sync.camera_offset``).
        pose: its extrinsic when TF has none, ``[x, y, z, qx, qy, qz, qw]``
            (``camera.<name>.lidar_to_camera``; for the only camera, named or not, default
            ``lidar_to_camera``); None: TF only (one of several cameras without its own).
        lidar_to_camera: that extrinsic as a transform (None with ``pose``).

    """

    name: str
    rectified: bool
    transport: str
    offset: float
    pose: tuple[float, ...] | None
    lidar_to_camera: RigidTransform | None = field(compare=False)


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
    # Not a tunable: built by to_config from ``cameras`` and ``camera.<name>.*``.
    cameras: tuple[CameraSetup, ...] = ()

    def __post_init__(self) -> None:
        """Check the node's own tunables (the nested configs check theirs)."""
        check_ranges(self)

    @property
    def camera_setups(self) -> tuple[CameraSetup, ...]:
        """The cameras in use: none with ``camera.enabled`` false, else ``cameras``."""
        return self.cameras if self.camera.enabled else ()


LIDAR_TO_CAMERA = 'lidar_to_camera'
# A LiDAR (x forward, y left, z up) at the camera's optical centre (z forward, x right, y down).
DEFAULT_LIDAR_TO_CAMERA = [0.0, 0.0, 0.0, 0.5, -0.5, 0.5, 0.5]
LIDAR_TO_CAMERA_DESCRIPTION = (
    'transform [x, y, z, qx, qy, qz, qw] (metres; unit quaternion) that maps points from the '
    "point cloud's frame into the camera's optical frame; used when TF has none between the "
    "two frames (default: LiDAR at the camera's optical centre, x forward, z up)")


CAMERAS = 'cameras'
CAMERAS_DESCRIPTION = (
    "the robot's cameras by name, e.g. [front, left, right]: each has its topics <name>/image "
    'and <name>/camera_info and its own camera.<name>.* parameters; empty: one unnamed camera '
    'on image and camera_info')
# Per-camera parameters, camera.<name>.<key>, and the global parameter each defaults to.
CAMERA_KEYS = {'rectified': 'camera.rectified', 'transport': 'camera.transport',
               'sync_offset': 'sync.camera_offset', LIDAR_TO_CAMERA: LIDAR_TO_CAMERA}
# A camera name is one ROS name token: it becomes part of topic and parameter names.
CAMERA_NAME = re.compile(r'[A-Za-z][A-Za-z0-9_]*')


def camera_parameter(name: str, key: str) -> str:
    """Return the name of camera ``name``'s own parameter ``key`` (see ``CAMERA_KEYS``)."""
    return f'camera.{name}.{key}'


def parameter_names(cameras: Sequence[str] = ()) -> list[str]:
    """Return the name of every parameter (those the node declares) for ``cameras``."""
    return ([spec.name for spec in parameter_specs(PerceptionConfig)]
            + [LIDAR_TO_CAMERA, CAMERAS]
            + [camera_parameter(name, key) for name in cameras for key in CAMERA_KEYS])


def is_camera_parameter(name: str) -> bool:
    """Return whether ``name`` has the shape of a camera's own parameter."""
    parts = name.split('.')
    return len(parts) == 3 and parts[0] == 'camera' and parts[2] in CAMERA_KEYS


def camera_names(values: Any) -> list[str]:
    """Check the ``cameras`` parameter; return its names.

    Raises:
        InvalidInputError: on a name that is not a ROS name token, or one given twice.

    """
    names = [] if values in (None, '') else list(values)
    reserved = {spec.name.split('.')[1] for spec in parameter_specs(PerceptionConfig)
                if spec.name.startswith('camera.')}
    for name in names:
        if not isinstance(name, str) or not CAMERA_NAME.fullmatch(name):
            msg = (f'{CAMERAS}: {name!r} is not a valid camera name (a letter, then letters, '
                   'digits or _: it becomes part of topic and parameter names)')
            raise InvalidInputError(msg)
        if name in reserved:
            msg = f'{CAMERAS}: {name!r} is the name of a camera.* parameter; choose another'
            raise InvalidInputError(msg)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        msg = f'{CAMERAS}: {repeated} given more than once'
        raise InvalidInputError(msg)
    return names


def to_config(values: dict[str, Any]) -> PerceptionConfig:
    """Build the config from parameter values by name.

    ``cameras`` and ``camera.<name>.*`` become ``PerceptionConfig.cameras``. A camera's own
    parameter that is None (declared, not set) is not given. The global ``lidar_to_camera``
    is the extrinsic of the only camera; each of several cameras has its own or TF only (a
    robot's cameras are not all in one place).

    Raises:
        InvalidInputError: naming the parameter that is out of range or malformed, a bad
            camera name, or a ``camera.<name>.*`` parameter of a camera not in ``cameras``.

    """
    values = dict(values)
    pose = values.pop(LIDAR_TO_CAMERA, DEFAULT_LIDAR_TO_CAMERA)
    names = camera_names(values.pop(CAMERAS, []))
    own = {name: values.pop(name) for name in [n for n in values if is_camera_parameter(n)]}
    config = from_parameters(PerceptionConfig, values)
    cameras = [_camera(name, own, config, pose if len(names) <= 1 else None)
               for name in names or ['']]
    unused = sorted(own)
    if unused:
        listed = ', '.join(names) or 'none (one unnamed camera)'
        msg = (f'parameters {unused} are not those of a listed camera (cameras: {listed}); '
               f'each camera has camera.<name>.{{{", ".join(CAMERA_KEYS)}}}')
        raise InvalidInputError(msg)
    return replace(config, cameras=tuple(cameras))


def _camera(name: str, own: dict[str, Any], config: PerceptionConfig,
            pose: Any) -> CameraSetup:
    """Build one camera's setup, taking its own parameters out of ``own``.

    ``pose``: its extrinsic unless it has its own (None: TF only).
    """
    defaults = {'rectified': config.camera.rectified, 'transport': config.camera.transport,
                'sync_offset': config.sync.camera_offset, LIDAR_TO_CAMERA: pose}
    given = {key: own.pop(camera_parameter(name, key)) for key in CAMERA_KEYS
             if name and camera_parameter(name, key) in own}
    given = {key: value for key, value in given.items() if value is not None}
    merged = {**defaults, **given}
    prefix = camera_parameter(name, '*') if name else ''
    # Each value is checked by the global parameter's own rules.
    try:
        checked = from_parameters(PerceptionConfig, {
            'camera.rectified': merged['rectified'], 'camera.transport': merged['transport'],
            'sync.camera_offset': merged['sync_offset']})
        pose_given = merged[LIDAR_TO_CAMERA]
        extrinsic = None if pose_given is None else lidar_to_camera(pose_given)
    except InvalidInputError as exc:
        msg = f'camera {name!r}' + (f' ({prefix})' if prefix else '') + f': {exc}'
        raise InvalidInputError(msg) from exc
    pose_values = None if pose_given is None else tuple(float(v) for v in pose_given)
    return CameraSetup(name, checked.camera.rectified, checked.camera.transport,
                       checked.sync.camera_offset, pose_values, extrinsic)


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
    known = set(parameter_names()) | {'use_sim_time'}
    unknown = sorted(name for name in values
                     if name not in known and not is_camera_parameter(name))
    if unknown:
        msg = f'unknown parameters {unknown}; see config/perception.yaml for the names'
        raise InvalidInputError(msg)
    values.pop('use_sim_time', None)
    return values
