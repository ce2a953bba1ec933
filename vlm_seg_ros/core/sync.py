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

from collections.abc import Sequence
from dataclasses import dataclass, field
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
        1.0, 'seconds without image or camera_info after which LiDAR scans are processed '
        'alone (geometry keeps running while the camera is down); 0: always wait for the '
        'camera', minimum=0.0, maximum=3600.0)

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
