"""ROS 2 nodes: thin glue that converts messages, calls the core and publishes."""
