"""``perception_node``: camera + LiDAR in, scene graph, clouds, markers and images out.

ROS plumbing around the ROS-free ``runtime.frames.FrameRunner``, which owns every per-frame
rule. The sensor side (``points``, each camera's ``image`` or ``image/compressed`` and
``camera_info``; QoS that follows the publishers; the stamp gate; every scan a frame, with each
camera's messages matched on its own) is ``ros.nodes.inputs``; ``~/ask`` and the prompt
topics are ``ros.nodes.requests``; the outputs under ``~/`` are ``ros.nodes.publishers`` (see
README); ``/diagnostics`` is ``ros.nodes.health``.

A lifecycle node: configure reads the parameters and creates the topics, activate starts
processing; with ``autostart`` (the default) both happen on start. Frames are processed on a
worker thread, newest first: while one is processed, a newer frame replaces the one waiting,
so the node never falls behind its sensors (replaced frames are counted). Models run beside it
on their own workers (:class:`~vlm_seg_ros.models.engine.SemanticEngine`); their results
attach to track ids on later frames, and a missing or failing model leaves geometry running.
"""

from __future__ import annotations

import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from std_msgs.msg import Header

from vlm_seg_ros.core.stamps import ns_to_seconds
from vlm_seg_ros.core.sync import CamerasFrame
from vlm_seg_ros.core.worker import LatestOnlyWorker
from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.models.engine import SemanticEngine
from vlm_seg_ros.ros.nodes import guarded, log_at, parameters, run
from vlm_seg_ros.ros.nodes.extrinsics import Extrinsics
from vlm_seg_ros.ros.nodes.frames import DroppedFrameError, decode_frame, headers
from vlm_seg_ros.ros.nodes.health import DiagnosticsTimer, Health, LogThrottle
from vlm_seg_ros.ros.nodes.inputs import SensorInputs, input_topics
from vlm_seg_ros.ros.nodes.publishers import Publishers
from vlm_seg_ros.ros.nodes.requests import Requests
from vlm_seg_ros.ros.outputs import image_topics
from vlm_seg_ros.runtime.config import PerceptionConfig, to_config
from vlm_seg_ros.runtime.frames import DropReason, Event, FrameInputs, FrameRunner

