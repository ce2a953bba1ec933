"""perception_node as users run it: the installed executable in its own process, over DDS."""

from __future__ import annotations

from pathlib import Path
import time

from ament_index_python.packages import get_package_prefix, get_package_share_directory
from builtin_interfaces.msg import Time
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
import numpy as np
import pytest
from rcl_interfaces.srv import SetParameters
import rclpy
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header, String
from visualization_msgs.msg import Marker, MarkerArray

from vlm_seg_ros.datasets.kitti import read_labels
from vlm_seg_ros.datasets.kitti_messages import kitti_messages
from vlm_seg_ros.msg import SceneGraph
from vlm_seg_ros.ros.conversions import (
    array_to_image,
    image_to_array,
    pointcloud2_to_array,
    time_from_ns,
    xyz_to_pointcloud2,
)
from vlm_seg_ros.ros.nodes.perception_node import PerceptionNode
from vlm_seg_ros.srv import Ask
from vlm_seg_ros.tools.evaluation import kitti_box_matches

NODE = str(Path(get_package_prefix('vlm_seg_ros')) / 'lib' / 'vlm_seg_ros' / 'perception_node')
CONFIG = str(Path(get_package_share_directory('vlm_seg_ros')) / 'config' / 'perception.yaml')
LIDAR_ONLY = ['-p', 'camera.enabled:=false']
OUTPUTS = {'scene_graph': SceneGraph, 'markers': MarkerArray, 'objects/cloud': PointCloud2,
           'labels': Image, 'overlay': Image, 'scene_graph/json': String}


def stamp_now(offset: float = 0.0) -> Time:
    """Return now + ``offset`` s: the node drops messages stamped far from its clock."""
    return time_from_ns(time.time_ns() + round(offset * 1e9))


def start_node(spawn, namespace: str, *extra: str, params_file: str = CONFIG,
               env: dict[str, str] | None = None):
    return spawn([NODE, '--ros-args', '-r', f'__ns:={namespace}', '--params-file', params_file,
                  *extra], env=env)


def points_subscription_reliability(ros, topic: str) -> ReliabilityPolicy | None:
    infos: list = []

    def found() -> bool:
        infos[:] = ros.node.get_subscriptions_info_by_topic(topic)
        return bool(infos)

    ros.spin_until(found, timeout=15)
    return infos[0].qos_profile.reliability if infos else None


def call(ros, service_type, name: str, request, timeout: float = 10.0):
    """Call a service and return its response.

    ``service_is_ready`` only says that the server's request reader matched this client; the
    reply path may still be matching, and a reply sent before it has is lost (a known DDS
    discovery race). So wait a moment after ready, and retry idempotent requests.
    """
    client = ros.node.create_client(service_type, name)
    assert ros.spin_until(client.service_is_ready, timeout=20), f'{name} not available'
    ros.spin_until(lambda: False, timeout=0.5)
    attempts = 1 if service_type is ChangeState else 3
    for _ in range(attempts):
        future = client.call_async(request)
        if ros.spin_until(future.done, timeout=timeout / attempts):
            return future.result()
    raise AssertionError(f'{name} did not answer')


def transition(ros, node_name: str, transition_id: int) -> bool:
    return call(ros, ChangeState, f'{node_name}/change_state',
                ChangeState.Request(transition=Transition(id=transition_id))).success


def lidar_scan() -> np.ndarray:
    """Return a 2000-point scan with a 1 m crate 6 m ahead on flat ground 1.7 m below."""
    gx, gy = np.meshgrid(np.arange(-10.0, 10.0, 0.5), np.arange(-10.0, 10.0, 0.5))
    ground = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, -1.7)], axis=1)
    bx, bz = np.meshgrid(np.arange(-0.5, 0.5, 0.05), np.arange(-1.7, -0.7, 0.05))
    crate = np.stack([np.full(bx.size, 6.0), bx.ravel(), bz.ravel()], axis=1)
    return np.concatenate([ground, crate]).astype(np.float32)


