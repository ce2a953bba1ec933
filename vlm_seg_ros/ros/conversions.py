"""Message <-> numpy conversions at the ROS boundary, without per-point Python loops.

``sensor_msgs_py.point_cloud2`` and ``cv_bridge`` are not installable everywhere this package
runs, so their parts are written here, following their documented semantics:
- PointCloud2: a structured dtype built from the ``PointField`` list, ``count > 1`` fields as
  sub-arrays, ``point_step`` and ``row_step`` padding honoured (``read_points_numpy``);
- Image: (height, width) for one channel, (height, width, channels) otherwise, ``step``
  padding and ``is_bigendian`` honoured (``CvBridge.imgmsg_to_cv2`` / ``cv2_to_imgmsg``).
Both view the message buffer without copying it where the byte order allows. CameraInfo and
transforms become the ROS-free ``CameraModel`` and ``RigidTransform`` of ``vlm_seg_ros.core``.
"""

from __future__ import annotations

import array
from collections.abc import Mapping
import io
import re
import sys
from typing import Any, Literal
import warnings

from builtin_interfaces.msg import Time
import cv2
from geometry_msgs.msg import Pose, Quaternion, Transform, TransformStamped, Vector3
import numpy as np
import numpy.typing as npt
import PIL.Image
from sensor_msgs.msg import (
    CameraInfo,
    CompressedImage,
    Image,
    PointCloud2,
    PointField,
    RegionOfInterest,
)
from std_msgs.msg import Header

