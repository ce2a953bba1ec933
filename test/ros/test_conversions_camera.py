"""ros.conversions: CameraInfo and tf2 transforms to the core's camera and transform."""

from __future__ import annotations

import importlib.util

from geometry_msgs.msg import Point, Pose, Quaternion, Transform, TransformStamped, Vector3
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import CameraInfo, RegionOfInterest

from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.ros.conversions import (
    camera_info_to_model,
    rigid_to_transform,
    transform_to_rigid,
)

K = [615.3, 0.0, 324.1, 0.0, 615.7, 238.2, 0.0, 0.0, 1.0]


def camera_info(**changes: object) -> CameraInfo:
    """Return a 640x480 camera calibrated with camera_calibration (plumb_bob)."""
    info = CameraInfo(width=640, height=480, distortion_model='plumb_bob',
                      d=[0.11, -0.23, 0.001, -0.002, 0.09], k=K,
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                      p=[610.0, 0.0, 322.0, 0.0, 0.0, 612.0, 237.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    for name, value in changes.items():
        setattr(info, name, value)
    return info


def test_camera_info_fields_land_in_the_model() -> None:
    model = camera_info_to_model(camera_info())
    np.testing.assert_array_equal(model.k.ravel(), K)
    np.testing.assert_array_equal(model.d, [0.11, -0.23, 0.001, -0.002, 0.09])
    assert model.p[0, 0] == 610.0 and model.distortion_model == 'plumb_bob'
    assert (model.image_width, model.image_height) == (640, 480)


def test_binning_and_roi_come_from_the_message() -> None:
    info = camera_info(binning_x=2, binning_y=2,
                       roi=RegionOfInterest(x_offset=64, y_offset=48, width=320, height=240))
    model = camera_info_to_model(info)
    assert (model.image_width, model.image_height) == (160, 120)
    assert model.image_k[0, 2] == pytest.approx((324.1 - 64) / 2)


def test_default_camera_info_is_reported_as_uncalibrated() -> None:
    with pytest.raises(InvalidInputError, match='not calibrated'):
        camera_info_to_model(CameraInfo(width=640, height=480))


@pytest.mark.parametrize(('width', 'height', 'message'), [
    (2**32 - 1, 480, 'camera calibration size 4294967295x480 is absurd'),
    (30000, 30000, 'more than 268435456 pixels'),
])
def test_a_calibration_larger_than_any_camera_is_refused(width: int, height: int,
                                                         message: str) -> None:
    # Depth buffer, labels and overlay are allocated from this size.
    with pytest.raises(InvalidInputError, match=message):
        camera_info_to_model(camera_info(width=width, height=height))


def test_unknown_distortion_model_is_reported() -> None:
    with pytest.raises(InvalidInputError, match="unknown distortion model 'kannala'"):
        camera_info_to_model(camera_info(distortion_model='kannala'))


def test_transform_stamped_maps_child_frame_points_into_the_header_frame() -> None:
    q = Rotation.from_euler('z', 90, degrees=True).as_quat()
    message = TransformStamped(child_frame_id='lidar', transform=Transform(
        translation=Vector3(x=1.0, y=2.0, z=3.0),
        rotation=Quaternion(x=q[0], y=q[1], z=q[2], w=q[3])))
    message.header.frame_id = 'base_link'
    t = transform_to_rigid(message)
    np.testing.assert_allclose(t.apply([1.0, 0.0, 0.0]), [1.0, 3.0, 3.0], atol=1e-12)


def test_pose_converts_like_a_transform() -> None:
    pose = Pose(position=Point(x=1.0, y=-2.0, z=0.5),
                orientation=Quaternion(x=0.0, y=0.0, z=0.0, w=1.0))
    np.testing.assert_array_equal(transform_to_rigid(pose).translation, [1.0, -2.0, 0.5])


def test_rigid_transform_round_trips_through_the_message() -> None:
    t = RigidTransform(Rotation.from_euler('xyz', [0.1, -0.4, 2.0]).as_matrix(), [4, 5, 6])
    back = transform_to_rigid(rigid_to_transform(t))
    np.testing.assert_allclose(back.as_matrix(), t.as_matrix(), atol=1e-12)


def test_default_transform_message_is_refused_for_its_zero_quaternion() -> None:
    # geometry_msgs/Transform defaults to q = (0, 0, 0, 1) in ROS 2, but a hand-built
    # message with w = 0 is a common mistake.
    bad = Transform(rotation=Quaternion(x=0.0, y=0.0, z=0.0, w=0.0))
    with pytest.raises(InvalidInputError, match='not unit length'):
        transform_to_rigid(bad)


@pytest.mark.skipif(importlib.util.find_spec('image_geometry') is None,
                    reason='image_geometry is not installed (it comes with a ROS install)')
def test_matches_image_geometry() -> None:
    from image_geometry import PinholeCameraModel

    info = camera_info()
    theirs = PinholeCameraModel()
    theirs.fromCameraInfo(info)
    ours = camera_info_to_model(info)
    point = (0.3, -0.2, 2.5)
    uv, _ = ours.project_rectified(np.array([point]))
    np.testing.assert_allclose(uv[0], theirs.project3dToPixel(point), atol=1e-9)
