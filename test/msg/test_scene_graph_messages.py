"""The package's messages: their definitions and a round trip between two processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
import numpy as np
from sensor_msgs.msg import PointField, RegionOfInterest
from std_msgs.msg import Header

from vlm_seg_ros.msg import SceneGraph, SceneObject, SceneRelation
from vlm_seg_ros.ros.conversions import xyz_to_pointcloud2

ECHO = Path(__file__).with_name('echo_scene_graph.py')


def leaves(msg: Any, path: str = '') -> Iterator[tuple[str, Any]]:
    """Yield ``(dotted.path, value)`` for every primitive field of a message, recursively."""
    if hasattr(msg, 'get_fields_and_field_types'):
        for name in msg.get_fields_and_field_types():
            yield from leaves(getattr(msg, name), f'{path}.{name}' if path else name)
    elif isinstance(msg, (list, tuple)) and msg and hasattr(msg[0], 'get_fields_and_field_types'):
        for i, item in enumerate(msg):
            yield from leaves(item, f'{path}[{i}]')
    elif isinstance(msg, (list, tuple)):
        yield path, list(msg)
    elif hasattr(msg, 'tolist'):  # array.array and numpy arrays of primitive sequences
        yield path, msg.tolist()
    else:
        yield path, msg


def full_scene_graph() -> SceneGraph:
    """Return a graph in which every field, nested ones included, has a non-default value."""
    rng = np.random.default_rng(7)
    frame = Header(stamp=Time(sec=1_700_000_000, nanosec=123_456_789), frame_id='base_link')
    cloud = xyz_to_pointcloud2(rng.normal(size=(500, 3)).astype(np.float32), frame)
    cloud.is_bigendian = True  # non-default for the round trip; layout is not interpreted here
    obj = SceneObject(
        id=42,
        label='traffic cone',
        label_confidence=0.875,
        caption='an orange cone on the road',
        box_center=Pose(position=Point(x=1.5, y=-2.25, z=0.3),
                        orientation=Quaternion(x=0.1, y=0.2, z=0.3, w=0.927)),
        box_size=Vector3(x=0.4, y=0.5, z=0.7),
        centroid=Point(x=1.45, y=-2.2, z=0.25),
        image_box=RegionOfInterest(x_offset=100, y_offset=200, height=50, width=30,
                                   do_rectify=True),
        camera='front',
        label_value=7,
        num_points=500,
        points=cloud,
        first_seen=Time(sec=1_699_999_990, nanosec=1),
        last_seen=Time(sec=1_700_000_000, nanosec=123_456_789),
        observations=97,
        source=SceneObject.SOURCE_BOTH,
    )
    image = Header(stamp=Time(sec=1_699_999_999, nanosec=987_654_321),
                   frame_id='camera_optical')
    relation = SceneRelation(subject_id=42, predicate=SceneRelation.PREDICATE_ON, object_id=9,
                             confidence=0.75, evidence_count=12)
    left = Header(stamp=Time(sec=1_699_999_999, nanosec=990_000_000), frame_id='left_optical')
    return SceneGraph(header=frame, image_header=image, image_headers=[image, left],
                      cameras=['front', 'left'], objects=[obj], relations=[relation],
                      description='A cone stands on the road ahead.',
                      description_stamp=Time(sec=1_699_999_999, nanosec=5))


def test_full_scene_graph_sets_every_field() -> None:
    # Guards the round trip below: a field left at its default would not prove it survives.
    defaults = leaves(SceneGraph(objects=[SceneObject()], relations=[SceneRelation()]))
    full = dict(leaves(full_scene_graph()))
    # An empty sequence of messages by default counts as set when the full graph has items.
    unset = [path for path, value in defaults
             if full.get(path, value) == value
             and not any(key.startswith(f'{path}[') for key in full)]
    assert not unset, f'fields left at their default value: {unset}'


def test_relation_predicates_are_the_documented_closed_set() -> None:
    predicates = {getattr(SceneRelation, name) for name in dir(SceneRelation)
                  if name.startswith('PREDICATE_')}
    assert predicates == {'on', 'under', 'near', 'left_of', 'right_of', 'in_front_of', 'behind'}


def test_a_default_object_claims_no_evidence() -> None:
    sources = {getattr(SceneObject, name) for name in dir(SceneObject)
               if name.startswith('SOURCE_')}
    assert SceneObject().source == SceneObject.SOURCE_UNKNOWN
    assert len(sources) == 4


def test_scene_graph_survives_round_trip_between_processes(ros, spawn, python_exe) -> None:
    echo = spawn([python_exe, str(ECHO)])
    received: list[SceneGraph] = []
    pub = ros.node.create_publisher(SceneGraph, 'in', 10)
    sub = ros.node.create_subscription(SceneGraph, 'out', received.append, 10)
    matched = ros.spin_until(lambda: pub.get_subscription_count() > 0
                             and sub.get_publisher_count() > 0, timeout=20)
    assert matched, f'echo process never matched over DDS; its output:\n{echo.output()}'

    sent = full_scene_graph()
    pub.publish(sent)
    assert ros.spin_until(lambda: bool(received), timeout=10), echo.output()

    got = received[0]
    assert dict(leaves(got)) == dict(leaves(sent))
    assert got == sent
    cloud = got.objects[0].points
    assert cloud.width == 500 and len(cloud.data) == 500 * 12
    assert [f.name for f in cloud.fields] == ['x', 'y', 'z']
    assert all(f.datatype == PointField.FLOAT32 for f in cloud.fields)
