"""Camera + LiDAR perception for ROS 2 with segmentation models and a small VLM.

Subpackages: ``msg`` (generated SceneGraph, SceneObject, SceneRelation messages), ``nodes``
(ROS 2 nodes). ROS-free math lives in modules that never import rclpy or message types.
"""
