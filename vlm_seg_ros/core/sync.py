"""Approximate-time synchronisation of sensor streams (image, camera_info, points), ROS-free.

The matching rule is that of ``message_filters.ApproximateTimeSynchronizer`` (its Python
implementation): when a message arrives, the other inputs' queued stamps within ``slop`` of it
are tried, closest first, and the first combination whose stamps all lie within ``slop`` of
each other is a frame. ``message_filters`` is not installable without a ROS install, and on one
it would be a second code path; this one class serves both and adds what a live robot needs:

- per-input time offsets (a camera whose stamps lag its exposure, a LiDAR stamped at the end of
  its sweep), applied before matching;
- frames leave in time order: a match discards every older queued message of each input, and a
  message older than the last frame of its input is refused (``late``);
- stamps going back by more than ``reset_jump`` (a bag replayed in a loop) clear the queues
  rather than wait forever;
- counters of what was matched, discarded and refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
import itertools
from typing import Generic, TypeVar

from vlm_seg_ros.core.config import check_ranges, tunable
from vlm_seg_ros.errors import InvalidInputError

Item = TypeVar('Item')


@dataclass(frozen=True, kw_only=True)
class SyncConfig:
    """How the node pairs camera images with LiDAR scans."""

    slop: float = tunable(
        0.06, "largest difference (s) between the corrected stamps of one frame's image, "
        'camera_info and points', minimum=0.0, maximum=10.0)
    queue_size: int = tunable(
        10, 'messages kept per input while waiting for a match', minimum=1, maximum=1000)
    camera_offset: float = tunable(
        0.0, 'seconds added to image and camera_info stamps before matching (e.g. the '
        "camera's known stamping delay, negated)", minimum=-10.0, maximum=10.0)
    lidar_offset: float = tunable(
        0.0, 'seconds added to point cloud stamps before matching (e.g. -0.05 for a 10 Hz '
        'LiDAR stamped at the end of its sweep)', minimum=-10.0, maximum=10.0)
    max_stamp_age: float = tunable(
        10.0, "drop messages stamped more than this many seconds before the node's clock (an "
        'unset stamp, a bag played without use_sim_time); 0: no limit', minimum=0.0,
        maximum=1e9)
    max_stamp_lead: float = tunable(
        1.0, "drop messages stamped more than this many seconds after the node's clock (a "
        'sensor clock that is not synchronised); 0: no limit', minimum=0.0, maximum=1e9)
    camera_timeout: float = tunable(
        1.0, 'seconds without image or camera_info after which the camera is down: scans '
        'are processed alone at once, without waiting for it; 0: the camera is down only '
        'until its first messages', minimum=0.0, maximum=3600.0)
    camera_margin: float = tunable(
        0.05, 'seconds a scan waits for its camera messages beyond sync.slop (their transport '
        'delay) before it is processed alone; a scan the camera has already passed by goes '
        'at once', minimum=0.0, maximum=1.0)

    def __post_init__(self) -> None:
        """Check every tunable's type and range."""
        check_ranges(self)


@dataclass
class SyncCounters:
    """What happened to the messages given to a synchroniser.

    Attributes:
        received: messages added, per input.
        frames: frames emitted.
        discarded: queued messages that left without being matched (evicted by a full queue
            or made obsolete by a newer frame), per input.
        late: messages refused because their input already had a newer frame, per input.
        resets: times the stamps jumped backwards and the queues were cleared.

    """

    received: list[int]
    frames: int = 0
    discarded: list[int] = field(default_factory=list)
    late: list[int] = field(default_factory=list)
    resets: int = 0