from vlm_seg_ros.core.camera import CameraModel, check_image_size
from vlm_seg_ros.core.pixels import PixelBox
from vlm_seg_ros.core.stamps import NS_PER_S
from vlm_seg_ros.core.transforms import RigidTransform
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
# numpy item sizes are C ints; no real sensor comes near this many bytes per point.
_MAX_POINT_STEP = 2**31 - 1


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
    if point_step > _MAX_POINT_STEP:
        msg = f'point_step {point_step} is absurd (more than {_MAX_POINT_STEP} bytes per point)'
        raise InvalidInputError(msg)
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
        # Sizes are checked as Python ints, before numpy builds anything from them: with
        # point_step bounded above, every field's dtype then fits numpy's C int item size.
        size = field.count * base.itemsize
        if field.offset + size > point_step:
            msg = (f'field {field.name!r} (offset {field.offset}, count {field.count}, {size} '
                   f'bytes) overruns point_step {point_step}')
            raise InvalidInputError(msg)
        names.append(field.name)
        formats.append(base if field.count == 1 else np.dtype((base, (field.count,))))
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
        InvalidInputError: if the fields are invalid (see ``fields_to_dtype``), ``point_step``
            is 0 for a cloud with points, ``row_step`` is smaller than ``width * point_step``,
            or ``data`` is shorter than the layout needs. Every size is checked (as a Python
            int, so products cannot overflow) before numpy sees it.

    """
    height, width = cloud.height, cloud.width
    dtype = fields_to_dtype(cloud.fields, cloud.point_step, is_bigendian=cloud.is_bigendian)
    if height * width == 0:
        return np.zeros((height, width), dtype=dtype)
    if cloud.point_step == 0:  # zero bytes per point: the point count is not bounded by data
        msg = f'point_step 0 with {height} x {width} points: the points hold no data'
        raise InvalidInputError(msg)
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
    xyz = np.empty((points.size, 3), dtype=np.float32)
    # One strided pass per coordinate; numpy converts byte order and type on the way. This
    # is ~1.6x one copy of the buffer, whereas astype on an (N, 3) strided view loops over
    # rows of 3 and costs ~4x.
    xyz_grid = xyz.reshape(*points.shape, 3)
    for column, name in enumerate('xyz'):
        xyz_grid[..., column] = points[name]
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
    # What array_to_pointcloud2 builds for x, y, z, without its per-field analysis: the scene
    # graph builds one of these per object per frame (test_conversions checks they agree).
    data = array.array('B')
    data.frombytes(xyz.reshape(-1).view(np.uint8).data)
    return PointCloud2(
        header=header, height=1, width=len(xyz),
        fields=[PointField(name=name, offset=4 * k, datatype=PointField.FLOAT32, count=1)
                for k, name in enumerate('xyz')],
        is_bigendian=False, point_step=12, row_step=12 * len(xyz),
        is_dense=bool(np.isfinite(xyz).all()), data=data)


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


# Image encoding -> (numpy type code without byte order, channels), as sensor_msgs'
# image_encodings.hpp defines them; generic OpenCV-style names are matched by _CV_ENCODING.
IMAGE_ENCODINGS: dict[str, tuple[str, int]] = {
    'rgb8': ('u1', 3), 'bgr8': ('u1', 3), 'rgba8': ('u1', 4), 'bgra8': ('u1', 4),
    'mono8': ('u1', 1), 'mono16': ('u2', 1),
    'rgb16': ('u2', 3), 'bgr16': ('u2', 3), 'rgba16': ('u2', 4), 'bgra16': ('u2', 4),
    **{f'bayer_{p}{bits}': ('u1' if bits == 8 else 'u2', 1)
       for p in ('rggb', 'bggr', 'gbrg', 'grbg') for bits in (8, 16)},
    # Packed 4:2:2, two bytes a pixel: UYVY ('yuv422') and YUYV ('yuv422_yuy2').
    'yuv422': ('u1', 2), 'yuv422_yuy2': ('u1', 2),
}
_CV_ENCODING = re.compile(r'(8U|8S|16U|16S|32S|32F|64F)C([1-4])')
_CV_DEPTHS = {'8U': 'u1', '8S': 'i1', '16U': 'u2', '16S': 'i2', '32S': 'i4', '32F': 'f4',
              '64F': 'f8'}
SUPPORTED_ENCODINGS = (*IMAGE_ENCODINGS, '8UC1..4', '8SC1..4', '16UC1..4', '16SC1..4',
                       '32SC1..4', '32FC1..4', '64FC1..4')
# Colour conversions image_to_array offers (8-bit, as cv_bridge does them, with cvtColor).
_COLOUR_ORDER = {'rgb8': 'RGB', 'bgr8': 'BGR', 'rgba8': 'RGBA', 'bgra8': 'BGRA',
                 'mono8': 'GRAY'}
# Raw camera encodings that become one of those first. Bayer patterns map onto OpenCV's
# names as cv_bridge maps them (OpenCV names a pattern by its second row's first two pixels).
_BAYER = {'rggb': 'BG', 'bggr': 'RG', 'gbrg': 'GR', 'grbg': 'GB'}
_YUV = {'yuv422': 'UYVY', 'yuv422_yuy2': 'YUY2'}
_SIXTEEN_BIT = {'mono16': 'mono8', 'rgb16': 'rgb8', 'bgr16': 'bgr8', 'rgba16': 'rgba8',
                'bgra16': 'bgra8'}


def image_encoding_format(encoding: str) -> tuple[np.dtype[Any], int]:
    """Return ``(element dtype, channels)`` of an image encoding (dtype little-endian).

    Raises:
        InvalidInputError: for an encoding this package does not decode; the message lists
            the supported ones.

    """
    if encoding in IMAGE_ENCODINGS:
        code, channels = IMAGE_ENCODINGS[encoding]
        return np.dtype('<' + code), channels
    match = _CV_ENCODING.fullmatch(encoding)
    if match:
        return np.dtype('<' + _CV_DEPTHS[match[1]]), int(match[2])
    msg = (f'unsupported image encoding {encoding!r}; supported: '
           f'{", ".join(SUPPORTED_ENCODINGS)}')
    raise InvalidInputError(msg)


def image_to_array(image: Image, *, desired_encoding: str = 'passthrough') -> npt.NDArray[Any]:
    """Return the image's pixels as a numpy array.

    Args:
        image: any supported encoding (see ``SUPPORTED_ENCODINGS``).
        desired_encoding: ``passthrough`` keeps the encoding; ``rgb8``, ``bgr8``, ``rgba8``,
            ``bgra8`` or ``mono8`` converts to that 8-bit encoding from any of them, from
            16-bit colour and ``mono16`` (divided by 256), from ``bayer_*`` (demosaiced) and
            from ``yuv422`` (UYVY) and ``yuv422_yuy2`` (YUYV), with OpenCV as cv_bridge does.

    Returns:
        (height, width) for one channel, (height, width, channels) otherwise, in the
        encoding's type and native byte order. With ``passthrough`` and a message in native
        byte order this is a view of ``image.data`` (no copy; ``step`` padding is skipped by
        strides): copy it before changing it if the message is still in use.

    Raises:
        InvalidInputError: on an unsupported encoding or conversion, a size beyond
            ``core.camera.MAX_IMAGE_SIDE`` / ``MAX_IMAGE_PIXELS``, a ``step`` smaller than one
            row, or ``data`` shorter than ``step * (height - 1)`` plus one row (all checked
            before anything is allocated).

    """
    dtype, channels = image_encoding_format(image.encoding)
    height, width, step = image.height, image.width, image.step
    check_image_size(width, height)
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        msg = (f'image step {step} is smaller than one row of {width} x {channels} '
               f'{image.encoding} pixels ({row_bytes} bytes)')
        raise InvalidInputError(msg)
    needed = step * (height - 1) + row_bytes if height and width else 0
    if len(image.data) < needed:
        msg = (f'image data holds {len(image.data)} bytes, but {height} rows of step {step} '
               f'need {needed}')
        raise InvalidInputError(msg)
    shape: tuple[int, ...] = (height, width) if channels == 1 else (height, width, channels)
    strides: tuple[int, ...] = (step, channels * dtype.itemsize, dtype.itemsize)[:len(shape)]
    if needed == 0:
        pixels = np.zeros(shape, dtype=dtype)
    else:
        message_order: Literal['<', '>'] = '>' if image.is_bigendian else '<'
        pixels = np.ndarray(shape, dtype=dtype.newbyteorder(message_order),
                            buffer=image.data, strides=strides)
        if dtype.itemsize > 1 and image.is_bigendian != (sys.byteorder == 'big'):
            pixels = pixels.astype(dtype.newbyteorder('='))
    if desired_encoding in ('passthrough', image.encoding):
        return pixels
    encoding = image.encoding
    target = _COLOUR_ORDER.get(desired_encoding)
    if target is None or (encoding not in _COLOUR_ORDER and not _raw_encoding(encoding)):
        msg = (f'cannot convert {encoding!r} to {desired_encoding!r}; conversions are from '
               f'{", ".join([*_COLOUR_ORDER, *_SIXTEEN_BIT, "bayer_*", *_YUV])} to '
               f'{", ".join(_COLOUR_ORDER)}, or use desired_encoding="passthrough"')
        raise InvalidInputError(msg)
    if pixels.size == 0:  # cvtColor refuses empty images
        _, channels = image_encoding_format(desired_encoding)
        return np.zeros((height, width, channels)[:2 if channels == 1 else 3], dtype=np.uint8)
    try:
        if encoding not in _COLOUR_ORDER:
            pixels, encoding = _to_8_bit_colour(pixels, encoding)
            if encoding == desired_encoding:
                return pixels
        converted: npt.NDArray[Any] = cv2.cvtColor(
            pixels, getattr(cv2, f'COLOR_{_COLOUR_ORDER[encoding]}2{target}'))
    except cv2.error as error:  # e.g. an odd width of packed YUV, a 1-pixel Bayer image
        msg = f'OpenCV cannot convert this {width}x{height} {image.encoding} image: {error}'
        raise InvalidInputError(msg) from error
    return converted


def _raw_encoding(encoding: str) -> bool:
    return encoding in _SIXTEEN_BIT or encoding in _YUV or encoding.startswith('bayer_')


def _to_8_bit_colour(pixels: npt.NDArray[Any], encoding: str) -> tuple[npt.NDArray[Any], str]:
    """Turn a raw camera image into an 8-bit one of ``_COLOUR_ORDER``; return it and its name.

    Bayer is demosaiced and packed YUV 4:2:2 converted with OpenCV's cvtColor, as cv_bridge
    does; 16-bit values are divided by 256 (``convertTo(CV_8U, 1 / 256)``, what OpenCV's
    ``imread`` does without ``IMREAD_ANYDEPTH``).
    """
    if encoding in _SIXTEEN_BIT:
        return (pixels >> 8).astype(np.uint8), _SIXTEEN_BIT[encoding]
    if encoding in _YUV:
        return cv2.cvtColor(pixels, getattr(cv2, f'COLOR_YUV2RGB_{_YUV[encoding]}')), 'rgb8'
    pattern = encoding[len('bayer_'):len('bayer_rggb')]
    rgb: npt.NDArray[Any] = cv2.cvtColor(pixels, getattr(cv2, f'COLOR_Bayer{_BAYER[pattern]}2RGB'))
    if encoding.endswith('16'):
        rgb = (rgb >> 8).astype(np.uint8)
    return rgb, 'rgb8'


def array_to_image(pixels: npt.NDArray[Any], *, encoding: str, header: Header) -> Image:
    """Build an Image from a (height, width[, channels]) array (one copy of the data).

    Args:
        pixels: element type and channel count must match ``encoding``.
        encoding: a supported encoding (see ``SUPPORTED_ENCODINGS``).
        header: stamp and frame of the image; used as given.

    Returns:
        A little-endian image with ``step = width * channels * element size`` (no padding).

    Raises:
        InvalidInputError: on an unsupported encoding or an array that does not match it.

    """
    dtype, channels = image_encoding_format(encoding)
    pixels = np.asarray(pixels)
    shape = pixels.shape
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and shape[2] != channels) or (
            pixels.ndim == 2 and channels != 1) or pixels.dtype.base.str[1:] != dtype.str[1:]:
        msg = (f'{encoding} needs a (height, width{"" if channels == 1 else f", {channels}"}) '
               f'{dtype.name} array, got {pixels.dtype.name} {shape}')
        raise InvalidInputError(msg)
    packed = np.ascontiguousarray(pixels, dtype=dtype)
    data = array.array('B')
    data.frombytes(packed.reshape(-1).view(np.uint8).data)
    image = Image(header=header, height=shape[0], width=shape[1], encoding=encoding,
                  is_bigendian=False, step=shape[1] * channels * dtype.itemsize)
    image.data = data
    return image


# What image_transport's compressed plugin writes (JPEG, PNG), as PIL names the formats.
COMPRESSED_FORMATS = ('JPEG', 'PNG')


def compressed_image_to_array(image: CompressedImage, *,
                              desired_encoding: Literal['rgb8', 'bgr8', 'mono8'] = 'rgb8',
                              ) -> npt.NDArray[np.uint8]:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG) with OpenCV, as cv_bridge does.

    The size in the file's header is checked before anything is decoded, so a small file that
    claims a huge image (a decompression bomb) costs nothing. OpenCV's Python API has no
    header-only read; PIL's ``Image.open`` reads just the header, so it is used for that and
    OpenCV (``cv2.imdecode``) for the pixels. The ``format`` field (``bgr8; jpeg compressed
    bgr8``, or just ``jpeg``) is not trusted: the bytes say what they are. A 16-bit PNG is
    scaled to 8 bits by OpenCV (without ``IMREAD_ANYDEPTH`` it divides by 256).

    Returns:
        (height, width, 3) for ``rgb8`` / ``bgr8``, (height, width) for ``mono8``.

    Raises:
        InvalidInputError: on bytes that are not a JPEG or PNG, a header size beyond
            ``core.camera.MAX_IMAGE_SIDE`` / ``MAX_IMAGE_PIXELS``, a file OpenCV cannot decode
            or that decodes to another size than its header says.

    """
    data = bytes(image.data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(io.BytesIO(data)) as header:
                kind, (width, height) = header.format, header.size
    except PIL.Image.DecompressionBombError as error:
        msg = f'compressed image ({image.format!r}) claims an absurd size: {error}'
        raise InvalidInputError(msg) from error
    except (OSError, ValueError, SyntaxError) as error:  # PIL's "cannot identify" and friends
        msg = (f'compressed image ({image.format!r}, {len(data)} bytes) is not a readable '
               f'{" or ".join(COMPRESSED_FORMATS)} file: {error}')
        raise InvalidInputError(msg) from error
    if kind not in COMPRESSED_FORMATS:
        msg = (f'compressed image ({image.format!r}) is a {kind} file; supported: '
               f'{", ".join(COMPRESSED_FORMATS)}')
        raise InvalidInputError(msg)
    check_image_size(width, height, f'compressed {kind} image')
    flags = cv2.IMREAD_GRAYSCALE if desired_encoding == 'mono8' else cv2.IMREAD_COLOR_BGR
    pixels: npt.NDArray[Any] | None = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if pixels is None or pixels.shape[:2] != (height, width) or pixels.dtype != np.uint8:
        got = 'nothing' if pixels is None else f'{pixels.dtype} {pixels.shape}'
        msg = (f'compressed image ({image.format!r}) could not be decoded: its {kind} header '
               f'says {width}x{height}, OpenCV decoded {got}')
        raise InvalidInputError(msg)
    if desired_encoding == 'rgb8':
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    return np.asarray(pixels, dtype=np.uint8)  # a uint8 array already: no copy


def camera_info_to_model(info: CameraInfo) -> CameraModel:
    """Build the camera model of a CameraInfo (K, D, R, P, distortion, binning, ROI).

    Raises:
        InvalidInputError: on an uncalibrated (all-zero) or singular K or P, an unknown
            distortion model, or an ROI outside the image (see ``CameraModel``).

    """
    roi = info.roi
    # CameraModel validates and converts K, D, R and P itself.
    return CameraModel(width=info.width, height=info.height, k=info.k, d=info.d, r=info.r,
                       p=info.p, distortion_model=info.distortion_model,
                       binning_x=info.binning_x, binning_y=info.binning_y,
                       roi=(roi.x_offset, roi.y_offset, roi.width, roi.height))


def model_to_camera_info(model: CameraModel, header: Header) -> CameraInfo:
    """Return the CameraInfo that ``camera_info_to_model`` turns back into ``model``."""
    x, y, width, height = model.roi
    return CameraInfo(header=header, width=model.width, height=model.height,
                      distortion_model=model.distortion_model,
                      d=[float(v) for v in model.d], k=model.k.ravel().tolist(),
                      r=model.r.ravel().tolist(), p=model.p.ravel().tolist(),
                      binning_x=model.binning_x, binning_y=model.binning_y,
                      roi=RegionOfInterest(x_offset=x, y_offset=y, width=width, height=height))


def transform_to_rigid(message: Transform | TransformStamped | Pose) -> RigidTransform:
    """Convert a ``Transform``, ``TransformStamped`` (tf2) or ``Pose`` to a RigidTransform.

    A ``TransformStamped`` from ``header.frame_id`` to ``child_frame_id`` maps points given in
    the child frame into the header frame, as tf2 defines it.

    Raises:
        InvalidInputError: on a quaternion that is not unit length, or NaN.

    """
    if isinstance(message, TransformStamped):
        message = message.transform
    if isinstance(message, Pose):
        t, q = message.position, message.orientation
    else:
        t, q = message.translation, message.rotation
    return RigidTransform.from_quaternion((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))


def time_to_ns(stamp: Time) -> int:
    """Convert ``builtin_interfaces/Time`` to the package's stamp, integer nanoseconds (exact)."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def time_from_ns(nanoseconds: int) -> Time:
    """Convert integer nanoseconds to ``builtin_interfaces/Time`` (exact; 0 if negative)."""
    sec, nanosec = divmod(max(int(nanoseconds), 0), NS_PER_S)
    return Time(sec=sec, nanosec=nanosec)


def region_of_interest(box: PixelBox) -> RegionOfInterest:
    """Convert a pixel box to ``sensor_msgs/RegionOfInterest`` (same convention)."""
    return RegionOfInterest(x_offset=box.x, y_offset=box.y, width=box.width,
                            height=box.height)


def pixel_box(roi: RegionOfInterest) -> PixelBox:
    """Convert ``sensor_msgs/RegionOfInterest`` to a pixel box (same convention)."""
    return PixelBox(int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height))


def rigid_to_transform(transform: RigidTransform) -> Transform:
    """Convert a RigidTransform to a ``geometry_msgs/Transform``."""
    x, y, z = (float(v) for v in transform.translation)
    qx, qy, qz, qw = (float(v) for v in transform.quaternion)
    return Transform(translation=Vector3(x=x, y=y, z=z),
                     rotation=Quaternion(x=qx, y=qy, z=qz, w=qw))
