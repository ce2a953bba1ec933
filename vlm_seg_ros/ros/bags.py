"""rosbag2 recordings read and written with ``rosbags``, their messages as rclpy objects.

No ROS 2 install is needed (rosbag2 and tf2_msgs are not on PyPI): ``rosbags`` reads and writes
the storage (MCAP or SQLite 3), rclpy's own serialisation converts between the stored CDR bytes
and message objects, and ``/tf_static`` (``tf2_msgs/TFMessage``, a type without a Python
package here) goes through the ``rosbags`` typestore instead. Bags written here carry the message
definitions and RIHS01 type hashes ``ros2 bag`` expects, so ROS 2's own tools read them::

    with BagReader('recording') as bag:
        tree = bag.static_transforms()
        for message in bag.messages(['/camera/image']):
            image = to_ros(message)

    with BagWriter('out', storage='mcap') as out:
        out.write('/camera/image', image, timestamp_ns)

Frames follow tf2: a transform from ``parent`` to ``child`` maps points given in the child
frame into the parent frame, and ``TransformTree.lookup(target, source)`` maps points from
``source`` into ``target`` (tf2's ``lookup_transform(target_frame, source_frame)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
import functools
import importlib
from pathlib import Path
import shutil
from types import TracebackType
from typing import Any, Literal

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import (
    Connection,
    ConnectionExtRosbag2,
    MessageDefinitionFormat,
    Nodetype,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, TypesysError, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.errors import InvalidInputError, TransformUnavailableError

TF_TOPIC = '/tf'
TF_STATIC_TOPIC = '/tf_static'
TF_MESSAGE = 'tf2_msgs/msg/TFMessage'
STORAGES = ('mcap', 'sqlite3')
# The rosbag2 metadata version written: 9 is what ROS 2 Jazzy and later write and read.
BAG_VERSION: Literal[9] = 9

# "Use the default" for a QoS duration (rmw's RMW_DURATION_UNSPECIFIED): no deadline, no
# lifespan, an infinite liveliness lease, as every profile below has.
_DEFAULT_DURATION = QosTime(sec=0, nsec=0)


def _qos(history: QosHistory, depth: int, durability: QosDurability) -> Qos:
    return Qos(history=history, depth=depth, reliability=QosReliability.RELIABLE,
               durability=durability, deadline=_DEFAULT_DURATION, lifespan=_DEFAULT_DURATION,
               liveliness=QosLiveliness.AUTOMATIC,
               liveliness_lease_duration=_DEFAULT_DURATION,
               avoid_ros_namespace_conventions=False)


# The profiles the bags offer on replay: rclpy's default publisher profile for messages, and the
# profiles of tf2_ros' StaticTransformBroadcaster (latched: transient local, depth 1) and
# TransformBroadcaster (depth 100).
DEFAULT_QOS = _qos(QosHistory.KEEP_LAST, 10, QosDurability.VOLATILE)
TF_STATIC_QOS = _qos(QosHistory.KEEP_LAST, 1, QosDurability.TRANSIENT_LOCAL)
TF_QOS = _qos(QosHistory.KEEP_LAST, 100, QosDurability.VOLATILE)


@dataclass(frozen=True, eq=False)
class BagMessage:
    """One stored message, still serialised.

    Attributes:
        topic: topic name, e.g. ``'/camera/image'``.
        msgtype: ROS 2 type name, e.g. ``'sensor_msgs/msg/Image'``.
        timestamp: the bag's log (receive) time, nanoseconds since the epoch.
        rawdata: the message as stored (CDR, with its 4-byte encapsulation header).
        connection: the ``rosbags`` connection it was stored on (``BagWriter.copy`` copies
            its definition, hash and QoS to the new bag).

    """

    topic: str
    msgtype: str
    timestamp: int
    rawdata: bytes
    connection: Connection


def ros_msgtype(message: Any) -> str:
    """Return the ROS 2 type name of an rclpy message, e.g. ``'sensor_msgs/msg/Image'``.

    Raises:
        InvalidInputError: if ``message`` is not an instance of a generated ROS message class.

    """
    cls = type(message)
    parts = cls.__module__.split('.')
    if len(parts) < 3 or parts[1] not in ('msg', 'srv', 'action') or not hasattr(
            cls, '_TYPE_SUPPORT'):
        msg = (f'{cls.__module__}.{cls.__name__} is not a ROS message class; pass an instance '
               'of a generated message type (e.g. sensor_msgs.msg.Image)')
        raise InvalidInputError(msg)
    return f'{parts[0]}/{parts[1]}/{cls.__name__}'


@functools.cache
def _ros_class(msgtype: str) -> Any:
    """Return the rclpy message class of ``'pkg/msg/Name'``."""
    parts = msgtype.split('/')
    if len(parts) != 3:
        msg = f'{msgtype!r} is not a ROS 2 message type name (package/msg/Name)'
        raise InvalidInputError(msg)
    package, kind, name = parts
    try:
        return getattr(importlib.import_module(f'{package}.{kind}'), name)
    except (ImportError, AttributeError) as exc:
        hint = (' (bags hold /tf and /tf_static as tf2_msgs/TFMessage: read those with '
                'BagReader.static_transforms)' if msgtype == TF_MESSAGE else '')
        msg = (f'no Python message class for {msgtype} ({exc}); install the ROS package '
               f'{package!r} (e.g. ros-<distro>-{package.replace("_", "-")}) and source its '
               f'setup, or skip its topics{hint}')
        raise InvalidInputError(msg) from exc


def to_ros(message: BagMessage) -> Any:
    """Deserialise a stored message into its rclpy message class.

    Args:
        message: a message from ``BagReader.messages``.

    Returns:
        An instance of e.g. ``sensor_msgs.msg.Image``.

    Raises:
        InvalidInputError: if the Python message class is not installed (the message names the
            type and the package to install), or the message is not CDR.

    """
    ext = message.connection.ext
    if not isinstance(ext, ConnectionExtRosbag2) or ext.serialization_format != 'cdr':
        msg = (f'{message.topic}: only CDR-serialised rosbag2 messages can be converted, not '
               f'{getattr(ext, "serialization_format", "ROS 1")!r}')
        raise InvalidInputError(msg)
    return deserialize_message(message.rawdata, _ros_class(message.msgtype))


def _share_msg_file(msgtype: str) -> Path | None:
    """Return the installed ``.msg`` file of ``'pkg/msg/Name'``, if the ament index has it."""
    package, _, name = msgtype.partition('/msg/')
    if not name:
        return None
    try:
        path = Path(get_package_share_directory(package)) / 'msg' / f'{name}.msg'
    except (PackageNotFoundError, ValueError):
        return None
    return path if path.is_file() else None


def ensure_type(store: Typestore, msgtype: str) -> None:
    """Make ``msgtype`` (and the types it uses) known to ``store``, from the installed .msg files.

    Raises:
        InvalidInputError: if neither the store nor the ament index knows the type.

    """
    pending, seen = [msgtype], set()
    typs = {}
    while pending:
        name = pending.pop()
        if name in seen or name in store.fielddefs:
            continue
        seen.add(name)
        path = _share_msg_file(name)
        if path is None:
            msg = (f'message type {name} is unknown to the rosbags typestore and no installed '
                   f'{name}.msg was found; build and source the package that defines it')
            raise InvalidInputError(msg)
        found = get_types_from_msg(path.read_text(), name)
        typs.update(found)
        for _, desc in found[name][1]:
            element = desc[1][0] if desc[0] in (Nodetype.ARRAY, Nodetype.SEQUENCE) else desc
            if element[0] == Nodetype.NAME:
                pending.append(str(element[1]))
    if typs:
        store.register(typs)


@functools.cache
def typestore() -> Typestore:
    """Return the ``rosbags`` typestore of ROS 2 Kilted plus this package's messages.

    ``vlm_seg_ros/msg/*`` are registered from the installed ``.msg`` files (found through the
    ament index); without an installed package the store has the ROS 2 types only. Cached:
    every call returns the same store.
    """
    store = get_typestore(Stores.ROS2_KILTED)
    try:
        share = Path(get_package_share_directory('vlm_seg_ros'))
    except PackageNotFoundError:
        return store
    typs = {}
    for path in sorted(share.glob('msg/*.msg')):
        typs.update(get_types_from_msg(path.read_text(), f'vlm_seg_ros/msg/{path.stem}'))
    store.register(typs)
    return store


@dataclass(frozen=True)
class StampedTransform:
    """A transform as tf2 carries it.

    Attributes:
        parent: the parent frame (``header.frame_id``).
        child: the child frame (``child_frame_id``).
        transform: maps points given in ``child`` into ``parent``.
        stamp: nanoseconds since the epoch.

    """

    parent: str
    child: str
    transform: RigidTransform
    stamp: int


class TransformTree:
    """Frames linked by rigid transforms, each frame with at most one parent (as in tf2)."""

    def __init__(self, transforms: Iterable[StampedTransform] = ()) -> None:
        """Start with ``transforms`` (later ones of a child replace earlier ones)."""
        self._parents: dict[str, tuple[str, RigidTransform]] = {}
        for stamped in transforms:
            self.add(stamped.parent, stamped.child, stamped.transform)

    def add(self, parent: str, child: str, transform: RigidTransform) -> None:
        """Add or replace the transform of ``child``: it maps points in ``child`` into ``parent``.

        As with tf2, a child has one parent: adding it again replaces the old link.

        Raises:
            InvalidInputError: on an empty frame, ``parent == child``, or a link that would make
                a loop.

        """
        if not parent or not child or parent == child:
            msg = (f'a transform needs two different, non-empty frames, got parent {parent!r} '
                   f'and child {child!r}')
            raise InvalidInputError(msg)
        frame: str | None = parent
        while frame is not None:
            if frame == child:
                msg = (f'{parent!r} -> {child!r} would make a loop: {parent!r} already '
                       f'descends from {child!r}; a frame tree has one root')
                raise InvalidInputError(msg)
            frame = self._parents[frame][0] if frame in self._parents else None
        self._parents[child] = (parent, transform)

    @property
    def frames(self) -> list[str]:
        """Every frame of the tree, sorted."""
        return sorted({*self._parents, *(parent for parent, _ in self._parents.values())})

    @property
    def transforms(self) -> list[tuple[str, str, RigidTransform]]:
        """Every link as ``(parent, child, transform)``, sorted by child."""
        return [(parent, child, transform)
                for child, (parent, transform) in sorted(self._parents.items())]

    def __len__(self) -> int:
        """Return the number of links."""
        return len(self._parents)

    def _to_ancestors(self, frame: str) -> dict[str, RigidTransform]:
        """Map ``frame`` and each of its ancestors to the transform from ``frame`` into it."""
        chain = {frame: RigidTransform.identity()}
        total = chain[frame]
        while frame in self._parents:
            frame, transform = self._parents[frame]
            total = transform @ total
            chain[frame] = total
        return chain

    def lookup(self, target: str, source: str) -> RigidTransform:
        """Return the transform that maps points from ``source`` into ``target``.

        tf2's ``lookup_transform(target_frame=target, source_frame=source)``: through any
        chain of parents and children; the identity when the frames are equal.

        Raises:
            TransformUnavailableError: if the frames are not connected (naming both frames and
                the known frames).

        """
        if target == source:
            return RigidTransform.identity()
        from_source = self._to_ancestors(source)
        from_target = self._to_ancestors(target)
        common = next((frame for frame in from_target if frame in from_source), None)
        if common is None:
            known = ', '.join(repr(frame) for frame in self.frames) or 'none'
            unknown = [repr(frame) for frame in (source, target) if frame not in self.frames]
            why = (f'{" and ".join(unknown)} {"is" if len(unknown) == 1 else "are"} not a known '
                   'frame' if unknown else 'the frames are in separate trees')
            msg = (f'no transform from {source!r} to {target!r}: {why} (known frames: {known}); '
                   'add the missing transform (e.g. to /tf_static)')
            raise TransformUnavailableError(msg)
        return from_target[common].inverse() @ from_source[common]


def _bag_path(path: Path) -> Path:
    """Return the path AnyReader should open for ``path``; raise if it is not a rosbag2 bag."""
    if not path.exists():
        msg = f'{path}: no such bag (expected a rosbag2 directory or an .mcap file)'
        raise InvalidInputError(msg)
    if path.is_dir() and not (path / 'metadata.yaml').is_file():
        storage = sorted(path.glob('*.mcap'))
        if len(storage) == 1:
            return storage[0]
        msg = (f'{path} is not a rosbag2 bag: it has no metadata.yaml'
               f'{" and no single .mcap file" if not storage else ""}; pass the directory '
               'ros2 bag record wrote (or run `ros2 bag reindex` on it)')
        raise InvalidInputError(msg)
    if path.is_file() and path.suffix not in ('.mcap', '.db3'):
        what = ('a ROS 1 bag; convert it with rosbags-convert first' if path.suffix == '.bag'
                else 'not a rosbag2 bag')
        msg = f'{path} is {what} (expected a rosbag2 directory or an .mcap file)'
        raise InvalidInputError(msg)
    return path


class BagReader:
    """Read a rosbag2 recording (MCAP or SQLite 3): a directory, or a single .mcap file.

    The bag is opened on construction; use it as a context manager (or call ``close``).

    Attributes:
        path: the bag as given.
        topics: topic name -> message type of every topic in the bag.

    """

    def __init__(self, path: str | Path) -> None:
        """Open the bag.

        Raises:
            InvalidInputError: if ``path`` is missing or not a readable rosbag2 bag.

        """
        self.path = Path(path)
        try:
            self._reader = AnyReader([_bag_path(self.path)], default_typestore=typestore())
            self._reader.open()
        except (AnyReaderError, FileNotFoundError, TypesysError) as exc:
            msg = f'{self.path} is not a readable rosbag2 bag: {exc}'
            raise InvalidInputError(msg) from exc
        self.topics: dict[str, str] = {}
        for connection in self._reader.connections:
            self.topics.setdefault(connection.topic, connection.msgtype)

    def __enter__(self) -> BagReader:
        """Return the open reader."""
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        """Close the bag."""
        self.close()

    def close(self) -> None:
        """Close the bag (again: nothing)."""
        if self._reader.stack is not None:
            self._reader.close()

    @property
    def start_time(self) -> int:
        """Log time of the first message, nanoseconds."""
        return self._reader.start_time

    @property
    def end_time(self) -> int:
        """Log time just after the last message, nanoseconds (rosbags' convention)."""
        return self._reader.end_time

    def _connections(self, topics: Iterable[str] | None) -> list[Connection]:
        if topics is None:
            return list(self._reader.connections)
        wanted = set([topics] if isinstance(topics, str) else topics)
        return [c for c in self._reader.connections if c.topic in wanted]

    def count(self, topics: Iterable[str] | None = None) -> int:
        """Return the number of messages on ``topics`` (default: all; unknown topics count 0)."""
        return sum(c.msgcount for c in self._connections(topics))

    def messages(self, topics: Iterable[str] | None = None, *, start: int | None = None,
                 stop: int | None = None) -> Iterator[BagMessage]:
        """Yield the messages on ``topics`` (default: all) in log-time order.

        Topics the bag does not have are ignored (compare with ``topics`` to catch a typo).

        Args:
            topics: topic names (default: every topic).
            start: only messages logged at or after this time, nanoseconds.
            stop: only messages logged before this time, nanoseconds.

        """
        connections = self._connections(topics)
        if not connections:  # rosbags reads every topic when given no connections
            return
        for connection, timestamp, rawdata in self._reader.messages(
                connections=connections, start=start, stop=stop):
            yield BagMessage(connection.topic, connection.msgtype, timestamp, bytes(rawdata),
                             connection)

    def deserialize(self, message: BagMessage) -> Any:
        """Deserialise with the ``rosbags`` typestore (for types without a Python package).

        Returns:
            A ``rosbags`` message object (a dataclass with the ROS field names).

        """
        return self._reader.deserialize(message.rawdata, message.msgtype)

    def static_transforms(self, at: int | None = None) -> TransformTree:
        """Return the transforms of the bag's ``/tf_static`` messages.

        As a tf2 listener replaying the bag would hold them: in log-time order, a later
        transform of a child replacing an earlier one.

        Args:
            at: only messages logged at or before this time, nanoseconds (default: all). Bags
                whose extrinsics change (e.g. ``kitti-to-bag`` of frames from several recording
                days) need the tree at each frame's stamp.

        Raises:
            InvalidInputError: on a transform with a quaternion that is not unit length.

        """
        tree = TransformTree()
        for message in self.messages([TF_STATIC_TOPIC], stop=None if at is None else at + 1):
            self.add_transforms(tree, message)
        return tree

    def add_transforms(self, tree: TransformTree, message: BagMessage) -> None:
        """Add the transforms of a ``/tf`` or ``/tf_static`` message to ``tree``.

        Raises:
            InvalidInputError: on a transform with a quaternion that is not unit length.

        """
        for stamped in self.deserialize(message).transforms:
            t, q = stamped.transform.translation, stamped.transform.rotation
            tree.add(stamped.header.frame_id, stamped.child_frame_id,
                     RigidTransform.from_quaternion((t.x, t.y, t.z), (q.x, q.y, q.z, q.w)))


def _is_bag(path: Path) -> bool:
    """Whether ``path`` looks like a rosbag2 bag (safe to delete on overwrite)."""
    if path.is_file():
        return path.suffix in ('.mcap', '.db3')
    return path.is_dir() and ((path / 'metadata.yaml').is_file() or all(
        child.is_file() and child.suffix in ('.mcap', '.db3', '.yaml', '.zstd')
        for child in path.iterdir()))


def _msgdef_hash(msgtype: str, msgdef: str) -> str:
    """Return the RIHS01 hash of a type given by its concatenated .msg definition."""
    store = get_typestore(Stores.EMPTY)
    store.register(get_types_from_msg(msgdef, msgtype))
    return store.hash_rihs01(msgtype)


class BagWriter:
    """Write a rosbag2 recording (metadata version 9) that ``ros2 bag`` and rosbags read.

    The bag is created on construction; use it as a context manager, or call ``close``. When the
    ``with`` block raises, the unfinished bag is removed.

    Attributes:
        path: the bag directory.
        storage: ``'mcap'`` or ``'sqlite3'``.
        message_count: messages written so far.

    """

    def __init__(self, path: str | Path, *, storage: str = 'mcap',
                 overwrite: bool = False) -> None:
        """Create the bag directory ``path``.

        Args:
            path: the bag directory to create (its storage file is ``<name>/<name>.mcap`` or
                ``.db3``).
            storage: ``'mcap'`` (ROS 2's default) or ``'sqlite3'``.
            overwrite: remove an existing bag at ``path`` first.

        Raises:
            InvalidInputError: on another storage, an existing ``path`` without ``overwrite``,
                or an existing ``path`` that is not a bag (never removed).

        """
        if storage not in STORAGES:
            msg = f'storage must be one of {", ".join(STORAGES)}, got {storage!r}'
            raise InvalidInputError(msg)
        self.path = Path(path)
        self.storage = storage
        if self.path.exists() or self.path.is_symlink():
            if not overwrite:
                msg = (f'{self.path} exists already; choose another output or allow '
                       'overwriting it (--overwrite)')
                raise InvalidInputError(msg)
            if not _is_bag(self.path):
                msg = (f'{self.path} exists and is not a rosbag2 bag; not removing it, choose '
                       'another output')
                raise InvalidInputError(msg)
            if self.path.is_dir() and not self.path.is_symlink():
                shutil.rmtree(self.path)
            else:
                self.path.unlink()
        plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=plugin)
        try:
            self._writer.open()
        except (WriterError, OSError) as exc:
            msg = f'cannot create the bag {self.path}: {exc}'
            raise InvalidInputError(msg) from exc
        self._copied: dict[tuple[Any, ...], Connection] = {}
        self._written: dict[tuple[str, str, Qos], Connection] = {}
        self.message_count = 0
        self._open = True

    def __enter__(self) -> BagWriter:
        """Return the open writer."""
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        """Finish the bag, or remove it when the block raised."""
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def close(self) -> None:
        """Finish the bag: write its index and metadata.yaml (again: nothing)."""
        if self._open:
            self._open = False
            self._writer.close()

    def abort(self) -> None:
        """Stop writing and remove the unfinished bag."""
        if self._open:
            self._open = False
            self._writer.abort()
            shutil.rmtree(self.path, ignore_errors=True)

    def _check_open(self) -> None:
        if not self._open:
            msg = f'{self.path} is closed; write before leaving the with block'
            raise InvalidInputError(msg)

    def _put(self, connection: Connection, timestamp: int, data: bytes | memoryview) -> None:
        if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
            msg = f'timestamp must be an int of nanoseconds >= 0, got {timestamp!r}'
            raise InvalidInputError(msg)
        self._writer.write(connection, timestamp, data)
        self.message_count += 1

    def _existing(self, topic: str, msgtype: str, ext: ConnectionExtRosbag2) -> Connection | None:
        """Return a connection rosbags would refuse to add again (same topic, type and QoS)."""
        return next((c for c in self._writer.connections
                     if c.topic == topic and c.msgtype == msgtype and c.ext == ext), None)

    def copy(self, message: BagMessage) -> None:
        """Write a message read from another bag as it is (bytes, type, definition, QoS).

        Every distinct source connection gets one connection here, with the same topic, type,
        message definition, type hash, serialisation format and offered QoS profiles.

        Raises:
            InvalidInputError: on a message of a ROS 1 bag, or of a type whose definition is
                neither in the source bag nor known here.

        """
        self._check_open()
        source = message.connection
        ext = source.ext
        if not isinstance(ext, ConnectionExtRosbag2):
            msg = f'{message.topic}: only rosbag2 messages can be copied into a rosbag2 bag'
            raise InvalidInputError(msg)
        key = (source.topic, source.msgtype, source.msgdef, source.digest,
               ext.serialization_format, tuple(ext.offered_qos_profiles))
        connection = self._copied.get(key)
        if connection is None:
            connection = self._existing(source.topic, source.msgtype, ext)
        if connection is None:
            msgdef: str | None = None
            digest: str | None = None
            if source.msgdef.format != MessageDefinitionFormat.NONE and source.msgdef.data:
                msgdef = source.msgdef.data
                if source.digest:
                    digest = source.digest
                elif source.msgdef.format == MessageDefinitionFormat.MSG:
                    digest = _msgdef_hash(source.msgtype, msgdef)
            store = typestore()
            if msgdef is None or digest is None:
                ensure_type(store, source.msgtype)
                msgdef = digest = None
            connection = self._writer.add_connection(
                source.topic, source.msgtype, typestore=store, msgdef=msgdef, rihs01=digest,
                serialization_format=ext.serialization_format,
                offered_qos_profiles=ext.offered_qos_profiles)
        self._copied[key] = connection
        self._put(connection, message.timestamp, message.rawdata)

    def _connection(self, topic: str, msgtype: str, qos: Qos) -> Connection:
        connection = self._written.get((topic, msgtype, qos))
        if connection is None:
            ext = ConnectionExtRosbag2('cdr', [qos])
            connection = self._existing(topic, msgtype, ext)
            if connection is None:
                store = typestore()
                ensure_type(store, msgtype)
                connection = self._writer.add_connection(topic, msgtype, typestore=store,
                                                         offered_qos_profiles=[qos])
            self._written[(topic, msgtype, qos)] = connection
        return connection

    def write(self, topic: str, message: Any, timestamp: int, *, qos: Qos = DEFAULT_QOS) -> None:
        """Write an rclpy message.

        Args:
            topic: topic name; its connection is registered on first use.
            message: an instance of a generated message class (e.g. ``sensor_msgs.msg.Image``).
            timestamp: log time, nanoseconds since the epoch (usually the header stamp).
            qos: the QoS profile the topic offers on replay (default: rclpy's default
                publisher profile, reliable and volatile, depth 10).

        Raises:
            InvalidInputError: if ``message`` is not a ROS message, its type is unknown (no
                installed .msg), or ``timestamp`` is negative.

        """
        self._check_open()
        connection = self._connection(topic, ros_msgtype(message), qos)
        self._put(connection, timestamp, serialize_message(message))

    def write_transforms(self, transforms: Sequence[StampedTransform], timestamp: int, *,
                         static: bool = True) -> None:
        """Write one ``tf2_msgs/TFMessage`` on ``/tf_static`` (``static``) or ``/tf``.

        ``/tf_static`` is offered latched (transient local, reliable, depth 1) like tf2_ros'
        StaticTransformBroadcaster, so a late subscriber still gets it on replay.

        Args:
            transforms: the transforms, each with its own parent, child and stamp.
            timestamp: log time, nanoseconds since the epoch.
            static: write to ``/tf_static`` (else ``/tf``).

        Raises:
            InvalidInputError: if ``transforms`` is empty.

        """
        self._check_open()
        if not transforms:
            msg = 'no transforms to write; pass at least one StampedTransform'
            raise InvalidInputError(msg)
        store = typestore()
        types = store.types
        items = []
        for stamped in transforms:
            x, y, z = (float(v) for v in stamped.transform.translation)
            qx, qy, qz, qw = (float(v) for v in stamped.transform.quaternion)
            sec, nanosec = divmod(int(stamped.stamp), 1_000_000_000)
            header = types['std_msgs/msg/Header'](
                stamp=types['builtin_interfaces/msg/Time'](sec=sec, nanosec=nanosec),
                frame_id=stamped.parent)
            transform = types['geometry_msgs/msg/Transform'](
                translation=types['geometry_msgs/msg/Vector3'](x=x, y=y, z=z),
                rotation=types['geometry_msgs/msg/Quaternion'](x=qx, y=qy, z=qz, w=qw))
            items.append(types['geometry_msgs/msg/TransformStamped'](
                header=header, child_frame_id=stamped.child, transform=transform))
        message = types[TF_MESSAGE](transforms=items)
        topic, qos = (TF_STATIC_TOPIC, TF_STATIC_QOS) if static else (TF_TOPIC, TF_QOS)
        connection = self._connection(topic, TF_MESSAGE, qos)
        self._put(connection, timestamp, bytes(store.serialize_cdr(message, TF_MESSAGE)))
