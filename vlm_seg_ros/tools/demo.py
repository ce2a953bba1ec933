"""Demo: the whole node graph on a built-in scene, then pictures and a summary in a folder.

Run with ``scripts/demo`` (README's first command: sets up, then runs this) or, after
``source ./activate``, ``python -m vlm_seg_ros.tools.demo --output DIR``. It starts the nodes of
``perception.launch.py`` (through :mod:`vlm_seg_ros.tools.bringup`, the same node graph), publishes
the built-in scene of :mod:`vlm_seg_ros.datasets.demo_scene` as a robot's three cameras
(``front``, ``left``, ``right``) and LiDAR would (Image, CameraInfo and PointCloud2 at 10 Hz),
listens to the outputs, and ends with a summary: objects found against the scene's truth, per
camera what it saw best, named and masked, relations, rates and the models used. The folder
gets ``scene_graph.json``, ``overlay.png`` (the front camera's), ``overlay_left.png``,
``overlay_right.png``, ``birds_eye.png``, ``summary.json`` and ``summary.txt``. Models run
when they are in the local Hugging Face cache (``download-models`` fetches them); otherwise the
demo says so once and runs geometry-only. Everything runs in the
``/vlm_seg_ros_demo`` namespace, so it never mixes with a robot's topics on the same domain.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
import functools
import json
import math
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import Any

import cv2
import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header, String
import yaml

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.relations import Relation
from vlm_seg_ros.core.render import MapObject, draw_birds_eye
from vlm_seg_ros.datasets.demo_scene import DemoScene, demo_scene, match_truth
from vlm_seg_ros.errors import VlmSegError
from vlm_seg_ros.models.loading import ModelConfig, resolve, select_device
from vlm_seg_ros.msg import SceneGraph, SceneObject
from vlm_seg_ros.ros.conversions import (
    array_to_image,
    image_to_array,
    model_to_camera_info,
    xyz_to_pointcloud2,
)
from vlm_seg_ros.ros.outputs import scene_graph_json
from vlm_seg_ros.runtime.config import read_values, to_config
from vlm_seg_ros.tools import bringup

NAMESPACE = '/vlm_seg_ros_demo'
LIDAR_FRAME = 'demo_lidar'
MATCH_DISTANCE = 0.6  # metres between a found object's box centre and the truth's
SCANS = 4  # precomputed scans (noise seeds) cycled through
# The yard is 30 m across: beyond it the sloped ground's far rings are not worth clustering.
DEMO_PARAMETERS: dict[str, Any] = {'segmentation.max_range': 30.0}


@dataclass(frozen=True)
class FoundObject:
    """One truth object and what the pipeline made of it."""

    truth: str
    id: int | None  # the matched object's id; None when missed
    error: float | None  # horizontal centre distance, metres
    label: str = ''
    source: str = ''
    camera: str = ''  # the camera that saw it best; '' when none did


@dataclass(frozen=True)
class Summary:
    """What the demo measured (``summary.json``)."""

    frames_published: int
    graphs_received: int
    input_rate_hz: float
    graph_rate_hz: float
    latency_ms_median: float
    latency_ms_p95: float
    objects: list[FoundObject]
    extra_objects: int
    truth_relations: list[dict[str, Any]]
    relations: int
    models: dict[str, str]
    description: str
    # Per camera: the truth objects it saw best, and of those, the named and the masked ones.
    cameras: dict[str, dict[str, list[str]]]


def choose_models(config: ModelConfig) -> dict[str, str]:
    """Return the models in the local cache by role (``segmenter``, ``describer``).

    Says once which are missing and how to fetch them; never uses the network.
    """
    wanted = {'segmenter': config.segmenter,
              'describer': config.describer_for(select_device(config.device))}
    present, missing = {}, []
    for role, name in wanted.items():
        try:
            resolve(name)
        except VlmSegError:
            missing.append(name)
        else:
            present[role] = name
    if missing:
        what = 'geometry-only' if not present else f'with {", ".join(present.values())}'
        print(f'demo: {" and ".join(missing)} not in the local cache, running {what}; fetch '
              "them once with 'python -m vlm_seg_ros.tools.download_models' (see README, Models)")
    return present


def found_objects(scene: DemoScene, graph: SceneGraph) -> tuple[list[FoundObject], int]:
    """Pair the scene's truth objects with the graph's (see ``match_truth``).

    Returns:
        One ``FoundObject`` per truth object, and the number of graph objects left unpaired.

    """
    centres = [(o.box_center.position.x, o.box_center.position.y, o.box_center.position.z)
               for o in graph.objects]
    pairs = match_truth(scene, np.array(centres).reshape(-1, 3), max_distance=MATCH_DISTANCE)
    sources = {SceneObject.SOURCE_LIDAR: 'lidar', SceneObject.SOURCE_BOTH: 'lidar+mask',
               SceneObject.SOURCE_MASK: 'mask'}
    result = []
    for t, item in enumerate(scene.objects):
        if t not in pairs:
            result.append(FoundObject(item.label, None, None))
            continue
        index, distance = pairs[t]
        o = graph.objects[index]
        result.append(FoundObject(item.label, o.id, round(distance, 3), o.label,
                                  sources.get(o.source, ''), o.camera))
    return result, len(graph.objects) - len(pairs)


def _relations(graph: SceneGraph) -> list[Relation]:
    return [Relation(r.subject_id, r.predicate, r.object_id, r.confidence)
            for r in graph.relations]


def _box(o: SceneObject) -> OrientedBox:
    q = o.box_center.orientation
    yaw = math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))
    p, s = o.box_center.position, o.box_size
    return OrientedBox(np.array([p.x, p.y, p.z]), np.array([s.x, s.y, s.z]), yaw)


def birds_eye(scene: DemoScene, graph: SceneGraph) -> np.ndarray:
    """Draw the graph's objects and relations over the scene's truth, from above."""
    objects = [MapObject(o.id, o.label, _box(o)) for o in graph.objects]
    return draw_birds_eye(objects, _relations(graph), extent=(-3.0, 13.0, -6.5, 6.5),
                          truth=[item.box for item in scene.objects])


class DemoSensors(Node):
    """Publishes the scene as a camera and a LiDAR would; collects perception_node's outputs."""

    def __init__(self, scene: DemoScene, rate: float, cameras: Sequence[str]) -> None:
        """Render the images of ``cameras`` and a few scans, create the topics and the timer."""
        super().__init__('demo_sensors', namespace=NAMESPACE)
        self.scene = scene
        self.clouds = [xyz_to_pointcloud2(scene.scan(seed=seed)[0], Header(frame_id=LIDAR_FRAME))
                       for seed in range(SCANS)]
        self.published = 0
        self.graphs: list[tuple[SceneGraph, float, float]] = []  # graph, age (s), received at
        self.overlays: dict[str, Image] = {}  # the latest, per camera
        self.description = ''
        qos = qos_profile_sensor_data
        self.messages: list[tuple[Any, PointCloud2 | Image | CameraInfo | None]] = [
            (self.create_publisher(PointCloud2, 'points', qos), None)]
        for camera in (c for c in scene.cameras if c.name in cameras):
            header = Header(frame_id=f'demo_{camera.name}_camera')
            self.messages += [
                (self.create_publisher(Image, f'{camera.name}/image', qos),
                 array_to_image(scene.render(camera)[0], encoding='rgb8', header=header)),
                (self.create_publisher(CameraInfo, f'{camera.name}/camera_info', qos),
                 model_to_camera_info(camera.model, header))]
            self.create_subscription(Image, f'perception/{camera.name}/overlay',
                                     functools.partial(self.overlays.__setitem__, camera.name),
                                     1)
        self.create_subscription(SceneGraph, 'perception/scene_graph', self._on_graph, 10)
        self.create_subscription(String, 'perception/description', self._on_description, 1)
        self.create_timer(1.0 / rate, self._publish)

    def _publish(self) -> None:
        # Start once the node subscribes to every input (discovery of seven topics takes a
        # moment): a scan that came first would find the cameras silent.
        if not self.published and not all(pub.get_subscription_count()
                                           for pub, _ in self.messages):
            return
        stamp = self.get_clock().now().to_msg()
        cloud = self.clouds[self.published % len(self.clouds)]
        for pub, message in self.messages:
            message = message or cloud
            message.header.stamp = stamp
            pub.publish(message)
        self.published += 1

    def _on_graph(self, graph: SceneGraph) -> None:
        now = self.get_clock().now()
        age = (now - Time.from_msg(graph.header.stamp)).nanoseconds / 1e9
        self.graphs.append((graph, age, time.monotonic()))

    def _on_description(self, text: String) -> None:
        self.description = text.data


