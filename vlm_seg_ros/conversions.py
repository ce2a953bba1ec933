"""Message <-> numpy conversions at the ROS boundary, without per-point Python loops.

``sensor_msgs_py.point_cloud2`` is not installable everywhere this package runs, so the
PointCloud2 part is written here; it follows that module's documented semantics (a structured
dtype built from the ``PointField`` list, ``count > 1`` fields as sub-arrays, ``point_step``
and ``row_step`` padding honoured) and views the message buffer without copying it.
"""

from __future__ import annotations

import array
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from vlm_seg_ros.errors import InvalidInputError

# PointField datatype -> numpy type code (without byte order), per sensor_msgs/PointField.
FIELD_TYPES: dict[int, str] = {
    PointField.INT8: 'i1',
    PointField.UINT8: 'u1',
    PointField.INT16: 'i2',
    PointField.UINT16: 'u2',
    PointField.INT32: 'i4',
    PointField.UINT32: 'u4',
    PointField.FLOAT32: 'f4',
    PointField.FLOAT64: 'f8',
}
_DATATYPE_OF_CODE = {code: datatype for datatype, code in FIELD_TYPES.items()}


def fields_to_dtype(fields: list[PointField], point_step: int, *,
                    is_bigendian: bool = False) -> np.dtype[np.void]:
    """Return the structured dtype of one point described by ``fields``.

    Args:
        fields: the cloud's ``PointField`` list; a field with ``count > 1`` becomes a
            sub-array, a field with ``count == 0`` holds no data and is left out.
        point_step: bytes per point; the dtype's itemsize, so padding is kept.
        is_bigendian: byte order of the data.

    Raises:
        InvalidInputError: on an unknown datatype, a duplicate or empty name, or a field that
            does not fit inside ``point_step``.

    """
    order = '>' if is_bigendian else '<'
    names: list[str] = []
    formats: list[np.dtype[np.generic]] = []
    offsets: list[int] = []
    for field in fields:
        code = FIELD_TYPES.get(field.datatype)
        if code is None:
            msg = (f'field {field.name!r} has unknown PointField datatype {field.datatype}; '
                   f'known: {sorted(FIELD_TYPES)} (INT8=1 ... FLOAT64=8)')
            raise InvalidInputError(msg)
        if not field.name:
            msg = 'a PointField has an empty name'
            raise InvalidInputError(msg)
        if field.name in names:
            msg = f'PointField names must be unique, got {field.name!r} twice'
            raise InvalidInputError(msg)
        if field.count == 0:
            continue
        base = np.dtype(order + code)
        fmt = base if field.count == 1 else np.dtype((base, (field.count,)))
        if field.offset + fmt.itemsize > point_step:
            msg = (f'field {field.name!r} (offset {field.offset}, {fmt.itemsize} bytes) overruns '
                   f'point_step {point_step}')
            raise InvalidInputError(msg)
        names.append(field.name)
        formats.append(fmt)
        offsets.append(field.offset)
    return np.dtype({'names': names, 'formats': formats, 'offsets': offsets,
                     'itemsize': point_step})


def pointcloud2_to_array(cloud: PointCloud2) -> npt.NDArray[np.void]:
    """View a PointCloud2's points as a structured array, without copying the data.

    Returns:
        (height, width) structured array with one named field per ``PointField``, in the
        cloud's byte order, sharing memory with ``cloud.data`` (``row_step`` padding is
        skipped by strides).

    Raises:
        InvalidInputError: if the fields are invalid (see ``fields_to_dtype``), ``row_step`` is
            smaller than ``width * point_step``, or ``data`` is shorter than the layout needs.

    """
    height, width = cloud.height, cloud.width
    dtype = fields_to_dtype(cloud.fields, cloud.point_step, is_bigendian=cloud.is_bigendian)
    if height * width == 0:
        return np.zeros((height, width), dtype=dtype)
    row_bytes = width * cloud.point_step
    if cloud.row_step < row_bytes:
        msg = f'row_step {cloud.row_step} < width {width} * point_step {cloud.point_step}'
        raise InvalidInputError(msg)
    needed = cloud.row_step * (height - 1) + row_bytes
    if len(cloud.data) < needed:
        msg = (f'data holds {len(cloud.data)} bytes, but {height} x {width} points with '
               f'point_step {cloud.point_step} and row_step {cloud.row_step} need {needed}')
        raise InvalidInputError(msg)
    return np.ndarray((height, width), dtype=dtype, buffer=cloud.data,
                      strides=(cloud.row_step, cloud.point_step))


