"""One-shot: engage (or disengage) the follow controller through its ``~/enable`` service,
then exit.

For launch files, in place of ``ros2 service call``: a Ctrl-C while it waits for the
controller or finishes its call ends it with 0 like every node here, so an operator's
Ctrl-C never turns into a launch error. Exit codes: 0 when the controller answered
success (or on a stop request), 1 when it refused or never came up within ``timeout_s``,
2 for a bad parameter.
"""

from __future__ import annotations

import sys
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from std_srvs.srv import SetBool

from .run import POLL_S, declare_parameters, finish, init
from .stop import StopRequest

PARAMETERS = {
    "service": ("follow_controller_node/enable", "the controller's enable service (relative to the namespace)"),
    "enable": (True, "true engages, false disengages"),
    "timeout_s": (60.0, "give up (exit 1) when the controller has not answered by then"),
}


def call_enable(node: rclpy.node.Node, service: str, enable: bool, timeout_s: float, stop: StopRequest) -> int:
    """Wait for the service, call it once, and wait for the answer, all while polling
    ``stop``; the exit code.
    """
    client = node.create_client(SetBool, service)
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    deadline = time.monotonic() + timeout_s
    future = None
    node.get_logger().info(f"{'engaging' if enable else 'disengaging'} through {client.srv_name} once it is up")
    try:
        while not stop and node.context.ok():
            if future is None and client.service_is_ready():
                future = client.call_async(SetBool.Request(data=enable))
            if future is not None and future.done():
                answer = future.result()
                log = node.get_logger().info if answer.success else node.get_logger().error
                log(f"{client.srv_name}: {answer.message}")
                return 0 if answer.success else 1
            if time.monotonic() > deadline:
                failed = "did not answer" if future is not None else "did not come up"
                node.get_logger().error(f"{client.srv_name} {failed} within {timeout_s:g} s")
                return 1
            executor.spin_once(timeout_sec=POLL_S)
        return 0
    finally:
        executor.shutdown()


def main(args: list[str] | None = None) -> int:
    stop = init(args)
    node = None
    try:
        node = rclpy.create_node("follow_engage")
        try:
            values = declare_parameters(node, PARAMETERS)
        except ValueError as err:
            print(f"follow_engage: {err}", file=sys.stderr)
            return 2
        return call_enable(node, values["service"], values["enable"], values["timeout_s"], stop)
    finally:
        finish(node)


if __name__ == "__main__":
    sys.exit(main())