def demo_cameras(scene: DemoScene, values: dict[str, Any]) -> list[str]:
    """Return the cameras the demo runs: all three, or those of ``-p cameras:=[...]``."""
    return list(values.get('cameras') or [camera.name for camera in scene.cameras])


def _node_launch(scene: DemoScene, output: Path, values: dict[str, Any],
                 models: dict[str, str]) -> bringup.NodeLaunch:
    """perception.launch.py's node in the demo namespace, with the demo's parameters."""
    names = demo_cameras(scene, values)
    cameras = {f'camera.{camera.name}.lidar_to_camera': camera.pose
               for camera in scene.cameras if camera.name in names}
    parameters = {**DEMO_PARAMETERS, 'cameras': names, **cameras, **values,
                  'models.segmenter': models.get('segmenter', ''),
                  'models.describer': models.get('describer', '')}
    params_file = output / 'demo_parameters.yaml'
    params_file.write_text(yaml.safe_dump({'/**': {'ros__parameters': parameters}}))
    launch = bringup.nodes({'namespace': NAMESPACE, 'log_level': 'warn'})[0]
    return replace(launch, params_files=(*launch.params_files, str(params_file)))


def _wait(sensors: DemoSensors, node: subprocess.Popen[bytes], deadline: float,
          done: Any) -> None:
    while time.monotonic() < deadline and node.poll() is None and not done():
        rclpy.spin_once(sensors, timeout_sec=0.05)


