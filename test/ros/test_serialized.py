"""Serialised sensor messages: the stamp read from CDR bytes, deserialised only when processed.

The reference is rclpy's own serialisation (``rclpy.serialization``): every sensor type the
node subscribes to is serialised by it, and the stamp read from the bytes must be the
message's; ``decode_frame`` must give the same frame from bytes as from messages.
"""

from __future__ import annotations

from pathlib import Path
import struct
import sys

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header

from vlm_seg_ros.ros.conversions import time_to_ns
from vlm_seg_ros.ros.nodes.frames import DroppedFrameError
from vlm_seg_ros.ros.serialized import Serialized, header_stamp, message_of
from vlm_seg_ros.runtime.frames import DropReason

sys.path.insert(0, str(Path(__file__).resolve().parent / 'nodes'))
from test_frames import decode, messages  # noqa: E402


def stamped(kind: type, sec: int, nanosec: int) -> object:
    message = kind()
    message.header = Header(frame_id='a_frame_with_a_long_name')
    message.header.stamp.sec, message.header.stamp.nanosec = sec, nanosec
    return message


@pytest.mark.parametrize('kind', [PointCloud2, Image, CompressedImage, CameraInfo])
@pytest.mark.parametrize(('sec', 'nanosec'), [(1_700_000_000, 999_999_999), (0, 1),
                                              (-5, 500), (2**31 - 1, 0)])
def test_the_stamp_read_from_the_bytes_is_the_messages(kind: type, sec: int,
                                                       nanosec: int) -> None:
    message = stamped(kind, sec, nanosec)
    data = serialize_message(message)
    assert header_stamp(data) == time_to_ns(message.header.stamp)  # type: ignore[attr-defined]
    item = Serialized.of(data, kind)
    assert isinstance(item, Serialized) and item.stamp_ns == header_stamp(data)
    assert message_of(item) == message


def test_big_endian_and_xcdr2_headers_are_read_in_their_byte_order() -> None:
    body = struct.pack('>iI', 12, 34)
    for encapsulation in (b'\x00\x00\x00\x00', b'\x00\x06\x00\x00'):
        assert header_stamp(encapsulation + body) == 12_000_000_034
    little = struct.pack('<iI', 12, 34)
    assert header_stamp(b'\x00\x07\x00\x00' + little) == 12_000_000_034


def test_an_unknown_encapsulation_or_short_bytes_give_no_stamp() -> None:
    data = bytearray(serialize_message(stamped(PointCloud2, 1, 2)))
    data[1] = 0x03  # parameter-list CDR: the first member is not at offset 4
    assert header_stamp(bytes(data)) is None
    assert header_stamp(b'\x00\x01\x00\x00\x01') is None


def test_decoding_serialised_messages_gives_the_same_frame() -> None:
    scan, cameras, tf = messages()
    typed, _, _ = decode(scan, cameras, tf)
    raw_cameras = [tuple(Serialized.of(serialize_message(m), type(m)) for m in parts)
                   for parts in cameras]
    raw, dropped, _ = decode(Serialized.of(serialize_message(scan), PointCloud2), raw_cameras,
                             tf)
    assert not dropped
    np.testing.assert_array_equal(raw.points, typed.points)
    assert raw.stamp_ns == typed.stamp_ns
    assert [c.view.name for c in raw.cameras] == [c.view.name for c in typed.cameras]
    for a, b in zip(raw.cameras, typed.cameras, strict=True):
        np.testing.assert_array_equal(a.view.image, b.view.image)


def test_bytes_that_do_not_deserialise_cost_their_part_only() -> None:
    scan, cameras, tf = messages()
    good = serialize_message(cameras[0][0])
    broken = [(Serialized(good[:200], Image, 0), cameras[0][1]), *cameras[1:]]
    inputs, dropped, _ = decode(scan, broken, tf)
    assert [c.view.name for c in inputs.cameras] == ['left', 'right']
    [(reason, text)] = dropped
    assert reason == DropReason.INVALID_IMAGE and 'cannot deserialise' in text
    with pytest.raises(DroppedFrameError, match='cannot deserialise') as error:
        decode(Serialized(serialize_message(scan)[:100], PointCloud2, 0), cameras, tf)
    assert error.value.reason == DropReason.INVALID_POINTS
