"""Sensor messages kept serialised until a frame is processed.

The node's inputs subscribe raw (``create_subscription(..., raw=True)``): a message arrives as
its CDR bytes, the stamp is read from the serialised header, and only the frames the worker
takes are deserialised. At 20 Hz, or overloaded, most scans and images are replaced by newer
ones before the worker gets to them; none of those pays for deserialisation.

The stamp reader is the one piece here that rclpy does not provide. It reads the first two
fields of a message that starts with ``std_msgs/Header`` (``stamp.sec`` int32, then
``stamp.nanosec`` uint32), which CDR lays out at the first 8 bytes after the 4-byte
encapsulation header, in the byte order that header names. Its tests check it against
``rclpy.serialization.serialize_message`` for every sensor type and byte order it accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
import struct
from typing import Any

from rclpy.serialization import deserialize_message

# Encapsulation identifiers (DDS-XTYPES 7.6.3.1.2) whose first struct member starts right after
# the 4-byte header: plain CDR and plain XCDR2, big and little endian. Others (parameter lists,
# delimited XCDR2) are deserialised to read the stamp.
_PLAIN = {b'\x00\x00': '>', b'\x00\x01': '<', b'\x00\x06': '>', b'\x00\x07': '<'}


def header_stamp(data: bytes) -> int | None:
    """Return the stamp (ns) of a serialised message that begins with a Header; None if unknown.

    None for an encapsulation other than plain CDR / XCDR2, or fewer than 12 bytes.
    """
    order = _PLAIN.get(bytes(data[:2]))
    if order is None or len(data) < 12:
        return None
    sec, nanosec = struct.unpack_from(f'{order}iI', data, 4)
    return int(sec * 1_000_000_000 + nanosec)


@dataclass(frozen=True, eq=False)
class Serialized:
    """A message's CDR bytes, its type, and its header stamp (ns)."""

    data: bytes
    kind: type
    stamp_ns: int

    @classmethod
    def of(cls, data: bytes, kind: type) -> Serialized | Any:
        """Wrap ``data``; deserialise now when its stamp cannot be read from the bytes.

        Raises:
            Exception: what rclpy raises for bytes that are not a ``kind`` message.

        """
        stamp = header_stamp(data)
        if stamp is None:
            return deserialize_message(data, kind)
        return cls(data, kind, stamp)

    def message(self) -> Any:
        """Deserialise (rclpy's own deserialisation)."""
        return deserialize_message(self.data, self.kind)


def message_of(item: Any) -> Any:
    """Return ``item`` deserialised if it is :class:`Serialized`, else ``item`` itself."""
    return item.message() if isinstance(item, Serialized) else item
