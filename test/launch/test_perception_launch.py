"""perception.launch.py under launch_pytest, as on a ROS 2 install after ``colcon build``.

launch, launch_ros and launch_pytest are not on PyPI, so on a machine without a ROS install
this module is skipped with that reason.
"""

from __future__ import annotations

from pathlib import Path
import time

import pytest

launch_pytest = pytest.importorskip(
    'launch_pytest',
    reason='launch_pytest is not installed: it comes with a ROS 2 install, not from PyPI')

from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
import numpy as np  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, PointCloud2  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from vlm_seg_ros.msg import SceneGraph  # noqa: E402
from vlm_seg_ros.ros.conversions import (  # noqa: E402
    array_to_image,
    time_from_ns,
    xyz_to_pointcloud2,
)

LAUNCH_FILE = Path(get_package_share_directory('vlm_seg_ros')) / 'launch' / 'perception.launch.py'


@launch_pytest.fixture
def perception_launch() -> LaunchDescription:
    return LaunchDescription([
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
            launch_arguments={'namespace': 'launch_test', 'points': 'lidar/points',
                              'image': 'cam/image_raw', 'camera_info': 'cam/camera_info',
                              'log_level': 'debug'}.items()),
        launch_pytest.actions.ReadyToTest(),
    ])


@pytest.mark.launch(fixture=perception_launch)
def test_launch_file_starts_the_node_with_remapped_inputs(ros) -> None:
    graphs: list[SceneGraph] = []
    publishers = [ros.node.create_publisher(t, f'/launch_test/{name}', qos_profile_sensor_data)
                  for t, name in ((PointCloud2, 'lidar/points'), (Image, 'cam/image_raw'),
                                  (CameraInfo, 'cam/camera_info'))]
    ros.node.create_subscription(SceneGraph, '/launch_test/perception/scene_graph',
                                 graphs.append, 10)
    scan = np.random.default_rng(0).uniform(-10, 10, (500, 3)).astype(np.float32)
    k = [300.0, 0.0, 159.5, 0.0, 300.0, 119.5, 0.0, 0.0, 1.0]

    def graph_back() -> bool:
        stamp = time_from_ns(time.time_ns())
        header = Header(stamp=stamp, frame_id='lidar')
        camera = Header(stamp=stamp, frame_id='camera')
        publishers[0].publish(xyz_to_pointcloud2(scan, header))
        publishers[1].publish(array_to_image(np.zeros((240, 320, 3), np.uint8),
                                             encoding='rgb8', header=camera))
        publishers[2].publish(CameraInfo(header=camera, width=320, height=240, k=k,
                                         p=k[:3] + [0.0] + k[3:6] + [0.0] + k[6:] + [0.0],
                                         r=[1.0, 0, 0, 0, 1, 0, 0, 0, 1],
                                         distortion_model='plumb_bob', d=[0.0] * 5))
        return ros.spin_until(lambda: bool(graphs), timeout=0.2)

    assert ros.spin_until(graph_back, timeout=30)
    assert graphs[0].header.frame_id == 'lidar'
    assert graphs[0].image_header.frame_id == 'camera'
