"""perception_node as users run it: the installed executable in its own process, over DDS."""

from __future__ import annotations

from pathlib import Path

from ament_index_python.packages import get_package_prefix, get_package_share_directory
from builtin_interfaces.msg import Time
import numpy as np
import rclpy
from rclpy.qos import ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header

from vlm_seg_ros.conversions import xyz_to_pointcloud2
from vlm_seg_ros.msg import SceneGraph
from vlm_seg_ros.nodes.perception_node import PerceptionNode

NODE = str(Path(get_package_prefix('vlm_seg_ros')) / 'lib' / 'vlm_seg_ros' / 'perception_node')
CONFIG = str(Path(get_package_share_directory('vlm_seg_ros')) / 'config' / 'perception.yaml')


def start_node(spawn, namespace: str, params_file: str = CONFIG):
    return spawn([NODE, '--ros-args', '-r', f'__ns:={namespace}', '--params-file', params_file])


def points_subscription_reliability(ros, topic: str) -> ReliabilityPolicy | None:
    infos: list = []

    def found() -> bool:
        infos[:] = ros.node.get_subscriptions_info_by_topic(topic)
        return bool(infos)

    ros.spin_until(found, timeout=15)
    return infos[0].qos_profile.reliability if infos else None


def test_publishes_one_scene_graph_per_scan_with_its_stamp_and_frame(ros, spawn) -> None:
    node = start_node(spawn, '/pn_graph')
    graphs: list[SceneGraph] = []
    pub = ros.node.create_publisher(PointCloud2, '/pn_graph/points', qos_profile_sensor_data)
    ros.node.create_subscription(SceneGraph, '/pn_graph/perception/scene_graph',
                                 graphs.append, 10)
    assert ros.spin_until(lambda: pub.get_subscription_count() > 0
                          and ros.node.count_publishers('/pn_graph/perception/scene_graph'),
                          timeout=20), node.output()

    scan = np.random.default_rng(0).uniform(-20, 20, size=(2000, 3)).astype(np.float32)

    # Sensor data is best effort: the first scans may go out before the node's reader has
    # matched this writer. Warm up until one graph comes back, then count exactly.
    def warmed_up() -> bool:
        pub.publish(xyz_to_pointcloud2(scan, Header(stamp=Time(sec=1), frame_id='velodyne')))
        return ros.spin_until(lambda: bool(graphs), timeout=0.2)

    assert ros.spin_until(warmed_up, timeout=20), node.output()
    ros.spin_until(lambda: False, timeout=0.5)
    graphs.clear()
    stamps = [Time(sec=1_000 + i, nanosec=i) for i in range(5)]
    for stamp in stamps:
        pub.publish(xyz_to_pointcloud2(scan, Header(stamp=stamp, frame_id='velodyne')))
        ros.spin_until(lambda s=stamp: graphs and graphs[-1].header.stamp == s, timeout=5)

    assert [g.header.stamp for g in graphs] == stamps, node.output()
    assert {g.header.frame_id for g in graphs} == {'velodyne'}
    assert node.proc.poll() is None, node.output()


def test_shipped_config_keeps_only_the_newest_scan() -> None:
    # In-process, because a subscription's depth is not visible to other processes.
    context = rclpy.Context()
    rclpy.init(args=['--ros-args', '--params-file', CONFIG], context=context)
    try:
        node = PerceptionNode(context=context)
        qos = node._points_sub.qos_profile
        assert (qos.depth, qos.reliability) == (1, ReliabilityPolicy.BEST_EFFORT)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    assert qos_profile_sensor_data.depth != 1  # the file, not the code default, set it


def test_qos_override_parameters_change_the_points_subscription(ros, spawn, tmp_path) -> None:
    params = tmp_path / 'reliable.yaml'
    params.write_text(
        '/**:\n  ros__parameters:\n    qos_overrides:\n      /pn_qos/points:\n'
        '        subscription:\n          reliability: reliable\n')
    node = start_node(spawn, '/pn_qos', str(params))
    reliability = points_subscription_reliability(ros, '/pn_qos/points')
    assert reliability == ReliabilityPolicy.RELIABLE, node.output()


def test_stops_cleanly_on_ctrl_c(ros, spawn) -> None:
    node = start_node(spawn, '/pn_stop')
    assert ros.spin_until(
        lambda: ros.node.count_publishers('/pn_stop/perception/scene_graph') > 0, timeout=20)
    assert node.stop() == 0, node.output()
    assert 'Traceback' not in node.output()
