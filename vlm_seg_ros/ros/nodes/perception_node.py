"""``perception_node``: camera + LiDAR in, scene graph, clouds, markers and images out.

Subscribes (relative names, remappable; keep-last 1, reliable when every publisher of the
topic is, else best effort (``ros.nodes.qos``), overridable with the standard
``qos_overrides.<topic>.subscription.*`` parameters): ``points`` (PointCloud2), ``image``
(Image, or CompressedImage on ``image/compressed``) and ``camera_info`` (CameraInfo). Every
scan becomes a frame, with its camera messages when they pair within ``sync.slop``
(``core.sync.ScanSynchronizer``), else alone; frames run through the ROS-free
``runtime.frames.FrameRunner``, which owns every per-frame rule (this node is its ROS plumbing).

Publishes under ``~/``: ``scene_graph``, ``scene_graph/json``, ``objects/cloud``,
``obstacles``, ``markers``, ``labels``, ``overlay``, ``description`` (see README). Serves
``~/ask`` (vlm_seg_ros/srv/Ask: a question about the latest image to the vision-language
model) and takes prompts on ``~/prompts/text`` (String, comma-separated phrases for SAM 3),
``~/prompts/point`` (PointStamped, e.g. RViz's Publish Point tool) and ``~/prompts/box``
(RegionOfInterest, pixels).

A lifecycle node: configure reads the parameters and creates the topics, activate starts
processing; with ``autostart`` (the default) both happen on start. Frames are processed on a
worker thread, newest first: while one is processed, a newer frame replaces the one waiting,
so the node never falls behind its sensors (replaced frames are counted). Models run beside it
on their own workers (:class:`~vlm_seg_ros.models.engine.SemanticEngine`); their results
attach to track ids on later frames, and a missing or failing model leaves geometry running.
"""

from __future__ import annotations

from collections.abc import Callable
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, RegionOfInterest
from std_msgs.msg import Header, String

from vlm_seg_ros.core.stamps import ns_to_seconds
from vlm_seg_ros.core.sync import ScanFrame
from vlm_seg_ros.core.worker import LatestOnlyWorker
from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.models.engine import ModelUnavailableError, SemanticEngine
from vlm_seg_ros.ros.conversions import pixel_box, time_from_ns, time_to_ns
from vlm_seg_ros.ros.nodes import guarded, parameters, run
from vlm_seg_ros.ros.nodes.extrinsics import Extrinsics
from vlm_seg_ros.ros.nodes.frames import (
    DroppedFrameError,
    SilenceReport,
    decode_or_scan_alone,
    headers,
    scan_synchronizer,
)
from vlm_seg_ros.ros.nodes.health import Health, LogThrottle
from vlm_seg_ros.ros.nodes.publishers import Publishers
from vlm_seg_ros.ros.nodes.qos import QOS_CHECK_PERIOD, SensorSubscription
from vlm_seg_ros.runtime.config import to_config
from vlm_seg_ros.runtime.frames import DropReason, Event, FrameInputs, FrameRunner, PointPrompt
from vlm_seg_ros.srv import Ask

NODE_NAME = 'perception'
INPUTS = ('points', 'image', 'camera_info')
# Seconds between checks for scans whose wait for the camera ran out (the wait is
# sync.slop + sync.camera_margin, 0.11 s by default).
SYNC_POLL_PERIOD = 0.01


