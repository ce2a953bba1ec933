"""/diagnostics' frames status: when frames go without the camera, it says why (no DDS)."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticStatus
from std_msgs.msg import Header

from vlm_seg_ros.core.sync import CameraMissing, CameraSetSynchronizer, ScanSyncCounters
from vlm_seg_ros.ros.nodes.health import Health

INPUTS = ['/points', '/image', '/camera_info']


def frames_status(health: Health, sync: ScanSyncCounters, *,
                  camera_down: bool = False) -> tuple[DiagnosticStatus, dict[str, str]]:
    report = health.report(Header(), sync, [], camera_down=camera_down, tf_source='TF')
    status = next(s for s in report.status if s.name == 'perception: frames')
    return status, {kv.key: kv.value for kv in status.values}


def counters() -> ScanSyncCounters:
    return ScanSyncCounters(received=[0] * 3, discarded=[0] * 3, late=[0] * 3)


def receive(health: Health, scans: int, images: int) -> None:
    for _ in range(scans):
        health.received(0)
    for _ in range(images):
        health.received(1)
        health.received(2)


def test_frames_with_their_camera_are_ok_and_say_nothing_about_it() -> None:
    health, sync = Health('perception', INPUTS), counters()
    receive(health, 10, 10)
    for _ in range(10):
        health.frame_published({'total': 0.05}, lidar_only=False)
    status, values = frames_status(health, sync)
    assert status.level == DiagnosticStatus.OK and 'without the camera' not in status.message
    assert values['LiDAR-only frames: not_matched'] == '0'


def test_lost_images_are_named_as_the_reason_with_the_rates_that_show_it() -> None:
    # A best-effort driver's large images: 10 scans, 2 images arrive; 8 scans go alone.
    health, sync = Health('perception', INPUTS), counters()
    receive(health, 10, 2)
    for k in range(10):
        health.frame_published({'total': 0.05}, lidar_only=k >= 2)
    sync.missing[CameraMissing.NOT_MATCHED] += 7
    sync.missing[CameraMissing.CAMERA_LATE] += 1
    status, values = frames_status(health, sync)
    assert status.level == DiagnosticStatus.WARN  # most frames lack the camera
    assert 'without the camera: no image within sync.slop' in status.message
    assert 'best-effort' in status.message and '/image ' in status.message
    assert values['LiDAR-only frames: not_matched'] == '7'
    assert values['LiDAR-only frames: camera_late'] == '1'
    # The next period only counts what happened in it: a late camera now.
    receive(health, 10, 9)
    for k in range(10):
        health.frame_published({'total': 0.05}, lidar_only=k == 0)
    sync.missing[CameraMissing.CAMERA_LATE] += 1
    status, values = frames_status(health, sync)
    assert status.level == DiagnosticStatus.OK  # one frame in ten: a camera slower than the LiDAR
    assert 'the camera is late' in status.message
    assert values['LiDAR-only frames: camera_late'] == '2'  # totals


def test_a_bad_image_is_named_as_the_reason() -> None:
    health, sync = Health('perception', INPUTS), counters()
    receive(health, 5, 5)
    for _ in range(5):
        health.drop('invalid_image', 'image: unknown encoding')
        health.frame_published({'total': 0.05}, lidar_only=True)
    status, values = frames_status(health, sync)
    assert 'invalid_image drops of the camera part' in status.message
    assert values['LiDAR-only frames: invalid_image'] == '5'


def test_a_camera_that_is_down_says_so() -> None:
    health, sync = Health('perception', INPUTS), counters()
    receive(health, 5, 0)
    for _ in range(5):
        health.frame_published({'total': 0.05}, lidar_only=True)
    sync.missing[CameraMissing.CAMERA_DOWN] += 5
    status, values = frames_status(health, sync, camera_down=True)
    assert status.level == DiagnosticStatus.WARN and status.message.startswith('camera down')
    assert values['LiDAR-only frames: camera_down'] == '5'


def test_each_camera_has_its_status_and_a_silent_one_warns_alone() -> None:
    sync = CameraSetSynchronizer(3, slop=0.03, wait=0.05, camera_timeout=0.5)
    topics = ['/points'] + [f'/{name}/{part}' for name in ('front', 'left', 'right')
                            for part in ('image', 'camera_info')]
    health = Health('perception', topics, ['front', 'left', 'right'])
    for k in range(20):  # 10 Hz for 2 s; the left camera never sends
        t, now = k * 100_000_000, k * 0.1
        for camera in (0, 2):
            for part in (1, 2):
                health.received(1 + 2 * camera + part - 1)
                sync.add_camera(camera, part, t, f'{camera}.{part}@{k}', now)
        health.received(0)
        sync.add_scan(t, f'scan@{k}', now)
        sync.poll(now + 0.06)
    report = health.report(Header(), sync.counters, [], camera_down=False, tf_source='TF',
                           cameras=[(c.counters, sync.camera_down(i, 2.0))
                                    for i, c in enumerate(sync.cameras)])
    statuses = {s.name: s for s in report.status}
    front, left = statuses['perception: camera front'], statuses['perception: camera left']
    assert front.level == DiagnosticStatus.OK and 'scans/s with its images' in front.message
    assert left.level == DiagnosticStatus.WARN and left.message.startswith('down')
    values = {kv.key: kv.value for kv in left.values}
    assert values['/left/image received /s'] == '0.000' and values['scans with its images'] == '0'
    assert int(values['scans without it']) == 20
    assert {kv.key: kv.value for kv in front.values}['scans with its images'] == '20'
    assert statuses['perception: camera right'].level == DiagnosticStatus.OK