class ApproximateTimeSynchronizer(Generic[Item]):
    """Group one message of each input whose stamps lie within ``slop`` seconds."""

    def __init__(self, num_inputs: int, *, slop: float, queue_size: int = 10,
                 offsets: Sequence[float] | None = None, reset_jump: float = 1.0) -> None:
        """Create an empty synchroniser.

        Args:
            num_inputs: number of input streams (1 passes every message through).
            slop: seconds, >= 0.
            queue_size: messages kept per input, >= 1.
            offsets: seconds added to each input's stamps before matching; default zeros.
            reset_jump: a stamp this many seconds older than the newest frame clears the
                queues (time went backwards, e.g. a looping bag).

        Raises:
            InvalidInputError: on a bad count, slop, queue size or offsets.

        """
        offsets = [0.0] * num_inputs if offsets is None else list(offsets)
        if num_inputs < 1 or slop < 0 or queue_size < 1 or len(offsets) != num_inputs:
            msg = (f'need num_inputs >= 1, slop >= 0, queue_size >= 1 and one offset per input; '
                   f'got {num_inputs}, {slop}, {queue_size}, {offsets}')
            raise InvalidInputError(msg)
        self._slop = round(slop * 1e9)
        self._offsets = [round(offset * 1e9) for offset in offsets]
        self._queue_size = queue_size
        self._reset_jump = round(reset_jump * 1e9)
        self._queues: list[dict[int, Item]] = [{} for _ in range(num_inputs)]
        self._last: list[int | None] = [None] * num_inputs
        self.last_stamps: tuple[int, ...] = ()  # corrected stamps of the last frame, ns
        self.counters = SyncCounters(received=[0] * num_inputs, discarded=[0] * num_inputs,
                                     late=[0] * num_inputs)

    def reset(self) -> None:
        """Forget every queued message and the last frame's stamps."""
        for index, queue in enumerate(self._queues):
            self.counters.discarded[index] += len(queue)
            queue.clear()
        self._last = [None] * len(self._queues)

    def add(self, index: int, stamp_ns: int, item: Item) -> tuple[Item, ...] | None:
        """Add a message of input ``index`` stamped ``stamp_ns`` (nanoseconds).

        Returns:
            The frame this message completes, one item per input in input order, or None.

        """
        self.counters.received[index] += 1
        stamp = stamp_ns + self._offsets[index]
        newest = max((t for t in self._last if t is not None), default=None)
        if newest is not None and stamp < newest - self._reset_jump:
            self.reset()
            self.counters.resets += 1
        last = self._last[index]
        if last is not None and stamp <= last:
            self.counters.late[index] += 1
            return None
        queue = self._queues[index]
        if stamp in queue:
            self.counters.discarded[index] += 1
        queue[stamp] = item
        while len(queue) > self._queue_size:
            del queue[min(queue)]
            self.counters.discarded[index] += 1
        if stamp not in queue:  # older than everything in a full queue: it was the one evicted
            return None
        match = self._match(index, stamp)
        if match is None:
            return None
        frame = tuple(queue_[t] for queue_, t in zip(self._queues, match, strict=True))
        for i, (queue_, t) in enumerate(zip(self._queues, match, strict=True)):
            old = [s for s in queue_ if s <= t]
            self.counters.discarded[i] += len(old) - 1
            for s in old:
                del queue_[s]
            self._last[i] = t
        self.last_stamps = match
        self.counters.frames += 1
        return frame

    def _match(self, index: int, stamp: int) -> tuple[int, ...] | None:
        candidates: list[list[int]] = []
        for i, queue in enumerate(self._queues):
            if i == index:
                candidates.append([stamp])
                continue
            near = sorted((t for t in queue if abs(t - stamp) <= self._slop),
                          key=lambda t: abs(t - stamp))
            if not near:
                return None
            candidates.append(near)
        for combination in itertools.product(*candidates):
            if max(combination) - min(combination) <= self._slop:
                return combination
        return None


class CameraMissing(StrEnum):
    """Why a scan left without camera messages (the user's next step differs for each)."""

    CAMERA_DOWN = 'camera_down'
    """A camera input sent nothing for ``camera_timeout`` (or ever): no camera at all."""
    NOT_MATCHED = 'not_matched'
    """A camera input sent messages stamped past this scan, but no pair within ``slop`` of it
    came: its image was lost on the way (a best-effort camera's large images), dropped by the
    driver, or stamped further from the scan than ``slop``."""
    CAMERA_LATE = 'camera_late'
    """The scan's wait (``slop`` + margin) ran out before any camera input sent a message
    stamped past it: the camera's messages come too late (transport or driver delay)."""


@dataclass(frozen=True)
class ScanFrame(Generic[Item]):
    """A scan and the camera messages matched to it, or none (the scan goes alone).

    ``missing`` says why a scan goes alone (None when it has its camera, or the node has no
    camera inputs).
    """

    scan: Item
    camera: tuple[Item, ...] | None
    stamp_ns: int
    missing: CameraMissing | None = None


