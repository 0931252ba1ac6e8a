"""Accuracy and speed evaluation of trackers on annotated sequences (ROS-free)."""
