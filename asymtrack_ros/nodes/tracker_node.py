"""ROS 2 tracker node: a thin shell around ``TrackingSession``.

Subscription callbacks only validate and hand frames and selections to the session;
a worker thread runs the model on the newest frame and publishes the results, so a
slow model drops stale frames instead of queueing them. On the way out (run.py) the
spin stops first, then the worker is joined, and only then are the node and the
context destroyed: nothing publishes on a closed context, and no inference is running
while the process tears down.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from typing import Any

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from asymtrack_ros.msg import TargetSelection, TrackedObject

from ..tracking.node_config import DESCRIPTIONS, ConfigError, TrackerNodeConfig, from_params, parameter_defaults
from ..tracking.session import Command, Frame, FrameResult, Selection, TrackingSession
from ..tracking.tracker import TrackState
from .image_codec import (
    UnsupportedEncapsulation,
    compressed_loader,
    fill_image_msg,
    image_loader,
    parse_image_cdr,
)
from .monitor import Throttle, Window, percentiles
from .run import finish, init, spin_until_shutdown

# Parameters every node may be given; not typos.
_COMMON_PARAMETERS = ("use_sim_time", "start_type_description_service")
NO_IMAGE_WARN_S = 2.0


def stamp_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def deserialize_image(data: bytes) -> Image:
    """The message by rclpy's deserialization, for the CDR variants ``parse_image_cdr`` does not
    read. Bytes that are no ``sensor_msgs/Image`` (a raw subscription takes whatever was published) raise
    ValueError like any malformed image, not rclpy's RMWError, which would end the spin.
    """
    try:
        return deserialize_message(data, Image)
    except RuntimeError:
        raise ValueError(f"{len(data)} bytes that are not a serialized sensor_msgs/Image") from None


class TrackerNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("tracker_node", **kwargs)
        self._warn = Throttle(self.get_logger().warning, period_s=2.0)
        for name, default in parameter_defaults().items():
            descriptor = ParameterDescriptor(description=DESCRIPTIONS[name], dynamic_typing=True, read_only=True)
            self.declare_parameter(name, default, descriptor)
        self.config: TrackerNodeConfig | None = None
        self._session: TrackingSession | None = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._rejected = 0  # malformed images, counted on reception
        self._last_image = 0.0
        self._latency_ms = Window()
        self._engine_ms = Window()

    # -- start-up ---------------------------------------------------------------------

    def start(self) -> None:
        """Validate the parameters, load the model, create the topics and start the worker.
        Raises ConfigError for bad parameters and the loader's errors for a bad model.
        """
        from ..tracking.selection import PointBoxParams

        defaults = parameter_defaults()
        overrides = getattr(self, "_parameter_overrides", {})
        for name in sorted(set(overrides) - set(defaults) - set(_COMMON_PARAMETERS)):
            if not name.startswith("qos_overrides."):
                self.get_logger().warning(f"unknown parameter '{name}' ignored (misspelt?)")
        values = {n: self.get_parameter(n).value for n in defaults}
        from_params(values, families=None)  # fails fast, before the engines' heavy imports
        from ..engines.factory import create_tracker, load_engine
        from ..families.registry import names
        from ..files.resources import cache_root

        cfg = from_params(values, families=names())
        try:
            params = cfg.tracker_params()
            point_box = PointBoxParams(cfg.default_box_size, cfg.point_box_min_size, cfg.point_box_max_size)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        self.config = cfg
        engine = load_engine(
            cfg.model_path or None,  # None: the shipped weights
            engine=cfg.engine,
            variant=cfg.model_variant or None,
            providers=cfg.providers,
            device=cfg.device,
            fp16=cfg.fp16,
            precision=cfg.precision,
            threads=cfg.threads,
            trt_cache_dir=cfg.trt_cache_dir or str(cache_root() / "tensorrt"),
            family=cfg.model_family or None,  # with no model_path: that family's shipped weights
        )
        if cfg.model_family and engine.spec.family != cfg.model_family:
            raise ConfigError(
                f"parameter 'model_family' is {cfg.model_family!r} but {cfg.model_path} is {engine.spec.family!r}"
            )
        self.engine = engine
        self._session = TrackingSession(
            create_tracker(engine, params),
            buffer_length=cfg.buffer_length,
            stamp_tolerance_ns=round(cfg.stamp_tolerance_ms * 1e6),
            point_box=point_box,
            warn=self._warn,
            info=self.get_logger().info,
        )
        self._create_topics(cfg)
        self._worker = threading.Thread(target=self._run, name="tracker_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"tracking with {engine.spec.family}-{engine.spec.variant} on {engine.name} ({engine.provider}); "
            f"images on {self._image_topic} ({cfg.image_qos_reliability}, depth {cfg.image_qos_depth})"
        )

    def _create_topics(self, cfg: TrackerNodeConfig) -> None:
        reliability = (
            ReliabilityPolicy.RELIABLE if cfg.image_qos_reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
        )
        image_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=cfg.image_qos_depth, reliability=reliability)
        if cfg.image_transport == "compressed":
            sub = self.create_subscription(CompressedImage, "image/compressed", self._on_compressed, image_qos)
        else:
            # Raw (serialized) messages: parse_image_cdr reads the pixels without rclpy's copies.
            sub = self.create_subscription(Image, "image", self._on_image, image_qos, raw=True)
        self._image_topic = sub.topic_name
        self.create_subscription(TargetSelection, "select", self._on_select, 10)
        # rqt_image_view publishes clicks on <viewed topic>_mouse_left: the camera or our debug image.
        for topic in ("image_mouse_left", "debug_image_mouse_left"):
            self.create_subscription(Point, topic, lambda msg, t=topic: self._on_point(msg, t), 10)
        self._tracked_pub = self.create_publisher(TrackedObject, "tracked_object", 10)
        self._debug_pub = self.create_publisher(Image, "debug_image", 1)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_prev = (time.monotonic(), 0)
        self.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics)

    # -- callbacks: store only --------------------------------------------------------

    def _reject_image(self, err: ValueError) -> None:
        self._rejected += 1
        self._warn("image", f"dropping an image on {self._image_topic}: {err}")

    def _on_image(self, data: bytes) -> None:
        received = time.monotonic()
        self._last_image = received
        try:
            try:
                msg = parse_image_cdr(data)
                header = Header(stamp=Time(sec=msg.sec, nanosec=msg.nanosec), frame_id=msg.frame_id)
            except UnsupportedEncapsulation:
                msg = deserialize_image(data)
                header = msg.header
            loader = image_loader(msg)
        except ValueError as err:
            self._reject_image(err)
            return
        self._session.submit(Frame(stamp_ns(header.stamp), header, received, loader))
        time.sleep(0)  # hand the GIL to the woken worker now, not after the executor's bookkeeping

    def _on_compressed(self, msg: CompressedImage) -> None:
        received = time.monotonic()
        self._last_image = received
        self._session.submit(Frame(stamp_ns(msg.header.stamp), msg.header, received, compressed_loader(msg)))
        time.sleep(0)

    def _on_select(self, msg: TargetSelection) -> None:
        values = (msg.x, msg.y, msg.width, msg.height)
        self._session.select(Selection(msg.command, *values, msg.normalized, stamp_ns(msg.header.stamp), "select"))

    def _on_point(self, msg: Point, topic: str) -> None:
        self._session.select(Selection(Command.SELECT_POINT, msg.x, msg.y, source=topic))

    # -- the worker -------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                results = self._session.step(timeout=0.2)
                for result in results:
                    self._publish(result)
            except Exception as err:  # a failing frame must not end tracking
                self._warn("worker", f"processing failed: {type(err).__name__}: {err}")

    def _publish(self, r: FrameResult) -> None:
        image = r.frame.image()
        h, w = image.shape[:2]
        out = TrackedObject(header=r.frame.header, state=int(r.state), target_id=r.target_id)
        if r.state != TrackState.IDLE and r.box is not None:
            out.x, out.y, out.width, out.height = (float(v) for v in r.box)
            out.score = float(r.score) if math.isfinite(r.score) else 0.0
        out.image_width, out.image_height = w, h
        out.latency_ms = (time.monotonic() - r.frame.received) * 1e3
        self._tracked_pub.publish(out)
        self._latency_ms.add(out.latency_ms)
        if r.engine_s > 0:
            self._engine_ms.add(r.engine_s * 1e3)
        if self._debug_pub.get_subscription_count() > 0:
            from ..tracking.draw import draw_track

            canvas = draw_track(image.copy(), r.box, r.state, r.score)
            self._debug_pub.publish(fill_image_msg(Image(header=r.frame.header), canvas))

    # -- diagnostics ------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        s = self._session.stats
        now = time.monotonic()
        t_prev, n_prev = self._diag_prev
        self._diag_prev = (now, s.processed)
        fps = (s.processed - n_prev) / max(now - t_prev, 1e-6)
        lat50, lat90 = percentiles(self._latency_ms.snapshot())
        eng50, eng90 = percentiles(self._engine_ms.snapshot())
        state = self._session.tracker.state
        name = f"{self.get_fully_qualified_name().lstrip('/')}: tracker"
        status = DiagnosticStatus(name=name, hardware_id=self.engine.provider)
        if not self._last_image:
            status.level, status.message = DiagnosticStatus.WARN, f"no images received on {self._image_topic}"
        elif now - self._last_image > NO_IMAGE_WARN_S:
            status.level = DiagnosticStatus.WARN
            status.message = f"no images on {self._image_topic} for {now - self._last_image:.1f} s"
        else:
            status.level = DiagnosticStatus.OK
            status.message = f"{state.name.lower()}, target {self._session.target_id}, {fps:.1f} fps"
        values = {
            "state": state.name,
            "target_id": self._session.target_id,
            "fps": f"{fps:.2f}",
            "latency_ms_median": f"{lat50:.2f}",
            "latency_ms_p90": f"{lat90:.2f}",
            "engine_ms_median": f"{eng50:.2f}",
            "engine_ms_p90": f"{eng90:.2f}",
            "frames_received": s.received,
            "frames_processed": s.processed,
            "frames_dropped": s.dropped,
            "inputs_rejected": s.rejected + self._rejected,
            "last_init_stamp_ns": s.last_init_stamp_ns,
            "last_init_match": s.last_init_match,
            "last_catchup_frames": s.last_catchup_frames,
            "engine": self.engine.name,
            "provider": self.engine.provider,
            "model": f"{self.engine.spec.family}-{self.engine.spec.variant}",
            "image_topic": self._image_topic,
        }
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(msg)

    def close(self) -> None:
        """End the worker: no frame is taken any more, and it returns after at most the
        model run under way. Joined without a time limit: the node and the context it
        publishes on must outlive it.
        """
        self._stop.set()
        if self._session is not None:
            self._session.close()
        if self._worker is not None:
            self._worker.join()


def main(args: list[str] | None = None) -> int:
    stop = init(args)
    node = TrackerNode()
    log = node.get_logger()
    code = 0
    try:
        node.start()
    except ConfigError as err:
        log.fatal(f"invalid configuration: {err}")
        code = 2
    except Exception as err:  # any loader failure: one clear line, no traceback
        model = (node.config.model_path or "(shipped weights)") if node.config else "?"
        log.fatal(f"cannot load the model {model}: {type(err).__name__}: {err}")
        code = 1
    try:
        if code == 0:
            spin_until_shutdown(node, stop)
    finally:
        finish(node, node.close)
    return code


if __name__ == "__main__":
    sys.exit(main())