def warm_up(ros, publish, received: list) -> bool:
    """Publish until something comes back: best-effort data sent before matching is lost."""
    def back() -> bool:
        publish()
        return ros.spin_until(lambda: bool(received), timeout=0.2)
    return ros.spin_until(back, timeout=30)


def test_lidar_only_publishes_one_scene_graph_per_scan_with_its_stamp_and_frame(ros,
                                                                                spawn) -> None:
    node = start_node(spawn, '/pn_graph', *LIDAR_ONLY)
    graphs: list[SceneGraph] = []
    pub = ros.node.create_publisher(PointCloud2, '/pn_graph/points', qos_profile_sensor_data)
    ros.node.create_subscription(SceneGraph, '/pn_graph/perception/scene_graph',
                                 graphs.append, 10)
    scan = lidar_scan()
    assert warm_up(ros, lambda: pub.publish(xyz_to_pointcloud2(
        scan, Header(stamp=stamp_now(), frame_id='velodyne'))), graphs), node.output()
    ros.spin_until(lambda: False, timeout=0.5)
    graphs.clear()
    stamps = []
    for _ in range(5):
        stamp = stamp_now()
        stamps.append(stamp)
        pub.publish(xyz_to_pointcloud2(scan, Header(stamp=stamp, frame_id='velodyne')))
        ros.spin_until(lambda s=stamp: graphs and graphs[-1].header.stamp == s, timeout=20)

    assert [g.header.stamp for g in graphs] == stamps, node.output()
    assert {g.header.frame_id for g in graphs} == {'velodyne'}
    # The crate is tracked under one id from its second scan on.
    crates = [[o for o in g.objects if abs(o.box_center.position.x - 6.0) < 0.5]
              for g in graphs]
    assert all(len(c) == 1 for c in crates), node.output()
    assert len({c[0].id for c in crates}) == 1
    assert node.proc.poll() is None, node.output()


@pytest.fixture
def kitti_node(ros, spawn, kitti_dir, tmp_path):
    """perception_node set up for KITTI's rectified images, and the three frames."""
    frames = {f: kitti_messages(kitti_dir, f) for f in ('000000', '000001', '000002')}
    params = tmp_path / 'kitti.yaml'
    params.write_text('/**:\n  ros__parameters:\n    camera:\n      rectified: true\n'
                      f'    lidar_to_camera: {frames["000000"].lidar_to_camera}\n')
    node = start_node(spawn, '/pn_kitti', '--params-file', str(params))
    return node, frames


