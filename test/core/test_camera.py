"""vlm_seg_ros.core.camera: CameraInfo semantics (REP 104), checked against OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vlm_seg_ros.core.camera import CameraModel
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.errors import InvalidInputError

K = np.array([[640.0, 0.0, 652.3], [0.0, 635.0, 361.7], [0.0, 0.0, 1.0]])
# Typical calibrations of each model (a wide-angle lens, a rational fit, a fisheye).
DISTORTIONS = {
    'plumb_bob': [-0.28, 0.07, 0.0012, -0.0008, -0.006],
    'rational_polynomial': [0.42, -0.05, 0.0011, -0.0007, -0.002, 0.75, 0.01, -0.004],
    'equidistant': [0.08, -0.02, 0.004, -0.001],
}


def camera(model: str = 'plumb_bob', **kwargs: object) -> CameraModel:
    args: dict[str, object] = {'width': 1280, 'height': 720, 'k': K,
                               'd': DISTORTIONS[model], 'r': np.eye(3),
                               'p': np.c_[K, np.zeros(3)], 'distortion_model': model}
    args.update(kwargs)
    return CameraModel(**args)  # type: ignore[arg-type]


def points_in_view(n: int = 2000, seed: int = 0) -> np.ndarray:
    """Points within about 40 degrees of the optical axis, 1-40 m away."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-0.8, 0.8, size=(n, 2))
    z = rng.uniform(1.0, 40.0, size=n)
    return np.c_[xy * z[:, None], z]


@pytest.mark.parametrize('model', ['plumb_bob', 'rational_polynomial'])
def test_raw_projection_matches_cv2_project_points(model: str) -> None:
    cam, points = camera(model), points_in_view()
    uv, depth = cam.project_raw(points)
    expected, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), K, np.array(
        DISTORTIONS[model]))
    np.testing.assert_allclose(uv, expected.reshape(-1, 2), atol=1e-6)
    np.testing.assert_array_equal(depth, points[:, 2])


def test_equidistant_projection_matches_cv2_fisheye() -> None:
    cam, points = camera('equidistant'), points_in_view()
    uv, _ = cam.project_raw(points)
    expected, _ = cv2.fisheye.projectPoints(points.reshape(-1, 1, 3), np.zeros(3), np.zeros(3),
                                            K, np.array(DISTORTIONS['equidistant']))
    np.testing.assert_allclose(uv, expected.reshape(-1, 2), atol=1e-6)


