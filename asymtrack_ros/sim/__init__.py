"""Closed-loop simulator core (ROS-free): multirotor + gimbal dynamics, scenario, renderer."""
