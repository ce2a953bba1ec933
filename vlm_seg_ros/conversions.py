"""Message <-> numpy conversions at the ROS boundary, without per-point Python loops."""

from __future__ import annotations

import array

import numpy as np
import numpy.typing as npt
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from vlm_seg_ros.errors import InvalidInputError

_XYZ_FIELDS = [
    PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
    for i, name in enumerate('xyz')
]


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
    cloud = PointCloud2(
        header=header,
        height=1,
        width=xyz.shape[0],
        fields=list(_XYZ_FIELDS),
        is_bigendian=False,
        point_step=12,
        row_step=12 * xyz.shape[0],
        is_dense=bool(np.isfinite(xyz).all()),
    )
    # One memcpy into an array.array: rclpy stores it as is, whereas any other sequence is
    # checked and converted element by element in Python.
    data = array.array('B')
    data.frombytes(xyz.reshape(-1).view(np.uint8).data)
    cloud.data = data
    return cloud