@dataclass
class ScanSyncCounters(SyncCounters):
    """``SyncCounters`` plus what became of the scans.

    Attributes:
        alone: scans that left without the camera (none matched within the wait).
        missing: those scans by :class:`CameraMissing` (with camera inputs only).

    """

    alone: int = 0
    missing: Counter[CameraMissing] = field(default_factory=Counter)


class ScanSynchronizer(Generic[Item]):
    """Every scan leaves: with the camera messages matched to it within ``slop``, or alone.

    The LiDAR path never waits for the camera longer than ``wait`` seconds, and never waits
    at all when the camera can no longer match: when every camera input has already sent a
    message stamped more than ``slop`` after the scan (messages of one input arrive in order),
    or when a camera input has been silent for ``camera_timeout``. Camera messages (image and
    camera_info) are paired among themselves by ``ApproximateTimeSynchronizer``; a pair matches
    a scan when all three stamps lie within ``slop``. Frames leave in scan-time order: a scan
    that leaves makes every older waiting scan leave first (alone). A scan older than the last
    one that left is ``late``; stamps going back by more than ``reset_jump`` (a looping bag)
    clear everything instead.

    Input 0 is the scan, inputs 1.. the camera's; ``now`` is a monotonic clock in seconds.
    """

    def __init__(self, camera_inputs: int, *, slop: float, wait: float,
                 camera_timeout: float = 1.0, queue_size: int = 10, lidar_offset: float = 0.0,
                 camera_offset: float = 0.0, reset_jump: float = 1.0) -> None:
        """Create an empty synchroniser (``camera_inputs`` 0: every scan leaves at once).

        Raises:
            InvalidInputError: on a bad count, slop, wait, timeout or queue size.

        """
        if camera_inputs < 0 or slop < 0 or wait < 0 or camera_timeout < 0 or queue_size < 1:
            msg = (f'need camera_inputs >= 0, slop, wait, camera_timeout >= 0 and queue_size '
                   f'>= 1; got {camera_inputs}, {slop}, {wait}, {camera_timeout}, {queue_size}')
            raise InvalidInputError(msg)
        self._inputs = camera_inputs
        self._camera: ApproximateTimeSynchronizer[Item] | None = (ApproximateTimeSynchronizer(
            camera_inputs, slop=slop, queue_size=queue_size,
            offsets=[camera_offset] * camera_inputs, reset_jump=reset_jump)
            if camera_inputs else None)
        self._slop, self._wait, self._timeout = round(slop * 1e9), wait, camera_timeout
        self._lidar_offset, self._camera_offset = round(lidar_offset * 1e9), round(camera_offset
                                                                                    * 1e9)
        self._queue_size, self._reset_jump = queue_size, round(reset_jump * 1e9)
        self._pairs: dict[int, tuple[tuple[int, int], tuple[Item, ...]]] = {}
        self._waiting: dict[int, tuple[Item, float]] = {}  # scan stamp -> (scan, deadline)
        self._newest = [-2**63] * camera_inputs  # newest corrected stamp per camera input
        self._camera_seen: list[float | None] = [None] * camera_inputs  # arrival, per input
        self._last: int | None = None  # corrected stamp of the last scan that left
        self.counters = ScanSyncCounters(received=[0] * (1 + camera_inputs),
                                         discarded=[0] * (1 + camera_inputs),
                                         late=[0] * (1 + camera_inputs))

    def reset(self) -> None:
        """Forget every waiting message; the waiting scans are dropped (counted)."""
        self.counters.discarded[0] += len(self._waiting)
        self._waiting.clear()
        self._pairs.clear()
        if self._camera is not None:
            self._camera.reset()
        self._newest = [-2**63] * self._inputs
        self._last = None

    def camera_down(self, now: float) -> bool:
        """Return whether a camera input sent nothing for ``camera_timeout`` s.

        Counted from its last message, or from the first scan for an input not heard from
        yet (before any scan, every camera input is down). With ``camera_timeout`` 0 the
        camera is down only until each input sent something.
        """
        return self._camera is None or bool(self.silent_inputs(now))

    def silent_inputs(self, now: float) -> list[int]:
        """Return the camera inputs (1..) that sent nothing for ``camera_timeout`` s."""
        return [index for index, seen in enumerate(self._camera_seen, start=1)
                if seen is None or (self._timeout > 0 and now - seen > self._timeout)]

    def add_scan(self, stamp_ns: int, scan: Item, now: float) -> list[ScanFrame[Item]]:
        """Add a scan; return the frames that leave now, oldest first."""
        self.counters.received[0] += 1
        stamp = stamp_ns + self._lidar_offset
        if self._last is not None and stamp < self._last - self._reset_jump:
            self.reset()
            self.counters.resets += 1
        if (self._last is not None and stamp <= self._last) or stamp in self._waiting:
            self.counters.late[0] += 1
            return []
        # The camera's clock starts with the first scan: a camera input not heard from yet has
        # camera_timeout from then to send (a robot starting up, a bag), then counts as down.
        if self._timeout > 0:
            self._camera_seen = [now if seen is None else seen for seen in self._camera_seen]
        pair = self._pair_for(stamp)
        if pair is not None:
            return self._leave(stamp, scan, pair)
        if self.camera_down(now):
            return self._leave(stamp, scan, CameraMissing.CAMERA_DOWN)
        if self._unmatchable(stamp):
            return self._leave(stamp, scan, CameraMissing.NOT_MATCHED)
        self._waiting[stamp] = (scan, now + self._wait)
        frames: list[ScanFrame[Item]] = []
        while len(self._waiting) > self._queue_size:  # the oldest leaves alone
            oldest = min(self._waiting)
            frames += self._leave(oldest, self._waiting.pop(oldest)[0],
                                  self._missing(oldest))
        return frames

    def add_camera(self, index: int, stamp_ns: int, item: Item,
                   now: float) -> list[ScanFrame[Item]]:
        """Add a message of camera input ``index`` (1..); return the frames that leave now."""
        self.counters.received[index] += 1
        assert self._camera is not None
        camera = index - 1
        self._camera_seen[camera] = now
        stamp = stamp_ns + self._camera_offset
        if stamp < self._newest[camera] - self._reset_jump:  # the camera's time went back
            self._newest = [-2**63] * self._inputs
            self._pairs.clear()
        self._newest[camera] = max(self._newest[camera], stamp)
        before = self._camera.counters.late[camera]
        pair = self._camera.add(camera, stamp_ns, item)
        self.counters.late[index] += self._camera.counters.late[camera] - before
        frames: list[ScanFrame[Item]] = []
        if pair is not None:
            stamps = self._camera.last_stamps
            span = (min(stamps), max(stamps))
            match = self._scan_for(span)
            if match is not None:
                frames += self._leave(match, self._waiting.pop(match)[0], pair)
            elif self._last is not None and span[1] < self._last - self._slop:
                self.counters.late[index] += 1  # older than any scan still to come
            else:
                self._pairs[span[0]] = (span, pair)
                while len(self._pairs) > self._queue_size:
                    del self._pairs[min(self._pairs)]
                    self.counters.discarded[index] += 1
        for stamp in sorted(self._waiting):  # scans the camera has passed by
            if stamp in self._waiting and self._unmatchable(stamp):
                frames += self._leave(stamp, self._waiting.pop(stamp)[0],
                                      CameraMissing.NOT_MATCHED)
        return frames

    def poll(self, now: float) -> list[ScanFrame[Item]]:
        """Return the waiting scans whose wait ran out (alone), oldest first."""
        frames: list[ScanFrame[Item]] = []
        down = self.camera_down(now)
        for stamp in sorted(self._waiting):
            if stamp in self._waiting and (down or now >= self._waiting[stamp][1]):
                frames += self._leave(stamp, self._waiting.pop(stamp)[0],
                                      CameraMissing.CAMERA_DOWN if down
                                      else self._missing(stamp))
        return frames

    @property
    def waiting(self) -> int:
        """Scans waiting for their camera messages."""
        return len(self._waiting)

    @property
    def last_left(self) -> int | None:
        """The corrected stamp (ns) of the newest scan that left; None before the first."""
        return self._last

    def _unmatchable(self, stamp: int) -> bool:
        return all(newest > stamp + self._slop for newest in self._newest)

    def _missing(self, stamp: int) -> CameraMissing:
        """Why a scan whose wait ran out has no camera: lost (the camera went on) or late."""
        if any(newest > stamp + self._slop for newest in self._newest):
            return CameraMissing.NOT_MATCHED
        return CameraMissing.CAMERA_LATE

    def _fits(self, stamp: int, span: tuple[int, int]) -> bool:
        return max(span[1], stamp) - min(span[0], stamp) <= self._slop

    def _pair_for(self, stamp: int) -> tuple[Item, ...] | None:
        fitting = [key for key, (span, _) in self._pairs.items() if self._fits(stamp, span)]
        if not fitting:
            return None
        key = min(fitting, key=lambda k: abs(k - stamp))
        pair = self._pairs.pop(key)[1]
        for older in [k for k in self._pairs if k < key]:  # no later scan can use them
            del self._pairs[older]
            self.counters.discarded[1] += 1
        return pair

    def _scan_for(self, span: tuple[int, int]) -> int | None:
        fitting = [stamp for stamp in self._waiting if self._fits(stamp, span)]
        return min(fitting, key=lambda t: abs(t - span[0])) if fitting else None

    def _leave(self, stamp: int, scan: Item,
               camera: tuple[Item, ...] | CameraMissing) -> list[ScanFrame[Item]]:
        """Let a scan leave with its camera messages (or why it has none), older ones first.

        An older scan still waiting leaves alone: a newer scan has left, so no camera message
        can come for it any more (``NOT_MATCHED``).
        """
        older = CameraMissing.NOT_MATCHED if self._inputs else None
        frames = [ScanFrame(self._waiting.pop(t)[0], None, t - self._lidar_offset, older)
                  for t in sorted(t for t in self._waiting if t < stamp)]
        if isinstance(camera, CameraMissing):
            frames.append(ScanFrame(scan, None, stamp - self._lidar_offset,
                                    camera if self._inputs else None))
        else:
            frames.append(ScanFrame(scan, camera, stamp - self._lidar_offset))
        self.counters.alone += sum(frame.camera is None for frame in frames)
        self.counters.missing.update(f.missing for f in frames if f.missing is not None)
        self.counters.frames += len(frames)
        self._last = stamp
        return frames


