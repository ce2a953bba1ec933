"""vlm_seg_ros.core.projection: points to pixels, and which of them the camera really sees."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vlm_seg_ros.core.camera import CameraModel
from vlm_seg_ros.core.projection import nearest_depth_image, project_points, visible_points
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.errors import InvalidInputError

K = np.array([[640.0, 0.0, 639.5], [0.0, 640.0, 359.5], [0.0, 0.0, 1.0]])
CAMERA = CameraModel(width=1280, height=720, k=K, d=np.zeros(5), r=np.eye(3),
                     p=np.c_[K, np.zeros(3)])


def test_projection_keeps_points_on_pixels_with_their_index_and_depth() -> None:
    points = np.array([
        [0.0, 0.0, 10.0],        # image centre
        [0.0, 0.0, -10.0],       # behind
        [100.0, 0.0, 10.0],      # far right, outside
        [-639.5 / 64, -359.5 / 64, 10.0],  # the top-left pixel's centre
        [0.5 / 64, 0.0, 10.0],   # u = 640.0: rounds half up to column 640
        [0.0, 0.0, 0.05],        # closer than min_depth
    ])
    projection = project_points(points, CAMERA, rectified=False, min_depth=0.1)
    np.testing.assert_array_equal(projection.indices, [0, 3, 4])
    np.testing.assert_array_equal(projection.pixels, [[640, 360], [0, 0], [640, 360]])
    np.testing.assert_allclose(projection.uv, [[639.5, 359.5], [0, 0], [640.0, 359.5]],
                               atol=1e-4)
    np.testing.assert_allclose(projection.depth, [10, 10, 10])
    np.testing.assert_array_equal(projection.mask(), [True, False, False, True, True, False])
    assert (projection.width, projection.height, projection.num_points) == (1280, 720, 6)


def test_pixel_borders_follow_the_pixel_centre_convention() -> None:
    u = np.array([-0.51, -0.5, 1279.49, 1279.5])
    points = np.c_[(u - 639.5) / 640 * 10, np.zeros(4), np.full(4, 10.0)]
    projection = project_points(points, CAMERA, rectified=True)
    np.testing.assert_array_equal(projection.indices, [1, 2])
    np.testing.assert_array_equal(projection.pixels[:, 0], [0, 1279])


def test_transform_moves_points_into_the_camera_frame_first() -> None:
    # A LiDAR (x forward, y left, z up) 0.3 m above the camera: the usual optical rotation.
    lidar_to_camera = RigidTransform(np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0],
                                               [1.0, 0.0, 0.0]]), [0.0, -0.3, 0.0])
    ahead = np.array([[10.0, 0.0, -0.3]])  # 10 m ahead, at the camera's height
    projection = project_points(ahead, CAMERA, rectified=False, transform=lidar_to_camera)
    np.testing.assert_allclose(projection.uv, [[639.5, 359.5]], atol=1e-5)


def test_empty_input_projects_nothing() -> None:
    projection = project_points(np.empty((0, 3)), CAMERA, rectified=True)
    assert projection.indices.size == 0 and projection.mask().size == 0
    assert np.isinf(nearest_depth_image(projection)).all()


@pytest.mark.parametrize('points', [np.zeros((3, 2)), np.zeros(3), np.array([['a', 'b', 'c']])])
def test_wrong_points_are_refused(points: np.ndarray) -> None:
    with pytest.raises(InvalidInputError, match=r'\(N, 3\) array of numbers'):
        project_points(points, CAMERA, rectified=True)


def test_depth_image_holds_the_nearest_depth_spread_over_the_radius() -> None:
    points = np.array([[0.0, 0.0, 10.0], [0.0, 0.0, 4.0], [0.0, 0.0, 7.0], [0.5, 0.0, 5.0]])
    projection = project_points(points, CAMERA, rectified=True)
    exact = nearest_depth_image(projection, radius=0)
    assert exact.shape == (720, 1280) and exact.dtype == np.float32
    assert exact[360, 640] == 4.0 and exact[360, 704] == 5.0
    assert np.isinf(exact).sum() == 720 * 1280 - 2
    spread = nearest_depth_image(projection, radius=2)
    assert (spread[358:363, 638:643] == 4.0).all()
    assert np.isinf(spread[357, 640]) and np.isinf(spread[360, 643])


def test_negative_radius_is_refused() -> None:
    projection = project_points(np.array([[0.0, 0.0, 1.0]]), CAMERA, rectified=True)
    with pytest.raises(InvalidInputError, match='radius'):
        nearest_depth_image(projection, radius=-1)


def cast_rays(origin: np.ndarray, directions: np.ndarray, box_min: np.ndarray,
              box_max: np.ndarray, wall_z: float) -> np.ndarray:
    """First hit of each ray on an axis-aligned box or the plane z = wall_z (camera frame)."""
    with np.errstate(divide='ignore', invalid='ignore'):
        t1 = (box_min - origin) / directions
        t2 = (box_max - origin) / directions
    t_near = np.nanmax(np.minimum(t1, t2), axis=1)
    t_far = np.nanmin(np.maximum(t1, t2), axis=1)
    t_box = np.where((t_near <= t_far) & (t_near > 0), t_near, np.inf)
    t_wall = (wall_z - origin[2]) / directions[:, 2]
    return origin + np.minimum(t_box, t_wall)[:, None] * directions


def segment_hits_box(start: np.ndarray, ends: np.ndarray, box_min: np.ndarray,
                     box_max: np.ndarray) -> np.ndarray:
    """Whether the segment from ``start`` to each end passes through the box before the end."""
    directions = ends - start
    with np.errstate(divide='ignore', invalid='ignore'):
        t1 = (box_min - start) / directions
        t2 = (box_max - start) / directions
    t_near = np.nanmax(np.minimum(t1, t2), axis=1)
    t_far = np.nanmin(np.maximum(t1, t2), axis=1)
    return (t_near <= t_far) & (t_near > 0) & (t_near < 1 - 1e-6)


def test_points_the_lidar_sees_behind_an_object_are_occluded_for_the_camera() -> None:
    # A 64-beam LiDAR 0.3 m above and 0.2 m behind the camera scans a 0.8 m box 5 m ahead in
    # front of a wall at 10 m. From up there it sees a strip of wall that the box hides from
    # the camera; those points project onto the box's pixels. Truth: a point is hidden when
    # the straight line from the camera to it passes through the box.
    lidar = np.array([0.0, -0.3, -0.2])
    box_min, box_max = np.array([-0.4, -0.4, 4.6]), np.array([0.4, 0.4, 5.4])
    azimuth, elevation = np.meshgrid(np.radians(np.arange(-20, 20, 0.08)),
                                     np.radians(np.linspace(-8, 8, 64)))
    directions = np.c_[np.sin(azimuth.ravel()) * np.cos(elevation.ravel()),
                       -np.sin(elevation.ravel()),
                       np.cos(azimuth.ravel()) * np.cos(elevation.ravel())]
    points = cast_rays(lidar, directions, box_min, box_max, wall_z=10.0)
    on_box = np.all((points >= box_min - 1e-6) & (points <= box_max + 1e-6), axis=1)
    hidden = segment_hits_box(np.zeros(3), points, box_min, box_max)
    assert hidden.sum() > 200, 'the scene must contain parallax-hidden wall points'

    projection = project_points(points, CAMERA, rectified=True)
    visible = visible_points(projection)
    truly_hidden = hidden[projection.indices]
    box_points = on_box[projection.indices]
    # Every box point stays visible; hidden wall points are found; the rest of the wall is
    # not mistaken for hidden (a few at the box's silhouette edge may be).
    assert visible[box_points].all()
    assert (~visible[truly_hidden]).mean() >= 0.95
    wall_in_view = ~box_points & ~truly_hidden
    assert visible[wall_in_view].mean() >= 0.99
    # Without the radius, wall points between the box's scan lines stay "visible".
    found_without_radius = (~visible_points(projection, radius=0)[truly_hidden]).mean()
    assert found_without_radius < (~visible[truly_hidden]).mean() - 0.15


def test_tolerances_keep_a_grazing_surface_visible() -> None:
    # Flat ground scanned by a 64-beam LiDAR 1.7 m up (HDL-64 beam angles): far away the
    # depth grows quickly from one pixel row to the next, but nothing hides anything.
    azimuth, elevation = np.meshgrid(np.radians(np.arange(-40, 40, 0.08)),
                                     np.radians(np.linspace(-24.9, 2.0, 64)))
    down = elevation.ravel() < np.radians(-1.3)  # beams that reach the ground within 80 m
    distance = 1.7 / np.tan(-elevation.ravel()[down])
    ground = np.c_[distance * np.sin(azimuth.ravel()[down]), np.full(distance.size, 1.7),
                   distance * np.cos(azimuth.ravel()[down])]
    projection = project_points(ground, CAMERA, rectified=True)
    assert projection.depth.max() > 60
    assert visible_points(projection).mean() > 0.99
    assert visible_points(projection, tolerance=0.0, relative_tolerance=0.0).mean() < 0.9


def test_depth_image_can_be_reused() -> None:
    points = np.array([[0.0, 0.0, 5.0], [0.001, 0.0, 9.0]])
    projection = project_points(points, CAMERA, rectified=True)
    image = nearest_depth_image(projection, radius=1)
    np.testing.assert_array_equal(visible_points(projection, depth_image=image), [True, False])


@pytest.mark.parametrize('kind', ['raw undistorted', 'raw distorted', 'rectified'])
def test_the_pyramid_cull_keeps_exactly_the_points_that_land_on_the_image(kind: str) -> None:
    # Every point the full projection puts on a pixel, and no other: the cheap pre-test
    # (four half-spaces where the projection is projective) never changes the result.
    rng = np.random.default_rng(7)
    points = np.vstack([rng.uniform(-30, 30, (20_000, 3)),
                        rng.uniform(-1e-3, 1e-3, (2_000, 3)),  # at the camera's centre
                        rng.normal(0, 1, (2_000, 3)) * [1, 1, 1e-4]])  # on its plane
    d = np.array([-0.3, 0.1, 1e-3, -2e-3, 0.0]) if kind == 'raw distorted' else np.zeros(5)
    tilt = Rotation.from_euler('xyz', [0.02, -0.03, 0.01]).as_matrix()
    r = tilt if kind == 'rectified' else np.eye(3)
    camera = CameraModel(width=1280, height=720, k=K, d=d, r=r, p=np.c_[K, [30.0, 0.0, 0.0]])
    pose = RigidTransform.from_quaternion((0.5, -0.2, 0.1),
                                          Rotation.from_euler('xyz', [0.3, -0.2, 1.1]).as_quat())
    rectified = kind == 'rectified'
    linear = camera.linear_projection(rectified=rectified, transform=pose)
    if linear is not None:  # and points a hair inside and outside each border of the image
        border = np.r_[-0.5 + np.array([-1e-3, 0, 1e-3]), 1279.5 + np.array([-1e-3, 0, 1e-3])]
        u = np.r_[np.repeat(border, 400), rng.uniform(-2, 1282, 2_400)]
        v = np.r_[rng.uniform(-2, 722, 2_400), np.repeat(border - 1279.5 + 719.5, 400)]
        z = rng.uniform(0.01, 50, len(u))
        matrix, offset = linear
        h = np.c_[u * z, v * z, z] - offset
        points = np.vstack([points, np.linalg.solve(matrix, h.T).T])
    projection = project_points(points, camera, rectified=rectified, transform=pose)
    project = camera.project_rectified if rectified else camera.project_raw
    uv, depth = project(points, transform=pose)
    expected = np.flatnonzero(camera.in_image(uv) & (depth > 0))
    np.testing.assert_array_equal(projection.indices, expected)
