"""Running a node as an executable: one shape for parameters, start-up errors and shutdown.

Shutdown happens in one order, on the main thread: stop spinning (no callback takes a
frame any more), end the node's own threads (``close``), destroy the node, shut the
context down. Signals only ask for it (stop.py). rclpy's own handlers are not installed:
they shut the context down the moment a signal arrives, while a worker thread may still
be publishing on it or running native inference; that ended in publish errors,
tracebacks and native aborts on the way out.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Mapping

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from .stop import STOP, StopRequest

_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
POLL_S = 0.1  # how soon a spin notices a stop request (a Python handler runs between waits)


def init(args: list[str] | None = None) -> StopRequest:
    """rclpy.init for a node process, with the stop request in place of rclpy's handlers."""
    STOP.install()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    return STOP


def declare_parameters(node: Node, spec: Mapping[str, tuple[Any, str]]) -> dict[str, Any]:
    """Declare ``{name: (default, description)}`` on ``node``; returns the values in effect,
    of the default's type (an integer is taken for a number). A value of another type is a
    ValueError naming the parameter, not rclpy's exception with a traceback. Read-only:
    nodes read their parameters once, so a change at run time is refused with a reason
    rather than accepted and silently ignored.
    """
    values = {}
    for name, (default, desc) in spec.items():
        descriptor = ParameterDescriptor(description=desc, read_only=True, dynamic_typing=True)
        value = node.declare_parameter(name, default, descriptor).value
        if isinstance(default, float) and type(value) is int:
            value = float(value)
        if type(value) is not type(default):
            raise ValueError(f"parameter '{name}' must be {_KINDS[type(default)]}, got {value!r}")
        values[name] = value
    return values


def spin_until_shutdown(node: Node, stop: StopRequest | None = None) -> None:
    """Spin ``node`` until ``stop`` is requested or its context shuts down. A callback that
    fails because the context was shut down from outside ends the spin quietly; the same
    failure on a live context is raised.
    """
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    try:
        while not stop and executor.context.ok():
            executor.spin_once(timeout_sec=POLL_S)
    except ExternalShutdownException:
        pass
    except Exception:
        if executor.context.ok():
            raise
    finally:
        executor.shutdown()


def finish(node: Node | None, close: Callable[[], None] | None = None) -> None:
    """The end of every node process, after its spin: ``close`` (the node's threads and
    servers), then destroy the node, then shut the context down.
    """
    try:
        if close is not None:
            close()
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        STOP.ignore_from_now_on()


def spin_node(
    name: str,
    make_node: Callable[[], Node],
    config_errors: tuple[type[Exception], ...],
    args: list[str] | None = None,
    on_exit: Callable[[Node], None] | None = None,
) -> int:
    """Spin until SIGINT, SIGTERM or shutdown; 0 then. A configuration error ends the process
    with one line naming the problem and exit code 2 (no traceback); ``on_exit`` runs before
    the node is destroyed (e.g. to leave a zero command).
    """
    stop = init(args)
    node = None
    code = 0
    try:
        node = make_node()
        spin_until_shutdown(node, stop)
    except config_errors as err:
        print(f"{name}: {err}", file=sys.stderr)
        code = 2
    finally:
        finish(node, (lambda: on_exit(node)) if on_exit is not None and node is not None else None)
    return code
