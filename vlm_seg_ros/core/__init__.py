"""ROS-free, typed math of the pipeline: geometry, segmentation, tracking, relations."""
