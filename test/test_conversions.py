"""vlm_seg_ros.conversions: numpy -> PointCloud2."""

from __future__ import annotations

from builtin_interfaces.msg import Time
import numpy as np
import pytest
from std_msgs.msg import Header

from vlm_seg_ros.conversions import xyz_to_pointcloud2
from vlm_seg_ros.errors import InvalidInputError


def test_xyz_cloud_holds_the_points_as_little_endian_float32() -> None:
    points = np.arange(30, dtype=np.float64).reshape(10, 3) / 7
    header = Header(stamp=Time(sec=3), frame_id='lidar')
    cloud = xyz_to_pointcloud2(points, header)
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (1, 10, 12, 120)
    assert cloud.header == header and not cloud.is_bigendian and cloud.is_dense
    back = np.frombuffer(cloud.data, dtype='<f4').reshape(10, 3)
    np.testing.assert_array_equal(back, points.astype(np.float32))


def test_non_finite_points_mark_the_cloud_not_dense() -> None:
    points = np.zeros((4, 3), dtype=np.float32)
    points[2, 1] = np.nan
    assert not xyz_to_pointcloud2(points, Header()).is_dense


def test_empty_cloud_is_valid() -> None:
    cloud = xyz_to_pointcloud2(np.empty((0, 3), dtype=np.float32), Header())
    assert (cloud.width, len(cloud.data)) == (0, 0)


@pytest.mark.parametrize('shape', [(5,), (5, 2), (5, 4), (2, 5, 3)])
def test_wrong_shape_raises_invalid_input(shape: tuple[int, ...]) -> None:
    with pytest.raises(InvalidInputError, match=r'shape \(N, 3\)'):
        xyz_to_pointcloud2(np.zeros(shape, dtype=np.float32), Header())
