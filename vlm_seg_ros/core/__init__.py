"""ROS-free, typed math of the pipeline: geometry, segmentation, tracking, relations."""

import pkgutil

# As in ``vlm_seg_ros``: from a source checkout, ``_geometry`` (compiled by colcon from
# src/geometry.cpp) is found in the installed copy.
__path__ = pkgutil.extend_path(__path__, __name__)
