"""Output messages built from a scene frame: graph, JSON, clouds, markers and images agree."""

from __future__ import annotations

import json

from builtin_interfaces.msg import Time
import numpy as np
import pytest
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.camera import CameraModel
from vlm_seg_ros.core.pixels import PixelBox
from vlm_seg_ros.core.render import colour_of
from vlm_seg_ros.core.scene import CameraView, ScenePipeline
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.datasets.synthetic import scan
from vlm_seg_ros.ros import outputs
from vlm_seg_ros.ros.conversions import (
    image_to_array,
    pixel_box,
    pointcloud2_to_array,
    region_of_interest,
    time_from_ns,
    time_to_ns,
)
from vlm_seg_ros.runtime.config import OutputConfig

K = np.array([[500.0, 0.0, 319.5], [0.0, 500.0, 239.5], [0.0, 0.0, 1.0]])
CAMERA = CameraModel(width=640, height=480, k=K, d=np.zeros(5), r=np.eye(3),
                     p=np.c_[K, np.zeros(3)])
VIEW = CameraView(np.zeros((480, 640, 3), dtype=np.uint8), CAMERA,
                  RigidTransform(np.array([[0.0, -1, 0], [0, 0, -1], [1, 0, 0]]), np.zeros(3)))
HEADER = Header(stamp=Time(sec=12, nanosec=500_000_000), frame_id='lidar')
IMAGE_HEADER = Header(stamp=Time(sec=12, nanosec=490_000_000), frame_id='camera')


def standing(x: float, y: float, size: tuple[float, float, float]) -> OrientedBox:
    return OrientedBox(np.array([x, y, -1.73 + size[2] / 2]), np.array(size), 0.3)


BOXES = [standing(7.0, 0.0, (1.0, 1.0, 1.0)), standing(7.0, 1.6, (0.6, 0.6, 1.8)),
         standing(-6.0, 3.0, (2.0, 1.0, 1.5))]


@pytest.fixture(scope='module')
def frames():
    """Three frames of the scene (a frame's tracks are live: the last one is current)."""
    pipeline = ScenePipeline()
    points, _ = scan(BOXES)
    return [pipeline.process(points, 12_500_000_000 + 100_000_000 * k, camera=VIEW)
            for k in range(3)]


def test_scene_graph_carries_every_track_with_its_box_points_and_image_fields(frames) -> None:
    frame = frames[2]
    graph = outputs.scene_graph(frame, HEADER, [IMAGE_HEADER], object_points=True)
    assert graph.header == HEADER and graph.image_header == IMAGE_HEADER
    assert [o.id for o in graph.objects] == [v.track.id for v in frame.objects]
    assert len(graph.objects) == 3
    for message, view in zip(graph.objects, frame.objects, strict=True):
        box = view.track.box
        np.testing.assert_allclose([message.box_center.position.x, message.box_center.position.y,
                                    message.box_center.position.z], box.center, atol=1e-9)
        assert (message.box_size.x, message.box_size.y) == pytest.approx(tuple(box.size[:2]))
        assert message.num_points == view.segment.num_points == message.points.width
        assert message.points.header == HEADER
        assert message.observations == 3 and message.source == message.SOURCE_LIDAR
        assert time_to_ns(message.first_seen) == 12_500_000_000
        assert time_to_ns(message.last_seen) == 12_700_000_000
        if view.image_box is None:
            assert message.label_value == 0 and message.image_box.width == 0
        else:
            assert message.label_value == view.label_value > 0
            assert (message.image_box.x_offset, message.image_box.y_offset,
                    message.image_box.width, message.image_box.height) == view.image_box
    assert sum(v.image_box is not None for v in frame.objects) == 2  # the third is behind
    relations = {(r.subject_id, r.predicate, r.object_id): r for r in graph.relations}
    assert relations and all(r.evidence_count == 2 for r in relations.values())
    assert graph.description == frame.description

    slim = outputs.scene_graph(frame, HEADER, [], object_points=False)
    assert all(o.points.width == 0 and o.num_points > 0 for o in slim.objects)
    assert slim.image_header == Header()


def test_json_is_the_same_graph_without_the_clouds(frames) -> None:
    graph = outputs.scene_graph(frames[2], HEADER, [IMAGE_HEADER], object_points=True)
    data = json.loads(outputs.scene_graph_json(graph))
    assert data['header'] == {'stamp': {'sec': 12, 'nanosec': 500_000_000}, 'frame_id': 'lidar'}
    assert [o['id'] for o in data['objects']] == [o.id for o in graph.objects]
    assert 'points' not in data['objects'][0]
    assert data['objects'][0]['box_size']['x'] == pytest.approx(graph.objects[0].box_size.x)
    assert [(r['subject_id'], r['predicate'], r['object_id']) for r in data['relations']] == [
        (r.subject_id, r.predicate, r.object_id) for r in graph.relations]


