"""vlm_seg_ros.tools.bringup: the node graph shared by perception.launch.py and its Python twin."""

from __future__ import annotations

from pathlib import Path
import re

from ament_index_python.packages import get_package_share_directory
import pytest

from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.msg import SceneGraph
from vlm_seg_ros.tools import bringup

SHARE = Path(get_package_share_directory('vlm_seg_ros'))
PEER = Path(__file__).resolve().parents[1] / 'resource' / 'large_cloud_peer.py'


def test_defaults_start_perception_node_with_the_shipped_config_and_dds_profile() -> None:
    [node] = bringup.nodes({})
    assert (node.executable, node.name, node.namespace) == ('perception_node', 'perception', '')
    assert node.params_files == (str(SHARE / 'config' / 'perception.yaml'),)
    assert node.parameters == {'use_sim_time': False}  # target_frame left to the file
    assert node.remappings == ()
    assert node.env == {'FASTDDS_DEFAULT_PROFILES_FILE':
                        str(SHARE / 'resource' / 'fastdds_large_messages.xml')}
    for path in (*node.params_files, *node.env.values()):
        assert Path(path).is_file()


def test_arguments_become_remappings_parameters_and_a_command_line() -> None:
    [node] = bringup.nodes({'namespace': 'robot', 'points': '/ouster/points',
                            'image': '/cam/image_raw', 'camera_info': '/cam/camera_info',
                            'target_frame': 'base_link', 'use_sim_time': 'true',
                            'log_level': 'debug', 'dds_profile': ''})
    assert node.remappings == (('points', '/ouster/points'), ('image', '/cam/image_raw'),
                               ('camera_info', '/cam/camera_info'))
    assert node.parameters == {'use_sim_time': True, 'target_frame': 'base_link'}
    assert node.env == {}
    command = node.command()
    assert Path(command[0]).name == 'perception_node' and command[1] == '--ros-args'
    pairs = list(zip(command[2::2], command[3::2], strict=True))
    assert ('-r', '__ns:=robot') in pairs and ('-r', 'points:=/ouster/points') in pairs
    assert ('-p', 'target_frame:="base_link"') in pairs and ('-p', 'use_sim_time:=true') in pairs
    assert ('--log-level', 'debug') in pairs


def test_several_cameras_and_their_remappings_reach_the_command_line() -> None:
    [node] = bringup.nodes({
        'cameras': '[front, left,right]',
        'remappings': 'front/image:=/cam_f/image_raw  left/camera_info:=/cam_l/info'})
    assert node.parameters['cameras'] == ['front', 'left', 'right']
    assert node.remappings == (('front/image', '/cam_f/image_raw'),
                               ('left/camera_info', '/cam_l/info'))
    pairs = list(zip(node.command()[2::2], node.command()[3::2], strict=True))
    assert ('-p', 'cameras:=["front", "left", "right"]') in pairs
    assert ('-r', 'front/image:=/cam_f/image_raw') in pairs
    assert 'cameras' not in bringup.nodes({})[0].parameters  # the params file's, else one


@pytest.mark.parametrize('values', [{'pointz': 'x'}, {'use_sim_time': 'maybe'},
                                    {'log_level': 'loud'}, {'cameras': '[front,front]'},
                                    {'cameras': '[front-left]'},
                                    {'remappings': 'front/image=/x'}])
def test_bad_arguments_are_refused_with_the_reason(values: dict[str, str]) -> None:
    with pytest.raises(InvalidInputError, match=next(iter(values))):
        bringup.nodes(values)


def test_parse_takes_ros2_launch_style_arguments() -> None:
    assert bringup.parse(['points:=/a', 'target_frame:=']) == {'points': '/a', 'target_frame': ''}
    with pytest.raises(InvalidInputError):
        bringup.parse(['points=/a'])


def test_the_launch_file_uses_the_shared_description() -> None:
    source = (SHARE / 'launch' / 'perception.launch.py').read_text()
    assert 'bringup.nodes(' in source and 'bringup.arguments()' in source
    assert not re.search(r"executable='|name='perception'", source)  # nothing duplicated


def test_six_megabyte_best_effort_clouds_reach_the_node_started_by_bringup(
        ros, spawn, python_exe, tmp_path) -> None:
    """An Ouster OS1-128 scan (128 x 2048 points, 24 bytes each: 6.3 MB), best effort, 10 Hz."""
    params = tmp_path / 'lidar_only.yaml'
    params.write_text('/**:\n  ros__parameters:\n    camera:\n      enabled: false\n'
                      '    qos_overrides:\n      /big/ouster/points:\n        subscription:\n'
                      '          depth: 1\n')
    node = spawn([python_exe, '-m', 'vlm_seg_ros.tools.bringup', 'namespace:=/big',
                  'points:=/big/ouster/points', f'params_file:={params}'],
                 env={'FASTDDS_DEFAULT_PROFILES_FILE': ''})  # bringup must set it itself
    graphs: list[SceneGraph] = []
    ros.node.create_subscription(SceneGraph, '/big/perception/scene_graph', graphs.append, 50)
    assert ros.spin_until(lambda: ros.node.count_subscribers('/big/ouster/points') > 0,
                          timeout=20), node.output()
    driver = spawn([python_exe, str(PEER), 'ouster', '40', '/big/ouster/points'])
    assert ros.spin_until(lambda: driver.proc.poll() is not None, timeout=60), driver.output()
    ros.spin_until(lambda: False, timeout=1.0)
    sent = int(re.search(r'sent (\d+)', driver.output()).group(1))
    stamps = {(g.header.stamp.sec, g.header.stamp.nanosec) for g in graphs}
    # Without the profile none arrives. How many of those that arrive the node processes
    # (newest first, the rest replaced and counted) is its speed on this machine, not what
    # this test checks: a loaded machine processes fewer.
    assert len(stamps) >= 5, f'{len(stamps)} of {sent}\n{node.output()}'
    assert all(g.header.frame_id == 'os_lidar' for g in graphs)
    assert any(g.objects for g in graphs)
