"""Follow controller core (ROS-free): camera model, PID, state machine, parameters."""
