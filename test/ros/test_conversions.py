"""vlm_seg_ros.ros.conversions: PointCloud2 <-> numpy."""

from __future__ import annotations

import array
import importlib.util
import struct

from builtin_interfaces.msg import Time
import numpy as np
import pytest
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.ros.conversions import (
    FIELD_TYPES,
    array_to_pointcloud2,
    pack_rgb,
    pointcloud2_to_array,
    pointcloud2_to_xyz,
    xyz_to_pointcloud2,
)


def test_xyz_cloud_holds_the_points_as_little_endian_float32() -> None:
    points = np.arange(30, dtype=np.float64).reshape(10, 3) / 7
    header = Header(stamp=Time(sec=3), frame_id='lidar')
    cloud = xyz_to_pointcloud2(points, header)
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (1, 10, 12, 120)
    assert cloud.header == header and not cloud.is_bigendian and cloud.is_dense
    back = np.frombuffer(cloud.data, dtype='<f4').reshape(10, 3)
    np.testing.assert_array_equal(back, points.astype(np.float32))


def test_xyz_cloud_is_what_the_structured_array_path_builds() -> None:
    points = np.random.default_rng(3).normal(0, 5, (50, 3)).astype(np.float32)
    points[7] = np.nan
    header = Header(stamp=Time(sec=3, nanosec=7), frame_id='lidar')
    structured = points.view([('x', '<f4'), ('y', '<f4'), ('z', '<f4')]).reshape(-1)
    assert xyz_to_pointcloud2(points, header) == array_to_pointcloud2(structured, header)


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


# --- PointCloud2 -> numpy -------------------------------------------------------------------

STRUCT_CODES = {PointField.INT8: 'b', PointField.UINT8: 'B', PointField.INT16: 'h',
                PointField.UINT16: 'H', PointField.INT32: 'i', PointField.UINT32: 'I',
                PointField.FLOAT32: 'f', PointField.FLOAT64: 'd'}


def naive_read(cloud: PointCloud2) -> list[dict[str, tuple]]:
    """Decode point by point with struct, the straightforward reading of the message spec."""
    order = '>' if cloud.is_bigendian else '<'
    data = bytes(cloud.data)
    points = []
    for row in range(cloud.height):
        for col in range(cloud.width):
            base = row * cloud.row_step + col * cloud.point_step
            points.append({
                f.name: struct.unpack_from(f'{order}{f.count}{STRUCT_CODES[f.datatype]}',
                                           data, base + f.offset)
                for f in cloud.fields})
    return points


def raw_cloud(fields: list[tuple[str, int, int, int]], point_step: int, values: np.ndarray,
              *, height: int = 1, row_pad: int = 0, bigendian: bool = False) -> PointCloud2:
    """Pack ``values`` (structured, one row per point) into a cloud with the given layout."""
    order = '>' if bigendian else '<'
    dtype = np.dtype({
        'names': [n for n, _, _, _ in fields],
        'formats': [np.dtype((order + FIELD_TYPES[t], (c,))) if c > 1
                    else np.dtype(order + FIELD_TYPES[t]) for _, _, t, c in fields],
        'offsets': [o for _, o, _, _ in fields], 'itemsize': point_step})
    width = len(values) // height
    rows = np.zeros((height, width * point_step + row_pad), dtype=np.uint8)
    packed = np.zeros(len(values), dtype=dtype)
    for name in dtype.names:
        packed[name] = values[name]
    rows[:, :width * point_step] = packed.view(np.uint8).reshape(height, -1)
    cloud = PointCloud2(height=height, width=width, is_bigendian=bigendian,
                        point_step=point_step, row_step=width * point_step + row_pad,
                        fields=[PointField(name=n, offset=o, datatype=t, count=c)
                                for n, o, t, c in fields])
    cloud.data = array.array('B', rows.tobytes())
    return cloud


