"""Tracking networks (ROS-free)."""
