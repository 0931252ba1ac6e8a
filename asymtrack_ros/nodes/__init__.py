"""ROS 2 nodes of asymtrack_ros."""
