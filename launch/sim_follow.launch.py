"""Simulated follow: uav_sim_node + tracker_node + follow_controller_node in one namespace.

  ros2 launch asymtrack_ros sim_follow.launch.py
  ros2 launch asymtrack_ros sim_follow.launch.py engage:=true real_time_factor:=0.5
  ros2 launch asymtrack_ros sim_follow.launch.py oracle:=true engage:=true   # no tracker: ground-truth boxes

The simulator owns time (/clock); the tracker and the controller run with use_sim_time.
The simulator selects the target on the tracker's `select` topic (the true box, as an
operator's click would) once the tracker listens; a selection that reaches the tracker
before its first image waits for it. All three nodes are essential: when one exits, the
launch ends, with a non-zero exit code when it failed (e.g. a model that cannot load).
The controller starts disengaged; engage:=true runs follow_engage (one call to its
~/enable service, ended cleanly by Ctrl-C) engage_delay_s after start, otherwise:

  ros2 service call /sim/follow_controller_node/enable std_srvs/srv/SetBool "{data: true}"

Parameters: config/sim_follow.yaml (simulator, controller overrides) on top of
config/follow_controller.yaml and config/tracker.yaml. The YAML sections are read here
and handed over as dictionaries, so they apply in any namespace. Humble, Jazzy, Kilted.
"""

from __future__ import annotations

import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, TimerAction
from launch_ros.actions import Node

from asymtrack_ros.nodes.launch_actions import essential

PACKAGE = "asymtrack_ros"
TRUE = ("true", "1", "yes", "on")


def _section(path: str, node_name: str) -> dict:
    """``ros__parameters`` of ``node_name`` (and of ``/**``) in a ROS params file."""
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    params: dict = {}
    for key in ("/**", node_name, f"/{node_name}", f"/**/{node_name}"):
        _deep_update(params, (data.get(key) or {}).get("ros__parameters") or {})
    return params


def _deep_update(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
    return base


def _default_model() -> str:
    from asymtrack_ros.files.resources import default_model_path

    return str(default_model_path())


def _nodes(context, *args, **kwargs):
    def arg(name: str) -> str:
        return context.launch_configurations.get(name, "").strip()

    config = os.path.join(get_package_share_directory(PACKAGE), "config")
    sim_yaml = os.path.join(config, "sim_follow.yaml")
    ns = arg("namespace")
    oracle = arg("oracle").lower() in TRUE
    sim_params = _section(sim_yaml, "uav_sim_node")
    if arg("real_time_factor"):
        sim_params["real_time_factor"] = float(arg("real_time_factor"))
    sim_params["publish_clock"] = True
    if oracle:
        sim_params["select_after_s"] = -1.0
    controller_params = _deep_update(
        _section(os.path.join(config, "follow_controller.yaml"), "follow_controller_node"),
        _section(sim_yaml, "follow_controller_node"),
    )
    controller_params["use_sim_time"] = True
    nodes = [
        Node(
            package=PACKAGE,
            executable="uav_sim_node",
            name="uav_sim_node",
            namespace=ns,
            parameters=[sim_params],
            output="screen",
            emulate_tty=True,
        ),
        Node(
            package=PACKAGE,
            executable="follow_controller_node",
            name="follow_controller_node",
            namespace=ns,
            parameters=[controller_params],
            output="screen",
            emulate_tty=True,
            remappings=[("tracked_object", "ground_truth/tracked_object")] if oracle else [],
        ),
    ]
    if not oracle:
        tracker_params = _section(os.path.join(config, "tracker.yaml"), "tracker_node")
        tracker_params["model_path"] = arg("model_path") or tracker_params.get("model_path") or _default_model()
        tracker_params["use_sim_time"] = True
        nodes.append(
            Node(
                package=PACKAGE,
                executable="tracker_node",
                name="tracker_node",
                namespace=ns,
                parameters=[tracker_params],
                output="screen",
                emulate_tty=True,
            )
        )
    actions = [*nodes, *(essential(node) for node in nodes)]
    if arg("engage").lower() in TRUE:
        engage = Node(package=PACKAGE, executable="follow_engage", namespace=ns, output="screen", emulate_tty=True)
        actions.append(TimerAction(period=float(arg("engage_delay_s") or 8.0), actions=[engage]))
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument("namespace", default_value="sim", description="namespace of the three nodes"),
            DeclareLaunchArgument(
                "model_path",
                default_value="",
                description="tracker model; empty: tracker.yaml's, else the package's default model",
            ),
            DeclareLaunchArgument(
                "oracle",
                default_value="false",
                description="true: no tracker, the controller follows the ground-truth box",
            ),
            DeclareLaunchArgument(
                "engage",
                default_value="false",
                description="true: engage follow_controller_node (its enable service) after engage_delay_s",
            ),
            DeclareLaunchArgument(
                "engage_delay_s",
                default_value="8.0",
                description="wall-clock delay before engaging (model loading takes a few seconds)",
            ),
            DeclareLaunchArgument(
                "real_time_factor",
                default_value="",
                description="simulated seconds per wall-clock second; empty: sim_follow.yaml's",
            ),
            OpaqueFunction(function=_nodes),
        ]
    )
