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

The tracker is essential: when it exits (a model that cannot load, a bad parameter),
the launch ends, with a non-zero exit code when it failed; so does the follow controller
when started. Tools asked for but not installed (rviz2, rqt_image_view) stop the launch
before anything starts, with a message naming them.

Parameters come from config/tracker.yaml (or params_file:=...); the arguments below
override single values. The YAML is read here and handed over as a dictionary, so its
``tracker_node:`` section applies whatever namespace the node is started in.
Works with Humble, Jazzy and Kilted.
"""

from __future__ import annotations

import os
import tempfile

import yaml
from ament_index_python.packages import PackageNotFoundError, get_package_prefix, get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnShutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from asymtrack_ros.nodes.launch_actions import essential

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


# Operator tools from other packages: (launch argument, package).
_TOOLS = (("use_rviz", "rviz2"), ("use_rqt", "rqt_image_view"))


def _check_tools(arg) -> None:
    """Fail before anything starts when a tool asked for is not installed."""
    for flag, package in _TOOLS:
        if _truthy(arg(flag)):
            try:
                get_package_prefix(package)
            except PackageNotFoundError:
                raise RuntimeError(
                    f"{flag}:=true needs the ROS package '{package}', which is not installed "
                    f"(ros-<distro>-{package.replace('_', '-')}); nothing was started"
                ) from None


def _rviz_config(share: str, prefix: str) -> tuple[str, list]:
    """config/track.rviz, or for a namespace a copy naming its topics (RViz configs name
    absolute topics) that is deleted when the launch ends.
    """
    path = os.path.join(share, "config", "track.rviz")
    if not prefix:
        return path, []
    with open(path) as f:
        config = f.read()
    for topic in ("/debug_image", "/operator_status_marker"):
        config = config.replace(f"Value: {topic}\n", f"Value: {prefix}{topic}\n")
    with tempfile.NamedTemporaryFile("w", prefix="asymtrack_", suffix=".rviz", delete=False) as out:
        out.write(config)
    cleanup = RegisterEventHandler(OnShutdown(on_shutdown=lambda _event, _context: os.unlink(out.name)))
    return out.name, [cleanup]


def _operator_nodes(arg, share: str, namespace: str) -> list:
    """RViz2, rqt_image_view, the desktop selector and the browser page, as asked."""
    prefix = f"/{namespace.strip('/')}" if namespace.strip("/") else ""
    actions = []
    if _truthy(arg("use_rviz")):
        config, actions = _rviz_config(share, prefix)
        actions.append(
            Node(
                package=PACKAGE,
                executable="status_marker_node",
                name="status_marker_node",
                namespace=namespace,
                output="screen",
            )
        )
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", config]))
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

    _check_tools(arg)
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
    actions = [tracker, essential(tracker), *_operator_nodes(arg, share, arg("namespace"))]
    if _truthy(arg("use_follow_controller")):
        controller_yaml = os.path.join(share, "config", "follow_controller.yaml")
        controller = Node(
            package=PACKAGE,
            executable="follow_controller_node",
            name="follow_controller_node",
            namespace=arg("namespace"),
            parameters=[_section(controller_yaml, "follow_controller_node")],
            remappings=[("camera_info", arg("camera_info") or _camera_info_of(camera))],
            output="screen",
            emulate_tty=True,
        )
        actions += [controller, essential(controller)]
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
