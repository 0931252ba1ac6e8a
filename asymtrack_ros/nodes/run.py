"""Running a node as an executable: one shape for parameters, start-up errors and shutdown."""

from __future__ import annotations

import sys
from typing import Any, Callable, Mapping

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


def declare_parameters(node: Node, spec: Mapping[str, tuple[Any, str]]) -> dict[str, Any]:
    """Declare ``{name: (default, description)}`` on ``node``; returns the values in effect.
    Read-only: nodes read their parameters once, so a change at run time is refused with a
    reason rather than accepted and silently ignored.
    """
    for name, (default, desc) in spec.items():
        node.declare_parameter(name, default, ParameterDescriptor(description=desc, read_only=True))
    return {name: node.get_parameter(name).value for name in spec}


def spin_until_shutdown(node: Node) -> None:
    """Spin ``node`` until Ctrl-C or shutdown. A callback already running when the context
    shuts down (a timer publishing on a publisher Ctrl-C just closed) fails as part of
    shutting down: that ends the spin quietly; the same failure on a live context is raised.
    """
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if executor.context.ok():
            raise
    finally:
        executor.shutdown()


def spin_node(
    name: str,
    make_node: Callable[[], Node],
    config_errors: tuple[type[Exception], ...],
    args: list[str] | None = None,
    on_exit: Callable[[Node], None] | None = None,
) -> int:
    """Spin until Ctrl-C or shutdown. A configuration error ends the process with one line
    naming the problem and exit code 2 (no traceback); ``on_exit`` runs before the node is
    destroyed (e.g. to leave a zero command).
    """
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = make_node()
        spin_until_shutdown(node)
    except config_errors as err:
        print(f"{name}: {err}", file=sys.stderr)
        code = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            if on_exit is not None:
                try:
                    on_exit(node)
                except Exception:  # noqa: BLE001 - the context may already be gone
                    pass
            node.destroy_node()
        rclpy.try_shutdown()
    return code