def _enriched(graph: SceneGraph, models: dict[str, str]) -> bool:
    """Whether the models' results have arrived: every object named, some refined by a mask."""
    named = 'describer' not in models or all(o.label for o in graph.objects if o.image_box.width)
    masked = 'segmenter' not in models or any(
        o.source == SceneObject.SOURCE_BOTH for o in graph.objects)
    return named and masked


def summarise(sensors: DemoSensors, models: dict[str, str], rate: float) -> Summary:
    """Compare the last graph with the truth; measure rates and latency."""
    graph = sensors.graphs[-1][0]
    scene = sensors.scene
    found, extra = found_objects(scene, graph)
    relations = {(r.subject_id, r.predicate, r.object_id) for r in graph.relations}
    truth_relations = [{
        'subject': scene.objects[r.subject].label, 'predicate': r.predicate,
        'object': scene.objects[r.object].label,
        'found': (found[r.subject].id, r.predicate, found[r.object].id) in relations}
        for r in scene.relations]
    cameras = {camera.name: {'seen': [o.truth for o in found if o.camera == camera.name]}
               for camera in scene.cameras}
    for camera, what in cameras.items():
        what['named'] = [o.truth for o in found if o.camera == camera and o.label]
        what['masked'] = [o.truth for o in found if o.camera == camera and 'mask' in o.source]
    ages = np.array([age for _, age, _ in sensors.graphs]) * 1e3
    times = [at for _, _, at in sensors.graphs]
    span = times[-1] - times[0]
    return Summary(
        frames_published=sensors.published, graphs_received=len(sensors.graphs),
        input_rate_hz=rate,
        graph_rate_hz=round((len(times) - 1) / span, 2) if span > 0 else 0.0,
        latency_ms_median=round(float(np.median(ages)), 1),
        latency_ms_p95=round(float(np.percentile(ages, 95)), 1),
        objects=found, extra_objects=extra, truth_relations=truth_relations,
        relations=len(graph.relations), models=models,
        description=sensors.description or graph.description, cameras=cameras)


def report(summary: Summary) -> str:
    """Return the summary as text."""
    lines = [f'perception_node: {summary.graphs_received} scene graphs from '
             f'{summary.frames_published} frames published at {summary.input_rate_hz:g} Hz '
             f'({summary.graph_rate_hz:g} graphs/s); latency median '
             f'{summary.latency_ms_median:g} ms, p95 {summary.latency_ms_p95:g} ms',
             f'objects (truth -> found, box centres within {MATCH_DISTANCE} m):']
    for o in summary.objects:
        if o.id is None:
            lines.append(f'  {o.truth:<14} MISSED')
        else:
            named = f', named {o.label!r}' if o.label else ''
            seen = f', seen best by {o.camera}' if o.camera else ', seen by no camera'
            lines.append(f'  {o.truth:<14} #{o.id:<3} centre off by {o.error:.2f} m, from '
                         f'{o.source}{named}{seen}')
    found = sum(o.id is not None for o in summary.objects)
    lines.append(f'  {found} of {len(summary.objects)} found, {summary.extra_objects} other '
                 'objects')
    for camera, what in summary.cameras.items():
        lines.append(f"camera {camera}: saw {len(what['seen'])} objects best "
                     f"({', '.join(what['seen']) or 'none'}), named {len(what['named'])}, "
                     f"masked {len(what['masked'])}")
    for r in summary.truth_relations:
        lines.append(f"relation {r['subject']} {r['predicate']} {r['object']}: "
                     f"{'found' if r['found'] else 'MISSED'} ({summary.relations} relations "
                     'in all)')
    lines.append('models: ' + (', '.join(f'{role} {name}' for role, name in
                                         summary.models.items()) or 'none (geometry only)'))
    lines.append(f'description: {summary.description}')
    return '\n'.join(lines)