def test_kitti_frames_at_10_hz_become_graphs_clouds_markers_and_images_that_agree(
        ros, kitti_node, kitti_dir) -> None:
    node, frames = kitti_node
    pubs = [ros.node.create_publisher(t, f'/pn_kitti/{name}', qos_profile_sensor_data)
            for t, name in ((PointCloud2, 'points'), (Image, 'image'),
                            (CameraInfo, 'camera_info'))]
    received: dict[str, dict[tuple[int, int], object]] = {name: {} for name in OUTPUTS}
    for name, msg_type in OUTPUTS.items():
        ros.node.create_subscription(
            msg_type, f'/pn_kitti/perception/{name}',
            lambda msg, n=name: received[n].__setitem__(
                (msg.header.stamp.sec, msg.header.stamp.nanosec) if n != 'markers' and n !=
                'scene_graph/json' else len(received[n]), msg), QoSProfile(depth=50))
    sent: dict[str, list[tuple[int, int]]] = {}
    tick = 0

    def publish(frame: str) -> None:
        nonlocal tick
        tick += 1
        stamp = stamp_now()
        for pub, message in zip(pubs, frames[frame].stamped(stamp), strict=True):
            pub.publish(message)
        sent.setdefault(frame, []).append((stamp.sec, stamp.nanosec))

    assert warm_up(ros, lambda: publish('000000'), received['scene_graph']), node.output()
    for frame in frames:
        # The three frames come from different drives, each with its own calibration: the
        # extrinsic parameter is changed at runtime (CameraInfo carries the intrinsics).
        request = SetParameters.Request(parameters=[Parameter(
            'lidar_to_camera', value=frames[frame].lidar_to_camera).to_parameter_msg()])
        assert call(ros, SetParameters, '/pn_kitti/perception/set_parameters',
                    request).results[0].successful
        sent[frame] = []
        # At 10 Hz until the node has published 8 graphs of this frame (1.5 s on an idle
        # machine). A loaded machine processes fewer of the frames sent (newest first, the
        # rest replaced): the count is the node's speed, not what this test checks.
        for _ in range(300):
            publish(frame)
            ros.spin_until(lambda: False, timeout=0.1)
            if sum(s in received['scene_graph'] for s in sent[frame]) >= 8:
                break
    ros.spin_until(lambda: False, timeout=1.0)

    graphs = received['scene_graph']
    for frame, stamps in sent.items():
        processed = sum(stamp in graphs for stamp in stamps)
        assert processed >= 8, f'{frame}: {processed} of {len(stamps)} frames\n' + node.output()
    for frame, stamps in sent.items():
        messages = frames[frame]
        done = [s for s in stamps if s in graphs]
        last = done[-1]
        graph = graphs[last]
        assert graph.header.frame_id == 'velo_link'
        assert graph.image_header.frame_id == 'camera_color_left'
        seen = [o for o in graph.objects if o.num_points > 0]
        # Objects match the KITTI labels: every labelled object with >= 50 points seen over at
        # least half its length has an object centre within 1 m (the truck of 000001, seen
        # only from behind, is the known exception; see the evaluation).
        centres = np.array([[o.box_center.position.x, o.box_center.position.y,
                             o.box_center.position.z] for o in seen])
        sizes = np.array([[o.box_size.x, o.box_size.y, o.box_size.z] for o in seen])
        matches = kitti_box_matches(frame, messages.scan, messages.calibration,
                                    read_labels(kitti_dir / 'label_2' / f'{frame}.txt'),
                                    centres, sizes)
        assert matches
        assert all(m.matched for m in matches if not m.one_face), (frame, matches)
        # Ids are stable while the frame repeats: the same objects under the same ids.
        id_sets = [frozenset(o.id for o in graphs[s].objects if o.num_points > 0)
                   for s in done[-5:]]
        assert len(set(id_sets)) == 1, (frame, id_sets)

        # The other outputs of the same frame agree with the graph.
        cloud = pointcloud2_to_array(received['objects/cloud'][last]).reshape(-1)
        ids, sizes = np.unique(cloud['instance'], return_counts=True)
        counts = dict(zip(ids.tolist(), sizes.tolist(), strict=True))
        assert counts == {o.id: o.num_points for o in seen}
        labels = image_to_array(received['labels'][last])
        overlay = image_to_array(received['overlay'][last])
        assert labels.shape == overlay.shape[:2] == (messages.image.height, messages.image.width)
        in_image = {o.label_value: o for o in graph.objects if o.label_value}
        assert set(np.unique(labels)) - {0} <= set(in_image)
        assert len(in_image) >= len([m for m in matches if not m.one_face])
        for value, obj in in_image.items():
            box = obj.image_box
            mask = labels[box.y_offset:box.y_offset + box.height,
                          box.x_offset:box.x_offset + box.width] == value
            assert mask.any() or not (labels == value).any()
        camera = image_to_array(messages.image)
        assert (overlay[labels > 0] != camera[labels > 0]).any()
    markers = list(received['markers'].values())[-1]
    shown = {m.id for m in markers.markers if m.ns == 'boxes' and m.action == Marker.ADD}
    assert shown == {o.id for o in graphs[max(graphs)].objects}
    assert any(m.action == Marker.DELETE for arr in received['markers'].values()
               for m in arr.markers), 'switching frames must delete stale markers'
    assert node.proc.poll() is None, node.output()