@pytest.mark.parametrize('model', sorted(DISTORTIONS))
def test_rectified_projection_agrees_with_opencv_rectifying_the_raw_pixel(model: str) -> None:
    # A stereo-style calibration: R rotates into the rectified frame, P has its own
    # intrinsics and a baseline term. OpenCV's undistortPoints(raw, K, D, R, P) maps the raw
    # pixel of a point to its rectified pixel; project_rectified must land on the same spot.
    r = Rotation.from_euler('xyz', [0.01, -0.02, 0.005]).as_matrix()
    p = np.array([[600.0, 0.0, 640.0, -36.0], [0.0, 600.0, 360.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    cam, points = camera(model, r=r, p=p), points_in_view(seed=1)
    raw, _ = cam.project_raw(points)
    d = np.array(DISTORTIONS[model])
    # undistortPoints applies P's 3x3 part only; the baseline shifts u by Tx / depth.
    if model == 'equidistant':
        via_opencv = cv2.fisheye.undistortPoints(raw.reshape(-1, 1, 2), K, d, R=r, P=p[:, :3])
    else:  # the default 5 iterations are not enough near the corners of a wide lens
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
        via_opencv = cv2.undistortPointsIter(raw.reshape(-1, 1, 2), K, d, r, p[:, :3],
                                             criteria)
    via_opencv = via_opencv.reshape(-1, 2)
    rectified, depth = cam.project_rectified(points)
    np.testing.assert_allclose(depth, (points @ r.T)[:, 2])
    via_opencv[:, 0] += p[0, 3] / depth
    np.testing.assert_allclose(rectified, via_opencv, atol=1e-3)


def test_transform_argument_equals_transforming_first() -> None:
    t = RigidTransform.from_quaternion((0.1, -0.3, 0.2), Rotation.from_euler(
        'z', 0.2).as_quat())
    cam, points = camera(), points_in_view()
    source = t.inverse().apply(points)
    for project in (cam.project_raw, cam.project_rectified):
        np.testing.assert_allclose(project(source, transform=t)[0], project(points)[0],
                                   atol=1e-9)


def test_binning_and_roi_map_full_resolution_pixels_into_the_published_image() -> None:
    full = camera()
    cropped = camera(binning_x=2, binning_y=2, roi=(100, 50, 640, 480))
    assert (cropped.image_width, cropped.image_height) == (320, 240)
    points = points_in_view()
    for name in ('project_raw', 'project_rectified'):
        uv_full = getattr(full, name)(points)[0]
        uv_cropped = getattr(cropped, name)(points)[0]
        np.testing.assert_allclose(uv_cropped, (uv_full - (100, 50)) / 2, atol=1e-9)
    inside = cropped.in_image(cropped.project_raw(points)[0])
    u, v = full.project_raw(points)[0].T
    np.testing.assert_array_equal(inside, (u >= 99) & (u < 739) & (v >= 49) & (v < 529))


def test_binning_zero_means_none() -> None:
    cam = camera(binning_x=0, binning_y=0)
    assert (cam.image_width, cam.image_height, cam.binning_x) == (1280, 720, 1)


def test_points_behind_the_camera_do_not_project() -> None:
    cam = camera()
    points = np.array([[0.0, 0.0, -5.0], [1.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    for project in (cam.project_raw, cam.project_rectified):
        uv, _ = project(points)
        assert np.isnan(uv[:2]).all() and np.isfinite(uv[2]).all()
        np.testing.assert_array_equal(cam.in_image(uv), [False, False, True])


def test_points_beyond_the_lens_fold_do_not_wrap_into_the_image() -> None:
    # A barrel lens whose polynomial turns back at ~48 degrees off axis. A LiDAR point at
    # 75 degrees to the side lands inside the image under the plain formula (what
    # cv2.projectPoints returns); it must not be projected at all.
    d = [-0.3, 0.0168, 0.0, 0.0, 0.0]
    cam = camera(d=d)
    angle = np.radians(75)
    side = np.array([[np.sin(angle), 0.0, np.cos(angle)]]) * 10
    naive, _ = cv2.projectPoints(side, np.zeros(3), np.zeros(3), K, np.array(d))
    assert cam.in_image(naive.reshape(-1, 2)).all()
    assert not cam.in_image(cam.project_raw(side)[0]).any()
    assert 1.0 < cam.max_radius < np.tan(angle)


def test_a_fold_far_off_axis_is_found_too() -> None:
    # A tiny k3 only bends the polynomial back at ~87 degrees; LiDAR points get there.
    d = [0.0, 0.0, 0.0, 0.0, -1e-9]
    cam = camera(d=d)
    off_axis = np.array([[31.6, 0.0, 1.0]])  # 88.2 degrees off axis
    naive, _ = cv2.projectPoints(off_axis, np.zeros(3), np.zeros(3), K, np.array(d))
    assert cam.in_image(naive.reshape(-1, 2)).all()
    assert not cam.in_image(cam.project_raw(off_axis)[0]).any()


def test_undistorted_camera_names_are_accepted_with_zero_d() -> None:
    for name in ('', 'none'):
        cam = camera(distortion_model=name, d=[])
        assert not cam.is_distorted and cam.distortion_model == 'plumb_bob'


def test_short_d_is_zero_padded_and_zero_r_means_identity() -> None:
    cam = camera(d=[-0.2, 0.05, 0, 0], r=np.zeros((3, 3)))
    np.testing.assert_array_equal(cam.d, [-0.2, 0.05, 0, 0, 0])
    np.testing.assert_array_equal(cam.r, np.eye(3))


@pytest.mark.parametrize(('changes', 'message'), [
    ({'k': np.zeros((3, 3))}, 'K is all zeros: the camera is not calibrated'),
    ({'k': np.diag([640.0, 0.0, 1.0])}, 'K is singular'),
    ({'k': np.array([[640, 0, 600], [0, 640, 300], [0, 0, 0.0]])}, 'K is singular'),
    ({'p': np.zeros((3, 4))}, 'P is all zeros'),
    ({'k': np.full((3, 3), np.nan)}, 'K has NaN'),
    ({'k': np.eye(2)}, 'K must have 9 values'),
    ({'r': np.diag([1.0, 1.0, -1.0])}, 'R must be a rotation'),
    ({'distortion_model': 'fisheye'}, 'unknown distortion model .fisheye.; supported: '
     'plumb_bob, rational_polynomial, equidistant'),
    ({'distortion_model': '', 'd': [0.1, 0, 0, 0, 0]}, 'unknown distortion model'),
    ({'d': np.zeros(8)}, 'plumb_bob takes at most 5'),
    ({'width': 0}, 'size must be positive'),
    ({'roi': (1000, 0, 640, 480)}, 'does not fit'),
    ({'roi': (0, 0, 1, 480), 'binning_x': 2}, 'has no pixels'),
    ({'roi': (0, 0, 640)}, 'roi must be'),
    ({'d': ['a', 0, 0, 0, 0]}, 'D must be numbers'),
])
def test_bad_calibrations_fail_clearly(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        camera(**changes)  # type: ignore[arg-type]


def test_model_is_immutable() -> None:
    with pytest.raises(ValueError, match='read-only'):
        camera().k[0, 0] = 1.0