def test_object_cloud_has_instance_label_and_the_ids_colour(frames) -> None:
    frame = frames[2]
    cloud = outputs.object_cloud(frame, HEADER)
    assert [f.name for f in cloud.fields] == ['x', 'y', 'z', 'rgb', 'instance', 'label']
    points = pointcloud2_to_array(cloud).reshape(-1)
    for view in frame.objects:
        mine = points[points['instance'] == view.track.id]
        assert len(mine) == view.segment.num_points
        assert set(mine['label']) == {view.label_value}
        rgb = int(mine['rgb'][:1].view('<u4')[0])
        assert ((rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255) == colour_of(view.track.id)
        np.testing.assert_allclose(np.column_stack([mine['x'], mine['y'], mine['z']]),
                                   frame.points[view.segment.indices])


def test_obstacle_cloud_is_every_non_ground_point_in_range(frames) -> None:
    frame = frames[2]
    cloud = outputs.obstacle_cloud(frame, HEADER)
    assert cloud.width == int(frame.geometry.segmentation.obstacles.sum()) > 0
    assert cloud.header == HEADER


def test_markers_show_each_object_and_delete_those_that_went_away(frames) -> None:
    book = outputs.MarkerBook()
    first = book.markers(frames[2], HEADER).markers
    ids = {v.track.id for v in frames[2].objects}
    assert {m.id for m in first if m.ns == 'boxes'} == ids
    assert {m.id for m in first if m.ns == 'labels'} == ids
    assert all(m.action == Marker.ADD for m in first)
    texts = {m.id: m.text for m in first if m.ns == 'labels'}
    assert texts == {i: f'#{i}' for i in ids}
    lines = [m for m in first if m.ns == 'relations']
    assert len(lines) == 1 and len(lines[0].points) % 2 == 0 and lines[0].points

    # A new scene (new tracks) replaces the old: the old ids' markers are deleted.
    later = ScenePipeline()
    points, _ = scan(BOXES[:1])
    for k in range(2):
        frame = later.process(points, 20_000_000_000 + 100_000_000 * k)
    update = book.markers(frame, HEADER).markers
    deleted = {(m.ns, m.id) for m in update if m.action == Marker.DELETE}
    kept = {m.id for m in update if m.ns == 'boxes' and m.action == Marker.ADD}
    assert deleted == {(ns, i) for ns in ('boxes', 'labels') for i in ids - kept} | {
        ('relations', 0)}
    assert [m.action for m in book.clear(HEADER).markers] == [Marker.DELETEALL]


def test_only_outputs_someone_subscribes_to_are_built(frames) -> None:
    builder = outputs.OutputBuilder(OutputConfig())
    nothing = dict(builder.build(frames[2], HEADER, [IMAGE_HEADER], wanted=lambda _: False))
    assert set(nothing) == {'description'}  # cheap, and periodic by stamps
    graph_only = builder.build(frames[2], HEADER, [IMAGE_HEADER],
                               wanted=lambda name: name == 'scene_graph')
    assert [name for name, _ in graph_only] == ['scene_graph']
    # The markers start again after the pause with a DELETEALL: what RViz kept from before
    # is not known any more.
    book = outputs.MarkerBook()
    book.markers(frames[2], HEADER)
    book.pause()
    again = book.markers(frames[2], HEADER).markers
    assert again[0].action == Marker.DELETEALL
    assert {m.action for m in again[1:]} == {Marker.ADD}
    assert Marker.DELETEALL not in {m.action for m in book.markers(frames[2], HEADER).markers}


def test_label_and_overlay_images_match_the_camera_image(frames) -> None:
    frame = frames[2]
    labels = outputs.label_image(frame.labels, IMAGE_HEADER)
    overlay = outputs.overlay_image(frame.overlay, IMAGE_HEADER)
    assert (labels.encoding, labels.width, labels.height) == ('mono16', 640, 480)
    assert (overlay.encoding, overlay.width, overlay.height) == ('rgb8', 640, 480)
    np.testing.assert_array_equal(image_to_array(labels), frame.labels)
    values = set(np.unique(frame.labels)) - {0}
    assert values == {v.label_value for v in frame.objects if v.label_value}


@pytest.mark.parametrize('nanoseconds', [0, 1, 1_500_000_000, 1_795_000_000_123_456_789])
def test_time_conversions_round_trip_exactly(nanoseconds: int) -> None:
    time = time_from_ns(nanoseconds)
    assert time_to_ns(time) == nanoseconds and 0 <= time.nanosec < 1_000_000_000


def test_regions_of_interest_and_pixel_boxes_share_one_convention() -> None:
    box = PixelBox(3, 4, 50, 60)
    roi = region_of_interest(box)
    assert (roi.x_offset, roi.y_offset, roi.width, roi.height) == (3, 4, 50, 60)
    assert pixel_box(roi) == box


def test_each_camera_has_its_images_and_each_object_names_its_camera() -> None:
    # Front and rear cameras: the two boxes ahead are the front camera's, the one behind the
    # rear camera's.
    rear = CameraView(VIEW.image, CAMERA, RigidTransform(
        np.array([[0.0, 1, 0], [0, 0, -1], [-1, 0, 0]]), np.zeros(3)), name='rear')
    front = CameraView(VIEW.image, CAMERA, VIEW.lidar_to_camera, name='front')
    pipeline = ScenePipeline()
    points, _ = scan(BOXES)
    for k in range(2):
        frame = pipeline.process(points, 100_000_000 * k, cameras=[front, rear])
    headers = [Header(frame_id='front_optical'), Header(frame_id='rear_optical')]
    built = dict(outputs.OutputBuilder(OutputConfig()).build(frame, HEADER, headers,
                                                             wanted=lambda _: True))
    assert {'front/labels', 'front/overlay', 'rear/labels', 'rear/overlay'} <= set(built)
    assert 'labels' not in built
    assert built['rear/labels'].header.frame_id == 'rear_optical'
    graph = built['scene_graph']
    assert graph.cameras == ['front', 'rear'] and graph.image_headers == headers
    assert graph.image_header == headers[0]  # one-camera readers: the first camera
    behind = [o for o in graph.objects if o.box_center.position.x < 0]
    ahead = [o for o in graph.objects if o.box_center.position.x > 0]
    assert len(behind) == 1 and len(ahead) == 2
    assert behind[0].camera == 'rear' and {o.camera for o in ahead} == {'front'}
    assert all(o.image_box.width > 0 for o in graph.objects)
