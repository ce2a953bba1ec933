"""Fault injection over DDS: bad input and failures never take perception_node down.

Every kind of bad message in ``BAD_INPUTS`` is published to one running perception_node (its
own process, real Fast DDS). For each, the test waits until the node counts the drop under
its reason on ``/diagnostics`` (or, for inputs that are valid but empty, publishes an empty
graph), then checks that the next good frame still becomes a valid scene graph with the crate
in it. The other tests inject faults: the camera or the LiDAR going silent, the clock jumping
back with ``use_sim_time``, a model failing on every call, a missing transform.
"""

from __future__ import annotations

from collections.abc import Callable
import copy
import importlib.util
from pathlib import Path
import shutil

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
import pytest
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from visualization_msgs.msg import MarkerArray

from vlm_seg_ros.core.stamps import NS_PER_S as NS
from vlm_seg_ros.msg import SceneGraph
from vlm_seg_ros.ros.conversions import time_from_ns, time_to_ns, xyz_to_pointcloud2
from vlm_seg_ros.ros.nodes.health import DROP_REASONS


def _beside(name: str):  # noqa: ANN202 - a module
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f'{name}.py'))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pn = _beside('test_perception_node')  # start_node, camera_frame, lidar_scan, call, stamp_now
Frame = tuple[PointCloud2, Image, CameraInfo]


# Bad inputs: a change to a good frame, and what the node does with it ------------------------
def _cloud(frame: Frame, **changes: object) -> Frame:
    cloud = copy.copy(frame[0])
    for name, value in changes.items():
        setattr(cloud, name, value)
    return cloud, frame[1], frame[2]


def _fields(*fields: tuple[str, int, int]) -> list[PointField]:
    return [PointField(name=n, offset=o, datatype=t, count=1) for n, o, t in fields]


def _points(frame: Frame, values: np.ndarray) -> Frame:
    return xyz_to_pointcloud2(values.astype(np.float32), frame[0].header), frame[1], frame[2]


def _image(frame: Frame, **changes: object) -> Frame:
    image = copy.copy(frame[1])
    for name, value in changes.items():
        setattr(image, name, value)
    return frame[0], image, frame[2]


def _info(frame: Frame, **changes: object) -> Frame:
    info = copy.copy(frame[2])
    for name, value in changes.items():
        setattr(info, name, value)
    return frame[0], frame[1], info