def write_outputs(output: Path, sensors: DemoSensors, summary: Summary) -> list[Path]:
    """Write the graph, the pictures and the summary into ``output``; return the paths."""
    graph = sensors.graphs[-1][0]
    paths = [output / 'scene_graph.json']
    paths[0].write_text(json.dumps(json.loads(scene_graph_json(graph)), indent=1) + '\n')
    for camera, overlay in sensors.overlays.items():
        paths.append(output / ('overlay.png' if camera == 'front' else f'overlay_{camera}.png'))
        rgb = image_to_array(overlay, desired_encoding='rgb8')
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    paths += [output / name for name in ('birds_eye.png', 'summary.json', 'summary.txt')]
    cv2.imwrite(str(output / 'birds_eye.png'),
                cv2.cvtColor(birds_eye(sensors.scene, graph), cv2.COLOR_RGB2BGR))
    (output / 'summary.json').write_text(json.dumps(asdict(summary), indent=1) + '\n')
    (output / 'summary.txt').write_text(report(summary) + '\n')
    return paths


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the exit code (0 when graphs arrived and the files are written)."""
    parser = argparse.ArgumentParser(prog='python -m vlm_seg_ros.tools.demo',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--output', type=Path, default=Path('demo_output'),
                        help='folder for the outputs (default: ./demo_output)')
    parser.add_argument('--frames', type=int, default=30,
                        help='scene graphs to receive before stopping (default 30)')
    parser.add_argument('--rate', type=float, default=10.0, help='sensor rate, Hz (default 10)')
    parser.add_argument('--timeout', type=float, default=240.0,
                        help='seconds to wait for the graphs and, with models, for their '
                        'names and masks (default 240)')
    parser.add_argument('--no-models', action='store_true',
                        help='geometry only, even when models are in the cache')
    parser.add_argument('-p', dest='overrides', action='append', default=[],
                        metavar='NAME:=VALUE', help='a perception_node parameter, e.g. '
                        '-p models.describer:=/path/to/checkpoint (repeatable)')
    args = parser.parse_args(argv)
    try:
        values = read_values(None, args.overrides)
        config = to_config({**DEMO_PARAMETERS, **values})
    except VlmSegError as exc:
        print(f'demo: {exc}', file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)

    models = {} if args.no_models else choose_models(config.models)
    scene = demo_scene()
    launch = _node_launch(scene, args.output, values, models)
    env = {**os.environ, **launch.env}
    os.environ.update(launch.env)  # this process publishes large images too
    print('demo: rendering the scene and starting perception_node '
          f'({" ".join(launch.command()[:1])} in {NAMESPACE})')
    node = subprocess.Popen(launch.command(), env=env)
    rclpy.init()
    sensors = DemoSensors(scene, args.rate, demo_cameras(scene, values))
    started = time.monotonic()
    try:
        deadline = started + args.timeout
        _wait(sensors, node, deadline, lambda: len(sensors.graphs) >= args.frames)
        if models and sensors.graphs:
            print(f'demo: waiting for {", ".join(models.values())} (up to '
                  f'{deadline - time.monotonic():.0f} s more)')
            _wait(sensors, node, deadline, lambda: _enriched(sensors.graphs[-1][0], models))
        # One more overlay of the last frame's masks, if it is on its way.
        _wait(sensors, node, time.monotonic() + 0.5, lambda: False)
    finally:
        if node.poll() is None:
            node.send_signal(signal.SIGINT)
        try:
            node.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node.kill()
        sensors.destroy_node()
        rclpy.try_shutdown()

    if len(sensors.graphs) < args.frames:
        why = (f'perception_node exited with code {node.returncode}'
               if node.returncode not in (None, 0, -signal.SIGINT) else 'timed out')
        print(f'demo: FAILED, received {len(sensors.graphs)} of {args.frames} scene graphs '
              f'in {time.monotonic() - started:.0f} s ({why})')
        return 1
    summary = summarise(sensors, models, args.rate)
    paths = write_outputs(args.output, sensors, summary)
    print(report(summary))
    print(f'demo: wrote {", ".join(str(p) for p in paths)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