def random_values(fields: list[tuple[str, int, int, int]], n: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    dtype = [(name, FIELD_TYPES[t], (c,)) if c > 1 else (name, FIELD_TYPES[t])
             for name, _, t, c in fields]
    values = np.zeros(n, dtype=dtype)
    for name, _, t, _ in fields:
        kind = np.dtype(FIELD_TYPES[t])
        if kind.kind == 'f':
            values[name] = rng.normal(scale=30, size=values[name].shape)
        else:
            info = np.iinfo(kind)
            values[name] = rng.integers(info.min, info.max, size=values[name].shape,
                                        endpoint=True)
    return values


F32, F64, U8, U16, U32 = (PointField.FLOAT32, PointField.FLOAT64, PointField.UINT8,
                          PointField.UINT16, PointField.UINT32)
LAYOUTS = {
    # name: (fields as (name, offset, datatype, count), point_step)
    'velodyne': ([('x', 0, F32, 1), ('y', 4, F32, 1), ('z', 8, F32, 1),
                  ('intensity', 12, F32, 1), ('ring', 16, U16, 1), ('time', 18, F32, 1)], 22),
    'ouster': ([('x', 0, F32, 1), ('y', 4, F32, 1), ('z', 8, F32, 1),
                ('intensity', 16, F32, 1), ('t', 20, U32, 1), ('reflectivity', 24, U16, 1),
                ('ring', 26, U16, 1), ('ambient', 28, U16, 1), ('range', 32, U32, 1)], 48),
    'livox': ([('x', 0, F32, 1), ('y', 4, F32, 1), ('z', 8, F32, 1),
               ('intensity', 12, F32, 1), ('tag', 16, U8, 1), ('line', 17, U8, 1)], 18),
    'float64_xyz': ([('x', 0, F64, 1), ('y', 8, F64, 1), ('z', 16, F64, 1)], 24),
    'count_gt_1': ([('x', 0, F32, 1), ('y', 4, F32, 1), ('z', 8, F32, 1),
                    ('normal', 12, F32, 3), ('hist', 24, U8, 5)], 32),
}


@pytest.mark.parametrize('layout', sorted(LAYOUTS))
@pytest.mark.parametrize('bigendian', [False, True], ids=['le', 'be'])
def test_real_layouts_decode_like_a_point_by_point_reader(layout: str, bigendian: bool) -> None:
    fields, step = LAYOUTS[layout]
    cloud = raw_cloud(fields, step, random_values(fields, 64), height=4, row_pad=6,
                      bigendian=bigendian)
    points = pointcloud2_to_array(cloud)
    assert points.shape == (4, 16)
    expected = naive_read(cloud)
    for name, _, _, count in fields:
        got = points[name].reshape(len(expected), count)
        want = np.array([p[name] for p in expected])
        np.testing.assert_array_equal(got, want)
    xyz = pointcloud2_to_xyz(cloud)
    want_xyz = np.array([[p[a][0] for a in 'xyz'] for p in expected], dtype=np.float32)
    np.testing.assert_array_equal(xyz, want_xyz)


@pytest.mark.parametrize('datatype', sorted(FIELD_TYPES))
def test_every_field_datatype_round_trips(datatype: int) -> None:
    fields = [('x', 0, F32, 1), ('y', 4, F32, 1), ('z', 8, F32, 1), ('v', 12, datatype, 2)]
    values = random_values(fields, 20)
    cloud = raw_cloud(fields, 32, values)
    back = array_to_pointcloud2(pointcloud2_to_array(cloud).reshape(-1), Header())
    assert [(f.name, f.offset, f.datatype, f.count) for f in back.fields] == fields
    np.testing.assert_array_equal(pointcloud2_to_array(back).reshape(-1)['v'], values['v'])


def test_decoding_views_the_message_buffer_without_copying() -> None:
    fields, step = LAYOUTS['ouster']
    cloud = raw_cloud(fields, step, random_values(fields, 10))
    points = pointcloud2_to_array(cloud)
    cloud.data[16:20] = array.array('B', np.float32(123.5).tobytes())
    assert points['intensity'][0, 0] == np.float32(123.5)


def test_nonfinite_points_are_kept_in_order_or_skipped() -> None:
    points = np.arange(36, dtype=np.float32).reshape(12, 3)
    points[[2, 7], 1] = [np.nan, np.inf]
    cloud = xyz_to_pointcloud2(points, Header())
    np.testing.assert_array_equal(pointcloud2_to_xyz(cloud), points)
    np.testing.assert_array_equal(pointcloud2_to_xyz(cloud, skip_nonfinite=True),
                                  np.delete(points, [2, 7], axis=0))


def test_output_cloud_with_instance_label_and_rgb_fields() -> None:
    n = 5
    out = np.zeros(n, dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('instance', '<u4'),
                             ('label', '<u2'), ('rgb', '<f4')])
    out['x'] = np.arange(n)
    out['instance'] = [1, 1, 2, 2, 3]
    out['label'] = [7, 7, 0, 0, 9]
    colours = np.array([[255, 0, 0], [255, 0, 0], [0, 128, 0], [0, 128, 0], [1, 2, 3]])
    out['rgb'] = pack_rgb(colours)
    cloud = array_to_pointcloud2(out, Header(frame_id='map'))
    assert [f.name for f in cloud.fields] == ['x', 'y', 'z', 'instance', 'label', 'rgb']
    assert cloud.point_step == 22 and cloud.is_dense
    back = pointcloud2_to_array(cloud).reshape(-1)
    np.testing.assert_array_equal(back['instance'], out['instance'])
    rgb = back['rgb'].view('<u4')
    np.testing.assert_array_equal(np.stack([rgb >> 16, (rgb >> 8) & 255, rgb & 255], 1), colours)