def test_lifecycle_deactivate_stops_and_clears_activate_resumes(ros, spawn) -> None:
    node = start_node(spawn, '/pn_life', *LIDAR_ONLY)
    graphs: list[SceneGraph] = []
    markers: list[MarkerArray] = []
    pub = ros.node.create_publisher(PointCloud2, '/pn_life/points', qos_profile_sensor_data)
    ros.node.create_subscription(SceneGraph, '/pn_life/perception/scene_graph',
                                 graphs.append, 10)
    ros.node.create_subscription(MarkerArray, '/pn_life/perception/markers', markers.append, 10)
    scan = lidar_scan()
    tick = [0]

    def publish() -> None:
        tick[0] += 1
        pub.publish(xyz_to_pointcloud2(scan, Header(stamp=stamp_now(), frame_id='l')))

    assert warm_up(ros, publish, graphs), node.output()
    assert transition(ros, '/pn_life/perception', Transition.TRANSITION_DEACTIVATE)
    assert ros.spin_until(lambda: any(m.action == Marker.DELETEALL
                                      for arr in markers for m in arr.markers), timeout=20)
    state = call(ros, GetState, '/pn_life/perception/get_state', GetState.Request())
    assert state.current_state.id == State.PRIMARY_STATE_INACTIVE
    graphs.clear()
    for _ in range(5):
        publish()
        ros.spin_until(lambda: False, timeout=0.1)
    assert not graphs
    assert transition(ros, '/pn_life/perception', Transition.TRANSITION_ACTIVATE)
    assert warm_up(ros, publish, graphs), node.output()


def test_without_autostart_it_waits_unconfigured_until_told(ros, spawn) -> None:
    node = start_node(spawn, '/pn_manual', *LIDAR_ONLY, '-p', 'autostart:=false')
    state = call(ros, GetState, '/pn_manual/perception/get_state', GetState.Request())
    assert state.current_state.id == State.PRIMARY_STATE_UNCONFIGURED
    assert ros.node.count_publishers('/pn_manual/perception/scene_graph') == 0
    assert transition(ros, '/pn_manual/perception', Transition.TRANSITION_CONFIGURE)
    assert transition(ros, '/pn_manual/perception', Transition.TRANSITION_ACTIVATE)
    graphs: list[SceneGraph] = []
    pub = ros.node.create_publisher(PointCloud2, '/pn_manual/points', qos_profile_sensor_data)
    ros.node.create_subscription(SceneGraph, '/pn_manual/perception/scene_graph',
                                 graphs.append, 10)
    assert warm_up(ros, lambda: pub.publish(xyz_to_pointcloud2(
        lidar_scan(), Header(stamp=stamp_now(), frame_id='l'))), graphs), node.output()


def test_a_silent_node_says_which_input_is_missing(ros, spawn) -> None:
    node = start_node(spawn, '/pn_quiet')
    pub = ros.node.create_publisher(PointCloud2, '/pn_quiet/points', qos_profile_sensor_data)
    def explained() -> bool:
        pub.publish(xyz_to_pointcloud2(lidar_scan(), Header(stamp=stamp_now(), frame_id='l')))
        ros.spin_until(lambda: False, timeout=0.1)
        return 'no messages on /pn_quiet/image: nobody publishes it' in node.output()

    assert ros.spin_until(explained, timeout=20), node.output()
    assert 'no messages on /pn_quiet/camera_info' in node.output()
    assert 'no messages on /pn_quiet/points' not in node.output()


def test_parameters_are_checked_when_set_at_runtime(ros, spawn) -> None:
    node = start_node(spawn, '/pn_param', *LIDAR_ONLY)

    def set_parameter(name: str, value: object):
        request = SetParameters.Request(parameters=[Parameter(name, value=value)
                                                    .to_parameter_msg()])
        return call(ros, SetParameters, '/pn_param/perception/set_parameters',
                    request).results[0]

    too_low = set_parameter('segmentation.min_points', 0)
    assert not too_low.successful  # the declared range, enforced by rclpy
    bad_pose = set_parameter('lidar_to_camera', [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0])
    assert not bad_pose.successful and 'unit quaternion' in bad_pose.reason
    crossed = set_parameter('segmentation.min_range', 90.0)  # in its range, past max_range
    assert not crossed.successful and 'max_range' in crossed.reason, crossed.reason
    assert set_parameter('segmentation.min_points', 25).successful
    assert 'tracks restart' in node.output() or ros.spin_until(
        lambda: 'tracks restart' in node.output(), timeout=20)
    # Applied after acceptance (post-set callback): the synchroniser too, without an error.
    assert set_parameter('sync.slop', 0.08).successful
    assert set_parameter('masks.erosion', 3).successful
    ros.spin_until(lambda: False, timeout=1.0)
    assert node.proc.poll() is None and 'raised' not in node.output(), node.output()


