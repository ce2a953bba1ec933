"""KITTI frames through the ROS boundary: the geometry must reproduce KITTI's own formula.

Uses the three real frames in ../shared/data/kitti_object_training_3frames (see its README);
skips when they are absent.
"""

from __future__ import annotations

from pathlib import Path

import cv2
from geometry_msgs.msg import TransformStamped
import numpy as np
import pytest
from std_msgs.msg import Header

from vlm_seg_ros.core.projection import project_points, visible_points
from vlm_seg_ros.datasets import kitti
from vlm_seg_ros.datasets.kitti_messages import KittiMessages, kitti_messages
from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.ros.conversions import (
    camera_info_to_model,
    pointcloud2_to_xyz,
    rigid_to_transform,
    transform_to_rigid,
)

FRAMES = ('000000', '000001', '000002')
# From the data's README: in-image share of each scan, and LiDAR points in each labelled box.
IN_IMAGE_PERCENT = {'000000': 17.6, '000001': 15.5, '000002': 15.9}
POINTS_IN_BOX = {'000000': {'Pedestrian': 376}, '000001': {'Truck': 70, 'Car': 9, 'Cyclist': 18},
                 '000002': {'Misc': 1351, 'Car': 67}}


def load(kitti_dir: Path, frame: str) -> tuple[kitti.KittiCalibration, np.ndarray, int, int]:
    calib = kitti.read_calibration(kitti_dir / 'calib' / f'{frame}.txt')
    scan = kitti.read_velodyne(kitti_dir / 'velodyne' / f'{frame}.bin')
    height, width = cv2.imread(str(kitti_dir / 'image_2' / f'{frame}.png')).shape[:2]
    return calib, scan, width, height