def test_empty_and_organised_empty_clouds_decode_to_empty_arrays() -> None:
    cloud = xyz_to_pointcloud2(np.empty((0, 3)), Header())
    assert pointcloud2_to_xyz(cloud).shape == (0, 3)


@pytest.mark.parametrize('breakage, message', [
    (lambda c: setattr(c, 'data', c.data[:-1]), 'data holds'),
    (lambda c: setattr(c, 'point_step', 10), 'overruns point_step'),
    (lambda c: setattr(c, 'row_step', 5), 'row_step'),
    (lambda c: c.fields.__setitem__(1, PointField(name='x', offset=4, datatype=F32, count=1)),
     'unique'),
    (lambda c: c.fields.__setitem__(2, PointField(name='z', offset=8, datatype=9, count=1)),
     'unknown PointField datatype'),
    (lambda c: c.fields.__setitem__(2, PointField(name='w', offset=8, datatype=F32, count=1)),
     'no scalar z'),
])
def test_malformed_clouds_raise_invalid_input(breakage, message: str) -> None:
    cloud = xyz_to_pointcloud2(np.ones((4, 3)), Header())
    breakage(cloud)
    with pytest.raises(InvalidInputError, match=message):
        pointcloud2_to_xyz(cloud)


@pytest.mark.parametrize('fields, point_step, width, height, message', [
    # numpy's item sizes are C ints: a 2 GiB point is refused by us, not by numpy.
    ([PointField(name='x', datatype=PointField.INT32, count=2**29)], 2**31, 0, 0,
     'point_step 2147483648 is absurd'),
    ([PointField(name='x', datatype=PointField.INT32, count=2**29)], 2**31 - 1, 0, 0,
     r'count 536870912, 2147483648 bytes\) overruns point_step 2147483647'),
    # count * size and offset + size are summed as Python ints: no wrap-around.
    ([PointField(name='x', offset=2**32 - 1, datatype=F32, count=1)], 16, 1, 1,
     'overruns point_step 16'),
    ([PointField(name='x', datatype=PointField.FLOAT64, count=2**32 - 1)], 16, 1, 1,
     'overruns point_step 16'),
    # Zero bytes a point: 2**64 points that no data bounds.
    ([], 0, 2**32 - 1, 2**32 - 1, 'point_step 0 with 4294967295 x 4294967295 points'),
])
def test_sizes_numpy_cannot_hold_are_refused_before_numpy_sees_them(
        fields: list[PointField], point_step: int, width: int, height: int, message: str) -> None:
    cloud = PointCloud2(fields=fields, point_step=point_step, width=width, height=height,
                        row_step=point_step * width % 2**32)
    with pytest.raises(InvalidInputError, match=message):
        pointcloud2_to_array(cloud)


@pytest.mark.skipif(importlib.util.find_spec('sensor_msgs_py') is None,
                    reason='sensor_msgs_py is not installed (it comes with a ROS install)')
@pytest.mark.parametrize('layout', sorted(LAYOUTS))
def test_matches_sensor_msgs_py(layout: str) -> None:
    from sensor_msgs_py import point_cloud2

    fields, step = LAYOUTS[layout]
    cloud = raw_cloud(fields, step, random_values(fields, 64), height=4, row_pad=6)
    scalar = [name for name, _, _, count in fields if count == 1]
    theirs = point_cloud2.read_points(cloud, field_names=scalar)
    ours = pointcloud2_to_array(cloud)
    for name in scalar:
        np.testing.assert_array_equal(ours[name].reshape(-1), theirs[name])
    np.testing.assert_array_equal(
        pointcloud2_to_xyz(cloud),
        point_cloud2.read_points_numpy(cloud, field_names=('x', 'y', 'z')))
    rebuilt = point_cloud2.create_cloud(Header(), cloud.fields, theirs)
    assert bytes(array_to_pointcloud2(pointcloud2_to_array(rebuilt).reshape(-1),
                                      Header()).data) == bytes(rebuilt.data)
