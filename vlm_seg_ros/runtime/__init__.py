"""The runtime: ROS-free, it joins the core and the models and owns every per-frame rule.

``config``: the whole configuration (one tree of tunables, read from parameters by name).
``frames``: :class:`~vlm_seg_ros.runtime.frames.FrameRunner`, the one frame runner that the
live node, process-bag and (through the node) the demo drive.
"""
