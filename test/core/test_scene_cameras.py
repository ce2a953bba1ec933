"""Several cameras around one LiDAR: 2D fields come from the camera that sees an object best."""

from __future__ import annotations

import numpy as np
import pytest

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.camera import CameraModel
from vlm_seg_ros.core.pixels import PixelBox
from vlm_seg_ros.core.scene import (
    CameraView,
    ObjectSource,
    ScenePipeline,
    Sighting,
    best_sightings,
    label_value_of,
)
from vlm_seg_ros.core.semantics import TrackMask
from vlm_seg_ros.core.stamps import seconds_to_ns as ns
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.datasets.synthetic import scan
from vlm_seg_ros.errors import InvalidInputError

K = np.array([[500.0, 0.0, 319.5], [0.0, 500.0, 239.5], [0.0, 0.0, 1.0]])
IMAGE = np.full((480, 640, 3), 100, dtype=np.uint8)
# Optical frames (z forward, x right, y down) of cameras at the LiDAR looking along its +x
# (front), +y (left) and -y (right).
FRONT = RigidTransform(np.array([[0.0, -1, 0], [0, 0, -1], [1, 0, 0]]), np.zeros(3))
LEFT = RigidTransform(np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]), np.zeros(3))
RIGHT = RigidTransform(np.array([[-1.0, 0, 0], [0, 0, -1], [0, -1, 0]]), np.zeros(3))


def model(cx: float = 319.5) -> CameraModel:
    k = K.copy()
    k[0, 2] = cx
    return CameraModel(width=640, height=480, k=k, d=np.zeros(5), r=np.eye(3),
                       p=np.c_[k, np.zeros(3)])


def view(name: str, pose: RigidTransform = FRONT, cx: float = 319.5) -> CameraView:
    return CameraView(IMAGE, model(cx), pose, name=name)


def standing(x: float, y: float) -> OrientedBox:
    return OrientedBox(np.array([x, y, -1.73 + 0.9]), np.array([0.6, 0.6, 1.8]), 0.0)


def pixel_in(pose: RigidTransform, point: np.ndarray, cx: float = 319.5) -> tuple[int, int]:
    x, y, z = pose.apply(point[None])[0]
    return round(K[0, 0] * x / z + cx), round(K[1, 1] * y / z + K[1, 2])


def run(boxes: list[OrientedBox], cameras: list[CameraView], masks=None, frames: int = 2):
    pipeline = ScenePipeline()
    points, truth = scan(boxes)
    for k in range(frames):
        frame = pipeline.process(points, ns(0.1 * k), cameras=cameras, masks=masks)
    by_box = {}  # each box's largest object (its far face may be a sliver of its own)
    for obj in sorted((o for o in frame.objects if o.segment is not None),
                      key=lambda o: o.segment.num_points):
        owners = truth[obj.segment.indices]
        if (owners >= 0).all() and len(set(owners.tolist())) == 1:
            by_box[int(owners[0])] = obj
    return frame, by_box


def test_each_object_takes_its_box_from_the_camera_that_sees_it_and_every_camera_labels() -> None:
    front, left, right = standing(8.0, 0.5), standing(0.5, 8.0), standing(-0.5, -8.0)
    frame, objects = run([front, left, right], [view('front'), view('left', LEFT),
                                                 view('right', RIGHT)])
    assert [image.name for image in frame.images] == ['front', 'left', 'right']
    for index, (box, pose, name) in enumerate([(front, FRONT, 'front'), (left, LEFT, 'left'),
                                               (right, RIGHT, 'right')]):
        obj = objects[index]
        assert obj.camera == name, (index, obj.camera)
        u, v = pixel_in(pose, box.center)
        x, y, w, h = obj.image_box
        assert x <= u < x + w and y <= v < y + h
        labels = {image.name: image.labels for image in frame.images}
        assert labels[name][v, u] == obj.label_value == label_value_of(obj.track.id)
        for other in {'front', 'left', 'right'} - {name}:  # nobody else sees it
            assert not (labels[other] == obj.label_value).any()
        overlay = frame.images[index].overlay
        assert overlay is not None and overlay.shape == (480, 640, 3)
    # One-camera readers get the first camera's images.
    assert frame.labels is frame.images[0].labels


def test_a_camera_whose_border_cuts_the_object_loses_to_one_that_does_not() -> None:
    person = standing(8.0, 0.5)
    u, _ = pixel_in(FRONT, person.center)
    edge = 319.5 - u  # this principal point puts the person's centre on the left border
    frame, objects = run([person], [view('edge', cx=edge), view('whole')])
    assert objects[0].camera == 'whole'
    assert (frame.images[0].labels == objects[0].label_value).any()  # 'edge' labels it too


def test_among_cut_views_the_one_with_more_points_wins_and_a_tie_goes_to_the_first() -> None:
    person = standing(8.0, 0.5)
    u, _ = pixel_in(FRONT, person.center)
    little, more = 319.5 - u - 12, 319.5 - u + 12  # less and more than half of it in view
    assert run([person], [view('little', cx=little), view('more', cx=more)])[1][0].camera \
        == 'more'
    assert run([person], [view('a'), view('b')])[1][0].camera == 'a'
    assert run([person], [view('b'), view('a')])[1][0].camera == 'b'


def test_the_rule_prefers_uncut_over_more_points_then_more_points_then_the_first_camera() -> None:
    def seen(camera: int, count: int, cut: bool) -> Sighting:
        return Sighting(camera, count, cut, 5.0, PixelBox(0, 0, 1, 1),
                        np.zeros((1, 2), np.int32), None, None)

    # Track 1: a cut view with many points loses to an uncut one with few.
    # Track 2: both cut, more points win. Track 3: a tie goes to camera 0.
    best = best_sightings([{1: seen(0, 900, True), 2: seen(0, 40, True), 3: seen(0, 50, False)},
                           {1: seen(1, 30, False), 2: seen(1, 60, True), 3: seen(1, 50, False)}])
    assert {track: s.camera for track, s in best.items()} == {1: 1, 2: 1, 3: 0}


def test_a_mask_refines_an_object_in_the_camera_it_was_made_in_only() -> None:
    person = standing(0.5, 8.0)
    cameras = [view('front'), view('left', LEFT)]
    _, objects = run([person], cameras)
    obj = objects[0]
    x, y, w, h = obj.lidar_box
    upper = np.zeros((480, 640), dtype=bool)
    upper[y:y + h // 2, x:x + w] = True
    for camera, source in (('left', ObjectSource.BOTH), ('front', ObjectSource.LIDAR)):
        mask = TrackMask.from_mask(upper, stamp=ns(0.1), reference=obj.lidar_box, score=0.9,
                                   camera=camera)
        _, again = run([person], cameras, masks={obj.track.id: mask}, frames=2)
        assert again[0].source == source, camera
        if source == ObjectSource.BOTH:  # the mask's box, in the left camera's image
            assert again[0].image_box.height <= h // 2 + 2


def test_cameras_are_given_once_with_names_that_differ() -> None:
    pipeline = ScenePipeline()
    points = np.random.default_rng(0).normal((8.0, 0.0, -1.0), 0.3, (100, 3)).astype(np.float32)
    with pytest.raises(InvalidInputError, match='names must differ'):
        pipeline.process(points, 0, cameras=[view('a'), view('a')])
    with pytest.raises(InvalidInputError, match='not both'):
        pipeline.process(points, 0, camera=view('a'), cameras=[view('b')])
    assert PixelBox(0, 0, 1, 1).area == 1  # (the box type the 2D fields use)
