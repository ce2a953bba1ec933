"""The perception node's sensor side: subscriptions, the stamp gate, scan synchronisation.

Inputs are ``points``, then each camera's ``image`` (or ``image/compressed``) and
``camera_info`` (``<name>/image`` ... for a named camera), each a
:class:`~vlm_seg_ros.ros.nodes.qos.SensorSubscription` whose reliability follows its
publishers. Messages arrive serialised (:mod:`vlm_seg_ros.ros.serialized`): the stamp is read
from the bytes, and a message is deserialised only if the worker takes its frame. A message
passes the runner's stamp gate
(:meth:`~vlm_seg_ros.runtime.frames.FrameRunner.check_stamp`), then goes to the
:class:`~vlm_seg_ros.core.sync.CameraSetSynchronizer`, which pairs every scan with each
camera's messages on its own, or lets it go without that camera; the frames that leave go to
``on_frames``, oldest first. Timers let scans whose wait for a camera ran out go on, and follow
the publishers' QoS; every few seconds while no frame comes out, :class:`SilenceReport` logs
which input is missing and the likely cause (no publisher, a QoS mismatch, stamps too far
apart, frames dropped for a reason).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
import functools
import time
from typing import Any

from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.node import Node
from rclpy.qos import ReliabilityPolicy
from rclpy.subscription import Subscription
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from vlm_seg_ros.core.stamps import ns_to_seconds
from vlm_seg_ros.core.sync import CamerasFrame, SyncCounters
from vlm_seg_ros.ros.conversions import time_to_ns
from vlm_seg_ros.ros.nodes import guarded
from vlm_seg_ros.ros.nodes.frames import (
    camera_input,
    camera_label,
    camera_synchronizer,
    input_camera,
)
from vlm_seg_ros.ros.nodes.health import Health
from vlm_seg_ros.ros.nodes.qos import QOS_CHECK_PERIOD, SensorSubscription
from vlm_seg_ros.ros.serialized import Serialized
from vlm_seg_ros.runtime.config import PerceptionConfig
from vlm_seg_ros.runtime.frames import DropReason, FrameRunner

# Seconds between checks for scans whose wait for the camera ran out (the wait is
# sync.slop + sync.camera_margin, 0.11 s by default).
SYNC_POLL_PERIOD = 0.01
# Seconds between checks for silent inputs (logged with the likely reason).
SILENCE_PERIOD = 5.0


def input_topics(node: Node, config: PerceptionConfig) -> list[tuple[str, type, str]]:
    """Return each input's name, message type and resolved (remapped) topic.

    Points first, then each camera's image and camera_info in ``config.camera_setups``'
    order; a named camera's topics are ``<name>/image`` and ``<name>/camera_info``.
    """
    topics: list[tuple[str, type, str]] = [
        ('points', PointCloud2, node.resolve_topic_name('points'))]
    for setup in config.camera_setups:
        prefix = f'{setup.name}/' if setup.name else ''
        image = node.resolve_topic_name(f'{prefix}image')
        # As image_transport names it: the image topic (remapped) + '/compressed'.
        topics += [(f'{prefix}image', Image, image) if setup.transport == 'raw'
                   else (f'{prefix}image', CompressedImage, image + '/compressed'),
                   (f'{prefix}camera_info', CameraInfo,
                    node.resolve_topic_name(f'{prefix}camera_info'))]
    return topics


class SensorInputs:
    """Subscriptions to the sensors and the synchroniser that turns them into frames."""

    def __init__(self, node: Node, config: PerceptionConfig, runner: FrameRunner,
                 health: Health, *, on_frames: Callable[[list[CamerasFrame[Any]]], None],
                 drop: Callable[[DropReason, str], None], active: Callable[[], bool],
                 log: Callable[[str, str], None],
                 on_error: Callable[[str, Exception], None]) -> None:
        """Subscribe to every input of ``config``; frames go to ``on_frames``.

        Raises:
            InvalidInputError: if an input's reliability override is not a reliability.

        """
        self._node, self._runner, self._health = node, runner, health
        self._on_frames, self._drop, self._active, self._log = on_frames, drop, active, log
        self.sensors: list[SensorSubscription] = []
        try:
            for index, (name, kind, topic) in enumerate(input_topics(node, config)):
                self.sensors.append(SensorSubscription(
                    node, kind, topic, guarded(name, functools.partial(self._on_message, index),
                                               on_error),
                    log=lambda text: log('info', text), raw=True))
        except Exception:
            self.destroy()
            raise
        self.reconfigure(config)
        self.silence = SilenceReport(node, self.sensors)
        self.cameras_down = [False] * len(self.setups)
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._timers = [node.create_timer(period, guarded(name, callback, on_error), clock=steady)
                        for name, period, callback in (
                            ('sync timer', SYNC_POLL_PERIOD, self._poll),
                            ('QoS timer', QOS_CHECK_PERIOD, self._follow_publishers),
                            ('report timer', SILENCE_PERIOD, self._report))]

    @property
    def topics(self) -> list[str]:
        """Each input's resolved topic, points first."""
        return [sensor.topic for sensor in self.sensors]

    @property
    def subscriptions(self) -> list[Subscription[Any]]:
        """Each input's subscription now (a QoS change re-creates it), points first."""
        return [sensor.subscription for sensor in self.sensors]

    @property
    def camera_down(self) -> bool:
        """Whether the node has cameras and every one is down (frames are LiDAR only)."""
        return bool(self.cameras_down) and all(self.cameras_down)

    def reconfigure(self, config: PerceptionConfig) -> None:
        """Use new ``sync.*`` parameters (scans waiting for their cameras start again).

        The cameras' names and count stay those of configure (the node refuses to change them).
        """
        self.setups = config.camera_setups
        self.camera_timeout = config.sync.camera_timeout
        self.sync = camera_synchronizer(config)

    def destroy(self) -> None:
        """Destroy the subscriptions and timers."""
        for sensor in self.sensors:
            sensor.destroy()
        for timer in getattr(self, '_timers', []):
            self._node.destroy_timer(timer)

    def _on_message(self, index: int,
                    msg: bytes | PointCloud2 | Image | CompressedImage | CameraInfo) -> None:
        if not self._active():
            return
        if isinstance(msg, bytes):  # raw subscription: deserialised if its frame is processed
            msg = Serialized.of(msg, self.sensors[index].msg_type)
        stamp = (msg.stamp_ns if isinstance(msg, Serialized)
                 else time_to_ns(msg.header.stamp))
        self.silence.received(index, stamp)
        self._health.received(index)
        problem = self._runner.check_stamp(stamp, self._node.get_clock().now().nanoseconds,
                                           self.sensors[index].topic)
        if problem is not None:
            self._drop(problem.reason, problem.text)
            return
        now = time.monotonic()
        if index == 0:
            self._runner.scan_arrived(stamp)
            frames = self.sync.add_scan(stamp, msg, now)
            # After the scan: the first scan starts the cameras' clock (checked before it, a
            # camera not heard from yet would look down on the first scan).
            self._cameras_silent(now)
            self._on_frames(frames)
        else:
            camera, part = input_camera(index)
            self._on_frames(self.sync.add_camera(camera, part, stamp, msg, now))

    def _poll(self) -> None:
        """Let scans whose wait for a camera ran out go on without it."""
        if self._active():
            self._on_frames(self.sync.poll(time.monotonic()))

    def _cameras_silent(self, now: float) -> None:
        """Log when a camera goes down (an input silent for ``sync.camera_timeout``) or back.

        Scans never wait for a camera that is down (``CameraSetSynchronizer.camera_down``,
        which decides; from the first scan a camera has ``camera_timeout`` s to send); the
        other cameras go on.
        """
        for camera, setup in enumerate(self.setups):
            silent = [self.sensors[camera_input(camera, part)].topic
                      for part in self.sync.silent_inputs(camera, now)]
            down = bool(silent) and self.camera_timeout > 0
            if down == self.cameras_down[camera]:
                continue
            self.cameras_down[camera] = down
            label, several = camera_label(setup), len(self.setups) > 1
            if down:
                without = ('without it until it is back (the other cameras go on)' if several
                           else 'alone until the camera is back')
                self._log('warn', f'{label}: no messages on {", ".join(silent)} for '
                          f'{self.camera_timeout:g} s (sync.camera_timeout): processing LiDAR '
                          f'scans {without}')
            else:
                self._log('info', f'{label} is back: its images join the frames again'
                          if several else 'the camera is back: frames are camera + LiDAR again')

    def _follow_publishers(self) -> None:
        """Match each input's reliability to its publishers (``ros.nodes.qos``)."""
        for sensor in self.sensors:
            sensor.update()

    def _report(self) -> None:
        self.silence.report(self.sync.counters, self._health.drops, active=self._active())