@dataclass(frozen=True)
class CamerasFrame(Generic[Item]):
    """A scan with each camera's messages matched to it, or why a camera has none.

    ``cameras[i]`` is camera ``i``'s messages (None: none matched), ``missing[i]`` why not.
    """

    scan: Item
    cameras: tuple[tuple[Item, ...] | None, ...]
    stamp_ns: int
    missing: tuple[CameraMissing | None, ...]


class CameraSetSynchronizer(Generic[Item]):
    """Several cameras around one LiDAR: each camera is matched to the scan on its own.

    One :class:`ScanSynchronizer` per camera, all given the same scans: a camera that is
    silent, slow or flapping costs a scan at most its own wait (``wait``, and nothing once it
    is down), and never costs another camera its pairs. A scan leaves once every camera has
    matched it or let it go, oldest first. A scan no newer than the newest one any camera
    let go is ``late`` (each camera must see the same scans); stamps going back by more than
    ``reset_jump`` (a looping bag) restart every camera.

    Camera ``i``'s inputs are numbered 1..``inputs_per_camera`` within it; ``now`` is a
    monotonic clock in seconds.
    """

    def __init__(self, cameras: int, *, slop: float, wait: float, inputs_per_camera: int = 2,
                 camera_timeout: float = 1.0, queue_size: int = 10, lidar_offset: float = 0.0,
                 camera_offsets: Sequence[float] | None = None, reset_jump: float = 1.0) -> None:
        """Create an empty synchroniser (``cameras`` 0: every scan leaves at once).

        Raises:
            InvalidInputError: on a bad count, offsets of another length, or a bad setting
                of :class:`ScanSynchronizer`.

        """
        offsets = list(camera_offsets) if camera_offsets is not None else [0.0] * cameras
        if cameras < 0 or len(offsets) != cameras:
            msg = f'need cameras >= 0 and one offset per camera; got {cameras}, {offsets}'
            raise InvalidInputError(msg)
        def one(inputs: int, offset: float = 0.0) -> ScanSynchronizer[Item]:
            return ScanSynchronizer(inputs, slop=slop, wait=wait, camera_timeout=camera_timeout,
                                    queue_size=queue_size, lidar_offset=lidar_offset,
                                    camera_offset=offset, reset_jump=reset_jump)

        self.cameras = [one(inputs_per_camera, offset) for offset in offsets]
        self._alone_sync = one(0) if not cameras else None
        self._lidar_offset, self._reset_jump = round(lidar_offset * 1e9), round(reset_jump * 1e9)
        self._parts: dict[int, list[ScanFrame[Item] | None]] = {}  # scan stamp -> per camera
        self.late = 0  # scans refused as no newer than one that left
        self.resets = 0
        self._scans = 0  # scans added
        self._frames = 0  # frames that left
        self._alone = 0  # frames that left with no camera at all
        self._missing: Counter[CameraMissing] = Counter()  # why, by the first camera's reason

    @property
    def counters(self) -> ScanSyncCounters:
        """The whole set's counts: input 0 the scans, then each camera's inputs in turn.

        ``alone`` and ``missing`` count the frames that left with no camera at all (``missing``
        by the first camera's reason); each camera's own counts are ``cameras[i].counters``.
        """
        if self._alone_sync is not None:
            return self._alone_sync.counters
        first = self.cameras[0].counters
        return ScanSyncCounters(
            received=[self._scans, *(n for c in self.cameras for n in c.counters.received[1:])],
            frames=self._frames,
            discarded=[first.discarded[0],
                       *(n for c in self.cameras for n in c.counters.discarded[1:])],
            late=[self.late + first.late[0],
                  *(n for c in self.cameras for n in c.counters.late[1:])],
            resets=self.resets + first.resets, alone=self._alone, missing=Counter(self._missing))

    def add_scan(self, stamp_ns: int, scan: Item, now: float) -> list[CamerasFrame[Item]]:
        """Add a scan; return the frames that leave now, oldest first."""
        if self._alone_sync is not None:
            return [CamerasFrame(f.scan, (), f.stamp_ns, ())
                    for f in self._alone_sync.add_scan(stamp_ns, scan, now)]
        self._scans += 1
        newest = max((c.last_left for c in self.cameras if c.last_left is not None),
                     default=None)
        stamp = stamp_ns + self._lidar_offset
        if newest is not None and stamp < newest - self._reset_jump:
            self.reset()
            self.resets += 1
        elif (newest is not None and stamp <= newest) or stamp_ns in self._parts:
            self.late += 1
            return []
        self._parts[stamp_ns] = [None] * len(self.cameras)
        return self._collect([camera.add_scan(stamp_ns, scan, now) for camera in self.cameras])

    def add_camera(self, camera: int, index: int, stamp_ns: int, item: Item,
                   now: float) -> list[CamerasFrame[Item]]:
        """Add a message of camera ``camera``'s input ``index`` (1..); return the frames."""
        frames: list[list[ScanFrame[Item]]] = [[] for _ in self.cameras]
        frames[camera] = self.cameras[camera].add_camera(index, stamp_ns, item, now)
        return self._collect(frames)

    def poll(self, now: float) -> list[CamerasFrame[Item]]:
        """Return the scans whose wait ran out in every camera still waiting, oldest first."""
        return self._collect([camera.poll(now) for camera in self.cameras])

    def reset(self) -> None:
        """Forget every waiting message, in every camera."""
        for camera in self.cameras:
            camera.reset()
        self._parts.clear()

    def camera_down(self, camera: int, now: float) -> bool:
        """Return whether camera ``camera`` is down (see ``ScanSynchronizer.camera_down``)."""
        return self.cameras[camera].camera_down(now)

    def silent_inputs(self, camera: int, now: float) -> list[int]:
        """Return camera ``camera``'s inputs (1..) silent for ``camera_timeout`` s."""
        return self.cameras[camera].silent_inputs(now)

    def _collect(self, frames: list[list[ScanFrame[Item]]]) -> list[CamerasFrame[Item]]:
        for camera, camera_frames in enumerate(frames):
            for frame in camera_frames:
                parts = self._parts.get(frame.stamp_ns)
                if parts is not None:  # (a scan the set refused never reaches a camera)
                    parts[camera] = frame
        done = []
        for stamp in sorted(self._parts):  # each camera lets scans go in order: so does the set
            parts = self._parts[stamp]
            if any(part is None for part in parts):
                break
            del self._parts[stamp]
            complete = [part for part in parts if part is not None]
            done.append(CamerasFrame(complete[0].scan, tuple(p.camera for p in complete), stamp,
                                     tuple(p.missing for p in complete)))
            if all(part.camera is None for part in complete):
                self._alone += 1
                if complete[0].missing is not None:
                    self._missing[complete[0].missing] += 1
        self._frames += len(done)
        return done
