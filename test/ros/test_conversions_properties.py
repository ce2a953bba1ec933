"""Property tests: any message either converts or raises the package's own input error.

A node turns InvalidInputError into a logged, counted, dropped frame; any other exception
(ValueError from numpy, MemoryError, OverflowError) would escape that handling.
"""

from __future__ import annotations

import warnings

import cv2
from hypothesis import example, given, settings
from hypothesis import strategies as st
import numpy as np
from sensor_msgs.msg import (
    CameraInfo,
    CompressedImage,
    Image,
    PointCloud2,
    PointField,
    RegionOfInterest,
)

from vlm_seg_ros.core.projection import project_points, visible_points
from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.ros.conversions import (
    IMAGE_ENCODINGS,
    camera_info_to_model,
    compressed_image_to_array,
    image_to_array,
    pointcloud2_to_array,
    pointcloud2_to_xyz,
)

UINT32 = 2**32 - 1
# Examples per property: multiples of the Hypothesis profile's budget (test/conftest.py:
# 100 in CI, derandomized; 1000 with HYPOTHESIS_PROFILE=explore).
BUDGET = settings.default.max_examples
# Mostly plausible values, sometimes extreme ones: both kinds of bug show up.
sizes = st.integers(0, 64) | st.integers(0, UINT32)
fields = st.builds(
    PointField,
    name=st.sampled_from(['x', 'y', 'z', 'intensity', 'ring', '']),
    offset=st.integers(0, 48) | st.integers(0, UINT32),
    datatype=st.integers(0, 9) | st.integers(0, 255),
    count=st.integers(0, 3) | st.integers(0, UINT32),
)
SETTINGS = settings(max_examples=4 * BUDGET)


@SETTINGS
@given(fields=st.lists(fields, max_size=6), point_step=sizes, row_step=sizes,
       width=sizes, height=sizes, is_bigendian=st.booleans(), data=st.binary(max_size=600))
# Found by a random run (issue 22): a 2**31-byte field inside a 2**31-byte point_step made numpy
# raise ValueError ('dtype size in bytes must fit into a C int') instead of InvalidInputError.
@example(fields=[PointField(name='x', datatype=PointField.UINT8, count=0),
                 PointField(name='x', datatype=PointField.UINT8, count=0),
                 PointField(name='x', datatype=PointField.INT32, count=536870912)],
         point_step=2147483648, row_step=0, width=0, height=0, is_bigendian=False, data=b'')
# The same field with a point_step numpy can hold: refused for overrunning it, not by numpy.
@example(fields=[PointField(name='x', datatype=PointField.INT32, count=536870912)],
         point_step=2**31 - 1, row_step=0, width=0, height=0, is_bigendian=False, data=b'')
# No bytes per point and 2**64 points: nothing in data bounds the count.
@example(fields=[], point_step=0, row_step=0, width=UINT32, height=UINT32, is_bigendian=False,
         data=b'')
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


def _encoded(extension: str, grey: bool) -> bytes:
    pixels = np.random.default_rng(1).integers(0, 256, (12, 16) if grey else (12, 16, 3))
    ok, data = cv2.imencode(extension, pixels.astype(np.uint8))
    assert ok
    return data.tobytes()


VALID_FILES = [_encoded(ext, grey) for ext in ('.jpg', '.png') for grey in (False, True)]


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    """Draw a valid JPEG or PNG with bytes overwritten, cut off or inserted."""
    data = bytearray(draw(st.sampled_from(VALID_FILES)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(['overwrite', 'cut', 'insert']))
        chunk = draw(st.binary(min_size=1, max_size=8))
        if action == 'overwrite':
            data[at:at + len(chunk)] = chunk
        elif action == 'cut':
            del data[at:]
        else:
            data[at:at] = chunk
    return bytes(data)


@SETTINGS
@given(data=damaged_files() | st.binary(max_size=300), fmt=st.sampled_from(
    ['bgr8; jpeg compressed bgr8', 'rgb8; png compressed rgb8', 'jpeg', '', 'x' * 300]),
       desired=st.sampled_from(['rgb8', 'bgr8', 'mono8']))
def test_any_compressed_image_decodes_or_raises_invalid_input(data: bytes, fmt: str,
                                                              desired: str) -> None:
    try:
        pixels = compressed_image_to_array(CompressedImage(format=fmt, data=data),
                                           desired_encoding=desired)  # type: ignore[arg-type]
    except InvalidInputError:
        return
    assert pixels.dtype == np.uint8 and pixels.ndim == (2 if desired == 'mono8' else 3)


# Calibration-like numbers most of the time, anything (NaN, inf, huge) some of the time.
numbers = st.floats(-2000, 2000) | st.floats(allow_nan=True, allow_infinity=True)
plausible_k = st.tuples(st.floats(1, 2000), st.floats(1, 2000), st.floats(0, 1000),
                        st.floats(0, 1000)).map(
    lambda f: [f[0], 0.0, f[2], 0.0, f[1], f[3], 0.0, 0.0, 1.0])


@SETTINGS
@given(width=sizes, height=sizes, model=st.sampled_from(['plumb_bob', 'rational_polynomial',
                                                         'equidistant', '', 'fisheye']),
       d=st.lists(st.floats(-1, 1) | numbers, max_size=9),
       k=plausible_k | st.lists(numbers, min_size=9, max_size=9),
       r=st.just([1.0, 0, 0, 0, 1, 0, 0, 0, 1]) | st.lists(numbers, min_size=9, max_size=9),
       binning=st.tuples(st.integers(0, 4) | st.integers(0, UINT32),
                         st.integers(0, 4) | st.integers(0, UINT32)),
       roi=st.tuples(sizes, sizes, sizes, sizes))
def test_any_camera_info_converts_or_raises_invalid_input(
        width: int, height: int, model: str, d: list[float], k: list[float], r: list[float],
        binning: tuple[int, int], roi: tuple[int, int, int, int]) -> None:
    p = [*k[:3], 0.0, *k[3:6], 0.0, *k[6:9], 0.0]
    info = CameraInfo(width=width, height=height, distortion_model=model, d=d, k=k, r=r, p=p,
                      binning_x=binning[0], binning_y=binning[1],
                      roi=RegionOfInterest(x_offset=roi[0], y_offset=roi[1], width=roi[2],
                                           height=roi[3]))
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # an overflow warning would be a bug too
        try:
            camera = camera_info_to_model(info)
        except InvalidInputError:
            return
    if camera.image_width * camera.image_height > 4096 * 4096:
        return  # a valid but huge image: projecting into it is not what is tested here
    points = np.random.default_rng(0).normal(scale=10, size=(200, 3))
    for rectified in (False, True):
        projection = project_points(points, camera, rectified=rectified)
        assert (projection.pixels >= 0).all()
        assert (projection.pixels[:, 0] < camera.image_width).all()
        assert (projection.pixels[:, 1] < camera.image_height).all()
        visible_points(projection)
