"""kitti-to-bag on the three real KITTI frames: the bag must hold the files' data exactly.

Uses ../shared/data/kitti_object_training_3frames (the ``kitti_dir`` fixture of conftest.py);
skips when it is absent.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from vlm_seg_ros.core.projection import project_points
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.datasets import kitti
from vlm_seg_ros.datasets.kitti_messages import kitti_messages
from vlm_seg_ros.ros.bags import BagReader, to_ros
from vlm_seg_ros.ros.conversions import (
    camera_info_to_model,
    image_to_array,
    pointcloud2_to_array,
    pointcloud2_to_xyz,
)
from vlm_seg_ros.tools.kitti_to_bag import main

FRAMES = ('000000', '000001', '000002')
TOPICS = {'/kitti/points', '/kitti/image', '/kitti/camera_info', '/kitti/labels'}
START = 1_700_000_000 * 10**9
PERIOD = 2 * 10**9
# From the data's README: in-image share of each scan, and LiDAR points in each labelled box.
IN_IMAGE_PERCENT = {'000000': 17.6, '000001': 15.5, '000002': 15.9}
POINTS_IN_BOX = {'000000': {'Pedestrian': 376}, '000001': {'Truck': 70, 'Car': 9, 'Cyclist': 18},
                 '000002': {'Misc': 1351, 'Car': 67}}


@pytest.fixture(scope='module', params=['mcap', 'sqlite3'])
def bag(request: pytest.FixtureRequest, kitti_dir: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the bag of the three frames, written with default options."""
    output = tmp_path_factory.mktemp(request.param) / 'kitti'
    assert main([str(kitti_dir), str(output), '--storage', request.param]) == 0
    return output


def decoded(bag: Path) -> dict[str, list[tuple[int, Any]]]:
    """Return topic -> [(log time, rclpy message)] of every topic but /tf_static."""
    topics: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    with BagReader(bag) as reader:
        for message in reader.messages(sorted(TOPICS)):
            topics[message.topic].append((message.timestamp, to_ros(message)))
    return topics


def stamp_ns(message: Any) -> int:
    stamp = message.header.stamp
    return int(stamp.sec) * 10**9 + int(stamp.nanosec)


def test_every_frame_has_every_topic_stamped_alike(bag: Path) -> None:
    with BagReader(bag) as reader:
        assert set(reader.topics) == TOPICS | {'/tf_static'}
        assert {topic: reader.count([topic]) for topic in TOPICS} == dict.fromkeys(TOPICS, 3)
    topics = decoded(bag)
    for topic, messages in topics.items():
        assert [time for time, _ in messages] == [START, START + PERIOD, START + 2 * PERIOD]
        for time, message in messages:
            stamps = ([stamp_ns(m) for m in message.markers] if topic == '/kitti/labels'
                      else [stamp_ns(message)])
            assert set(stamps) == {time}, topic


def test_cloud_image_and_camera_info_equal_the_kitti_files(bag: Path, kitti_dir: Path) -> None:
    topics = decoded(bag)
    for index, frame in enumerate(FRAMES):
        scan = kitti.read_velodyne(kitti_dir / 'velodyne' / f'{frame}.bin')
        cloud = topics['/kitti/points'][index][1]
        assert cloud.header.frame_id == 'velo_link'
        points = pointcloud2_to_array(cloud).reshape(-1)
        assert len(points) == len(scan)
        for column, name in enumerate(('x', 'y', 'z', 'intensity')):
            np.testing.assert_array_equal(points[name], scan[:, column])
        image = topics['/kitti/image'][index][1]
        bgr = cv2.imread(str(kitti_dir / 'image_2' / f'{frame}.png'), cv2.IMREAD_COLOR)
        assert (image.encoding, image.header.frame_id) == ('rgb8', 'camera_color_left')
        np.testing.assert_array_equal(image_to_array(image), bgr[:, :, ::-1])
        info = topics['/kitti/camera_info'][index][1]
        expected = kitti_messages(kitti_dir, frame).camera_info
        expected.header.stamp = info.header.stamp
        assert info == expected


