"""Start ``perception_node`` with the package's parameter file.

ros2 launch vlm_seg_ros perception.launch.py
ros2 launch vlm_seg_ros perception.launch.py points:=/velodyne_points \
        params_file:=/path/to/my_perception.yaml use_sim_time:=true
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    """Declare the launch arguments and the node."""
    default_params = PathJoinSubstitution(
        [FindPackageShare('vlm_seg_ros'), 'config', 'perception.yaml']
    )
    return LaunchDescription([
        DeclareLaunchArgument(
            'params_file', default_value=default_params,
            description='YAML file with perception_node parameters'),
        DeclareLaunchArgument(
            'namespace', default_value='', description='namespace of the node and its topics'),
        DeclareLaunchArgument(
            'points', default_value='points', description='LiDAR PointCloud2 topic'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false',
            description='use /clock (true when replaying a bag with --clock)'),
        Node(
            package='vlm_seg_ros',
            executable='perception_node',
            name='perception',
            namespace=LaunchConfiguration('namespace'),
            parameters=[
                LaunchConfiguration('params_file'),
                {'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'),
                                                value_type=bool)},
            ],
            remappings=[('points', LaunchConfiguration('points'))],
            output='screen',
            emulate_tty=True,
        ),
    ])
