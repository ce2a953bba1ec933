"""ScenePipeline: a synchronised frame in, objects with 2D boxes, label image and overlay out."""

from __future__ import annotations

import numpy as np

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.camera import CameraModel
from vlm_seg_ros.core.render import colour_of
from vlm_seg_ros.core.scene import CameraView, SceneConfig, ScenePipeline, label_value_of
from vlm_seg_ros.core.stamps import seconds_to_ns as ns
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.datasets.synthetic import scan

K = np.array([[500.0, 0.0, 319.5], [0.0, 500.0, 239.5], [0.0, 0.0, 1.0]])
CAMERA = CameraModel(width=640, height=480, k=K, d=np.zeros(5), r=np.eye(3),
                     p=np.c_[K, np.zeros(3)])
# A camera at the LiDAR's position looking along its x axis (optical z forward, y down).
LIDAR_TO_CAMERA = RigidTransform(np.array([[0.0, -1, 0], [0, 0, -1], [1, 0, 0]]), np.zeros(3))
IMAGE = np.full((480, 640, 3), 100, dtype=np.uint8)


def standing(x: float, y: float, size: tuple[float, float, float]) -> OrientedBox:
    return OrientedBox(np.array([x, y, -1.73 + size[2] / 2]), np.array(size), 0.0)


def pixel_of(point: np.ndarray) -> tuple[int, int]:
    x, y, z = LIDAR_TO_CAMERA.apply(point[None])[0]
    return round(K[0, 0] * x / z + K[0, 2]), round(K[1, 1] * y / z + K[1, 2])


def run(boxes: list[OrientedBox], frames: int = 2, **kwargs):
    pipeline = ScenePipeline()
    points, truth = scan(boxes)
    for k in range(frames):
        frame = pipeline.process(points, ns(0.1 * k), **kwargs)
    return frame, truth


def object_of_box(frame, truth: np.ndarray, box_index: int):
    for view in frame.objects:
        if view.segment is not None and np.all(truth[view.segment.indices] == box_index):
            return view
    raise AssertionError(f'no object for box {box_index}')


def test_a_visible_object_gets_a_mask_box_and_label_value_under_its_id() -> None:
    person = standing(8.0, 0.5, (0.6, 0.6, 1.8))
    frame, truth = run([person], camera=CameraView(IMAGE, CAMERA, LIDAR_TO_CAMERA))
    view = object_of_box(frame, truth, 0)
    assert view.label_value == label_value_of(view.track.id) > 0
    u, v = pixel_of(person.center)
    x, y, w, h = view.image_box
    assert x <= u < x + w and y <= v < y + h
    assert frame.labels.shape == (480, 640) and frame.labels.dtype == np.uint16
    assert frame.labels[v, u] == view.label_value
    # The mask is the person's silhouette, not the whole box: about 0.6 m x 1.8 m at 8 m.
    area = int((frame.labels == view.label_value).sum())
    assert 0.5 * (0.6 * 500 / 8) * (1.8 * 500 / 8) < area < 1.5 * (0.6 * 500 / 8) * (1.8 * 500 / 8)
    # The overlay tints the mask with the id's colour and leaves the background alone.
    tinted = frame.overlay[v, u].astype(int)
    expected = 0.55 * 100 + 0.45 * np.array(colour_of(view.track.id))
    np.testing.assert_allclose(tinted, expected, atol=2)
    assert (frame.overlay[5, 5] == IMAGE[5, 5]).all()
    # A narrower overlay is the same picture at half size; the label image keeps the camera's.
    half, _ = run([person], camera=CameraView(IMAGE, CAMERA, LIDAR_TO_CAMERA),
                  overlay_max_width=320)
    assert half.overlay.shape == (240, 320, 3) and half.labels.shape == (480, 640)
    np.testing.assert_allclose(half.overlay[v // 2, u // 2], expected, atol=2)


def test_a_nearer_object_covers_the_one_behind_it() -> None:
    near = standing(6.0, 0.0, (0.8, 0.8, 1.2))
    far = standing(12.0, 0.4, (1.0, 1.0, 2.5))
    frame, truth = run([near, far], camera=CameraView(IMAGE, CAMERA, LIDAR_TO_CAMERA))
    near_view, far_view = object_of_box(frame, truth, 0), object_of_box(frame, truth, 1)
    u, v = pixel_of(near.center)
    assert frame.labels[v, u] == near_view.label_value
    far_pixels = frame.labels == far_view.label_value
    assert far_pixels.any()
    # Higher than the near box, lower than the top ring's hits at 12 m.
    u_far, v_far = pixel_of(far.center + np.array([0.0, 0.0, 0.6]))
    assert frame.labels[v_far, u_far] == far_view.label_value


def test_objects_outside_the_image_have_no_2d_fields_and_without_a_camera_none_do() -> None:
    behind = standing(-8.0, 0.0, (1.0, 1.0, 1.5))
    frame, truth = run([behind], camera=CameraView(IMAGE, CAMERA, LIDAR_TO_CAMERA))
    view = object_of_box(frame, truth, 0)
    assert (view.image_box, view.label_value) == (None, 0)
    assert not frame.labels.any()

    frame, truth = run([standing(8.0, 0.0, (1.0, 1.0, 1.5))])
    assert frame.labels is None and frame.overlay is None
    assert object_of_box(frame, truth, 0).image_box is None


def test_outputs_are_in_the_target_frame() -> None:
    box = standing(8.0, 2.0, (1.0, 1.0, 1.5))
    in_lidar, truth = run([box])
    # base_link: the LiDAR 1.2 m ahead of and 1.73 m above the base's origin, turned 90 deg.
    lidar_to_base = RigidTransform(np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]),
                                   np.array([1.2, 0.0, 1.73]))
    in_base, _ = run([box], lidar_to_target=lidar_to_base)
    lidar_view, base_view = object_of_box(in_lidar, truth, 0), object_of_box(in_base, truth, 0)
    np.testing.assert_allclose(base_view.track.box.center,
                               lidar_to_base.apply(lidar_view.track.box.center[None])[0],
                               atol=1e-4)
    np.testing.assert_allclose(in_base.points, lidar_to_base.apply(in_lidar.points), atol=1e-4)
    # The summary measures distances from the sensor, in the target frame.
    distance = np.hypot(*(base_view.track.box.center[:2] - lidar_to_base.translation[:2]))
    assert f'object #{base_view.track.id} at {distance:.1f} m' in in_base.description


def test_relation_evidence_counts_consecutive_frames() -> None:
    pipeline = ScenePipeline(SceneConfig())
    points, _ = scan([standing(6.0, 0.0, (1.0, 1.0, 1.0)), standing(6.0, 1.6, (0.6, 0.6, 1.8))])
    counts = []
    for k in range(4):
        frame = pipeline.process(points, ns(0.1 * k))
        counts.append(max(frame.relation_evidence.values(), default=0))
    assert counts == [0, 1, 2, 3]  # tracks confirm on the second frame
    pipeline.reset()
    assert pipeline.process(points, ns(1.0)).relation_evidence == {}
