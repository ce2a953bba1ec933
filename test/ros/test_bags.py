"""rosbag2 bags written and read with vlm_seg_ros.ros.bags; other readers must read them too.

Every bag is also opened with rosbags' own AnyReader and deserialised from the definitions the
bag carries (what ``ros2 bag`` and Foxglove rely on), and its type hashes are compared with the
RIHS01 hashes rosidl generated for the installed message packages.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from ament_index_python.packages import get_package_share_directory
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.interfaces import MessageDefinitionFormat, QosDurability, QosReliability
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header

from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.errors import InvalidInputError, TransformUnavailableError
from vlm_seg_ros.msg import SceneGraph, SceneObject, SceneRelation
from vlm_seg_ros.ros.bags import (
    BagReader,
    BagWriter,
    StampedTransform,
    TransformTree,
    ensure_type,
    to_ros,
    typestore,
)
from vlm_seg_ros.ros.conversions import array_to_image, xyz_to_pointcloud2

STORAGES = ('mcap', 'sqlite3')
T0 = 1_700_000_000_000_000_000


def rigid(x: float, y: float, z: float, yaw_deg: float) -> RigidTransform:
    half = np.radians(yaw_deg) / 2
    return RigidTransform.from_quaternion((x, y, z), (0.0, 0.0, np.sin(half), np.cos(half)))


def cloud() -> PointCloud2:
    xyz = np.arange(30, dtype=np.float32).reshape(10, 3) / 7
    return xyz_to_pointcloud2(xyz, Header(frame_id='lidar'))


def image() -> Image:
    pixels = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    return array_to_image(pixels, encoding='rgb8', header=Header(frame_id='camera'))


def scene_graph() -> SceneGraph:
    chair = SceneObject(id=7, label='chair', label_confidence=0.75,
                        box_center=Pose(position=Point(x=1.0, y=2.0, z=0.5),
                                        orientation=Quaternion(w=1.0)),
                        box_size=Vector3(x=0.5, y=0.5, z=1.0), num_points=42,
                        source=SceneObject.SOURCE_BOTH)
    relation = SceneRelation(subject_id=7, predicate=SceneRelation.PREDICATE_NEAR, object_id=8,
                             confidence=0.5, evidence_count=3)
    return SceneGraph(header=Header(frame_id='base_link'), objects=[chair],
                      relations=[relation], description='a chair')


def installed_hash(msgtype: str) -> str:
    """Return the RIHS01 hash rosidl generated for an installed message type."""
    package, _, name = msgtype.split('/')
    share = Path(get_package_share_directory(package))
    document = json.loads((share / 'msg' / f'{name}.json').read_text())
    hashes = {h['type_name']: h['hash_string'] for h in document['type_hashes']}
    return hashes[msgtype]


def write_sample(path: Path, storage: str) -> dict[str, Any]:
    """Write one bag of every kind of message (out of log-time order); return what was sent."""
    sent = {'/points': cloud(), '/image': image(), '/scene_graph': scene_graph()}
    with BagWriter(path, storage=storage) as bag:
        bag.write('/image', sent['/image'], T0 + 20)
        bag.write('/points', sent['/points'], T0 + 10)
        bag.write('/scene_graph', sent['/scene_graph'], T0 + 30)
        bag.write_transforms([StampedTransform('base_link', 'lidar', rigid(1, 0, 2, 90), T0),
                              StampedTransform('lidar', 'camera', rigid(0, 0.5, 0, -30), T0)],
                             T0)
        bag.write_transforms([StampedTransform('odom', 'base_link', rigid(3, 4, 0, 10), T0 + 5)],
                             T0 + 5, static=False)
        assert bag.message_count == 5
    return sent


@pytest.mark.parametrize('storage', STORAGES)
def test_written_messages_read_back_equal(tmp_path: Path, storage: str) -> None:
    path = tmp_path / 'bag'
    sent = write_sample(path, storage)
    assert (path / 'metadata.yaml').is_file()
    assert (path / f'bag.{"mcap" if storage == "mcap" else "db3"}').is_file()
    with BagReader(path) as bag:
        assert bag.topics == {'/points': 'sensor_msgs/msg/PointCloud2',
                              '/image': 'sensor_msgs/msg/Image',
                              '/scene_graph': 'vlm_seg_ros/msg/SceneGraph',
                              '/tf_static': 'tf2_msgs/msg/TFMessage',
                              '/tf': 'tf2_msgs/msg/TFMessage'}
        assert bag.count() == 5
        assert bag.count(['/points', '/image', '/nothing']) == 2
        assert bag.start_time == T0
        messages = list(bag.messages())
        assert [m.timestamp for m in messages] == [T0, T0 + 5, T0 + 10, T0 + 20, T0 + 30]
        assert [m.topic for m in messages] == ['/tf_static', '/tf', '/points', '/image',
                                               '/scene_graph']
        for message in messages[2:]:
            assert to_ros(message) == sent[message.topic], message.topic
        assert [m.topic for m in bag.messages(['/image', '/points'])] == ['/points', '/image']
        assert list(bag.messages(['/nothing'])) == []
        assert [m.topic for m in bag.messages(start=T0 + 10, stop=T0 + 30)] == ['/points',
                                                                                '/image']
        tree = bag.static_transforms()
    assert tree.frames == ['base_link', 'camera', 'lidar']  # /tf is not static
    expected = rigid(1, 0, 2, 90) @ rigid(0, 0.5, 0, -30)
    np.testing.assert_allclose(tree.lookup('base_link', 'camera').as_matrix(),
                               expected.as_matrix(), atol=1e-12)


@pytest.mark.parametrize('storage', STORAGES)
def test_other_tools_read_the_bags(tmp_path: Path, storage: str) -> None:
    path = tmp_path / 'bag'
    sent = write_sample(path, storage)
    # No default typestore: AnyReader must build its types from the definitions in the bag.
    with AnyReader([path]) as reader:
        for connection in reader.connections:
            assert connection.msgdef.format == MessageDefinitionFormat.MSG
            assert connection.msgdef.data
            if connection.msgtype != 'tf2_msgs/msg/TFMessage':  # no tf2_msgs package here
                assert connection.digest == installed_hash(connection.msgtype)
        decoded = {c.topic: reader.deserialize(raw, c.msgtype)
                   for c, _, raw in reader.messages()}
        qos = {c.topic: c.ext.offered_qos_profiles[0] for c in reader.connections}
    graph = decoded['/scene_graph']
    assert graph.objects[0].label == 'chair' and graph.objects[0].num_points == 42
    assert graph.objects[0].source == SceneObject.SOURCE_BOTH
    assert (graph.relations[0].subject_id, graph.relations[0].predicate,
            graph.relations[0].object_id) == (7, 'near', 8)
    assert graph.description == 'a chair'
    assert bytes(decoded['/image'].data) == bytes(sent['/image'].data)
    assert decoded['/points'].width == 10
    static = decoded['/tf_static'].transforms
    assert [(t.header.frame_id, t.child_frame_id) for t in static] == [('base_link', 'lidar'),
                                                                       ('lidar', 'camera')]
    assert static[0].header.stamp.sec == T0 // 10**9
    assert static[0].transform.translation.z == 2.0
    # /tf_static is latched like tf2_ros' StaticTransformBroadcaster; the rest is not.
    assert qos['/tf_static'].durability == QosDurability.TRANSIENT_LOCAL
    assert qos['/tf_static'].reliability == QosReliability.RELIABLE
    assert qos['/tf_static'].depth == 1
    assert qos['/image'].durability == QosDurability.VOLATILE


def test_a_single_mcap_file_is_a_bag(tmp_path: Path) -> None:
    write_sample(tmp_path / 'bag', 'mcap')
    (tmp_path / 'bag' / 'metadata.yaml').unlink()
    with BagReader(tmp_path / 'bag' / 'bag.mcap') as bag:
        assert bag.count(['/image']) == 1
    with BagReader(tmp_path / 'bag') as bag:  # a directory with one .mcap file
        assert to_ros(next(bag.messages(['/image']))) == image()


@pytest.mark.parametrize(('source', 'target'), [('mcap', 'sqlite3'), ('sqlite3', 'mcap')])
def test_copy_keeps_bytes_definitions_and_qos(tmp_path: Path, source: str, target: str) -> None:
    write_sample(tmp_path / 'in', source)
    with BagReader(tmp_path / 'in') as bag, BagWriter(tmp_path / 'out', storage=target) as out:
        originals = list(bag.messages())
        for message in originals:
            out.copy(message)
        out.write('/extra', image(), T0 + 40)
    with BagReader(tmp_path / 'out') as bag:
        copies = list(bag.messages())
    assert [m.topic for m in copies] == [m.topic for m in originals] + ['/extra']
    for original, copy in zip(originals, copies, strict=False):
        assert (copy.topic, copy.msgtype, copy.timestamp) == (original.topic, original.msgtype,
                                                              original.timestamp)
        assert copy.rawdata == original.rawdata
        assert copy.connection.msgdef == original.connection.msgdef
        assert copy.connection.digest == original.connection.digest
        assert copy.connection.ext == original.connection.ext
    with AnyReader([tmp_path / 'out']) as reader:
        topics = {c.topic for c in reader.connections}
        assert len(reader.connections) == len(topics) == 6  # one connection per topic


def test_to_ros_names_the_missing_package(tmp_path: Path) -> None:
    if importlib.util.find_spec('tf2_msgs') is not None:
        pytest.skip('tf2_msgs is installed here: TFMessage has a Python class')
    write_sample(tmp_path / 'bag', 'mcap')
    with BagReader(tmp_path / 'bag') as bag:
        message = next(bag.messages(['/tf_static']))
        with pytest.raises(InvalidInputError, match=r'tf2_msgs/msg/TFMessage.*install'):
            to_ros(message)
        # The rosbags typestore still reads it.
        assert bag.deserialize(message).transforms[0].child_frame_id == 'lidar'


def test_static_transforms_at_a_time_as_a_listener_would_hold_them(tmp_path: Path) -> None:
    with BagWriter(tmp_path / 'bag') as bag:
        bag.write_transforms([StampedTransform('lidar', 'camera', rigid(1, 0, 0, 0), T0)], T0)
        bag.write_transforms([StampedTransform('lidar', 'camera', rigid(2, 0, 0, 0), T0 + 9)],
                             T0 + 9)
    with BagReader(tmp_path / 'bag') as bag:
        assert bag.static_transforms(at=T0 + 8).lookup('lidar', 'camera').translation[0] == 1
        assert bag.static_transforms(at=T0 + 9).lookup('lidar', 'camera').translation[0] == 2
        assert bag.static_transforms().lookup('lidar', 'camera').translation[0] == 2
        assert len(bag.static_transforms(at=T0 - 1)) == 0


def test_transform_tree_chains_both_ways() -> None:
    ab, bc, bd = rigid(1, 2, 3, 30), rigid(-1, 0, 0.5, -80), rigid(0, 4, 0, 170)
    tree = TransformTree([StampedTransform('a', 'b', ab, 0)])
    tree.add('b', 'c', bc)
    tree.add('b', 'd', bd)
    points = np.array([[1.0, 2.0, 3.0], [-4.0, 0.5, 9.0]])

    def close(transform: RigidTransform, expected: RigidTransform) -> None:
        np.testing.assert_allclose(transform.apply(points), expected.apply(points), atol=1e-12)

    close(tree.lookup('a', 'b'), ab)
    close(tree.lookup('a', 'c'), ab @ bc)  # c's points into b, then into a
    close(tree.lookup('c', 'a'), (ab @ bc).inverse())
    close(tree.lookup('c', 'd'), bc.inverse() @ bd)  # siblings, through their parent
    close(tree.lookup('d', 'c'), bd.inverse() @ bc)
    close(tree.lookup('c', 'c'), RigidTransform.identity())
    close(tree.lookup('nowhere', 'nowhere'), RigidTransform.identity())
    assert tree.frames == ['a', 'b', 'c', 'd']
    # A child has one parent: adding it again replaces the link.
    tree.add('a', 'd', bd)
    close(tree.lookup('a', 'd'), bd)
    assert len(tree) == 3


def test_transform_tree_errors_name_the_frames() -> None:
    tree = TransformTree()
    tree.add('a', 'b', rigid(1, 0, 0, 0))
    tree.add('x', 'y', rigid(0, 1, 0, 0))
    with pytest.raises(TransformUnavailableError,
                       match=r"'lidar' to 'a': 'lidar' is not a known frame .*known frames: "
                             r"'a', 'b', 'x', 'y'"):
        tree.lookup('a', 'lidar')
    with pytest.raises(TransformUnavailableError, match=r"from 'y' to 'b': .*separate trees"):
        tree.lookup('b', 'y')
    with pytest.raises(InvalidInputError, match='loop'):
        tree.add('b', 'a', rigid(0, 0, 0, 0))
    with pytest.raises(InvalidInputError, match='two different'):
        tree.add('a', 'a', rigid(0, 0, 0, 0))


def test_writer_refuses_an_existing_path(tmp_path: Path) -> None:
    write_sample(tmp_path / 'bag', 'mcap')
    with pytest.raises(InvalidInputError, match='exists already.*overwrit'):
        BagWriter(tmp_path / 'bag')
    with BagWriter(tmp_path / 'bag', storage='sqlite3', overwrite=True) as bag:
        bag.write('/image', image(), T0)
    assert sorted(p.name for p in (tmp_path / 'bag').iterdir()) == ['bag.db3', 'metadata.yaml']
    # Never deletes what is not a bag.
    folder = tmp_path / 'documents'
    folder.mkdir()
    (folder / 'notes.txt').write_text('keep me')
    with pytest.raises(InvalidInputError, match='not a rosbag2 bag; not removing it'):
        BagWriter(folder, overwrite=True)
    assert (folder / 'notes.txt').read_text() == 'keep me'
    with pytest.raises(InvalidInputError, match='storage must be one of mcap, sqlite3'):
        BagWriter(tmp_path / 'other', storage='bag')


def test_writer_removes_an_unfinished_bag(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match='not a ROS message'), \
            BagWriter(tmp_path / 'bag') as bag:
        bag.write('/image', image(), T0)
        bag.write('/bad', object(), T0)
    assert not (tmp_path / 'bag').exists()


def test_reader_rejects_what_is_not_a_bag(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match='no such bag'):
        BagReader(tmp_path / 'missing')
    folder = tmp_path / 'folder'
    folder.mkdir()
    (folder / 'image.png').write_bytes(b'\x89PNG')
    with pytest.raises(InvalidInputError, match='not a rosbag2 bag: it has no metadata.yaml'):
        BagReader(folder)
    broken = tmp_path / 'broken'
    broken.mkdir()
    (broken / 'metadata.yaml').write_text('rosbag2_bagfile_information: {version: 9}\n')
    with pytest.raises(InvalidInputError, match='not a readable rosbag2 bag'):
        BagReader(broken)
    with pytest.raises(InvalidInputError, match='ROS 1 bag'):
        (tmp_path / 'old.bag').write_bytes(b'#ROSBAG V2.0\n')
        BagReader(tmp_path / 'old.bag')


def test_typestore_knows_this_packages_messages() -> None:
    store = typestore()
    assert store is typestore()
    for name in ('SceneGraph', 'SceneObject', 'SceneRelation'):
        msgtype = f'vlm_seg_ros/msg/{name}'
        assert store.hash_rihs01(msgtype) == installed_hash(msgtype)
    assert 'tf2_msgs/msg/TFMessage' in store.fielddefs


def test_ensure_type_registers_a_type_and_its_fields_from_installed_msg_files() -> None:
    store = get_typestore(Stores.EMPTY)
    ensure_type(store, 'vlm_seg_ros/msg/SceneGraph')
    assert {'vlm_seg_ros/msg/SceneObject', 'sensor_msgs/msg/PointCloud2',
            'builtin_interfaces/msg/Time'} <= set(store.fielddefs)
    assert (store.hash_rihs01('vlm_seg_ros/msg/SceneGraph')
            == installed_hash('vlm_seg_ros/msg/SceneGraph'))
    with pytest.raises(InvalidInputError, match=r'no_such_msgs/msg/Thing is unknown.*build'):
        ensure_type(store, 'no_such_msgs/msg/Thing')