NODE_NAME = 'perception'


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
        error = self._on_callback_error
        try:
            self.config = parameters.read(self)
            config = self.config
            names = [setup.name for setup in config.camera_setups]
            self.health = Health(self.get_name(), [t for _, _, t in input_topics(self, config)],
                                 names)
            self.engine = SemanticEngine(config.models, config, log=self._log)
            self.runner = FrameRunner(config, self.engine, notify=self._on_event)
            # Its callbacks do nothing until the node is active.
            self.inputs = SensorInputs(self, config, self.runner, self.health,
                                       on_frames=self._submit, drop=self._drop,
                                       active=lambda: self._active, log=self._log,
                                       on_error=error)
        except Exception as exc:  # noqa: BLE001 - rclpy's lifecycle would swallow it unlogged
            self.get_logger().error(f'cannot configure: {exc}')
            return TransitionCallbackReturn.FAILURE
        # Each camera's overlay topic, drawn only while someone listens.
        self.overlay_topics = {name: image_topics(name)[1] for name in names}
        self.publishers_ = Publishers(self, config.outputs, names or [''])
        self.worker: LatestOnlyWorker[CamerasFrame[Any]] = LatestOnlyWorker(
            self._process, on_error=self._on_error, name='perception_frames')
        self.engine.start()
        self.requests = Requests(self, self.engine, self.runner, on_error=error)
        self.diagnostics = DiagnosticsTimer(self, config.diagnostics_period, self._diagnostics,
                                            on_error=error)
        self.get_logger().info(
            f'configured: inputs {self.inputs.topics}, graph frame '
            f'{config.target_frame or "<point cloud frame>"}, camera extrinsics from '
            f'{self.extrinsics.source}')
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
        self.inputs.destroy()
        self.requests.destroy()
        self.diagnostics.destroy()
        self.publishers_.destroy()

    # Frames ----------------------------------------------------------------------------------
    def _submit(self, frames: list[CamerasFrame[Any]]) -> None:
        # Oldest first: while the worker is busy each replaces the one before (counted).
        for frame in frames:
            if not self.worker.submit(frame):
                self.health.drop(DropReason.REPLACED_BY_NEWER_FRAME)

    def _drop(self, reason: DropReason, text: str) -> None:
        self.health.drop(reason, text)
        self._throttle(reason, f'dropped {text}')

    def _process(self, messages: CamerasFrame[Any]) -> None:
        started = time.perf_counter()
        try:
            inputs = decode_frame(
                messages.scan, messages.cameras, self.config, self.extrinsics,
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
        frame = self.runner.run(inputs, render_overlay={
            name for name, topic in self.overlay_topics.items() if self.publishers_.wanted(topic)})
        processed = time.perf_counter()
        if self._active:
            self.publishers_.publish(frame, *headers(inputs))
            self.inputs.silence.processed()
            published = time.perf_counter()
            stages = {**frame.timings, 'decode': decode, 'publish': published - processed,
                      'total': decode + published - started}
            now = self.get_clock().now().nanoseconds
            if now:
                stages['age'] = ns_to_seconds(now - inputs.stamp_ns)
            self.health.frame_published(stages, lidar_only=inputs.camera is None
                                        and self.config.camera.enabled)
        self.runner.observe(frame, inputs)

    def _on_event(self, event: Event, text: str) -> None:
        if event == Event.PROMPT_IGNORED:
            self._throttle('point_prompt', text)
            return
        if event == Event.TIME_RESET:
            self.health.time_reset()
        self._log('info', text)

    def _log(self, level: str, text: str) -> None:
        log_at(self.get_logger(), level, text)

    def _on_callback_error(self, where: str, exc: Exception) -> None:
        """Count and log an exception that left a callback (the node's last line of defence)."""
        text = f'{where} callback raised {type(exc).__name__}: {exc}'
        if hasattr(self, 'health'):
            self.health.drop(DropReason.ERROR, text)
        self.get_logger().error(f'{text}; the node goes on (please report this as a bug)',
                                throttle_duration_sec=5.0)

    def _on_error(self, messages: CamerasFrame[Any], exc: BaseException) -> None:
        if not self.context.ok():
            return  # shutting down (Ctrl-C): the frame in flight could not publish
        self.health.drop(DropReason.ERROR, f'{type(exc).__name__}: {exc}')
        self.get_logger().error(f'frame failed ({type(exc).__name__}: {exc}); the node goes on',
                                throttle_duration_sec=5.0)

    def _diagnostics(self, header: Header) -> DiagnosticArray:
        engine = self.engine
        return self.health.report(header, self.inputs.sync.counters,
                                  [engine.segmenter, engine.text_segmenter, engine.describer],
                                  camera_down=self.inputs.camera_down,
                                  tf_source=self.extrinsics.source,
                                  cameras=[(camera.counters, down) for camera, down in zip(
                                      self.inputs.sync.cameras, self.inputs.cameras_down,
                                      strict=True)])

    # Parameters ------------------------------------------------------------------------------
    def _check_parameters(self, changes: list[Parameter[Any]]) -> SetParametersResult:
        """Accept a change only if the whole new configuration is valid (nothing applied)."""
        try:
            config = to_config(parameters.with_changes(self, changes))
        except InvalidInputError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        def inputs(config: PerceptionConfig) -> list[tuple[str, str]]:
            return [(setup.name, setup.transport) for setup in config.camera_setups]

        if self._configured and inputs(config) != inputs(self.config):
            return SetParametersResult(successful=False, reason=(
                'camera.enabled and camera.transport (and camera.<name>.transport) are read '
                'when the node is configured: set them at start, or deactivate, clean up and '
                'configure again'))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, changes: list[Parameter[Any]]) -> None:
        """Hand the accepted configuration to the runner (after rclpy stored the values)."""
        if not self._configured:
            return  # configure reads them
        config = parameters.read(self)
        if self.runner.reconfigure(config):
            self.get_logger().info('segmentation/tracking parameters changed: tracks restart')
        if config.sync != self.config.sync or config.cameras != self.config.cameras:
            self.inputs.reconfigure(config)  # scans waiting for their cameras start again
        # The worker reads it once per frame; swapping it is atomic.
        self.config = config


def main(args: list[str] | None = None) -> None:
    """Run the node until Ctrl-C or ROS shutdown."""
    # Two threads: the ~/ask service (seconds on a CPU) runs beside the sensor callbacks.
    run(PerceptionNode, args, threads=2)