class SilenceReport:
    """Counts what arrives and what leaves; explains a silent node in the log."""

    def __init__(self, node: Node, sensors: Sequence[SensorSubscription]) -> None:
        """Watch the node's inputs (points first); their subscriptions may be re-created."""
        self._node = node
        self._sensors = list(sensors)
        self._received = [0] * len(self._sensors)
        self._stamps: list[int | None] = [None] * len(self._sensors)  # latest, ns
        self._processed = 0
        self._frames = 0

    def received(self, index: int, stamp_ns: int) -> None:
        """Count a message of input ``index``."""
        self._received[index] += 1
        self._stamps[index] = stamp_ns

    def processed(self) -> None:
        """Count a published frame."""
        self._processed += 1

    def report(self, sync: SyncCounters, drops: Counter[str], *, active: bool) -> None:
        """Log which inputs are silent, and why nothing was published if nothing was."""
        received, processed = self._received, self._processed
        synchronised = sync.frames - self._frames
        self._received, self._processed, self._frames = [0] * len(self._sensors), 0, sync.frames
        if not active:
            return
        logger = self._node.get_logger()
        missing = [sensor for sensor, count in zip(self._sensors, received, strict=True)
                   if not count]
        for sensor in missing:  # also while LiDAR-only frames go out with the camera down
            logger.warning(f'no messages on {sensor.topic}: {self._why_nothing(sensor)}')
        if missing or processed:
            return
        stamps = [ns_to_seconds(s) for s in self._stamps if s is not None]
        if not synchronised:
            names = ', '.join(f'{sensor.topic} {s:.3f}'
                              for sensor, s in zip(self._sensors, stamps, strict=True))
            logger.warning(
                f'messages arrive but none are synchronised: latest stamps {names} (spread '
                f'{max(stamps) - min(stamps):.3f} s); raise sync.slop or correct the stamps with '
                'sync.camera_offset / sync.lidar_offset')
        else:
            logger.warning(f'frames are dropped: {dict(drops)} so far (see the warnings above)')

    def _why_nothing(self, sensor: SensorSubscription) -> str:
        publishers = self._node.get_publishers_info_by_topic(sensor.topic)
        if not publishers:
            return 'nobody publishes it; check the topic name and remapping'
        if sensor.reliability == ReliabilityPolicy.RELIABLE and all(
                p.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for p in publishers):
            return ('its publisher is best effort but this subscription is reliable; set the '
                    'reliability override to best_effort')
        return (f'{len(publishers)} publisher(s) but nothing arrives; for large messages use the '
                'Fast DDS profile in share/vlm_seg_ros/resource (see README, Troubleshooting)')
