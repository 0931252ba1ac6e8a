"""Operator interfaces (desktop selector, browser page): ROS-free logic the nodes wrap."""
