"""Start the asymtrack_ros tracker node (and optionally the follow controller).

  ros2 launch asymtrack_ros track.launch.py camera:=/camera/image_raw model_path:=/path/to/model_dir
  ros2 launch asymtrack_ros track.launch.py camera:=/camera/image_raw model_family:=seat   # shipped SEAT-lt
  ros2 launch asymtrack_ros track.launch.py camera:=/camera/image_raw model_path:=... \
      namespace:=drone1 engine:=onnxruntime image_transport:=compressed use_follow_controller:=true
  ros2 launch asymtrack_ros track.launch.py camera:=/camera/image_raw use_web_ui:=true web_ui_token:=...

Operator interfaces (all off by default, see docs/operator_ui.md): use_rviz (RViz2 with
config/track.rviz and status_marker_node), use_rqt (rqt_image_view on debug_image; tick
its mouse-click box to select by clicking), use_selector (OpenCV window; needs OpenCV
with GUI support), use_web_ui (browser page on web_ui_address:web_ui_port).

Parameters come from config/tracker.yaml (or params_file:=...); the arguments below
override single values. The YAML is read here and handed over as a dictionary, so its
``tracker_node:`` section applies whatever namespace the node is started in.
Works with Humble, Jazzy and Kilted.
"""

from __future__ import annotations

import os
import tempfile

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


def _truthy(value: str) -> bool:
    return value.lower() in ("true", "1", "yes")


def _operator_nodes(arg, share: str, namespace: str) -> list:
    """RViz2, rqt_image_view, the desktop selector and the browser page, as asked."""
    prefix = f"/{namespace.strip('/')}" if namespace.strip("/") else ""
    actions = []
    if _truthy(arg("use_rviz")):
        with open(os.path.join(share, "config", "track.rviz")) as f:
            config = f.read()
        if prefix:  # RViz configs name absolute topics
            for topic in ("/debug_image", "/operator_status_marker"):
                config = config.replace(f"Value: {topic}\n", f"Value: {prefix}{topic}\n")
        with tempfile.NamedTemporaryFile("w", prefix="asymtrack_", suffix=".rviz", delete=False) as out:
            out.write(config)
        actions.append(
            Node(
                package=PACKAGE,
                executable="status_marker_node",
                name="status_marker_node",
                namespace=namespace,
                output="screen",
            )
        )
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", out.name]))
    if _truthy(arg("use_rqt")):
        # Clicks come back on <topic>_mouse_left, which tracker_node listens to.
        actions.append(
            Node(
                package="rqt_image_view",
                executable="rqt_image_view",
                name="rqt_image_view",
                arguments=[f"{prefix}/debug_image"],
            )
        )
    if _truthy(arg("use_selector")):
        actions.append(
            Node(
                package=PACKAGE, executable="selector_node", name="selector_node", namespace=namespace, output="screen"
            )
        )
    if _truthy(arg("use_web_ui")):
        web = {"address": arg("web_ui_address"), "port": int(arg("web_ui_port")), "token": arg("web_ui_token")}
        actions.append(
            Node(
                package=PACKAGE,
                executable="web_ui_node",
                name="web_ui_node",
                namespace=namespace,
                parameters=[web],
                output="screen",
                emulate_tty=True,
            )
        )
    return actions


def _nodes(context, *args, **kwargs):
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context).strip()

    share = get_package_share_directory(PACKAGE)
    params = _section(arg("params_file") or os.path.join(share, "config", "tracker.yaml"), "tracker_node")
    for name in ("model_path", "model_family", "engine", "image_transport"):
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
    actions = [tracker, *_operator_nodes(arg, share, arg("namespace"))]
    if _truthy(arg("use_follow_controller")):
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
                "model_family",
                default_value="",
                description="asymtrack or seat (with no model_path: its shipped weights); empty: the params file's",
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
            DeclareLaunchArgument(
                "use_rviz", default_value="false", description="RViz2 with config/track.rviz (debug image, status text)"
            ),
            DeclareLaunchArgument(
                "use_rqt", default_value="false", description="rqt_image_view on debug_image (click to select)"
            ),
            DeclareLaunchArgument(
                "use_selector", default_value="false", description="desktop selector window (OpenCV with GUI support)"
            ),
            DeclareLaunchArgument("use_web_ui", default_value="false", description="browser operator page"),
            DeclareLaunchArgument(
                "web_ui_address",
                default_value="127.0.0.1",
                description="address the page binds; 0.0.0.0: every interface (set a token)",
            ),
            DeclareLaunchArgument("web_ui_port", default_value="8080", description="port of the page"),
            DeclareLaunchArgument("web_ui_token", default_value="", description="page access token; empty: none"),
            OpaqueFunction(function=_nodes),
        ]
    )
