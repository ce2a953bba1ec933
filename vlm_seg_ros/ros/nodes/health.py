"""The node's health on ``/diagnostics`` (``diagnostic_msgs/DiagnosticArray``).

Every ``diagnostics_period`` seconds the node publishes one array whose statuses are named
``<node name>: <part>``, the convention of ``diagnostic_updater`` (not installable without a
ROS install, so these few lines build the messages directly), which ``rqt_robot_monitor`` and
``diagnostic_aggregator`` group by:

- ``frames``: messages received per second per input, synchronised and published frames per
  second, LiDAR-only frames per second and in total by why the camera part was missing
  (:data:`CAMERA_MISSING`, or a camera message dropped as bad), seconds since the last
  published frame, times the stamps went back (tracks restarted). The message names the main
  reason when frames went without the camera. WARN when nothing was published in the period
  (with the likely cause), when the camera is down, or when most frames lacked the camera.
- ``camera <name>`` (``camera`` for the one unnamed camera), one per camera: its image and
  camera_info received per second, scans that got its images per second, scans without it in
  total by :data:`CAMERA_MISSING` reason. WARN while it is down, or when most scans in the
  period went without it (the message says why); the other cameras' statuses are their own.
- ``drops``: frames and messages dropped, total per reason (see :data:`DROP_REASONS`), and
  the last reason's text. WARN when anything but ``replaced_by_newer_frame`` (the normal effect
  of inputs faster than processing: the node keeps the newest) happened in the period.
- ``transforms``: TF lookups that failed, total and in the period, and the last error. WARN
  when any failed in the period.
- ``latency``: per pipeline stage, p50 and p95 in milliseconds over the last
  :data:`WINDOW` frames; ``age`` is the scan's stamp to publication (on the node's clock),
  ``total`` decoding to publication.
- ``model <role>`` (segmenter, text_segmenter, describer): state, model, device, reason.
  OK when loaded, loading or disabled, WARN when missing, ERROR when failed.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
import re
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import numpy as np
from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.node import Node
from std_msgs.msg import Header

from vlm_seg_ros.core.sync import CameraMissing, ScanSyncCounters
from vlm_seg_ros.models.engine import ModelSlot, ModelState
from vlm_seg_ros.ros.nodes import guarded
from vlm_seg_ros.ros.nodes.frames import camera_input
from vlm_seg_ros.runtime.frames import CAMERA_REASONS, DropReason

# Why a message or frame was dropped (the keys of the ``drops`` status).
DROP_REASONS = {
    DropReason.REPLACED_BY_NEWER_FRAME:
        'a newer frame replaced it while the previous one was processed',
    DropReason.UNSYNCHRONISED:
        'no message of the other inputs within sync.slop (sync queue evicted it)',
    DropReason.LATE: 'older than the last synchronised frame of its input',
    DropReason.STAMP_TOO_OLD: "stamped more than sync.max_stamp_age before the node's clock",
    DropReason.STAMP_IN_FUTURE: "stamped more than sync.max_stamp_lead after the node's clock",
    DropReason.INVALID_POINTS: 'a malformed PointCloud2',
    DropReason.INVALID_IMAGE: 'a malformed Image or an encoding that cannot become RGB',
    DropReason.INVALID_CAMERA_INFO: 'a malformed CameraInfo (K, D, R, P, size, distortion model)',
    DropReason.IMAGE_SIZE_MISMATCH: 'the Image size differs from its CameraInfo',
    DropReason.NO_TRANSFORM: 'no TF transform from the point cloud to target_frame',
    DropReason.NO_CAMERA_TRANSFORM: "a camera's part: no TF transform to it and no "
    'camera.<name>.lidar_to_camera (that camera is disabled, the others go on)',
    DropReason.ERROR: 'processing raised an unexpected error (logged with its type)',
}
# Why a published frame had no camera part, as /diagnostics words it.
CAMERA_MISSING: dict[str, str] = {
    CameraMissing.CAMERA_DOWN: 'the camera is down (no image or camera_info for '
    'sync.camera_timeout)',
    CameraMissing.NOT_MATCHED: 'no image within sync.slop of the scan arrived, though later '
    'camera messages did: images lost on the way (large images from a best-effort driver: see '
    'README, Cameras) or stamped further from the scans than sync.slop',
    CameraMissing.CAMERA_LATE: 'no camera message within sync.slop of the scan arrived in '
    'sync.slop + sync.camera_margin: the camera is late (transport or driver delay)',
}
# Drops that cost a frame its camera part only (the scan is still processed).
CAMERA_PART_DROPS = tuple(reason for reason in DropReason if reason in CAMERA_REASONS)
# What differs between texts of one kind: numbers and quoted names.
_WORDING = re.compile(r"[-+.\d]+|'[^']*'|\"[^\"]*\"")
# Frames over which the latency percentiles are taken.
WINDOW = 100

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR
_MODEL_LEVELS = {ModelState.LOADED: OK, ModelState.LOADING: OK, ModelState.DISABLED: OK,
                 ModelState.MISSING: WARN, ModelState.FAILED: ERROR}


class Health:
    """Counts what the node does; :meth:`report` turns the counts into a DiagnosticArray.

    Thread-safe: the subscription callbacks, the frame worker and the report timer call it
    from different threads.
    """

    def __init__(self, node_name: str, inputs: Sequence[str],
                 cameras: Sequence[str] = ()) -> None:
        """Start counting for a node (``node_name`` prefixes the statuses) with ``inputs``.

        ``inputs`` are the points, then each camera's image and camera_info; ``cameras`` the
        cameras' names (``''``: the one unnamed camera).
        """
        self.node_name = node_name
        self.inputs = list(inputs)
        self.cameras = list(cameras)
        self._camera_previous = [(0, 0)] * len(self.cameras)  # (scans, scans with it)
        self.drops: Counter[str] = Counter()
        self.last_drop = ''
        self.tf_failures = 0
        self.last_tf_error = ''
        self.published = 0
        self.lidar_only = 0
        self.time_resets = 0
        self._received = [0] * len(self.inputs)
        self._stages: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._last_published: float | None = None
        self._started = time.monotonic()
        self._previous = (self._started, [0] * len(self.inputs), 0, 0, Counter[str](), 0, 0,
                          Counter[str]())

    # Counting --------------------------------------------------------------------------------
    def received(self, index: int) -> None:
        """Count a message of input ``index``."""
        with self._lock:
            self._received[index] += 1

    def drop(self, reason: DropReason, text: str = '') -> None:
        """Count one drop for ``reason`` (a key of :data:`DROP_REASONS`)."""
        with self._lock:
            self.drops[reason] += 1
            self.last_drop = f'{reason}: {text}' if text else reason

    def tf_failed(self, text: str) -> None:
        """Count a failed TF lookup."""
        with self._lock:
            self.tf_failures += 1
            self.last_tf_error = text

    def frame_published(self, seconds: Mapping[str, float], *, lidar_only: bool) -> None:
        """Count a published frame with its time per stage (seconds)."""
        with self._lock:
            self.published += 1
            self.lidar_only += lidar_only
            self._last_published = time.monotonic()
            for stage, value in seconds.items():
                self._stages.setdefault(stage, deque(maxlen=WINDOW)).append(value)

    def time_reset(self) -> None:
        """Count a jump of the stamps backwards (tracks and synchronisation restarted)."""
        with self._lock:
            self.time_resets += 1

    # Reporting -------------------------------------------------------------------------------
    def report(self, header: Header, sync: ScanSyncCounters, models: Sequence[ModelSlot], *,
               camera_down: bool, tf_source: str,
               cameras: Sequence[tuple[ScanSyncCounters, bool]] = ()) -> DiagnosticArray:
        """Return the statuses for the period since the previous call.

        ``sync`` counts the whole frames (inputs as ``inputs``), ``cameras`` each camera's
        own matching and whether it is down (as ``CameraSetSynchronizer.cameras``);
        ``camera_down``: every camera is down.
        """
        now = time.monotonic()
        with self._lock:
            received = list(self._received)
            unsynchronised, late = sum(sync.discarded), sum(sync.late)
            drops = Counter(self.drops)
            drops[DropReason.UNSYNCHRONISED] += unsynchronised
            drops[DropReason.LATE] += late
            missing = Counter({str(why): count for why, count in sync.missing.items()})
            missing.update({reason: drops[reason] for reason in CAMERA_PART_DROPS})
            then, received0, published0, frames0, drops0, tf0, lidar0, missing0 = \
                self._previous
            self._previous = (now, received, self.published, sync.frames, drops,
                              self.tf_failures, self.lidar_only, missing)
            stages = {name: np.array(values) * 1e3 for name, values in self._stages.items()
                      if values}
            published, lidar_only = self.published - published0, self.lidar_only - lidar0
            tf_new = self.tf_failures - tf0
            last_drop, last_tf = self.last_drop, self.last_tf_error
            since = None if self._last_published is None else now - self._last_published
        period = max(now - then, 1e-9)
        new_drops = drops - drops0
        statuses = [
            self._frames(received, received0, published, sync.frames - frames0, lidar_only,
                         period, since, new_drops, missing, missing - missing0,
                         camera_down=camera_down),
            self._drops(drops, new_drops, last_drop),
            self._status('transforms', WARN if tf_new else OK,
                         f'{tf_new} TF lookups failed' if tf_new else f'OK ({tf_source})',
                         {'failures': self.tf_failures, 'failures in period': tf_new,
                          'source': tf_source, 'last error': last_tf}),
            self._latency(stages),
            *(self._model(slot) for slot in models)]
        for camera, (counters, down) in enumerate(cameras):
            statuses.insert(1 + camera, self._camera(
                camera, counters, down, [(received[i] - received0[i]) / period
                                         for i in (camera_input(camera, 1),
                                                   camera_input(camera, 2))], period))
        return DiagnosticArray(header=header, status=statuses)

    def _camera(self, camera: int, counters: ScanSyncCounters, down: bool,
                rates: Sequence[float], period: float) -> DiagnosticStatus:
        name = self.cameras[camera]
        topics = [self.inputs[camera_input(camera, part)] for part in (1, 2)]
        scans, matched = counters.frames, counters.frames - counters.alone
        scans0, matched0 = self._camera_previous[camera]
        self._camera_previous[camera] = (scans, matched)
        new_scans, new_matched = scans - scans0, matched - matched0
        values: dict[str, object] = {
            **{f'{topic} received /s': rate for topic, rate in zip(topics, rates, strict=True)},
            'scans with its images /s': new_matched / period,
            'scans with its images': matched, 'scans without it': counters.alone,
            **{f'scans without it: {why}': counters.missing[CameraMissing(why)]
               for why in CAMERA_MISSING}, 'down': down}
        part = f'camera {name}' if name else 'camera'
        if down:
            return self._status(part, WARN, 'down: ' + CAMERA_MISSING[CameraMissing.CAMERA_DOWN],
                                values)
        if new_scans and 2 * new_matched < new_scans:
            why = max(CAMERA_MISSING, key=lambda w: counters.missing[CameraMissing(w)])
            return self._status(part, WARN, f'{new_scans - new_matched} of {new_scans} scans '
                                f'without it: {CAMERA_MISSING[why]}', values)
        return self._status(part, OK, f'{new_matched / period:.1f} scans/s with its images',
                            values)

    def _frames(self, received: list[int], received0: list[int], published: int,
                synchronised: int, lidar_only: int, period: float, since: float | None,
                new_drops: Counter[str], missing: Counter[str], new_missing: Counter[str], *,
                camera_down: bool) -> DiagnosticStatus:
        rates = {f'{name} received /s': (now - before) / period
                 for name, now, before in zip(self.inputs, received, received0, strict=True)}
        values: dict[str, object] = {
            **rates, 'synchronised frames /s': synchronised / period,
            'published frames /s': published / period, 'LiDAR-only frames /s':
            lidar_only / period, 'published frames': self.published,
            **{f'LiDAR-only frames: {why}': missing[why]
               for why in [*map(str, CAMERA_MISSING), *CAMERA_PART_DROPS]},
            'seconds since last published frame': since if since is not None else 'never',
            'time resets': self.time_resets}
        if published and not camera_down and lidar_only:
            why = max(new_missing, key=new_missing.__getitem__, default='')
            text = CAMERA_MISSING.get(why) or (
                f'{why} drops of the camera part (see drops)' if why
                else 'see the LiDAR-only counts')
            rates_text = ', '.join(
                f'{name} {(now - before) / period:.1f}/s'
                for name, now, before in zip(self.inputs, received, received0, strict=True))
            return self._status(
                'frames', WARN if 2 * lidar_only > published else OK,
                f'{published / period:.1f} frames/s, {lidar_only / period:.1f}/s without the '
                f'camera: {text} (received: {rates_text})', values)
        if published and not camera_down:
            return self._status('frames', OK, f'{published / period:.1f} frames/s', values)
        if published:
            return self._status('frames', WARN, f'camera down: {published / period:.1f} '
                                'LiDAR-only frames/s', values)
        silent = [name for name, now, before in zip(self.inputs, received, received0,
                                                    strict=True) if now == before]
        if silent:
            why = f'no messages on {", ".join(silent)}'
        elif new_drops:
            why = 'frames dropped: ' + ', '.join(f'{k} {v}' for k, v in new_drops.items())
        else:
            why = 'messages arrive but none are synchronised (see sync.slop)'
        return self._status('frames', WARN, f'no frames published: {why}', values)

    def _drops(self, drops: Counter[str], new: Counter[str], last: str) -> DiagnosticStatus:
        values: dict[str, object] = {reason: drops[reason] for reason in DROP_REASONS}
        values['last'] = last
        trouble = {k: v for k, v in new.items() if k != DropReason.REPLACED_BY_NEWER_FRAME and v}
        if trouble:
            text = ', '.join(f'{k} {v}' for k, v in sorted(trouble.items()))
            return self._status('drops', WARN, f'dropped in the period: {text}', values)
        replaced = new[DropReason.REPLACED_BY_NEWER_FRAME]
        return self._status('drops', OK, f'{replaced} frames replaced by newer ones (inputs '
                            'faster than processing)' if replaced else 'none', values)

    def _latency(self, stages: Mapping[str, np.ndarray]) -> DiagnosticStatus:
        values: dict[str, object] = {}
        for name in sorted(stages, key=lambda n: (n in ('age', 'total'), n)):
            p50, p95 = np.percentile(stages[name], [50, 95])
            values[f'{name} p50 ms'], values[f'{name} p95 ms'] = p50, p95
        if 'age' not in stages:
            return self._status('latency', OK, 'no frames yet', values)
        return self._status('latency', OK, f'age p50 {values["age p50 ms"]:.0f} ms, p95 '
                            f'{values["age p95 ms"]:.0f} ms', values)

    def _model(self, slot: ModelSlot) -> DiagnosticStatus:
        level = _MODEL_LEVELS.get(slot.state, WARN)
        return self._status(f'model {slot.role}', level, slot.status(), {
            'state': slot.state, 'model': slot.name, 'device': slot.device,
            'reason': slot.reason, 'consecutive failures': slot.failures})

    def _status(self, part: str, level: bytes, message: str,
                values: Mapping[str, object]) -> DiagnosticStatus:
        return DiagnosticStatus(
            level=level, name=f'{self.node_name}: {part}', message=message,
            hardware_id='', values=[KeyValue(key=k, value=_text(v)) for k, v in values.items()])


def _text(value: object) -> str:
    if isinstance(value, float):
        return f'{value:.3f}' if abs(value) < 1e6 else f'{value:.6g}'
    return str(value)


class LogThrottle:
    """At most one log line per kind every ``period`` seconds, with a count of those held back.

    rclpy throttles per call site, so one warning helper would let one kind of trouble hide
    every other; this throttles per ``kind`` (e.g. the drop reason) and per wording of the
    text, numbers and quoted names left out (a short cloud and a cloud with an unknown field
    type are both ``invalid_points``, and each gets its line).
    """

    MAX_KINDS = 256  # forget them all beyond this (texts from random garbage)

    def __init__(self, log: Callable[[str], None], period: float = 5.0) -> None:
        """Send lines to ``log``."""
        self._log = log
        self._period = period
        self._last: dict[str, float] = {}
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, kind: str, text: str) -> None:
        """Log ``text`` unless a line of this ``kind`` was logged less than a period ago."""
        now = time.monotonic()
        kind = kind + ':' + _WORDING.sub('#', text)
        with self._lock:
            if len(self._last) > self.MAX_KINDS:
                self._last.clear()
            if now - self._last.get(kind, -self._period) < self._period:
                self._held[kind] += 1
                return
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        self._log(text + (f' (and {held} more like it in the last {self._period:g} s)'
                          if held else ''))


class DiagnosticsTimer:
    """Publishes ``report(header)`` on ``/diagnostics`` every ``period`` seconds (0: never)."""

    def __init__(self, node: Node, period: float, report: Callable[[Header], DiagnosticArray],
                 *, on_error: Callable[[str, Exception], None]) -> None:
        """Create the publisher and the timer (on the steady clock: sim time may stand still)."""
        self._node, self._report = node, report
        self.publisher = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.timer = node.create_timer(
            period or 1.0, guarded('diagnostics timer', self._publish, on_error),
            clock=Clock(clock_type=ClockType.STEADY_TIME), autostart=period > 0)

    def destroy(self) -> None:
        """Destroy the timer and the publisher."""
        self._node.destroy_timer(self.timer)
        self._node.destroy_publisher(self.publisher)

    def _publish(self) -> None:
        self.publisher.publish(self._report(Header(stamp=self._node.get_clock().now().to_msg())))