class PerceptionNode(LifecycleNode):
    """Turns synchronised camera + LiDAR frames into a scene graph and its views."""

    def __init__(self, **kwargs: object) -> None:
        """Declare parameters; configure and activate when ``autostart`` is true."""
        super().__init__(NODE_NAME, **kwargs)  # type: ignore[arg-type]
        parameters.declare(self)
        self._configured = False
        self._active = False
        self.extrinsics = Extrinsics(self)
        self._throttle = LogThrottle(lambda text: self._log('warn', text))
        self.add_on_set_parameters_callback(guarded(
            'parameters', self._check_parameters, self._on_callback_error,
            lambda changes: SetParametersResult(
                successful=False, reason='checking the parameters failed (see the log)')))
        self.add_post_set_parameters_callback(guarded(
            'parameters applied', self._apply_parameters, self._on_callback_error))
        if self.get_parameter('autostart').value:
            self.trigger_configure()
            if self._configured:
                self.trigger_activate()

    # Lifecycle -------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Read the parameters, create the outputs, inputs and worker."""
        try:
            self.config, self.static_extrinsic = parameters.read(self)
        except InvalidInputError as exc:
            self.get_logger().error(f'cannot configure: {exc}')
            return TransitionCallbackReturn.FAILURE
        config = self.config
        self.publishers_ = Publishers(self, config.outputs)
        names = INPUTS if config.camera.enabled else INPUTS[:1]
        self.sync = scan_synchronizer(config.sync, camera_inputs=len(names) - 1)
        types: dict[str, type] = {'points': PointCloud2, 'image': Image,
                                  'camera_info': CameraInfo}
        topics = {name: name for name in names}
        if config.camera.transport == 'compressed':
            # As image_transport names it: the image topic (remapped) + '/compressed'.
            types['image'] = CompressedImage
            topics['image'] = self.resolve_topic_name('image') + '/compressed'
        try:
            self.inputs = [SensorSubscription(
                self, types[name], topics[name], guarded(name, self._input_callback(index),
                                                         self._on_callback_error),
                log=lambda text: self._log('info', text)) for index, name in enumerate(names)]
        except InvalidInputError as exc:
            self.get_logger().error(f'cannot configure: {exc}')
            return TransitionCallbackReturn.FAILURE
        self.subs = [sensor.subscription for sensor in self.inputs]  # updated in place
        self.worker: LatestOnlyWorker[tuple[object, ...]] = LatestOnlyWorker(
            self._process, on_error=self._on_error, name='perception_frames')
        self.engine = SemanticEngine(config.models, config, log=self._log)
        self.engine.start()
        self.runner = FrameRunner(config, self.engine, notify=self._on_event)
        side = MutuallyExclusiveCallbackGroup()  # questions take seconds: not on the frame path
        self.ask_service = self.create_service(
            Ask, '~/ask', guarded('~/ask', self._on_ask, self._on_callback_error,
                                  self._ask_failed), callback_group=side)
        error = self._on_callback_error
        self.prompt_subs = [
            self.create_subscription(String, '~/prompts/text', guarded(
                '~/prompts/text', lambda msg: self.engine.set_prompts(msg.data), error), 10),
            self.create_subscription(PointStamped, '~/prompts/point', guarded(
                '~/prompts/point', self._on_point_prompt, error), 10),
            self.create_subscription(RegionOfInterest, '~/prompts/box', guarded(
                '~/prompts/box', lambda r: self.engine.add_box_prompt(pixel_box(r)), error), 10)]
        self.silence = SilenceReport(self, self.subs)
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.report_timer = self.create_timer(
            5.0, guarded('report timer', self._report, error), clock=steady)
        self.sync_timer = self.create_timer(
            SYNC_POLL_PERIOD, guarded('sync timer', self._poll_sync, error), clock=steady)
        self.qos_timer = self.create_timer(
            QOS_CHECK_PERIOD, guarded('QoS timer', self._follow_publishers, error), clock=steady)
        self.health = Health(self.get_name(), [sub.topic_name for sub in self.subs])
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.diagnostics_timer = self.create_timer(
            config.diagnostics_period or 1.0,
            guarded('diagnostics timer', self._publish_diagnostics, error), clock=steady,
            autostart=config.diagnostics_period > 0)
        self._camera_down = False
        extrinsic = ('TF (tf2_ros), else the lidar_to_camera parameter'
                     if self.extrinsics.has_tf else 'the lidar_to_camera parameter')
        self.get_logger().info(
            f'configured: inputs {[s.topic_name for s in self.subs]}, graph frame '
            f'{config.target_frame or "<point cloud frame>"}, camera extrinsics from '
            f'{extrinsic}')
        self._configured = True
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start processing frames."""
        result = super().on_activate(state)
        self._active = True
        self.get_logger().info(f'active: publishing {self.get_fully_qualified_name()}/*')
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop processing and delete the markers shown in RViz."""
        self._active = False
        self.publishers_.clear_markers(Header(frame_id=self.config.target_frame))
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy what configure created."""
        self._teardown()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything."""
        self._teardown()
        return super().on_shutdown(state)

    def _teardown(self) -> None:
        if not self._configured:
            return
        self._active = self._configured = False
        self.worker.stop()
        self.engine.stop()
        self.destroy_service(self.ask_service)
        for sensor in self.inputs:
            sensor.destroy()
        for sub in self.prompt_subs:
            self.destroy_subscription(sub)
        self.destroy_timer(self.report_timer)
        self.destroy_timer(self.qos_timer)
        self.destroy_timer(self.sync_timer)
        self.destroy_timer(self.diagnostics_timer)
        self.destroy_publisher(self.diagnostics_pub)
        self.publishers_.destroy()

    # Frames ----------------------------------------------------------------------------------
    def _input_callback(self, index: int) -> Callable[[Any], None]:
        return lambda msg: self._on_message(index, msg)

    def _on_message(self, index: int,
                    msg: PointCloud2 | Image | CompressedImage | CameraInfo) -> None:
        if not self._active:
            return
        self.silence.received(index, msg.header.stamp)
        self.health.received(index)
        stamp = time_to_ns(msg.header.stamp)
        problem = self.runner.check_stamp(stamp, self.get_clock().now().nanoseconds,
                                          self.subs[index].topic_name)
        if problem is not None:
            self._drop(problem.reason, problem.text)
            return
        now = time.monotonic()
        if index == 0:
            self.runner.scan_arrived(stamp)
            self._camera_silent(now)
            frames = self.sync.add_scan(stamp, msg, now)
        else:
            frames = self.sync.add_camera(index, stamp, msg, now)
        self._submit(frames)

    def _poll_sync(self) -> None:
        """Let scans whose wait for the camera ran out go alone."""
        if self._active:
            self._submit(self.sync.poll(time.monotonic()))

    def _submit(self, frames: list[ScanFrame[Any]]) -> None:
        # Oldest first: while the worker is busy each replaces the one before (counted).
        for frame in frames:
            if not self.worker.submit((frame.scan, *(frame.camera or ()))):
                self.health.drop(DropReason.REPLACED_BY_NEWER_FRAME)

    def _camera_silent(self, now: float) -> None:
        """Log when the camera goes down (an input silent for ``sync.camera_timeout``) or back.

        Scans never wait for a camera that is down (``ScanSynchronizer.camera_down``, which
        decides; from the first scan the camera has ``camera_timeout`` s to send).
        """
        timeout = self.config.sync.camera_timeout
        silent = [self.subs[index].topic_name for index in self.sync.silent_inputs(now)]
        down = bool(silent) and timeout > 0
        if down != self._camera_down:
            self._camera_down = down
            if down:
                self._log('warn', f'no messages on {", ".join(silent)} for {timeout:g} s '
                          '(sync.camera_timeout): processing LiDAR scans alone until the '
                          'camera is back')
            else:
                self._log('info', 'the camera is back: frames are camera + LiDAR again')

    def _drop(self, reason: DropReason, text: str) -> None:
        self.health.drop(reason, text)
        self._throttle(reason, f'dropped {text}')

    def _process(self, messages: tuple[object, ...]) -> None:
        started = time.perf_counter()
        try:
            inputs = decode_or_scan_alone(
                messages, self.config, self.extrinsics, self.static_extrinsic,
                warn=lambda text: self._throttle('transform', text), dropped=self._drop,
                tf_failed=self.health.tf_failed)
        except DroppedFrameError as exc:
            self._drop(exc.reason, f'a frame: {exc}')
            return
        if inputs is None:
            self.health.drop(DropReason.NO_TRANSFORM)
            return
        self._run(inputs, time.perf_counter() - started)

    def _run(self, inputs: FrameInputs, decode: float) -> None:
        started = time.perf_counter()
        frame = self.runner.run(inputs, render_overlay=self.publishers_.wanted('overlay'))
        processed = time.perf_counter()
        if self._active:
            self.publishers_.publish(frame, *headers(inputs))
            self.silence.processed()
            published = time.perf_counter()
            stages = {**frame.timings, 'decode': decode, 'publish': published - processed,
                      'total': decode + published - started}
            now = self.get_clock().now().nanoseconds
            if now:
                stages['age'] = ns_to_seconds(now - inputs.stamp_ns)
            self.health.frame_published(stages, lidar_only=inputs.camera is None
                                        and self.config.camera.enabled)
        self.runner.observe(frame, inputs)

    def _on_point_prompt(self, click: PointStamped) -> None:
        point = click.point
        self.runner.add_point_prompt(PointPrompt((point.x, point.y, point.z),
                                                 click.header.frame_id))

    def _on_event(self, event: Event, text: str) -> None:
        if event == Event.PROMPT_IGNORED:
            self._throttle('point_prompt', text)
            return
        if event == Event.TIME_RESET:
            self.health.time_reset()
        self._log('info', text)

    def _on_ask(self, request: Ask.Request, response: Ask.Response) -> Ask.Response:
        if not self._configured:
            response.message = 'the node is not configured'
            return response
        if not request.question.strip():
            response.message = 'the question is empty'
            return response
        try:
            response.answer, stamp = self.engine.ask(request.question)
        except ModelUnavailableError as exc:
            response.message = str(exc)
            return response
        except Exception as exc:  # noqa: BLE001 - a failing model is an answer, not a crash
            response.message = f'the model failed: {type(exc).__name__}: {exc}'
            return response
        response.success, response.stamp = True, time_from_ns(stamp)
        return response

    def _log(self, level: str, text: str) -> None:
        # One call site per severity: rclpy refuses to change a call site's severity.
        logger = self.get_logger()
        if level == 'error':
            logger.error(text)
        elif level == 'warn':
            logger.warning(text)
        else:
            logger.info(text)

    def _on_callback_error(self, where: str, exc: Exception) -> None:
        """Count and log an exception that left a callback (the node's last line of defence)."""
        text = f'{where} callback raised {type(exc).__name__}: {exc}'
        if hasattr(self, 'health'):
            self.health.drop(DropReason.ERROR, text)
        self.get_logger().error(f'{text}; the node goes on (please report this as a bug)',
                                throttle_duration_sec=5.0)

    @staticmethod
    def _ask_failed(request: Ask.Request, response: Ask.Response) -> Ask.Response:
        response.success, response.message = False, 'answering failed (see the node log)'
        return response

    def _on_error(self, messages: tuple[object, ...], exc: BaseException) -> None:
        self.health.drop(DropReason.ERROR, f'{type(exc).__name__}: {exc}')
        self.get_logger().error(f'frame failed ({type(exc).__name__}: {exc}); the node goes on',
                                throttle_duration_sec=5.0)

    def _follow_publishers(self) -> None:
        """Match each input's reliability to its publishers (``ros.nodes.qos``)."""
        for index, sensor in enumerate(self.inputs):
            if sensor.update():
                self.subs[index] = sensor.subscription

    def _report(self) -> None:
        self.silence.report(self.sync.counters, self.health.drops, active=self._active)

    def _publish_diagnostics(self) -> None:
        engine = self.engine
        tf_source = ('TF (tf2_ros), else lidar_to_camera' if self.extrinsics.has_tf
                     else 'the lidar_to_camera parameter (no tf2_ros)')
        self.diagnostics_pub.publish(self.health.report(
            Header(stamp=self.get_clock().now().to_msg()), self.sync.counters,
            [engine.segmenter, engine.text_segmenter, engine.describer],
            camera_down=self._camera_down, tf_source=tf_source))

    # Parameters ------------------------------------------------------------------------------
    def _check_parameters(self, changes: list[Parameter[Any]]) -> SetParametersResult:
        """Accept a change only if the whole new configuration is valid (nothing applied)."""
        try:
            config, _ = to_config(parameters.with_changes(self, changes))
        except InvalidInputError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if self._configured and config.camera.transport != self.config.camera.transport:
            return SetParametersResult(successful=False, reason=(
                'camera.transport is read when the node is configured: set it at start, or '
                'deactivate, clean up and configure again'))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, changes: list[Parameter[Any]]) -> None:
        """Hand the accepted configuration to the runner (after rclpy stored the values)."""
        if not self._configured:
            return  # configure reads them
        config, extrinsic = parameters.read(self)
        if self.runner.reconfigure(config):
            self.get_logger().info('segmentation/tracking parameters changed: tracks restart')
        if config.sync != self.config.sync:  # scans waiting for their camera start again
            self.sync = scan_synchronizer(config.sync, camera_inputs=len(self.inputs) - 1)
        # The worker reads these once per frame; swapping them is atomic.
        self.config, self.static_extrinsic = config, extrinsic


def main(args: list[str] | None = None) -> None:
    """Run the node until Ctrl-C or ROS shutdown."""
    # Two threads: the ~/ask service (seconds on a CPU) runs beside the sensor callbacks.
    run(PerceptionNode, args, threads=2)
