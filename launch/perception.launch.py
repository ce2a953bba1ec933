"""Start perception_node with the package's parameter file and Fast DDS profile.

ros2 launch vlm_seg_ros perception.launch.py
ros2 launch vlm_seg_ros perception.launch.py points:=/ouster/points image:=/camera/image_raw \
        camera_info:=/camera/camera_info target_frame:=base_link use_sim_time:=true
ros2 launch vlm_seg_ros perception.launch.py cameras:=[front,left,right] \
        remappings:='front/image:=/cam_f/image_raw front/camera_info:=/cam_f/camera_info ...'

The nodes, their parameters, remappings and environment come from vlm_seg_ros.tools.bringup, which
`python -m vlm_seg_ros.tools.bringup` (the same graph without `ros2 launch`) uses too.
"""

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from vlm_seg_ros.tools import bringup


def _nodes(context: LaunchContext) -> list[Node]:
    values = {argument.name: LaunchConfiguration(argument.name).perform(context)
              for argument in bringup.arguments()}
    return [
        Node(package=n.package, executable=n.executable, name=n.name, namespace=n.namespace,
             parameters=[*n.params_files, n.parameters], remappings=list(n.remappings),
             ros_arguments=['--log-level', n.log_level], additional_env=n.env,
             output='screen', emulate_tty=True)
        for n in bringup.nodes(values)
    ]


def generate_launch_description() -> LaunchDescription:
    """Declare the launch arguments and the nodes."""
    return LaunchDescription([
        *(DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
          for a in bringup.arguments()),
        OpaqueFunction(function=_nodes),
    ])