def pointcloud2_to_xyz(cloud: PointCloud2, *,
                       skip_nonfinite: bool = False) -> npt.NDArray[np.float32]:
    """Return the cloud's ``x y z`` as one (N, 3) float32 array (one copy of the data).

    Args:
        cloud: any layout; ``x``, ``y`` and ``z`` must be present with ``count`` 1.
        skip_nonfinite: drop points with a NaN or infinite coordinate; otherwise N is
            ``height * width`` in row-major order, so row ``i`` is point ``i`` of the cloud.

    Returns:
        (N, 3) float32, metres, in ``cloud.header.frame_id``.

    Raises:
        InvalidInputError: if ``x``, ``y`` or ``z`` is missing, or the layout is invalid.

    """
    points = pointcloud2_to_array(cloud)
    fields: Mapping[str, Any] = points.dtype.fields or {}
    missing = [name for name in 'xyz' if name not in fields or fields[name][0].shape]
    if missing:
        msg = f'PointCloud2 has no scalar {"/".join(missing)} field(s); fields: {list(fields)}'
        raise InvalidInputError(msg)
    offsets = [fields[name][1] for name in 'xyz']
    if all(fields[name][0] == np.dtype('<f4') for name in 'xyz') and offsets == [
            offsets[0], offsets[0] + 4, offsets[0] + 8] and points.size:
        # The common layout: x y z adjacent little-endian float32, read as one strided view.
        xyz_view = np.ndarray((cloud.height, cloud.width, 3), dtype='<f4', buffer=cloud.data,
                              offset=offsets[0], strides=(cloud.row_step, cloud.point_step, 4))
        xyz = xyz_view.reshape(-1, 3).astype(np.float32)
    else:
        xyz = np.empty((points.size, 3), dtype=np.float32)
        for column, name in enumerate('xyz'):
            xyz[:, column] = points[name].reshape(-1)
    if skip_nonfinite:
        finite = np.isfinite(xyz).all(axis=1)
        if not finite.all():
            xyz = xyz[finite]
    return xyz


def array_to_pointcloud2(points: npt.NDArray[np.void], header: Header, *,
                         is_dense: bool | None = None) -> PointCloud2:
    """Build a PointCloud2 from a structured array (one copy of the data).

    Args:
        points: (N,) or (height, width) structured array; every field's base type must be one
            of ``FIELD_TYPES`` (sub-arrays become ``count > 1``). Output is little-endian.
        header: stamp and frame of the cloud; used as given.
        is_dense: value of ``is_dense``; by default true when ``x y z`` exist and are finite.

    Raises:
        InvalidInputError: if ``points`` is not a structured array of supported types.

    """
    if points.dtype.names is None or points.ndim not in (1, 2):
        msg = f'points must be a 1-D or 2-D structured array, got {points.dtype} {points.shape}'
        raise InvalidInputError(msg)
    fields: list[PointField] = []
    for name in points.dtype.names:
        field_dtype, offset = points.dtype.fields[name][:2]  # type: ignore[index]
        base, shape = field_dtype.base, field_dtype.shape
        datatype = _DATATYPE_OF_CODE.get(f'{base.kind}{base.itemsize}')
        if datatype is None or len(shape) > 1:
            msg = f'field {name!r} has unsupported type {field_dtype}'
            raise InvalidInputError(msg)
        fields.append(PointField(name=name, offset=offset, datatype=datatype,
                                 count=shape[0] if shape else 1))
    # newbyteorder applies to every field (sub-arrays included); names and offsets are kept.
    dtype = points.dtype.newbyteorder('<')
    packed = np.ascontiguousarray(points.astype(dtype, copy=False))
    height, width = (1, packed.shape[0]) if packed.ndim == 1 else packed.shape
    if is_dense is None:
        names = points.dtype.names
        is_dense = all(n in names for n in 'xyz') and all(
            bool(np.isfinite(packed[n]).all()) for n in 'xyz')
    cloud = PointCloud2(header=header, height=height, width=width, fields=fields,
                        is_bigendian=False, point_step=dtype.itemsize,
                        row_step=dtype.itemsize * width, is_dense=is_dense)
    # One memcpy into an array.array: rclpy stores it as is, whereas any other sequence is
    # checked and converted element by element in Python.
    data = array.array('B')
    data.frombytes(packed.reshape(-1).view(np.uint8).data)
    cloud.data = data
    return cloud


def xyz_to_pointcloud2(points: npt.ArrayLike, header: Header) -> PointCloud2:
    """Build an unorganised little-endian PointCloud2 with float32 ``x y z`` fields.

    Args:
        points: (N, 3) array-like, metres, in ``header.frame_id``; converted to float32.
        header: stamp and frame of the cloud; used as given.

    Returns:
        A cloud with ``height`` 1, ``width`` N, ``point_step`` 12 and ``is_dense`` true when
        every coordinate is finite.

    Raises:
        InvalidInputError: if ``points`` is not of shape (N, 3).

    """
    xyz = np.ascontiguousarray(points, dtype='<f4')
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        msg = f'points must have shape (N, 3), got {xyz.shape}'
        raise InvalidInputError(msg)
    structured = xyz.view(np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4')])).reshape(-1)
    return array_to_pointcloud2(structured, header)


def pack_rgb(rgb: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Pack (N, 3) uint8 colours into the float32 ``rgb`` field that RViz and PCL read.

    The 24 bits ``0x00RRGGBB`` are stored in the bytes of a float32, the PCL convention.
    """
    colours = np.asarray(rgb, dtype=np.uint32)
    if colours.ndim != 2 or colours.shape[1] != 3:
        msg = f'rgb must have shape (N, 3), got {colours.shape}'
        raise InvalidInputError(msg)
    packed = (colours[:, 0] << 16) | (colours[:, 1] << 8) | colours[:, 2]
    return packed.astype('<u4').view('<f4')
