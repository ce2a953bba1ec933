"""Everything that imports rclpy or ROS message types: conversions, outputs, bags, the nodes.

``conversions``: messages <-> numpy (PointCloud2, Image, CompressedImage, CameraInfo, TF);
``outputs``: a scene frame -> the node's output messages; ``bags``: rosbag2 read and write on
rosbags, static TF; ``nodes``: perception_node and its ROS plumbing.
"""