def test_tf_static_gives_each_frames_calibration(bag: Path, kitti_dir: Path) -> None:
    topics = decoded(bag)
    with BagReader(bag) as reader:
        # Written once per calibration: frame 000000 has its own, 000001 and 000002 share one.
        assert reader.count(['/tf_static']) == 2
        for index, frame in enumerate(FRAMES):
            stamp = START + index * PERIOD
            tree = reader.static_transforms(at=stamp)
            assert tree.transforms[0][:2] == ('velo_link', 'camera_color_left')
            lidar_to_camera = tree.lookup('camera_color_left', 'velo_link')
            pose = kitti_messages(kitti_dir, frame).lidar_to_camera
            expected = RigidTransform.from_quaternion(pose[:3], pose[3:])
            np.testing.assert_allclose(lidar_to_camera.as_matrix(), expected.as_matrix(),
                                       atol=1e-12)
            calib = kitti.read_calibration(kitti_dir / 'calib' / f'{frame}.txt')
            np.testing.assert_allclose(lidar_to_camera.as_matrix(),
                                       calib.velo_to_cam.as_matrix(), atol=1e-5)
            # What perception_node does with the bag: project the cloud through TF and
            # the rectified CameraInfo; the share in the image is KITTI's own.
            cloud = topics['/kitti/points'][index][1]
            camera = camera_info_to_model(topics['/kitti/camera_info'][index][1])
            projection = project_points(pointcloud2_to_xyz(cloud), camera, rectified=True,
                                        transform=lidar_to_camera)
            percent = 100 * len(projection.indices) / cloud.width
            assert abs(percent - IN_IMAGE_PERCENT[frame]) < 0.05


def test_label_boxes_hold_the_labelled_points(bag: Path, kitti_dir: Path) -> None:
    topics = decoded(bag)
    for index, frame in enumerate(FRAMES):
        markers = topics['/kitti/labels'][index][1].markers
        labels = kitti.read_labels(kitti_dir / 'label_2' / f'{frame}.txt')
        assert [m.text for m in markers] == [o.type for o in labels if o.type != 'DontCare']
        assert [m.id for m in markers] == list(range(len(markers)))
        scan = kitti.read_velodyne(kitti_dir / 'velodyne' / f'{frame}.bin')[:, :3]
        counts = {}
        for marker in markers:
            assert (marker.header.frame_id, marker.ns, marker.type) == ('velo_link', 'kitti', 1)
            p, q = marker.pose.position, marker.pose.orientation
            pose = RigidTransform.from_quaternion((p.x, p.y, p.z), (q.x, q.y, q.z, q.w))
            assert pose.rotation[2, 2] > 0.99  # the box's z is the LiDAR's up
            local = pose.inverse().apply(scan.astype(np.float64))
            half = np.array([marker.scale.x, marker.scale.y, marker.scale.z]) / 2
            counts[marker.text] = int((np.abs(local) <= half).all(axis=1).sum())
        assert counts == POINTS_IN_BOX[frame]