F32 = PointField.FLOAT32
K = pn.CAMERA_K
# name -> (change to a good frame, drop reason; None: not a drop, a graph of nothing new)
BAD_INPUTS: dict[str, tuple[Callable[[Frame], Frame], str | None]] = {
    'cloud data shorter than declared': (
        lambda f: _cloud(f, data=f[0].data[:len(f[0].data) // 2]), 'invalid_points'),
    'cloud of absurd width and height': (
        lambda f: _cloud(f, width=2**31 - 1, height=2**31 - 1,
                         row_step=(2**31 - 1) * 16 % 2**32), 'invalid_points'),
    'cloud field of unknown datatype': (
        lambda f: _cloud(f, fields=_fields(('x', 0, F32), ('y', 4, F32), ('z', 8, 99))),
        'invalid_points'),
    'cloud field overrunning point_step': (
        lambda f: _cloud(f, fields=_fields(('x', 0, F32), ('y', 4, F32),
                                           ('z', 12, PointField.FLOAT64))), 'invalid_points'),
    'cloud with duplicate field names': (
        lambda f: _cloud(f, fields=_fields(('x', 0, F32), ('x', 4, F32), ('z', 8, F32))),
        'invalid_points'),
    'cloud without a z field': (
        lambda f: _cloud(f, fields=_fields(('x', 0, F32), ('y', 4, F32))), 'invalid_points'),
    'cloud row_step shorter than a row': (
        lambda f: _cloud(f, row_step=f[0].row_step // 2), 'invalid_points'),
    'cloud point_step 0': (lambda f: _cloud(f, point_step=0), 'invalid_points'),
    'cloud of NaN points only': (
        lambda f: _points(f, np.full((2000, 3), np.nan)), None),
    'cloud of infinite points only': (
        lambda f: _points(f, np.full((2000, 3), np.inf)), None),
    'cloud of huge coordinates': (lambda f: _points(f, np.full((2000, 3), 3e38)), None),
    'empty cloud': (lambda f: _points(f, np.zeros((0, 3))), None),
    'image smaller than its CameraInfo': (
        lambda f: _image(f, width=320, height=240, step=960, data=f[1].data[:320 * 240 * 3]),
        'image_size_mismatch'),
    'image of unsupported encoding': (lambda f: _image(f, encoding='yuv9000'), 'invalid_image'),
    'image encoding without an RGB conversion': (
        lambda f: _image(f, encoding='32FC1', step=640 * 4), 'invalid_image'),
    'image step shorter than a row': (lambda f: _image(f, step=100), 'invalid_image'),
    'image data shorter than declared': (
        lambda f: _image(f, data=f[1].data[:1000]), 'invalid_image'),
    'camera_info K all zeros': (lambda f: _info(f, k=[0.0] * 9), 'invalid_camera_info'),
    'camera_info K singular (fx 0)': (
        lambda f: _info(f, k=[0.0, *K[1:]]), 'invalid_camera_info'),
    'camera_info K with NaN': (
        lambda f: _info(f, k=[float('nan'), *K[1:]]), 'invalid_camera_info'),
    'camera_info unknown distortion model': (
        lambda f: _info(f, distortion_model='fisheye9'), 'invalid_camera_info'),
    'camera_info plumb_bob with 9 coefficients': (
        lambda f: _info(f, d=[0.1] * 9), 'invalid_camera_info'),
    'camera_info of zero size': (lambda f: _info(f, width=0, height=0), 'invalid_camera_info'),
}
# name -> (seconds from now, reason): every message of the frame stamped so.
BAD_STAMPS = {
    'unset stamp (0)': (None, 'stamp_too_old'),
    'stamp a day ago': (-86_400.0, 'stamp_too_old'),
    'stamp an hour ahead': (3_600.0, 'stamp_in_future'),
}


class Node:
    """A running perception_node, its inputs, scene graphs and /diagnostics."""

    def __init__(self, ros, spawn, namespace: str, *extra: str,
                 env: dict[str, str] | None = None, camera: bool = True) -> None:
        self.ros, self.namespace = ros, namespace
        self.process = pn.start_node(spawn, namespace, '-p', 'diagnostics_period:=0.2', *extra,
                                     env=env)
        self.graphs: list[SceneGraph] = []
        self.statuses: dict[str, DiagnosticStatus] = {}
        self.reports = 0  # /diagnostics arrays received
        kinds = ((PointCloud2, 'points'), (Image, 'image'), (CameraInfo, 'camera_info'))
        self.pubs = [ros.node.create_publisher(kind, f'{namespace}/{name}',
                                               qos_profile_sensor_data)
                     for kind, name in kinds[:3 if camera else 1]]
        ros.node.create_subscription(SceneGraph, f'{namespace}/perception/scene_graph',
                                     self.graphs.append, 50)
        ros.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 50)

    def _on_diagnostics(self, array: DiagnosticArray) -> None:
        self.reports += 1
        for status in array.status:
            self.statuses[status.name] = status

    def status(self, part: str) -> DiagnosticStatus | None:
        """Return the latest status ``perception: <part>``."""
        return self.statuses.get(f'perception: {part}')

    def value(self, part: str, key: str) -> str | None:
        """Return one value of the latest status ``perception: <part>``."""
        status = self.status(part)
        return None if status is None else {v.key: v.value for v in status.values}.get(key)

    def drops(self) -> dict[str, int]:
        """Return the node's drop counts by reason."""
        status = self.status('drops')
        if status is None:
            return {}
        return {v.key: int(v.value) for v in status.values if v.key in DROP_REASONS}

    def publish(self, messages: tuple) -> None:
        """Publish one frame's messages (points first)."""
        for pub, message in zip(self.pubs, messages, strict=False):
            pub.publish(message)

    def good_frame(self, stamp: Time | None = None) -> tuple:
        """Return a frame with the crate 6 m ahead, stamped ``stamp`` (default now)."""
        frame = pn.camera_frame(stamp or pn.stamp_now())
        return frame if len(self.pubs) == 3 else frame[:1]

    def graph_for(self, make: Callable[[], tuple],
                  want: Callable[[SceneGraph], bool] | None = None,
                  timeout: float = 15.0) -> SceneGraph | None:
        """Publish ``make()`` every 0.2 s until a graph of one of those frames is ``want``-ed.

        By default the wanted graph has the crate: a new track is confirmed on its second scan.
        """
        want = want or has_crate
        stamps: set[tuple[int, int]] = set()

        def found() -> SceneGraph | None:
            return next((g for g in reversed(self.graphs) if want(g) and (
                g.header.stamp.sec, g.header.stamp.nanosec) in stamps), None)

        def back() -> bool:
            messages = make()
            stamps.add((messages[0].header.stamp.sec, messages[0].header.stamp.nanosec))
            self.publish(messages)
            return self.ros.spin_until(lambda: found() is not None, timeout=0.2)

        self.ros.spin_until(back, timeout=timeout)
        return found()

    def counted(self, reason: str, make: Callable[[], tuple], timeout: float = 15.0) -> bool:
        """Publish ``make()`` every 0.2 s until /diagnostics counts one more ``reason`` drop.

        The count to beat is read from a report made after this call: one already on its way
        may lack drops of earlier frames, whose arrival would then pass for this one's (and
        under load this one's frame may since have been replaced by a newer, never decoded).
        """
        seen = self.reports
        self.ros.spin_until(lambda: self.reports >= seen + 2, timeout=5.0)
        before = self.drops().get(reason, 0)

        def done() -> bool:
            self.publish(make())
            return self.ros.spin_until(lambda: self.drops().get(reason, 0) > before,
                                       timeout=0.3)

        return self.ros.spin_until(done, timeout=timeout)

    def alive(self) -> bool:
        """Return whether the node's process still runs."""
        return self.process.proc.poll() is None


def has_crate(graph: SceneGraph | None) -> bool:
    return graph is not None and any(
        abs(o.box_center.position.x - 6.0) < 0.5 and abs(o.box_center.position.y) < 0.5
        for o in graph.objects)


@pytest.fixture
def node(ros, spawn, tmp_path) -> Node:
    """perception_node with a camera and no models (an empty Hugging Face cache)."""
    running = Node(ros, spawn, '/faults', env={'HF_HUB_CACHE': str(tmp_path / 'hf')})
    assert has_crate(running.graph_for(running.good_frame, timeout=40)), running.process.output()
    return running


def test_no_bad_message_takes_the_node_down_and_each_is_counted_by_reason(node: Node) -> None:
    tried = []
    for name, (change, reason) in BAD_INPUTS.items():
        if reason is None:  # valid but empty: an empty graph for its own stamp
            graph = node.graph_for(lambda c=change: c(node.good_frame()), lambda g: True)
            assert graph is not None, (name, node.process.output())
            # Nothing observed in it (the crate's track coasts, up to tracking.max_age).
            assert all(o.last_seen != graph.header.stamp for o in graph.objects), name
        else:
            assert node.counted(reason, lambda c=change: c(node.good_frame())), \
                (name, node.drops(), node.process.output())
        assert has_crate(node.graph_for(node.good_frame)), (name, node.process.output())
        tried.append(name)
    for name, (offset, reason) in BAD_STAMPS.items():
        stamp = (lambda: Time()) if offset is None else (lambda o=offset: pn.stamp_now(o))
        assert node.counted(reason, lambda s=stamp: node.good_frame(s())), \
            (name, node.drops(), node.process.output())
        assert has_crate(node.graph_for(node.good_frame)), (name, node.process.output())
        tried.append(name)
    assert len(tried) == len(BAD_INPUTS) + len(BAD_STAMPS) == 26
    assert node.alive(), node.process.output()
    # Every reason a test expected is on /diagnostics, and the log says what was wrong, throttled.
    drops = node.drops()
    expected = {r for _, r in BAD_INPUTS.values() if r} | {r for _, r in BAD_STAMPS.values()}
    assert all(drops[reason] > 0 for reason in expected), drops
    output = node.process.output()
    for text in ('data holds', 'unknown PointField datatype', 'names must be unique',
                 'unsupported image encoding', 'but its CameraInfo describes',
                 'sync.max_stamp_age', 'sync.max_stamp_lead'):
        assert text in output, text
    # Throttled per kind: 20 more bad clouds within a second add at most one line of theirs.
    lines = output.count('unknown PointField datatype')
    bad_cloud = BAD_INPUTS['cloud field of unknown datatype'][0]
    for _ in range(20):
        node.publish(bad_cloud(node.good_frame()))
        node.ros.spin_until(lambda: False, timeout=0.05)
    assert has_crate(node.graph_for(node.good_frame))
    assert node.process.output().count('unknown PointField datatype') <= lines + 1
    # A bad camera part costs the frame its camera, not its scan: the scan was processed.
    assert int(node.value('frames', 'published frames') or 0) > len(tried)


def test_the_camera_going_silent_leaves_lidar_only_frames_until_it_is_back(node: Node) -> None:
    scan_only = lambda: node.good_frame()[:1]  # noqa: E731
    lidar_only = lambda g: has_crate(g) and not g.image_header.frame_id  # noqa: E731
    # Scans never wait for a silent camera: LiDAR-only graphs come at once (within
    # sync.slop + sync.camera_margin), long before the camera counts as down.
    graph = node.graph_for(scan_only, lidar_only)
    assert graph is not None, node.process.output()

    def camera_down() -> bool:  # after sync.camera_timeout (1 s), while the scans go on
        node.publish(scan_only())
        return node.ros.spin_until(lambda: node.status('frames') is not None and node.status(
            'frames').level == DiagnosticStatus.WARN and 'camera down' in node.status(
            'frames').message, timeout=0.2)

    assert node.ros.spin_until(camera_down, timeout=20), node.statuses
    assert 'processing LiDAR scans alone' in node.process.output()
    camera = lambda g: has_crate(g) and g.image_header.frame_id == 'camera'  # noqa: E731
    assert node.graph_for(node.good_frame, camera) is not None, node.process.output()
    assert 'the camera is back' in node.process.output()
    assert node.ros.spin_until(lambda: node.status('frames').level == DiagnosticStatus.OK,
                               timeout=20), node.status('frames')


def test_after_a_lidar_dropout_stale_tracks_expire_and_markers_carry_a_lifetime(
        ros, spawn) -> None:
    node = Node(ros, spawn, '/dropout', *pn.LIDAR_ONLY, camera=False)
    markers: list[MarkerArray] = []
    ros.node.create_subscription(MarkerArray, '/dropout/perception/markers', markers.append, 50)
    crate = lambda g: next(o for o in g.objects if abs(o.box_center.position.x - 6) < 0.5)  # noqa: E731
    first = node.graph_for(node.good_frame, timeout=40)
    second = node.graph_for(node.good_frame)
    assert has_crate(first) and has_crate(second), node.process.output()
    assert crate(first).id == crate(second).id  # one track while the scans come
    boxes = [m for a in markers for m in a.markers if m.ns == 'boxes']
    # outputs.marker_lifetime: RViz drops the boxes 2 s after the last scan.
    assert boxes and all(m.lifetime.sec == 2 for m in boxes if m.action == m.ADD)
    # The LiDAR is silent for longer than tracking.max_age (1 s): /diagnostics says so...
    ros.spin_until(lambda: False, timeout=1.5)
    assert ros.spin_until(lambda: 'no messages on /dropout/points' in (
        node.status('frames').message if node.status('frames') else ''), timeout=20)
    assert node.status('frames').level == DiagnosticStatus.WARN
    # ...and when it is back, the crate's old track has expired: it is a new object.
    after = node.graph_for(node.good_frame)
    later = node.graph_for(node.good_frame)
    assert has_crate(after) and has_crate(later)
    assert crate(later).id != crate(first).id
    assert crate(later).first_seen != crate(first).first_seen
    assert node.alive()


def test_time_jumping_back_with_use_sim_time_restarts_tracks_and_sync(ros, spawn) -> None:
    node = Node(ros, spawn, '/simtime', *pn.LIDAR_ONLY, '-p', 'use_sim_time:=true',
                camera=False)
    clock = ros.node.create_publisher(Clock, '/clock', 10)
    now = [5000 * NS]

    def tick() -> tuple:  # the bag's clock and its scans advance together, 0.1 s a frame
        now[0] += NS // 10
        clock.publish(Clock(clock=time_from_ns(now[0])))
        return node.good_frame(time_from_ns(now[0]))

    crate = lambda g: next(o for o in g.objects if abs(o.box_center.position.x - 6) < 0.5)  # noqa: E731
    before = [node.graph_for(tick, timeout=40) for _ in range(3)]
    assert all(has_crate(g) for g in before), node.process.output()
    now[0] = 1000 * NS  # the bag loops: the clock jumps back 4000 s
    after = [node.graph_for(tick) for _ in range(3)]
    assert all(has_crate(g) for g in after), node.process.output()
    assert all(1000 * NS < time_to_ns(g.header.stamp) < 1001 * NS for g in after)
    assert crate(after[-1]).id != crate(before[-1]).id  # the tracks restarted
    assert 'time went back from' in node.process.output()
    assert int(node.value('frames', 'time resets')) >= 1
    assert node.alive()


def test_a_model_failing_on_every_call_is_switched_off_and_geometry_goes_on(
        ros, spawn, vlm_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / 'broken_vlm'
    shutil.copytree(vlm_dir, broken)
    # Loads (weights and config are fine) but fails on every call, as a real broken checkpoint.
    (broken / 'chat_template.jinja').write_text("{{ raise_exception('broken template') }}")
    node = Node(ros, spawn, '/badmodel', '-p', f'models.describer:={broken}',
                '-p', 'labels.scene_period:=0.3', env={'HF_HUB_CACHE': str(tmp_path / 'hf')})
    assert ros.spin_until(lambda: 'describer: loaded' in node.process.output(), timeout=90), \
        node.process.output()

    def switched_off() -> bool:
        node.graph_for(node.good_frame, timeout=2)
        return 'describer switched off' in node.process.output()

    assert ros.spin_until(switched_off, timeout=60), node.process.output()
    assert ros.spin_until(lambda: node.status('model describer') is not None and node.status(
        'model describer').level == DiagnosticStatus.ERROR, timeout=20), node.statuses
    assert 'broken template' in node.value('model describer', 'reason')
    assert node.value('model describer', 'state') == 'failed'
    assert has_crate(node.graph_for(node.good_frame))  # geometry goes on
    assert node.alive()


def test_a_missing_transform_is_warned_counted_and_recovered_from(ros, spawn) -> None:
    node = Node(ros, spawn, '/notf', *pn.LIDAR_ONLY, '-p', 'target_frame:=map', camera=False)
    assert node.counted('no_transform', node.good_frame, timeout=40), node.process.output()
    assert ros.spin_until(lambda: node.status('transforms') is not None and node.status(
        'transforms').level == DiagnosticStatus.WARN, timeout=20)
    assert "no transform from 'lidar' to 'map'" in node.value('transforms', 'last error')
    assert "no transform from 'lidar' to 'map'" in node.process.output()
    # Where the transform comes from TF, the next lookup that succeeds recovers; here (no
    # tf2_ros) the transform becomes available by graphing in the LiDAR's own frame.
    request = SetParameters.Request(parameters=[
        Parameter('target_frame', value='').to_parameter_msg()])
    assert pn.call(ros, SetParameters, '/notf/perception/set_parameters',
                   request).results[0].successful
    assert has_crate(node.graph_for(node.good_frame)), node.process.output()
    assert node.alive()


def test_a_burst_faster_than_processing_is_answered_with_the_newest_frame(node: Node) -> None:
    sent = [node.good_frame() for _ in range(40)]
    for frame in sent:  # as fast as Python can publish: no queue may build up
        node.publish(frame)
    last = sent[-1][0].header.stamp
    assert node.ros.spin_until(lambda: any(g.header.stamp == last for g in node.graphs),
                               timeout=10), node.process.output()
    stamps = {(g.header.stamp.sec, g.header.stamp.nanosec) for g in node.graphs}
    processed = sum((f[0].header.stamp.sec, f[0].header.stamp.nanosec) in stamps for f in sent)
    assert processed < len(sent)  # older frames were skipped, the newest was processed
    assert node.alive()
