"""Camera + LiDAR perception for ROS 2 with segmentation models and a small VLM.

Subpackages: ``msg`` (generated SceneGraph, SceneObject, SceneRelation messages), ``nodes``
(ROS 2 nodes). ROS-free math lives in modules that never import rclpy or message types.
"""

import pkgutil

# A source checkout imported instead of the installed package (``python -m vlm_seg_ros.tools...``
# from the repository root puts it first on sys.path) lacks what colcon generates: ``msg`` and
# ``srv``. The package's path also lists the installed copy found on sys.path, so they resolve.
__path__ = pkgutil.extend_path(__path__, __name__)