@pytest.mark.parametrize(('args', 'inputs', 'outputs', 'error'), [
    # One named camera: its own topics, outputs and settings.
    (['-p', 'cameras:=[front]', '-p', 'camera.front.transport:=compressed'],
     ['/points', '/front/image/compressed', '/front/camera_info'],
     {'/perception/front/labels', '/perception/front/overlay'}, None),
    # Several: each its own topics and outputs, in the listed order.
    (['-p', 'cameras:=[front, left]', '-p', 'camera.left.transport:=compressed'],
     ['/points', '/front/image', '/front/camera_info', '/left/image/compressed',
      '/left/camera_info'],
     {'/perception/front/labels', '/perception/front/overlay', '/perception/left/labels',
      '/perception/left/overlay'}, None),
    (['-p', 'cameras:=[front, front]'], None, None, "['front'] given more than once"),
    (['-p', 'cameras:=[front]', '-p', 'camera.rear.rectified:=true'], None, None,
     "['camera.rear.rectified'] are not those of a listed camera"),
])
def test_cameras_name_the_topics_or_are_refused_clearly(
        args: list[str], inputs: list[str] | None, outputs: set[str] | None,
        error: str | None, capfd: pytest.CaptureFixture[str]) -> None:
    context = rclpy.Context()
    rclpy.init(args=['--ros-args', '--params-file', CONFIG, *args], context=context)
    try:
        node = PerceptionNode(context=context)
        configured = node._configured  # noqa: SLF001 - whether configure succeeded
        topics = node.inputs.topics if configured else None
        # The node's own publishers, not the ROS graph's view of a node named 'perception':
        # the graph may still hold the previous case's destroyed node of that name.
        published = {pub.topic_name for pub in node.publishers} if configured else set()
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    if error is None:
        assert configured and topics == inputs
        assert outputs is not None and outputs <= published
        assert '/perception/labels' not in published
    else:
        assert not configured
        assert error in capfd.readouterr().err


def test_inputs_keep_only_the_newest_message_and_start_best_effort() -> None:
    # In-process, because a subscription's depth is not visible to other processes.
    context = rclpy.Context()
    rclpy.init(args=['--ros-args', '--params-file', CONFIG], context=context)
    try:
        node = PerceptionNode(context=context)
        profiles = [(s.topic_name, s.qos_profile.depth, s.qos_profile.reliability,
                     s.qos_profile.durability) for s in node.inputs.subscriptions]
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    # Best effort matches any publisher until the node has seen which there are.
    assert profiles == [(f'/{name}', 1, ReliabilityPolicy.BEST_EFFORT, DurabilityPolicy.VOLATILE)
                        for name in ('points', 'image', 'camera_info')]


def test_each_input_follows_the_reliability_of_its_publishers(ros, spawn) -> None:
    node = start_node(spawn, '/pn_follow', *LIDAR_ONLY)
    topic = '/pn_follow/points'

    def reliability() -> ReliabilityPolicy | None:
        infos = ros.node.get_subscriptions_info_by_topic(topic)
        return infos[0].qos_profile.reliability if infos else None

    assert ros.spin_until(lambda: reliability() == ReliabilityPolicy.BEST_EFFORT, timeout=30)
    reliable = ros.node.create_publisher(PointCloud2, topic, QoSProfile(
        depth=5, reliability=ReliabilityPolicy.RELIABLE))
    assert ros.spin_until(lambda: reliability() == ReliabilityPolicy.RELIABLE, timeout=20), \
        node.output()
    # The log line is written by the node process; the graph can show the new subscription
    # before the line reaches its log file.
    assert ros.spin_until(lambda: 'subscribing reliable: its 1 publisher(s) are all reliable'
                          in node.output(), timeout=5), node.output()
    # A best-effort driver joins: a reliable subscription would not match it.
    best_effort = ros.node.create_publisher(PointCloud2, topic, qos_profile_sensor_data)
    assert ros.spin_until(lambda: reliability() == ReliabilityPolicy.BEST_EFFORT, timeout=20), \
        node.output()
    assert ros.spin_until(lambda: '1 of its 2 publisher(s) are best effort' in node.output(),
                          timeout=5), node.output()
    ros.node.destroy_publisher(best_effort)
    assert ros.spin_until(lambda: reliability() == ReliabilityPolicy.RELIABLE, timeout=20), \
        node.output()
    # Both kinds of publisher reach the node: a graph comes back from the reliable one.
    graphs: list[SceneGraph] = []
    ros.node.create_subscription(SceneGraph, '/pn_follow/perception/scene_graph',
                                 graphs.append, 10)
    scan = lidar_scan()
    assert warm_up(ros, lambda: reliable.publish(xyz_to_pointcloud2(
        scan, Header(stamp=stamp_now(), frame_id='velodyne'))), graphs), node.output()
    assert node.proc.poll() is None, node.output()


