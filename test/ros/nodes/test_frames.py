"""``decode_frame`` with several cameras: a camera's trouble costs only that camera's part.

ROS messages, no DDS: the demo scene's scan and its three cameras' images, extrinsics from a
``/tf_static``-like tree (``process-bag``'s transform source, the node's rule).
"""

from __future__ import annotations

import numpy as np
import pytest
from std_msgs.msg import Header

from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.datasets.demo_scene import demo_scene
from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.ros.bags import TransformTree
from vlm_seg_ros.ros.conversions import array_to_image, model_to_camera_info, xyz_to_pointcloud2
from vlm_seg_ros.ros.nodes.frames import decode_frame
from vlm_seg_ros.runtime.config import to_config
from vlm_seg_ros.runtime.frames import DropReason
from vlm_seg_ros.tools.process_bag import StaticTransforms

SCENE = demo_scene()


def messages(*, in_tf: tuple[str, ...] = ('front', 'left', 'right')) -> tuple:
    """Return the scan, each camera's (image, info), and TF knowing the ``in_tf`` cameras."""
    header = Header(frame_id='lidar')
    header.stamp.sec = 1_700_000_000
    scan = xyz_to_pointcloud2(SCENE.scan()[0], header)
    tree = TransformTree()
    cameras = []
    for camera in SCENE.cameras:
        camera_header = Header(frame_id=f'{camera.name}_camera', stamp=header.stamp)
        image = array_to_image(np.zeros((540, 960, 3), np.uint8), encoding='rgb8',
                               header=camera_header)
        cameras.append((image, model_to_camera_info(camera.model, camera_header)))
        if camera.name in in_tf:
            tree.add('lidar', camera_header.frame_id, camera.lidar_to_camera.inverse())
    return scan, cameras, StaticTransforms(tree)


def decode(scan, cameras, extrinsics, values=None):
    config = to_config({'cameras': ['front', 'left', 'right'], **(values or {})})
    dropped: list[tuple[DropReason, str]] = []
    warnings: list[str] = []
    inputs = decode_frame(scan, cameras, config, extrinsics, warn=warnings.append,
                          dropped=lambda reason, text: dropped.append((reason, text)))
    assert inputs is not None
    return inputs, dropped, warnings


def test_each_camera_gets_its_own_extrinsic_from_tf() -> None:
    inputs, dropped, warnings = decode(*messages())
    assert [c.view.name for c in inputs.cameras] == ['front', 'left', 'right']
    assert not dropped and not warnings
    for decoded, camera in zip(inputs.cameras, SCENE.cameras, strict=True):
        np.testing.assert_allclose(decoded.view.lidar_to_camera.as_matrix(),
                                   camera.lidar_to_camera.as_matrix(), atol=1e-9)
        assert decoded.frame_id == f'{camera.name}_camera'


def test_a_camera_without_an_extrinsic_is_left_out_by_name_and_the_others_go_on() -> None:
    scan, cameras, tf = messages(in_tf=('front', 'right'))
    inputs, dropped, _ = decode(scan, cameras, tf)
    assert [c.view.name for c in inputs.cameras] == ['front', 'right']
    [(reason, text)] = dropped
    assert reason == DropReason.NO_CAMERA_TRANSFORM
    assert "camera 'left'" in text and 'camera.left.lidar_to_camera' in text
    # Its own parameter brings it back (with a warning that TF had none).
    pose = SCENE.cameras[1].pose
    inputs, dropped, warnings = decode(scan, cameras, tf,
                                       {'camera.left.lidar_to_camera': pose})
    assert [c.view.name for c in inputs.cameras] == ['front', 'left', 'right'] and not dropped
    assert any('camera.left.lidar_to_camera' in w for w in warnings)


def test_a_bad_image_costs_its_camera_only_and_a_silent_camera_nothing() -> None:
    scan, cameras, tf = messages()
    image, info = cameras[0]
    image.width = 100  # disagrees with its CameraInfo
    cameras[2] = None  # no pair matched for the right camera
    inputs, dropped, _ = decode(scan, cameras, tf)
    assert [c.view.name for c in inputs.cameras] == ['left']
    [(reason, text)] = dropped
    assert reason == DropReason.IMAGE_SIZE_MISMATCH and "camera 'front'" in text
    assert 'the scan goes on with the other cameras' in text


def test_camera_parts_must_match_the_configured_cameras() -> None:
    scan, cameras, tf = messages()
    with pytest.raises(InvalidInputError, match='2 camera parts for 3 configured cameras'):
        decode(scan, cameras[:2], tf)


def test_the_only_camera_falls_back_to_the_global_extrinsic_silently_without_tf() -> None:
    scan, cameras, _ = messages()
    empty = StaticTransforms(TransformTree())
    pose = SCENE.cameras[0].pose
    config = to_config({'cameras': ['front'], 'lidar_to_camera': pose})
    inputs = decode_frame(scan, cameras[:1], config, empty, warn=pytest.fail,
                          dropped=lambda *args: pytest.fail(str(args)))
    assert inputs is not None and inputs.camera is not None
    np.testing.assert_allclose(inputs.camera.lidar_to_camera.translation,
                               RigidTransform.from_quaternion(pose[:3], pose[3:]).translation)


def test_each_input_index_names_one_camera_part_and_back() -> None:
    from vlm_seg_ros.ros.nodes.frames import camera_input, input_camera

    indices = [camera_input(camera, part) for camera in range(3) for part in (1, 2)]
    assert indices == [1, 2, 3, 4, 5, 6]  # after the points (0), image then info per camera
    assert [input_camera(i) for i in indices] == [(c, p) for c in range(3) for p in (1, 2)]