def kitti_pixels(calib: kitti.KittiCalibration, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project like the devkit: P2 @ R0_rect @ Tr_velo_to_cam @ [x, y, z, 1], in float64."""
    r0 = np.eye(4)
    r0[:3, :3] = calib.r0_rect
    projected = (calib.p2 @ r0 @ calib.velo_to_cam.as_matrix() @ np.c_[
        xyz.astype(np.float64), np.ones(len(xyz))].T).T
    depth = projected[:, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        return projected[:, :2] / depth[:, None], depth


def tf_transform(messages: KittiMessages) -> TransformStamped:
    """Return the extrinsic as tf2 carries it: camera <- LiDAR, in the messages' frames."""
    return TransformStamped(header=Header(frame_id=messages.camera_info.header.frame_id),
                            child_frame_id=messages.cloud.header.frame_id,
                            transform=rigid_to_transform(messages.calibration.velo_to_cam))


def test_reads_the_frames_as_documented(kitti_dir: Path) -> None:
    sizes = {}
    for frame in FRAMES:
        calib, scan, width, height = load(kitti_dir, frame)
        sizes[frame] = (len(scan), width, height, round(calib.p2[0, 0], 4))
        assert scan.dtype == np.float32 and scan.shape[1] == 4
        assert 0 <= scan[:, 3].min() and scan[:, 3].max() <= 1
    assert sizes == {'000000': (115384, 1224, 370, 707.0493),
                     '000001': (120268, 1242, 375, 721.5377),
                     '000002': (126891, 1242, 375, 721.5377)}
    types = [o.type for o in kitti.read_labels(kitti_dir / 'label_2' / '000001.txt')]
    assert types == ['Truck', 'Car', 'Cyclist'] + ['DontCare'] * 4


@pytest.mark.parametrize('frame', FRAMES)
def test_projection_through_ros_messages_matches_the_kitti_formula(kitti_dir: Path,
                                                                   frame: str) -> None:
    calib, scan, width, height = load(kitti_dir, frame)
    # The frame as a robot publishes it: cloud and CameraInfo, plus a tf2 transform.
    messages = kitti_messages(kitti_dir, frame)

    camera = camera_info_to_model(messages.camera_info)
    projection = project_points(pointcloud2_to_xyz(messages.cloud), camera, rectified=True,
                                transform=transform_to_rigid(tf_transform(messages)))

    uv, depth = kitti_pixels(calib, scan[:, :3])
    u, v = uv.T
    # The same rule as ours: the point is in front and on a pixel (centres at integers).
    expected = np.flatnonzero((depth > 0) & (u >= -0.5) & (u < width - 0.5)
                              & (v >= -0.5) & (v < height - 0.5))
    np.testing.assert_array_equal(projection.indices, expected)
    assert np.abs(projection.uv - uv[expected]).max() < 0.01
    np.testing.assert_allclose(projection.depth, depth[expected], atol=1e-3)
    percent = 100 * len(expected) / len(scan)
    assert abs(percent - IN_IMAGE_PERCENT[frame]) < 0.05


@pytest.mark.parametrize('frame', FRAMES)
def test_labelled_box_centres_project_inside_their_2d_boxes(kitti_dir: Path,
                                                            frame: str) -> None:
    calib, _, width, height = load(kitti_dir, frame)
    camera = calib.camera_model(width, height)
    objects = [o for o in kitti.read_labels(kitti_dir / 'label_2' / f'{frame}.txt')
               if o.type != 'DontCare']
    assert objects
    # Label centres are in rectified camera-0 coordinates; the camera model's frame is the
    # unrectified camera 0 (R0_rect takes it to rectified), so rotate back first.
    centres = np.array([o.centre for o in objects]) @ calib.r0_rect
    uv, _ = camera.project_rectified(centres)
    for obj, (u, v) in zip(objects, uv, strict=True):
        left, top, right, bottom = obj.box_2d
        assert left <= u <= right and top <= v <= bottom, obj


@pytest.mark.parametrize('frame', FRAMES)
def test_labelled_objects_stay_visible_in_the_depth_buffer(kitti_dir: Path, frame: str) -> None:
    calib, scan, width, height = load(kitti_dir, frame)
    projection = project_points(scan[:, :3], calib.camera_model(width, height), rectified=True,
                                transform=calib.velo_to_cam)
    visible = visible_points(projection)
    rectified = calib.velo_to_rect(scan[:, :3])
    counts = {}
    for obj in kitti.read_labels(kitti_dir / 'label_2' / f'{frame}.txt'):
        if obj.type == 'DontCare':
            continue
        inside = obj.contains(rectified)
        counts[obj.type] = int(inside.sum())
        in_view = inside[projection.indices]
        # An object's own points are its front surface: never hidden behind themselves.
        assert visible[in_view].mean() >= 0.94, obj
    assert counts == POINTS_IN_BOX[frame]
    assert 0.005 < (~visible).mean() < 0.1  # some points are hidden, most are not


def test_malformed_files_raise_invalid_input(tmp_path: Path) -> None:
    scan = tmp_path / 'scan.bin'
    scan.write_bytes(bytes(17))
    with pytest.raises(InvalidInputError, match='17 bytes is not a whole number'):
        kitti.read_velodyne(scan)
    labels = tmp_path / 'labels.txt'
    labels.write_text('Car 0 0 0 1 2 3 4 1.5 1.6 3.9 1 1.7 x 0\n')
    with pytest.raises(InvalidInputError, match='labels.txt:1'):
        kitti.read_labels(labels)
    calib = tmp_path / 'calib.txt'
    calib.write_text('P2: 1 0 0\n')
    with pytest.raises(InvalidInputError, match='P2 must hold 12 numbers'):
        kitti.read_calibration(calib)


def test_calibration_ignores_lines_it_does_not_use(tmp_path: Path, kitti_dir: Path) -> None:
    calib = tmp_path / 'calib.txt'
    calib.write_text('calib_time: 09-Jan-2012 13:57:47\n'
                     + (kitti_dir / 'calib' / '000001.txt').read_text())
    assert kitti.read_calibration(calib).p2[0, 0] == 721.5377
