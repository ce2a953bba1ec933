r"""The node graph of ``perception.launch.py``, and a Python twin of ``ros2 launch`` for it.

``launch/perception.launch.py`` and ``python -m vlm_seg_ros.tools.bringup`` both call :func:`nodes`
with the same launch arguments, so they start the same executables with the same names,
parameters, remappings, environment and log level. The twin exists because ``launch`` and
``ros2`` come with a ROS install and not from PyPI::

    python -m vlm_seg_ros.tools.bringup points:=/ouster/points image:=/camera/image_raw \\
        camera_info:=/camera/camera_info target_frame:=base_link
    python -m vlm_seg_ros.tools.bringup cameras:=[front,left,right] \\
        remappings:='front/image:=/cam_f/image_raw front/camera_info:=/cam_f/camera_info ...'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

from ament_index_python.packages import get_package_prefix, get_package_share_directory

from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.runtime.config import camera_names

PACKAGE = 'vlm_seg_ros'
LOG_LEVELS = ('debug', 'info', 'warn', 'error', 'fatal')


@dataclass(frozen=True)
class Argument:
    """One launch argument: ``name:=value`` on the command line."""

    name: str
    default: str
    description: str


def _share(*parts: str) -> str:
    return str(Path(get_package_share_directory(PACKAGE), *parts))


def arguments() -> tuple[Argument, ...]:
    """Return the launch arguments with their defaults (paths in the installed share/)."""
    return (
        Argument('namespace', '', 'namespace of the node and its topics'),
        Argument('points', 'points', 'LiDAR sensor_msgs/PointCloud2 topic'),
        Argument('image', 'image', 'camera sensor_msgs/Image topic'),
        Argument('camera_info', 'camera_info', 'sensor_msgs/CameraInfo topic of that camera'),
        Argument('cameras', '', 'several cameras by name, e.g. [front,left,right]: each '
                 'subscribes to <name>/image and <name>/camera_info; empty: the value in '
                 'params_file (default: one unnamed camera on image and camera_info)'),
        Argument('remappings', '', "more remappings of the node, 'from:=to' separated by "
                 "spaces, e.g. each camera's topics: 'front/image:=/cam_f/image_raw "
                 "front/camera_info:=/cam_f/camera_info'"),
        Argument('target_frame', '',
                 'frame of the outputs (z up, e.g. base_link); empty: the value in params_file'),
        Argument('params_file', _share('config', 'perception.yaml'),
                 'YAML file with perception_node parameters'),
        Argument('use_sim_time', 'false', 'use /clock (true when replaying a bag with --clock)'),
        Argument('log_level', 'info', f'log level of the node: {", ".join(LOG_LEVELS)}'),
        Argument('dds_profile', _share('resource', 'fastdds_large_messages.xml'),
                 'Fast DDS XML profile of the node (large best-effort clouds); empty: Fast '
                 'DDS defaults. Use the same profile for the LiDAR driver and RViz'),
    )


@dataclass(frozen=True)
class NodeLaunch:
    """Everything needed to start one node, whoever starts it."""

    executable: str
    name: str
    namespace: str
    params_files: tuple[str, ...]
    parameters: dict[str, bool | str | list[str]]
    remappings: tuple[tuple[str, str], ...]
    log_level: str
    env: dict[str, str] = field(default_factory=dict)
    package: str = PACKAGE

    def command(self) -> list[str]:
        """Return the command line that ``ros2 run`` would use (executable from the prefix)."""
        executable = Path(get_package_prefix(self.package), 'lib', self.package, self.executable)
        args = [str(executable), '--ros-args', '-r', f'__node:={self.name}',
                '--log-level', self.log_level]
        if self.namespace:
            args += ['-r', f'__ns:={self.namespace}']
        for path in self.params_files:
            args += ['--params-file', path]
        for name, value in self.parameters.items():
            # JSON is YAML: true/false stay booleans, strings stay strings ('1', 'on').
            args += ['-p', f'{name}:={json.dumps(value)}']
        for source, target in self.remappings:
            args += ['-r', f'{source}:={target}']
        return args


def _bool(name: str, value: str) -> bool:
    if value.lower() in ('true', '1', 'yes'):
        return True
    if value.lower() in ('false', '0', 'no'):
        return False
    msg = f'launch argument {name} must be true or false, got {value!r}'
    raise InvalidInputError(msg)


def nodes(values: Mapping[str, str]) -> list[NodeLaunch]:
    """Return the nodes to start for launch argument ``values`` (missing ones: defaults).

    Raises:
        InvalidInputError: on an unknown argument or a bad value.

    """
    known = {argument.name: argument.default for argument in arguments()}
    unknown = sorted(set(values) - set(known))
    if unknown:
        msg = f'unknown launch arguments {unknown}; known: {sorted(known)}'
        raise InvalidInputError(msg)
    v = {**known, **values}
    if v['log_level'] not in LOG_LEVELS:
        msg = f'log_level must be one of {LOG_LEVELS}, got {v["log_level"]!r}'
        raise InvalidInputError(msg)
    parameters: dict[str, bool | str | list[str]] = {
        'use_sim_time': _bool('use_sim_time', v['use_sim_time'])}
    if v['target_frame']:  # only when given: an empty default must not override params_file
        parameters['target_frame'] = v['target_frame']
    if v['cameras']:  # likewise
        parameters['cameras'] = _cameras(v['cameras'])
    remappings = [(topic, v[topic]) for topic in ('points', 'image', 'camera_info')
                  if v[topic] != topic]
    for pair in v['remappings'].split():
        source, sep, target = pair.partition(':=')
        if not sep or not source or not target:
            msg = f"remappings are 'from:=to' separated by spaces, got {pair!r}"
            raise InvalidInputError(msg)
        remappings.append((source, target))
    return [NodeLaunch(
        executable='perception_node', name='perception', namespace=v['namespace'],
        params_files=(v['params_file'],) if v['params_file'] else (),
        parameters=parameters,
        remappings=tuple(remappings),
        log_level=v['log_level'],
        env={'FASTDDS_DEFAULT_PROFILES_FILE': v['dds_profile']} if v['dds_profile'] else {},
    )]


def _cameras(text: str) -> list[str]:
    """Read ``cameras:=[front,left]`` (or ``front,left``) as the list of names.

    Raises:
        InvalidInputError: on a name that is not a camera name, or one given twice.

    """
    names = [name.strip() for name in text.strip().strip('[]').split(',') if name.strip()]
    return camera_names(names)


def parse(argv: list[str]) -> dict[str, str]:
    """Parse ``name:=value`` arguments, as ``ros2 launch`` takes them.

    Raises:
        InvalidInputError: on an argument without ``:=``.

    """
    values = {}
    for arg in argv:
        name, sep, value = arg.partition(':=')
        if not sep or not name:
            msg = f'arguments are name:=value, got {arg!r}'
            raise InvalidInputError(msg)
        values[name] = value
    return values


def main(argv: list[str] | None = None) -> int:
    """Start the nodes, wait until they end or Ctrl-C, stop them; return an exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ('-h', '--help'):
        print(__doc__.split('\n\n')[0] + '\n\narguments (name:=value):')
        for argument in arguments():
            print(f'  {argument.name}: {argument.description} (default {argument.default!r})')
        return 0
    try:
        launches = nodes(parse(argv))
    except InvalidInputError as exc:
        print(f'bringup: {exc}', file=sys.stderr)
        return 2
    children = [subprocess.Popen(n.command(), env={**os.environ, **n.env}) for n in launches]

    def stop(signum: int, frame: object) -> None:
        del frame
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while any(child.poll() is None for child in children):
        time.sleep(0.1)
    return max((abs(child.returncode or 0) for child in children), default=0)


if __name__ == '__main__':
    sys.exit(main())
