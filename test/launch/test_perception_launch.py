"""perception.launch.py under launch_pytest, as on a ROS 2 install after ``colcon build``.

launch, launch_ros and launch_pytest are not on PyPI, so on a machine without a ROS install
this module is skipped with that reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

launch_pytest = pytest.importorskip(
    'launch_pytest',
    reason='launch_pytest is not installed: it comes with a ROS 2 install, not from PyPI')

from ament_index_python.packages import get_package_share_directory  # noqa: E402
from builtin_interfaces.msg import Time  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
import numpy as np  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import PointCloud2  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from vlm_seg_ros.conversions import xyz_to_pointcloud2  # noqa: E402
from vlm_seg_ros.msg import SceneGraph  # noqa: E402

LAUNCH_FILE = Path(get_package_share_directory('vlm_seg_ros')) / 'launch' / 'perception.launch.py'


@launch_pytest.fixture
def perception_launch() -> LaunchDescription:
    return LaunchDescription([
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
            launch_arguments={'namespace': 'launch_test', 'points': 'lidar/points'}.items()),
        launch_pytest.actions.ReadyToTest(),
    ])


@pytest.mark.launch(fixture=perception_launch)
def test_launch_file_starts_the_node_with_remapped_points(ros) -> None:
    graphs: list[SceneGraph] = []
    pub = ros.node.create_publisher(PointCloud2, '/launch_test/lidar/points',
                                    qos_profile_sensor_data)
    ros.node.create_subscription(SceneGraph, '/launch_test/perception/scene_graph',
                                 graphs.append, 10)
    scan = np.zeros((10, 3), dtype=np.float32)

    def graph_back() -> bool:
        pub.publish(xyz_to_pointcloud2(scan, Header(stamp=Time(sec=7), frame_id='lidar')))
        return ros.spin_until(lambda: bool(graphs), timeout=0.2)

    assert ros.spin_until(graph_back, timeout=30)
    assert graphs[0].header.frame_id == 'lidar'
