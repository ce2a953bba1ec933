"""Property tests: any message either converts or raises the package's own input error.

A node turns InvalidInputError into a logged, counted, dropped frame; any other exception
(ValueError from numpy, MemoryError, OverflowError) would escape that handling.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
from sensor_msgs.msg import Image, PointCloud2, PointField

from vlm_seg_ros.conversions import (
    IMAGE_ENCODINGS,
    image_to_array,
    pointcloud2_to_array,
    pointcloud2_to_xyz,
)
from vlm_seg_ros.errors import InvalidInputError

UINT32 = 2**32 - 1
# Mostly plausible values, sometimes extreme ones: both kinds of bug show up.
sizes = st.integers(0, 64) | st.integers(0, UINT32)
fields = st.builds(
    PointField,
    name=st.sampled_from(['x', 'y', 'z', 'intensity', 'ring', '']),
    offset=st.integers(0, 48) | st.integers(0, UINT32),
    datatype=st.integers(0, 9) | st.integers(0, 255),
    count=st.integers(0, 3) | st.integers(0, UINT32),
)
SETTINGS = settings(max_examples=400, deadline=None)


@SETTINGS
@given(fields=st.lists(fields, max_size=6), point_step=sizes, row_step=sizes,
       width=sizes, height=sizes, is_bigendian=st.booleans(), data=st.binary(max_size=600))
def test_any_pointcloud2_converts_or_raises_invalid_input(
        fields: list[PointField], point_step: int, row_step: int, width: int, height: int,
        is_bigendian: bool, data: bytes) -> None:
    cloud = PointCloud2(fields=fields, point_step=point_step, row_step=row_step, width=width,
                        height=height, is_bigendian=is_bigendian, data=data)
    try:
        points = pointcloud2_to_array(cloud)
    except InvalidInputError:
        return
    assert points.shape == (height, width)
    try:
        xyz = pointcloud2_to_xyz(cloud, skip_nonfinite=True)
    except InvalidInputError:
        return
    assert xyz.dtype == np.float32 and xyz.shape[1] == 3 and np.isfinite(xyz).all()


@SETTINGS
@given(encoding=st.sampled_from([*IMAGE_ENCODINGS, '16UC1', '32FC1', '64FC4', '8UC5',
                                 'yuv422', '']) | st.text(max_size=8),
       width=sizes, height=sizes, step=sizes, is_bigendian=st.booleans(),
       data=st.binary(max_size=600),
       desired=st.sampled_from(['passthrough', 'rgb8', 'mono8', 'bgra8', 'mono16']))
def test_any_image_converts_or_raises_invalid_input(encoding: str, width: int, height: int,
                                                   step: int, is_bigendian: bool, data: bytes,
                                                   desired: str) -> None:
    image = Image(encoding=encoding, width=width, height=height, step=step,
                  is_bigendian=is_bigendian, data=data)
    try:
        pixels = image_to_array(image, desired_encoding=desired)
    except InvalidInputError:
        return
    assert pixels.shape[:2] == (height, width)