def test_no_exception_leaves_a_callback_and_each_is_counted_on_diagnostics() -> None:
    """Every subscription, timer and service callback of the node is guarded (issue 17).

    In-process, to reach the callbacks: one that raises is counted as an ``error`` drop, and
    the node goes on.
    """
    context = rclpy.Context()
    rclpy.init(args=['--ros-args', '--params-file', CONFIG], context=context)
    try:
        node = PerceptionNode(context=context)
        callbacks = ([s.callback for s in node.subscriptions] + [t.callback for t in node.timers]
                     + [s.callback for s in node.services])
        unguarded = [c for c in callbacks if not hasattr(c, 'guarded')]
        # rclpy's own services (parameters, lifecycle) are rclpy's; ours are all guarded.
        ours = [c for c in unguarded if 'vlm_seg_ros' in getattr(c, '__module__', '')]
        assert ours == [], ours
        names = {c.guarded for c in callbacks if hasattr(c, 'guarded')}
        assert {'points', 'image', 'camera_info', '~/ask', '~/prompts/text', 'report timer',
                'diagnostics timer'} <= names
        before = node.health.drops['error']
        points = node.inputs.subscriptions[0]
        points.callback(None)  # not a PointCloud2: AttributeError inside the callback
        assert node.health.drops['error'] == before + 1
        assert 'points callback raised AttributeError' in node.health.last_drop
        response = node.requests.ask_service.callback(None, Ask.Response())
        assert not response.success and 'failed' in response.message
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def test_qos_override_parameters_change_the_points_subscription(ros, spawn, tmp_path) -> None:
    params = tmp_path / 'reliable.yaml'
    params.write_text(
        '/**:\n  ros__parameters:\n    qos_overrides:\n      /pn_qos/points:\n'
        '        subscription:\n          reliability: reliable\n')
    node = start_node(spawn, '/pn_qos', params_file=str(params))
    reliability = points_subscription_reliability(ros, '/pn_qos/points')
    assert reliability == ReliabilityPolicy.RELIABLE, node.output()
    # The override wins over the publishers: a best-effort one does not change it.
    ros.node.create_publisher(PointCloud2, '/pn_qos/points', qos_profile_sensor_data)
    ros.spin_until(lambda: False, timeout=2.0)  # four of the node's QoS checks
    assert points_subscription_reliability(ros, '/pn_qos/points') == ReliabilityPolicy.RELIABLE
    assert 'as qos_overrides./pn_qos/points.subscription.reliability says' in node.output()


def test_stops_cleanly_on_ctrl_c(ros, spawn) -> None:
    node = start_node(spawn, '/pn_stop')
    assert ros.spin_until(
        lambda: ros.node.count_publishers('/pn_stop/perception/scene_graph') > 0, timeout=20)
    assert node.stop() == 0, node.output()
    assert 'Traceback' not in node.output()


# Models ----------------------------------------------------------------------------------------
CAMERA_K = [500.0, 0.0, 319.5, 0.0, 500.0, 239.5, 0.0, 0.0, 1.0]


