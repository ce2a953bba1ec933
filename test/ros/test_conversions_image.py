"""vlm_seg_ros.ros.conversions: Image <-> numpy, with cv_bridge's documented semantics."""

from __future__ import annotations

import array
import importlib.util
import struct
import zlib

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.ros.conversions import (
    IMAGE_ENCODINGS,
    array_to_image,
    compressed_image_to_array,
    image_encoding_format,
    image_to_array,
)

REQUIRED = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'mono16', '16UC1', '32FC1')
GENERIC = ('8UC3', '8SC1', '16SC2', '32SC1', '32FC3', '64FC1', '16UC4')


def random_pixels(encoding: str, height: int = 7, width: int = 5) -> np.ndarray:
    dtype, channels = image_encoding_format(encoding)
    shape = (height, width) if channels == 1 else (height, width, channels)
    rng = np.random.default_rng(zlib.crc32(encoding.encode()))
    if dtype.kind == 'f':
        return rng.normal(size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


def padded_message(pixels: np.ndarray, encoding: str, *, padding: int,
                   big_endian: bool = False) -> Image:
    """Build an Image whose rows carry ``padding`` junk bytes, without our code."""
    dtype, _ = image_encoding_format(encoding)
    order = '>' if big_endian else '<'
    rows = pixels.astype(dtype.newbyteorder(order)).reshape(pixels.shape[0], -1)
    row_bytes = rows.shape[1] * dtype.itemsize
    data = b''.join(row.tobytes() + b'\xab' * padding for row in rows)
    return Image(height=pixels.shape[0], width=pixels.shape[1], encoding=encoding,
                 is_bigendian=big_endian, step=row_bytes + padding, data=data)


@pytest.mark.parametrize('encoding', REQUIRED + GENERIC + ('bayer_rggb8', 'rgb16'))
def test_round_trip_keeps_every_pixel(encoding: str) -> None:
    pixels = random_pixels(encoding)
    header = Header(frame_id='camera_optical')
    message = array_to_image(pixels, encoding=encoding, header=header)
    dtype, channels = image_encoding_format(encoding)
    assert (message.height, message.width, message.encoding) == (7, 5, encoding)
    assert message.step == 5 * channels * dtype.itemsize and not message.is_bigendian
    assert message.header == header and isinstance(message.data, array.array)
    back = image_to_array(message)
    assert back.shape == pixels.shape and back.dtype == pixels.dtype
    np.testing.assert_array_equal(back, pixels)


@pytest.mark.parametrize('encoding', REQUIRED)
@pytest.mark.parametrize('big_endian', [False, True])
def test_step_padding_and_byte_order_are_honoured(encoding: str, big_endian: bool) -> None:
    pixels = random_pixels(encoding, height=4, width=3)
    message = padded_message(pixels, encoding, padding=6, big_endian=big_endian)
    decoded = image_to_array(message)
    np.testing.assert_array_equal(decoded, pixels)
    assert decoded.dtype.isnative


def test_passthrough_is_a_view_of_the_message() -> None:
    message = array_to_image(random_pixels('rgb8'), encoding='rgb8', header=Header())
    view = image_to_array(message)
    assert np.shares_memory(view, np.frombuffer(message.data, dtype=np.uint8))


def test_colour_conversions_follow_opencv() -> None:
    rgb = random_pixels('rgb8')
    message = array_to_image(rgb, encoding='rgb8', header=Header())
    np.testing.assert_array_equal(image_to_array(message, desired_encoding='bgr8'),
                                  rgb[..., ::-1])
    rgba = image_to_array(message, desired_encoding='rgba8')
    np.testing.assert_array_equal(rgba[..., :3], rgb)
    assert (rgba[..., 3] == 255).all()
    mono = image_to_array(message, desired_encoding='mono8')
    weights = rgb.astype(np.float64) @ (0.299, 0.587, 0.114)
    assert np.abs(mono.astype(np.float64) - weights).max() <= 1
    grey = array_to_image(mono, encoding='mono8', header=Header())
    np.testing.assert_array_equal(image_to_array(grey, desired_encoding='bgr8'),
                                  np.repeat(mono[..., None], 3, axis=2))


@pytest.mark.parametrize('source', ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8'])
@pytest.mark.parametrize('target', ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8'])
def test_every_8_bit_conversion_is_available(source: str, target: str) -> None:
    message = padded_message(random_pixels(source), source, padding=3)
    converted = image_to_array(message, desired_encoding=target)
    _, channels = image_encoding_format(target)
    assert converted.shape == ((7, 5) if channels == 1 else (7, 5, channels))


def test_kitti_frame_round_trips_as_bgr_and_reads_back_as_rgb(kitti_dir: object) -> None:
    bgr = cv2.imread(str(kitti_dir / 'image_2' / '000000.png'))  # type: ignore[operator]
    message = array_to_image(bgr, encoding='bgr8', header=Header())
    assert (message.width, message.height) == (1224, 370)
    np.testing.assert_array_equal(image_to_array(message, desired_encoding='rgb8'),
                                  bgr[..., ::-1])


def test_unsupported_encoding_lists_the_supported_ones() -> None:
    message = Image(height=1, width=1, encoding='nv12', step=2, data=b'\0\0')
    with pytest.raises(InvalidInputError, match=r"unsupported image encoding 'nv12'; "
                                                r'supported: rgb8, bgr8, rgba8, bgra8, mono8, '
                                                r'mono16.*yuv422_yuy2.*32FC1\.\.4'):
        image_to_array(message)


def test_conversion_between_other_encodings_is_refused_clearly() -> None:
    message = array_to_image(random_pixels('32FC1'), encoding='32FC1', header=Header())
    with pytest.raises(InvalidInputError, match="cannot convert '32FC1' to 'rgb8'"):
        image_to_array(message, desired_encoding='rgb8')
    with pytest.raises(InvalidInputError, match="cannot convert 'rgb8' to 'mono16'"):
        image_to_array(array_to_image(random_pixels('rgb8'), encoding='rgb8', header=Header()),
                       desired_encoding='mono16')


@pytest.mark.parametrize(('changes', 'message'), [
    ({'data': bytes(7 * 15 - 1)}, 'holds 104 bytes, but 7 rows of step 15 need 105'),
    ({'step': 14}, 'step 14 is smaller than one row'),
])
def test_malformed_images_raise_invalid_input(changes: dict[str, object], message: str) -> None:
    image = Image(height=7, width=5, encoding='rgb8', step=15, data=bytes(105))
    for name, value in changes.items():
        setattr(image, name, value)
    with pytest.raises(InvalidInputError, match=message):
        image_to_array(image)


@pytest.mark.parametrize(('width', 'height', 'message'), [
    (2**32 - 1, 0, 'size 4294967295x0 is absurd: a side of more than 65536'),
    (0, 70000, 'size 0x70000 is absurd'),
    (20000, 20000, r'size 20000x20000 is absurd: more than 268435456 pixels \(400000000\)'),
])
def test_sizes_no_camera_has_are_refused_before_anything_is_allocated(
        width: int, height: int, message: str) -> None:
    # Empty data: the size alone is refused (an empty image of that size used to come back
    # as a zero-size array, and the node would then size its buffers from the CameraInfo).
    image = Image(width=width, height=height, encoding='rgb8', step=2**32 - 1)
    with pytest.raises(InvalidInputError, match=message):
        image_to_array(image, desired_encoding='rgb8')


def test_empty_image_decodes_to_an_empty_array() -> None:
    image = Image(height=0, width=640, encoding='rgb8', step=1920)
    assert image_to_array(image).shape == (0, 640, 3)


@pytest.mark.parametrize(('pixels', 'encoding'), [
    (np.zeros((4, 4), np.uint8), 'rgb8'),
    (np.zeros((4, 4, 3), np.uint16), 'rgb8'),
    (np.zeros((4, 4), np.float64), '32FC1'),
    (np.zeros(4, np.uint8), 'mono8'),
])
def test_arrays_that_do_not_match_the_encoding_are_refused(pixels: np.ndarray,
                                                           encoding: str) -> None:
    with pytest.raises(InvalidInputError, match=f'{encoding} needs a'):
        array_to_image(pixels, encoding=encoding, header=Header())


def test_every_named_encoding_has_a_format() -> None:
    assert set(REQUIRED) - {'16UC1', '32FC1'} <= set(IMAGE_ENCODINGS)
    assert image_encoding_format('16UC1') == (np.dtype('<u2'), 1)
    assert image_encoding_format('32FC1') == (np.dtype('<f4'), 1)


@pytest.mark.skipif(importlib.util.find_spec('cv_bridge') is None,
                    reason='cv_bridge is not installed (it comes with a ROS install)')
@pytest.mark.parametrize('encoding', REQUIRED)
def test_matches_cv_bridge(encoding: str) -> None:
    from cv_bridge import CvBridge

    bridge = CvBridge()
    pixels = random_pixels(encoding)
    padded = padded_message(pixels, encoding, padding=4)
    np.testing.assert_array_equal(image_to_array(padded), bridge.imgmsg_to_cv2(padded))
    theirs = bridge.cv2_to_imgmsg(pixels, encoding=encoding)
    ours = array_to_image(pixels, encoding=encoding, header=Header())
    assert (theirs.step, bytes(theirs.data)) == (ours.step, bytes(ours.data))
    if encoding in ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8'):
        for target in ('rgb8', 'bgr8', 'mono8'):
            np.testing.assert_array_equal(
                image_to_array(padded, desired_encoding=target),
                bridge.imgmsg_to_cv2(padded, desired_encoding=target))


# --- Raw camera encodings: Bayer, packed YUV 4:2:2, 16-bit --------------------------------

COLOUR = (200, 30, 90)  # an RGB colour with three different channels


def mosaic(pattern: str, height: int = 8, width: int = 10) -> np.ndarray:
    """Return the Bayer image a sensor with ``pattern`` (e.g. 'rggb') takes of ``COLOUR``."""
    channel = {'r': 0, 'g': 1, 'b': 2}
    raw = np.empty((height, width), np.uint8)
    for dy in (0, 1):
        for dx in (0, 1):
            raw[dy::2, dx::2] = COLOUR[channel[pattern[2 * dy + dx]]]
    return raw


@pytest.mark.parametrize('pattern', ['rggb', 'bggr', 'gbrg', 'grbg'])
def test_bayer_images_are_demosaiced_into_their_true_colours(pattern: str) -> None:
    message = array_to_image(mosaic(pattern), encoding=f'bayer_{pattern}8', header=Header())
    rgb = image_to_array(message, desired_encoding='rgb8')
    assert rgb.shape == (8, 10, 3)
    # A uniform scene demosaics to its own colour (OpenCV names patterns one row down, and a
    # wrong mapping swaps red and blue here).
    np.testing.assert_array_equal(rgb[2:-2, 2:-2], np.broadcast_to(COLOUR, (4, 6, 3)))
    np.testing.assert_array_equal(image_to_array(message, desired_encoding='bgr8'),
                                  rgb[..., ::-1])
    deep = array_to_image(mosaic(pattern).astype(np.uint16) * 257, encoding=f'bayer_{pattern}16',
                          header=Header())
    np.testing.assert_array_equal(image_to_array(deep, desired_encoding='rgb8'), rgb)


@pytest.mark.parametrize(('encoding', 'to_yuv', 'code'), [
    ('yuv422', cv2.COLOR_RGB2YUV_UYVY, cv2.COLOR_YUV2RGB_UYVY),
    ('yuv422_yuy2', cv2.COLOR_RGB2YUV_YUY2, cv2.COLOR_YUV2RGB_YUY2),
])
def test_packed_yuv_422_is_converted_as_opencv_converts_it(encoding: str, to_yuv: int,
                                                           code: int) -> None:
    # What a UYVY / YUYV camera sends of a uniform scene (the two byte orders differ: a
    # mix-up gives another colour).
    packed = cv2.cvtColor(np.full((6, 8, 3), COLOUR, np.uint8), to_yuv)
    assert packed.shape == (6, 8, 2)
    message = array_to_image(packed, encoding=encoding, header=Header())
    rgb = image_to_array(message, desired_encoding='rgb8')
    np.testing.assert_array_equal(rgb, cv2.cvtColor(packed, code))
    assert np.abs(rgb.astype(int) - COLOUR).max() <= 3
    odd = Image(height=2, width=3, encoding=encoding, step=6, data=bytes(12))
    with pytest.raises(InvalidInputError, match='OpenCV cannot convert this 3x2'):
        image_to_array(odd, desired_encoding='rgb8')


@pytest.mark.parametrize(('encoding', 'eight_bit'), [
    ('mono16', 'mono8'), ('rgb16', 'rgb8'), ('bgr16', 'bgr8'), ('rgba16', 'rgba8')])
def test_16_bit_images_are_scaled_to_8_bit(encoding: str, eight_bit: str) -> None:
    pixels = random_pixels(encoding)
    message = array_to_image(pixels, encoding=encoding, header=Header())
    expected = array_to_image((pixels >> 8).astype(np.uint8), encoding=eight_bit,
                              header=Header())
    for desired in ('rgb8', 'mono8', eight_bit):
        np.testing.assert_array_equal(image_to_array(message, desired_encoding=desired),
                                      image_to_array(expected, desired_encoding=desired))


# --- CompressedImage (image_transport's compressed plugin: JPEG or PNG) ---------------------

def compressed(pixels: np.ndarray, extension: str, fmt: str) -> CompressedImage:
    """Encode ``pixels`` (BGR or grey, as OpenCV takes them) the way the plugin does."""
    ok, encoded = cv2.imencode(extension, pixels)
    assert ok
    return CompressedImage(format=fmt, data=encoded.tobytes())


def test_jpeg_decodes_as_opencv_decodes_it_in_rgb_order() -> None:
    bgr = random_pixels('bgr8', 48, 64)
    bgr = cv2.GaussianBlur(bgr, (9, 9), 3)  # JPEG keeps smooth images close
    message = compressed(bgr, '.jpg', 'bgr8; jpeg compressed bgr8')
    theirs = cv2.imdecode(np.frombuffer(bytes(message.data), np.uint8), cv2.IMREAD_COLOR)
    rgb = compressed_image_to_array(message)
    np.testing.assert_array_equal(rgb, theirs[..., ::-1])
    assert np.abs(rgb.astype(int) - bgr[..., ::-1]).mean() < 4
    np.testing.assert_array_equal(compressed_image_to_array(message, desired_encoding='bgr8'),
                                  theirs)
    np.testing.assert_array_equal(compressed_image_to_array(message, desired_encoding='mono8'),
                                  cv2.imdecode(np.frombuffer(bytes(message.data), np.uint8),
                                               cv2.IMREAD_GRAYSCALE))


@pytest.mark.parametrize('fmt', ['rgb8; png compressed rgb8', 'png', ''])
def test_png_is_lossless_whatever_the_format_field_says(fmt: str) -> None:
    bgr = random_pixels('bgr8', 30, 20)
    np.testing.assert_array_equal(compressed_image_to_array(compressed(bgr, '.png', fmt)),
                                  bgr[..., ::-1])


def test_grey_and_16_bit_pngs_become_8_bit_colour_as_opencv_reads_them() -> None:
    grey = random_pixels('mono8', 10, 12)
    rgb = compressed_image_to_array(compressed(grey, '.png', 'mono8; png compressed mono8'))
    np.testing.assert_array_equal(rgb, np.repeat(grey[..., None], 3, axis=2))
    deep = random_pixels('mono16', 10, 12)
    message = compressed(deep, '.png', 'mono16; png compressed mono16')
    np.testing.assert_array_equal(
        compressed_image_to_array(message, desired_encoding='mono8'),
        cv2.imdecode(np.frombuffer(bytes(message.data), np.uint8), cv2.IMREAD_GRAYSCALE))


def png_header(width: int, height: int) -> bytes:
    """Return a PNG header claiming ``width x height`` RGB pixels, without any pixels."""
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack('>I', len(ihdr)) + b'IHDR' + ihdr
    return (b'\x89PNG\r\n\x1a\n' + chunk + struct.pack('>I', zlib.crc32(b'IHDR' + ihdr))
            + struct.pack('>I', 0) + b'IEND' + struct.pack('>I', zlib.crc32(b'IEND')))


@pytest.mark.parametrize(('data', 'message'), [
    (png_header(100_000, 100_000), 'absurd'),       # a decompression bomb: refused unread
    (png_header(60_000, 60_000), 'absurd'),
    (png_header(640, 480), 'could not be decoded: its PNG header says 640x480'),
    (b'not an image', 'not a readable JPEG or PNG file'),
    (b'', 'not a readable'),
    (cv2.imencode('.bmp', np.zeros((4, 4, 3), np.uint8))[1].tobytes(), 'is a BMP file'),
])
def test_bad_compressed_images_raise_invalid_input(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        compressed_image_to_array(CompressedImage(format='jpeg', data=data))
