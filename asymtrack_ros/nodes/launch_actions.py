"""Pieces of the package's launch files. Only they import this module: the nodes
themselves never need the launch system.
"""

from __future__ import annotations

from typing import Any

from launch import LaunchContext
from launch.actions import ExecuteProcess, RegisterEventHandler, Shutdown
from launch.event_handlers import OnProcessExit
from launch.events.process import ProcessExited


def essential(process: ExecuteProcess) -> RegisterEventHandler:
    """The launch ends when ``process`` ends, as nothing useful runs without it (the tracker,
    the controller of a follow launch): with a non-zero exit code of ``ros2 launch`` when
    the process failed, so that a script or a supervisor sees it; cleanly when it was
    stopped cleanly. While the launch is shutting down anyway, nothing happens.
    """

    def on_exit(event: ProcessExited, context: LaunchContext) -> Any:
        if context.is_shutdown:
            return None
        if event.returncode == 0:
            return Shutdown(reason=f"{event.process_name} ended")
        # An exception in an event handler is how a launch ends with exit code 1.
        raise RuntimeError(
            f"{event.process_name} exited with code {event.returncode}; the launch cannot go on without it"
        )

    return RegisterEventHandler(OnProcessExit(target_action=process, on_exit=on_exit))
