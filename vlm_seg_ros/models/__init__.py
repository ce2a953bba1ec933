"""Learned models behind small protocols: segmenters (SAM 2, SAM 3) and describers (SmolVLM2).

Backends load offline-first (see :mod:`vlm_seg_ros.models.loading`); the node runs
geometry-only when one is missing. Nothing here imports ROS.
"""
