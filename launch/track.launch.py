"""Start the asymtrack_ros tracker node (and optionally the follow controller).

  ros2 launch asymtrack_ros track.launch.py camera:=/camera/image_raw model_path:=/path/to/model_dir
  ros2 launch asymtrack_ros track.launch.py camera:=/camera/image_raw model_path:=... \
      namespace:=drone1 engine:=onnxruntime image_transport:=compressed use_follow_controller:=true

Parameters come from config/tracker.yaml (or params_file:=...); the arguments below
override single values. The YAML is read here and handed over as a dictionary, so its
``tracker_node:`` section applies whatever namespace the node is started in.
Works with Humble, Jazzy and Kilted.
"""

from __future__ import annotations

import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "asymtrack_ros"


def _section(path: str, node_name: str) -> dict:
    """The ``ros__parameters`` of ``node_name`` (or of ``/**``) in a ROS params file."""
    if not os.path.isfile(path):
        raise RuntimeError(f"parameter file not found: {path}")
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    params: dict = {}
    for key in ("/**", node_name, f"/{node_name}", f"/**/{node_name}"):
        params.update((data.get(key) or {}).get("ros__parameters") or {})
    return params


def _camera_info_of(image_topic: str) -> str:
    """camera_info beside the image topic, as camera drivers and image_transport name them."""
    parent = image_topic.rsplit("/", 1)[0] if "/" in image_topic else ""
    return f"{parent}/camera_info" if parent or image_topic.startswith("/") else "camera_info"


def _nodes(context, *args, **kwargs):
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context).strip()

    share = get_package_share_directory(PACKAGE)
    params = _section(arg("params_file") or os.path.join(share, "config", "tracker.yaml"), "tracker_node")
    for name in ("model_path", "engine", "image_transport"):
        if arg(name):
            params[name] = arg(name)
    camera = arg("camera")
    tracker = Node(
        package=PACKAGE,
        executable="tracker_node",
        name="tracker_node",
        namespace=arg("namespace"),
        parameters=[params],
        remappings=[
            ("image", camera),
            ("image/compressed", f"{camera}/compressed"),
            # rqt_image_view publishes clicks on <viewed topic>_mouse_left.
            ("image_mouse_left", f"{camera}_mouse_left"),
        ],
        output="screen",
        emulate_tty=True,
    )
    actions = [tracker]
    if arg("use_follow_controller").lower() in ("true", "1", "yes"):
        controller_yaml = os.path.join(share, "config", "follow_controller.yaml")
        actions.append(
            Node(
                package=PACKAGE,
                executable="follow_controller_node",
                name="follow_controller_node",
                namespace=arg("namespace"),
                parameters=[_section(controller_yaml, "follow_controller_node")],
                remappings=[("camera_info", arg("camera_info") or _camera_info_of(camera))],
                output="screen",
                emulate_tty=True,
                condition=IfCondition(LaunchConfiguration("use_follow_controller")),
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument("camera", default_value="image", description="camera image topic (raw)"),
            DeclareLaunchArgument(
                "model_path",
                default_value="",
                description="exported model directory or checkpoint file; empty: the params file's",
            ),
            DeclareLaunchArgument(
                "engine", default_value="", description="auto, onnxruntime or torch; empty: the params file's"
            ),
            DeclareLaunchArgument(
                "image_transport", default_value="", description="raw or compressed; empty: the params file's"
            ),
            DeclareLaunchArgument(
                "camera_info",
                default_value="",
                description="camera_info topic for the follow controller; empty: beside the camera topic",
            ),
            DeclareLaunchArgument("namespace", default_value="", description="namespace of the nodes"),
            DeclareLaunchArgument(
                "params_file", default_value="", description="tracker parameters; empty: config/tracker.yaml"
            ),
            DeclareLaunchArgument(
                "use_follow_controller",
                default_value="false",
                description="also start follow_controller_node with config/follow_controller.yaml",
            ),
            OpaqueFunction(function=_nodes),
        ]
    )