def camera_frame(stamp: Time) -> tuple[PointCloud2, Image, CameraInfo]:
    """Return a scan with a crate 6 m ahead, a 640x480 image and CameraInfo at ``stamp``."""
    image = np.random.default_rng(stamp.sec).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    info = CameraInfo(header=Header(stamp=stamp, frame_id='camera'), width=640, height=480,
                      distortion_model='plumb_bob', d=[0.0] * 5, k=CAMERA_K,
                      r=[1.0, 0, 0, 0, 1, 0, 0, 0, 1],
                      p=[500.0, 0, 319.5, 0, 0, 500, 239.5, 0, 0, 0, 1, 0])
    return (xyz_to_pointcloud2(lidar_scan(), Header(stamp=stamp, frame_id='lidar')),
            array_to_image(image, encoding='rgb8', header=Header(stamp=stamp, frame_id='camera')),
            info)


def stream(ros, namespace: str, graphs: list, seconds: float) -> list[Time]:
    """Publish synchronised frames at 5 Hz for ``seconds``; return their stamps."""
    pubs = [ros.node.create_publisher(kind, f'{namespace}/{name}', qos_profile_sensor_data)
            for kind, name in ((PointCloud2, 'points'), (Image, 'image'),
                               (CameraInfo, 'camera_info'))]

    def publish(stamp: Time) -> None:
        for pub, msg in zip(pubs, camera_frame(stamp), strict=True):
            pub.publish(msg)

    assert warm_up(ros, lambda: publish(stamp_now(-5.0)), graphs)
    stamps = []
    for _ in range(int(seconds * 5)):
        stamp = stamp_now()
        publish(stamp)
        stamps.append(stamp)
        ros.spin_until(lambda: False, timeout=0.2)
    return stamps


def test_with_models_it_answers_questions_about_the_latest_image(
        ros, spawn, sam2_dir: Path, vlm_dir: Path) -> None:
    node = start_node(spawn, '/pn_models', '-p', f'models.segmenter:={sam2_dir}',
                      '-p', f'models.describer:={vlm_dir}', '-p', 'labels.scene_period:=1.0')
    graphs: list[SceneGraph] = []
    ros.node.create_subscription(SceneGraph, '/pn_models/perception/scene_graph',
                                 graphs.append, 10)
    assert ros.spin_until(lambda: 'describer: loaded' in node.output(), timeout=90), \
        node.output()
    stamps = stream(ros, '/pn_models', graphs, 4.0)
    assert len(graphs) >= 10, node.output()
    response = call(ros, Ask, '/pn_models/perception/ask',
                    Ask.Request(question='What is in front of the robot?'), timeout=60)
    assert response.success, response.message
    assert isinstance(response.answer, str)
    assert response.stamp in stamps
    output = node.output()
    assert 'segmenter: loaded' in output and 'describer: loaded' in output
    # The model's scene description replaced the geometric one.
    assert graphs[-1].description_stamp in stamps
    assert not graphs[-1].description.startswith(('0 objects', '1 object')), output
    empty = call(ros, Ask, '/pn_models/perception/ask', Ask.Request(question=' '))
    assert not empty.success and 'empty' in empty.message
    assert node.proc.poll() is None, output


def test_without_models_it_runs_geometry_only_and_says_why_it_cannot_answer(
        ros, spawn, tmp_path: Path) -> None:
    # An empty Hugging Face cache: the default models are missing.
    node = start_node(spawn, '/pn_nomodels', env={'HF_HUB_CACHE': str(tmp_path)})
    graphs: list[SceneGraph] = []
    ros.node.create_subscription(SceneGraph, '/pn_nomodels/perception/scene_graph',
                                 graphs.append, 10)
    stream(ros, '/pn_nomodels', graphs, 3.0)
    assert len(graphs) >= 8, node.output()
    response = call(ros, Ask, '/pn_nomodels/perception/ask', Ask.Request(question='Hello?'))
    assert not response.success and 'download-models' in response.message
    assert all(o.source == o.SOURCE_LIDAR for g in graphs for o in g.objects)
    assert node.output().count('download-models') >= 2  # segmenter and describer, once each
