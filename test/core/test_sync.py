"""Approximate-time synchronisation: what frames come out of interleaved sensor streams."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
import pytest

from vlm_seg_ros.core.sync import (
    ApproximateTimeSynchronizer,
    CameraMissing,
    CameraSetSynchronizer,
    ScanSynchronizer,
)
from vlm_seg_ros.errors import InvalidInputError

MS = 1_000_000  # nanoseconds
# Examples per property: multiples of the Hypothesis profile's budget (test/conftest.py).
BUDGET = settings.default.max_examples


def test_matches_the_closest_messages_within_slop() -> None:
    sync = ApproximateTimeSynchronizer(2, slop=0.02)
    assert sync.add(0, 100 * MS, 'scan@100') is None
    assert sync.add(1, 70 * MS, 'image@70') is None  # 30 ms away: too far
    assert sync.add(1, 95 * MS, 'image@95') == ('scan@100', 'image@95')
    assert sync.counters.frames == 1


def test_a_camera_and_lidar_stream_at_10_hz_with_jitter_all_pair_up() -> None:
    sync = ApproximateTimeSynchronizer(3, slop=0.03)
    frames = []
    for i in range(50):
        t = i * 100 * MS
        # The camera lags 12 ms and its info carries the image's stamp; the scan arrives last.
        for index, stamp in ((1, t + 12 * MS), (2, t + 12 * MS), (0, t + (i % 3) * MS)):
            frame = sync.add(index, stamp, (index, i))
            if frame:
                frames.append(frame)
    assert len(frames) == 50
    assert all(item[1] == i for i, frame in enumerate(frames) for item in frame)
    assert sum(sync.counters.discarded) == 0


def test_offsets_correct_a_known_delay_larger_than_the_slop() -> None:
    plain = ApproximateTimeSynchronizer(2, slop=0.01)
    shifted = ApproximateTimeSynchronizer(2, slop=0.01, offsets=[0.0, -0.05])
    for sync in (plain, shifted):
        sync.add(0, 1000 * MS, 'scan')
    assert plain.add(1, 1050 * MS, 'image') is None
    assert shifted.add(1, 1050 * MS, 'image') == ('scan', 'image')


def test_frames_leave_in_time_order_and_older_messages_are_dropped() -> None:
    sync = ApproximateTimeSynchronizer(2, slop=0.01)
    sync.add(0, 100 * MS, 'scan@100')
    sync.add(0, 200 * MS, 'scan@200')
    assert sync.add(1, 200 * MS, 'image@200') == ('scan@200', 'image@200')
    # scan@100 can no longer be part of a frame: an image for it would go back in time.
    assert sync.add(1, 100 * MS, 'image@100') is None
    assert sync.counters.late == [0, 1]
    assert sync.counters.discarded == [1, 0]


def test_queues_are_bounded_and_evictions_counted() -> None:
    sync = ApproximateTimeSynchronizer(2, slop=0.001, queue_size=3)
    for i in range(10):
        sync.add(0, i * 100 * MS, i)
    assert sync.counters.discarded == [7, 0]
    assert sync.add(1, 600 * MS, 'image') is None  # evicted
    assert sync.add(1, 900 * MS, 'image') == (9, 'image')


def test_a_message_older_than_a_full_queue_is_evicted_not_matched() -> None:
    # Issue 17: this sequence raised KeyError from inside the subscription callback.
    sync = ApproximateTimeSynchronizer(2, slop=0.06, queue_size=10)
    for i in range(10):
        assert sync.add(0, 2000 * MS + i * 100 * MS, f'scan@{2000 + i * 100}') is None
    assert sync.add(1, 500 * MS, 'image@500') is None
    assert sync.add(0, 500 * MS, 'scan@500') is None  # evicted at once: its queue is full
    assert sync.counters.discarded == [1, 0]
    assert sync.add(1, 2900 * MS, 'image@2900') == ('scan@2900', 'image@2900')


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]]]:
    """Draw a number of inputs and messages (input, stamp) as a network delivers them.

    Each input publishes at 10 Hz with jitter; messages are then dropped, duplicated and
    shuffled (two drivers on one topic, a reordering network, a bag from several machines).
    """
    inputs = draw(st.integers(1, 3))
    sent = [(index, tick * 100 * MS + draw(st.integers(-10, 10)) * MS)
            for tick in range(draw(st.integers(0, 25))) for index in range(inputs)]
    kept = [m for m in sent if not draw(st.booleans()) or draw(st.booleans())]  # ~25 % lost
    kept += draw(st.lists(st.sampled_from(kept), max_size=10)) if kept else []
    return inputs, draw(st.permutations(kept))


@settings(max_examples=3 * BUDGET)
@given(case=arrivals(), queue_size=st.integers(1, 10), slop=st.sampled_from([0.0, 0.03, 0.06]),
       jump_back=st.booleans())
@example(case=(2, [(0, 2000 * MS + i * 100 * MS) for i in range(10)] + [(1, 500 * MS),
                                                                       (0, 500 * MS)]),
         queue_size=10, slop=0.06, jump_back=False)  # the KeyError of issue 17
def test_any_arrival_order_never_raises_and_frames_leave_in_time_order(
        case: tuple[int, list[tuple[int, int]]], queue_size: int, slop: float,
        jump_back: bool) -> None:
    inputs, messages = case
    if jump_back:  # the stream restarts 50 s earlier halfway (a looping bag)
        half = len(messages) // 2
        messages = messages[:half] + [(i, t + 50_000 * MS) for i, t in messages[half:]][::-1]
    sync = ApproximateTimeSynchronizer(inputs, slop=slop, queue_size=queue_size)
    frames = []
    for index, stamp in messages:
        frame = sync.add(index, stamp, (index, stamp))
        if frame is not None:
            assert [item[0] for item in frame] == list(range(inputs))
            stamps = [item[1] for item in frame]
            assert max(stamps) - min(stamps) <= round(slop * 1e9)
            frames.append(stamps)
    # Between resets, each input's frames go forward in time.
    if sync.counters.resets == 0:
        for index in range(inputs):
            column = [stamps[index] for stamps in frames]
            assert column == sorted(column) and len(set(column)) == len(column)
    assert sync.counters.frames == len(frames)
    assert sum(sync.counters.received) == len(messages)


def test_time_jumping_back_resets_instead_of_refusing_everything() -> None:
    sync = ApproximateTimeSynchronizer(2, slop=0.01)
    assert sync.add(0, 50_000 * MS, 'a') is None
    assert sync.add(1, 50_000 * MS, 'b') == ('a', 'b')
    # A bag loops: stamps restart 50 s earlier.
    assert sync.add(0, 0, 'c') is None
    assert sync.add(1, 0, 'd') == ('c', 'd')
    assert sync.counters.resets == 1


def test_one_input_passes_every_message_through() -> None:
    sync = ApproximateTimeSynchronizer(1, slop=0.0)
    assert [sync.add(0, i * MS, i) for i in range(3)] == [(0,), (1,), (2,)]


@pytest.mark.parametrize('kwargs', [
    {'num_inputs': 0, 'slop': 0.1}, {'num_inputs': 2, 'slop': -1.0},
    {'num_inputs': 2, 'slop': 0.1, 'queue_size': 0},
    {'num_inputs': 2, 'slop': 0.1, 'offsets': [0.0]}])
def test_bad_settings_are_refused(kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        ApproximateTimeSynchronizer(**kwargs)


# --- ScanSynchronizer: the LiDAR path never waits for the camera --------------------------

def scan_sync(**kwargs: float) -> ScanSynchronizer[str]:
    settings_ = {'slop': 0.03, 'wait': 0.1, 'camera_timeout': 1.0, **kwargs}
    return ScanSynchronizer(2, **settings_)  # type: ignore[arg-type]


def left(frames: list) -> list[tuple[str, tuple[str, ...] | None]]:
    return [(f.scan, f.camera) for f in frames]


def why(frames: list) -> list[CameraMissing | None]:
    return [f.missing for f in frames]


def test_a_scan_whose_camera_messages_came_first_leaves_at_once_with_them() -> None:
    sync = scan_sync()
    assert sync.add_camera(1, 100 * MS, 'image@100', now=0.0) == []
    assert sync.add_camera(2, 100 * MS, 'info@100', now=0.0) == []
    assert left(sync.add_scan(110 * MS, 'scan@110', now=0.0)) == [
        ('scan@110', ('image@100', 'info@100'))]


def test_a_scan_waits_at_most_wait_seconds_for_its_camera() -> None:
    sync = scan_sync()
    sync.add_camera(1, 0, 'image@0', now=0.0)
    sync.add_camera(2, 0, 'info@0', now=0.0)
    sync.add_scan(0, 'scan@0', now=0.0)
    assert sync.add_scan(100 * MS, 'scan@100', now=0.1) == []  # the camera is up: it waits
    assert sync.waiting == 1
    assert sync.poll(now=0.15) == []
    # Its image comes 80 ms later: the scan leaves with it.
    sync.add_camera(1, 95 * MS, 'image@95', now=0.18)
    assert left(sync.add_camera(2, 95 * MS, 'info@95', now=0.18)) == [
        ('scan@100', ('image@95', 'info@95'))]
    # Another scan's camera never comes: after the wait, it leaves alone.
    assert sync.add_scan(200 * MS, 'scan@200', now=0.2) == []
    assert sync.poll(now=0.29) == []
    alone = sync.poll(now=0.31)
    assert left(alone) == [('scan@200', None)]
    assert why(alone) == [CameraMissing.CAMERA_LATE]
    assert sync.counters.alone == 1
    assert sync.counters.missing == {CameraMissing.CAMERA_LATE: 1}
    # A scan whose camera_info came but whose image did not, while the next camera_info did:
    # its image was lost, not late.
    sync.add_scan(300 * MS, 'scan@300', now=0.3)
    sync.add_camera(2, 300 * MS, 'info@300', now=0.31)
    sync.add_camera(2, 400 * MS, 'info@400', now=0.38)
    assert why(sync.poll(now=0.41)) == [CameraMissing.NOT_MATCHED]


def test_a_scan_the_camera_has_passed_by_leaves_alone_without_waiting() -> None:
    sync = scan_sync()
    for t in (0, 100):
        sync.add_camera(1, t * MS, f'image@{t}', now=0.0)
        sync.add_camera(2, t * MS, f'info@{t}', now=0.0)
    # The scan at 50 ms has no partner, and both camera inputs are already past it.
    alone = sync.add_scan(50 * MS, 'scan@50', now=0.0)
    assert left(alone) == [('scan@50', None)]
    assert why(alone) == [CameraMissing.NOT_MATCHED]  # its image was lost on the way
    # A waiting scan whose image never comes leaves alone when a later scan gets its image.
    sync.add_scan(200 * MS, 'scan@200', now=0.2)
    sync.add_scan(300 * MS, 'scan@300', now=0.3)
    sync.add_camera(1, 300 * MS, 'image@300', now=0.31)
    frames = sync.add_camera(2, 300 * MS, 'info@300', now=0.31)
    assert left(frames) == [('scan@200', None), ('scan@300', ('image@300', 'info@300'))]
    assert why(frames) == [CameraMissing.NOT_MATCHED, None]


def test_with_the_camera_down_every_scan_leaves_at_once() -> None:
    sync = scan_sync()
    assert sync.silent_inputs(0.0) == [1, 2]  # before any scan nothing was heard
    # From the first scan a camera not heard from yet has camera_timeout (1 s) to send: the
    # scan waits for it meanwhile (a robot starting up, a bag).
    assert sync.add_scan(0, 'scan@0', now=0.0) == [] and sync.silent_inputs(0.0) == []
    assert why(sync.poll(now=0.11)) == [CameraMissing.CAMERA_LATE]
    sync.add_camera(1, 0, 'image', now=0.2)
    assert sync.silent_inputs(1.1) == [2]  # camera_info never came
    frames = sync.add_scan(100 * MS, 'scan@100', now=1.1)
    assert left(frames) == [('scan@100', None)] and why(frames) == [CameraMissing.CAMERA_DOWN]
    sync.add_camera(1, 0, 'image', now=1.2)
    sync.add_camera(2, 0, 'info', now=1.2)
    assert sync.add_scan(200 * MS, 'scan@200', now=1.5) == []  # up: it waits
    frames = sync.add_scan(300 * MS, 'scan@300', now=3.0)
    assert left(frames) == [
        ('scan@200', None), ('scan@300', None)]  # down for 1.8 s: no waiting, oldest first
    assert why(frames) == [CameraMissing.NOT_MATCHED, CameraMissing.CAMERA_DOWN]
    assert sync.counters.missing[CameraMissing.CAMERA_DOWN] == 2
    # With camera_timeout 0 the camera is down only until each input sent something.
    eager = scan_sync(camera_timeout=0.0)
    assert why(eager.add_scan(0, 'scan@0', now=0.0)) == [CameraMissing.CAMERA_DOWN]
    # Without camera inputs there is nothing to miss.
    lidar_only = ScanSynchronizer(0, slop=0.03, wait=0.1)
    assert why(lidar_only.add_scan(0, 'scan', now=0.0)) == [None]
    assert not lidar_only.counters.missing


def test_a_camera_sending_one_image_in_five_costs_no_scan() -> None:
    sync = scan_sync()
    frames = []
    for i in range(50):
        t, now = i * 100 * MS, i * 0.1
        frames += sync.poll(now)
        if i % 5 == 0:  # the camera's messages come 20 ms after the scan
            frames += sync.add_scan(t, f'scan{i}', now=now)
            frames += sync.add_camera(1, t, f'image{i}', now=now + 0.02)
            frames += sync.add_camera(2, t, f'info{i}', now=now + 0.02)
        else:
            frames += sync.add_scan(t, f'scan{i}', now=now)
    frames += sync.poll(now=100.0)
    assert [f.scan for f in frames] == [f'scan{i}' for i in range(50)]
    assert [f.scan for f in frames if f.camera] == [f'scan{i}' for i in range(0, 50, 5)]


@st.composite
def sensor_arrivals(draw: st.DrawFn) -> list[tuple[int, int, float]]:
    """Draw (input, stamp, arrival time) of a scan and two camera inputs, reordered and lossy."""
    messages = []
    for tick in range(draw(st.integers(0, 30))):
        t = tick * 100 * MS
        for index in range(3):
            if draw(st.integers(0, 3)) == 0:
                continue  # lost
            stamp = t + draw(st.integers(-20, 20)) * MS
            messages.append((index, stamp, tick * 0.1 + draw(st.integers(0, 300)) / 1000))
    messages += draw(st.lists(st.sampled_from(messages), max_size=5)) if messages else []
    return sorted(messages, key=lambda m: m[2])  # arrival order, not stamp order


@settings(max_examples=3 * BUDGET)
@given(messages=sensor_arrivals(), queue_size=st.integers(1, 10),
       wait=st.sampled_from([0.0, 0.05, 0.2]), timeout=st.sampled_from([0.0, 0.3, 1.0]))
def test_any_arrival_order_lets_every_scan_leave_once_in_time_order(
        messages: list[tuple[int, int, float]], queue_size: int, wait: float,
        timeout: float) -> None:
    sync = ScanSynchronizer(2, slop=0.03, wait=wait, camera_timeout=timeout,
                            queue_size=queue_size)
    frames: list = []
    for index, stamp, now in messages:
        frames += sync.poll(now)
        if index == 0:
            frames += sync.add_scan(stamp, ('scan', stamp), now)
        else:
            frames += sync.add_camera(index, stamp, (index, stamp), now)
    frames += sync.poll(1e9)
    stamps = [f.stamp_ns for f in frames]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    for frame in frames:
        assert frame.scan == ('scan', frame.stamp_ns)
        if frame.camera is not None:
            assert [i for i, _ in frame.camera] == [1, 2]
            assert max(abs(t - frame.stamp_ns) for _, t in frame.camera) <= 30 * MS
    counters = sync.counters
    assert sync.waiting == 0
    assert counters.frames == len(frames)
    # Every scan that left alone says why, and only those.
    assert all((f.camera is None) == (f.missing is not None) for f in frames)
    assert counters.alone == sum(counters.missing.values())
    assert counters.received[0] == counters.frames + counters.late[0] + counters.discarded[0]


# --- CameraSetSynchronizer: several cameras, each matched to the scan on its own ------------

def camera_set(cameras: int = 3, **kwargs: float) -> CameraSetSynchronizer[str]:
    settings_ = {'slop': 0.03, 'wait': 0.1, 'camera_timeout': 1.0, **kwargs}
    return CameraSetSynchronizer(cameras, **settings_)  # type: ignore[arg-type]


def send(sync: CameraSetSynchronizer[str], camera: int, t: int, now: float) -> list:
    sync.add_camera(camera, 1, t * MS, f'image{camera}@{t}', now)
    return sync.add_camera(camera, 2, t * MS, f'info{camera}@{t}', now)


def test_a_silent_camera_never_delays_the_scan_or_the_others() -> None:
    sync = camera_set()
    # Before any scan only cameras 0 and 2 send; camera 1 stays silent.
    for now, t in ((0.0, 0), (0.1, 100)):
        send(sync, 0, t, now)
        send(sync, 2, t, now)
        frames = sync.add_scan(t * MS, f'scan@{t}', now)
        if t == 0:  # camera 1 has camera_timeout (1 s) from the first scan: the scan waits
            assert frames == []
            frames = sync.poll(0.11)
            assert frames[0].missing == (None, CameraMissing.CAMERA_LATE, None)
    # After camera_timeout camera 1 is down: scans leave as soon as 0 and 2 matched them.
    send(sync, 0, 1200, 1.2)
    send(sync, 2, 1200, 1.2)
    frames = sync.add_scan(1200 * MS, 'scan@1200', 1.2)
    assert [f.scan for f in frames][-1] == 'scan@1200'
    assert frames[-1].cameras == (('image0@1200', 'info0@1200'), None,
                                  ('image2@1200', 'info2@1200'))
    assert frames[-1].missing == (None, CameraMissing.CAMERA_DOWN, None)
    assert sync.camera_down(1, 1.2) and not sync.camera_down(0, 1.2)


def test_a_slow_camera_costs_the_scan_its_wait_and_the_others_keep_their_pairs() -> None:
    sync = camera_set(2)
    send(sync, 1, 0, 0.0)  # heard from: up
    send(sync, 0, 100, 0.1)
    assert sync.add_scan(100 * MS, 'scan@100', 0.1) == []  # camera 1 may still come
    assert sync.poll(0.15) == []
    frames = sync.poll(0.21)  # its wait ran out: the scan leaves with camera 0 only
    assert [(f.scan, f.cameras) for f in frames] == [
        ('scan@100', (('image0@100', 'info0@100'), None))]
    assert frames[0].missing == (None, CameraMissing.CAMERA_LATE)


def test_scans_leave_in_order_once_every_camera_let_them_go() -> None:
    sync = camera_set(2)
    for camera in (0, 1):
        send(sync, camera, 0, 0.0)
    assert sync.add_scan(100 * MS, 'scan@100', 0.1) == []
    assert sync.add_scan(200 * MS, 'scan@200', 0.2) == []
    assert send(sync, 0, 200, 0.21) == []  # camera 0 let both go; camera 1 still waits
    frames = send(sync, 1, 200, 0.22)
    assert [f.scan for f in frames] == ['scan@100', 'scan@200']
    assert frames[1].cameras == (('image0@200', 'info0@200'), ('image1@200', 'info1@200'))
    # A scan no newer than one that left is late for every camera; a jump back restarts.
    assert sync.add_scan(150 * MS, 'scan@150', 0.3) == [] and sync.late == 1
    assert sync.add_scan(100 * MS, 'scan@100', 0.3) == [] and sync.late == 2
    sync.add_scan(-5000 * MS, 'scan@-5000', 0.4)
    assert sync.resets == 1 and sync.late == 2


def test_the_set_counts_whole_frames_and_each_camera_its_own() -> None:
    sync = camera_set(2)
    for t, now in ((0, 0.0), (100, 0.1), (200, 0.2)):
        send(sync, 0, t, now)
        if t != 100:  # camera 1 loses one image
            send(sync, 1, t, now)
        sync.add_scan(t * MS, f'scan@{t}', now)
    sync.poll(1.0)
    sync.add_scan(100 * MS, 'scan@100', 1.0)  # late
    counts = sync.counters
    assert counts.received == [4, 3, 3, 2, 2]  # scans, then each camera's image and info
    assert counts.frames == 3 and counts.late[0] == 1
    assert counts.alone == 0  # every frame had camera 0 at least
    assert sync.cameras[1].counters.alone == 1 and sync.cameras[0].counters.alone == 0
    # A frame with no camera at all counts as alone, by the first camera's reason.
    sync.add_scan(300 * MS, 'scan@300', 1.0)
    sync.poll(2.0)
    assert sync.counters.alone == 1 and sync.counters.frames == 4
    assert sum(sync.counters.missing.values()) == 1


def test_without_cameras_every_scan_leaves_at_once() -> None:
    sync = camera_set(0)
    frames = sync.add_scan(0, 'scan@0', 0.0)
    assert [(f.scan, f.cameras, f.missing) for f in frames] == [('scan@0', (), ())]


@settings(max_examples=2 * BUDGET)
@given(streams=st.lists(sensor_arrivals(), min_size=1, max_size=3),
       wait=st.sampled_from([0.0, 0.05, 0.2]), timeout=st.sampled_from([0.0, 0.3, 1.0]))
def test_any_arrival_order_of_several_cameras_lets_every_scan_leave_once_in_order(
        streams: list[list[tuple[int, int, float]]], wait: float, timeout: float) -> None:
    # Stream 0's scans are the scans; each stream's camera messages are one camera's.
    sync = CameraSetSynchronizer(len(streams), slop=0.03, wait=wait, camera_timeout=timeout)
    messages = sorted(((camera, index, stamp, now) for camera, stream in enumerate(streams)
                       for index, stamp, now in stream if index or camera == 0),
                      key=lambda m: m[3])
    frames: list = []
    for camera, index, stamp, now in messages:
        frames += sync.poll(now)
        if index == 0:
            frames += sync.add_scan(stamp, ('scan', stamp), now)
        else:
            frames += sync.add_camera(camera, index, stamp, (camera, index, stamp), now)
    frames += sync.poll(1e9)
    stamps = [f.stamp_ns for f in frames]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    scans = {stamp for camera, index, stamp, _ in messages if index == 0}
    assert set(stamps) <= scans
    for frame in frames:
        assert len(frame.cameras) == len(frame.missing) == len(streams)
        for camera, (pair, missing) in enumerate(zip(frame.cameras, frame.missing,
                                                     strict=True)):
            assert (pair is None) == (missing is not None)
            if pair is not None:
                assert [(c, i) for c, i, _ in pair] == [(camera, 1), (camera, 2)]
                assert max(abs(t - frame.stamp_ns) for _, _, t in pair) <= 30 * MS