def test_frames_period_start_and_summary(kitti_dir: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / 'two'
    assert main([str(kitti_dir), str(output), '--frames', '000002', '000001', '--period', '0.5',
                 '--start', '1.000000001', '--storage', 'sqlite3']) == 0
    out = capsys.readouterr().out
    assert f'2 frames, 9 messages -> {output} (sqlite3, ' in out
    topics = decoded(output)
    assert [t for t, _ in topics['/kitti/points']] == [1_000_000_001, 1_500_000_001]
    assert [m.width for _, m in topics['/kitti/points']] == [126891, 120268]  # as given
    with BagReader(output) as reader:
        assert reader.count(['/tf_static']) == 1  # one calibration
    # An existing output is replaced only when asked to.
    assert main([str(kitti_dir), str(output), '--frames', '000000']) == 2
    assert 'exists already' in capsys.readouterr().err
    assert main([str(kitti_dir), str(output), '--frames', '000000', '--overwrite']) == 0
    with BagReader(output) as reader:
        assert reader.count() == 5


def test_without_labels_there_is_no_labels_topic(kitti_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / 'unlabelled'
    for name in ('velodyne', 'image_2', 'calib'):
        (folder / name).mkdir(parents=True)
    for name, suffix in (('velodyne', 'bin'), ('image_2', 'png'), ('calib', 'txt')):
        (folder / name / f'000001.{suffix}').symlink_to(kitti_dir / name / f'000001.{suffix}')
    assert main([str(folder), str(tmp_path / 'bag')]) == 0
    with BagReader(tmp_path / 'bag') as reader:
        assert set(reader.topics) == TOPICS - {'/kitti/labels'} | {'/tf_static'}


@pytest.mark.parametrize(('arguments', 'message'), [
    (['missing'], 'is not a folder'),
    (['empty'], 'no frames in'),
    (['kitti', '--frames', '../000000'], "'../000000' is not a KITTI frame name"),
    (['kitti', '--frames', '000000', '000009'], 'frame 000009: velodyne/000009.bin is missing'),
])
def test_bad_input_exits_2_with_a_message(kitti_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str],
                                          arguments: list[str], message: str) -> None:
    (tmp_path / 'empty').mkdir()
    folders = {'missing': tmp_path / 'missing', 'empty': tmp_path / 'empty', 'kitti': kitti_dir}
    output = tmp_path / 'out'
    assert main([str(folders[arguments[0]]), str(output), *arguments[1:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith('kitti-to-bag: error: ') and message in err
    assert 'Traceback' not in err
    assert not output.exists()


def test_the_right_colour_camera_becomes_a_second_camera(kitti_dir: Path, tmp_path: Path,
                                                         capsys) -> None:
    # The shared data has no image_3/: image_2 stands in for its pixels (the boxes come from
    # the LiDAR points and the calibration's P3, not from the pixels).
    from vlm_seg_ros.tools.process_bag import main as process_bag

    folder = tmp_path / 'stereo'
    for name, suffix in (('velodyne', 'bin'), ('image_2', 'png'), ('calib', 'txt')):
        (folder / name).mkdir(parents=True)
        (folder / name / f'000000.{suffix}').symlink_to(kitti_dir / name / f'000000.{suffix}')
    (folder / 'image_3').mkdir()
    (folder / 'image_3' / '000000.png').symlink_to(kitti_dir / 'image_2' / '000000.png')
    assert main([str(folder), str(tmp_path / 'bag'), '--period', '0.1']) == 0
    with BagReader(tmp_path / 'bag') as reader:
        assert {'/kitti/right/image', '/kitti/right/camera_info'} <= set(reader.topics)
        info = next(to_ros(m) for m in reader.messages(['/kitti/right/camera_info']))
    calibration = kitti.read_calibration(kitti_dir / 'calib' / '000000.txt')
    assert calibration.p3 is not None
    np.testing.assert_allclose(np.reshape(info.p, (3, 4)), calibration.p3)
    assert info.header.frame_id == 'camera_color_left'  # the frame P3 projects from

    assert process_bag([str(tmp_path / 'bag'), str(tmp_path / 'out'), '--quiet', '--no-models',
                        '-p', 'cameras:=[left, right]', '-p', 'camera.rectified:=true',
                        '-p', 'tracking.min_hits:=1', '--image', 'left=/kitti/image',
                        '--camera-info', 'left=/kitti/camera_info']) == 0
    assert 'camera right: 1 frames' in capsys.readouterr().out
    with BagReader(tmp_path / 'out') as reader:
        labels = {m.topic: to_ros(m) for m in reader.messages(
            ['/perception/left/labels', '/perception/right/labels'])}
    left, right = (image_to_array(labels[f'/perception/{name}/labels'])
                   for name in ('left', 'right'))
    # The right camera sits 0.54 m to the right: every object it shares with the left one
    # appears further left in its image (positive disparity).
    shared = (set(np.unique(left)) & set(np.unique(right))) - {0}
    assert len(shared) >= 5
    for value in shared:
        assert np.nonzero(right == value)[1].mean() < np.nonzero(left == value)[1].mean()
