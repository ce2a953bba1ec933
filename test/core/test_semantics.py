"""Model results on tracks: masks that follow their track and refine it, labels by policy."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from vlm_seg_ros.core.pixels import PixelBox
from vlm_seg_ros.core.scene import CameraView, SceneConfig, ScenePipeline
from vlm_seg_ros.core.semantics import (
    LabelConfig,
    LabelPolicy,
    PlacedMask,
    PromptConfig,
    TrackMask,
    erode,
    refine_points,
    warp_mask,
)
from vlm_seg_ros.core.stamps import seconds_to_ns as ns
from vlm_seg_ros.datasets.synthetic import scan

_spec = importlib.util.spec_from_file_location('scene_helpers',
                                               Path(__file__).with_name('test_scene.py'))
scene_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scene_helpers)
CAMERA, IMAGE, LIDAR_TO_CAMERA = scene_helpers.CAMERA, scene_helpers.IMAGE, \
    scene_helpers.LIDAR_TO_CAMERA
standing, object_of_box = scene_helpers.standing, scene_helpers.object_of_box


def full_mask(x0: int, y0: int, x1: int, y1: int, size=(480, 640)) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def placed(full: np.ndarray) -> PlacedMask:
    """Return the mask as a window of its bounding rectangle."""
    ys, xs = np.nonzero(full)
    y0, x0 = ys.min(), xs.min()
    return PlacedMask(full[y0:ys.max() + 1, x0:xs.max() + 1], (int(x0), int(y0)), full.shape)


def test_a_placed_mask_answers_as_its_full_image_mask_does() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        full = np.zeros((40, 60), dtype=bool)
        x0, y0 = rng.integers(0, 50), rng.integers(0, 30)
        x1, y1 = x0 + rng.integers(1, 60 - x0 + 1), y0 + rng.integers(1, 40 - y0 + 1)
        full[y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0)) < 0.8
        if not full.any():
            continue
        mask = placed(full)
        assert (mask.full() == full).all()
        u, v = rng.integers(-5, 65, 200), rng.integers(-5, 45, 200)
        inside = (u >= 0) & (u < 60) & (v >= 0) & (v < 40)
        expected = np.zeros(200, dtype=bool)
        expected[inside] = full[v[inside], u[inside]]
        assert (mask.contains(u, v) == expected).all()
        # Erosion within the window equals OpenCV's erosion of the whole image, borders too.
        for pixels in (1, 2, 4):
            assert (mask.eroded(pixels).full() == erode(full, pixels)).all()
        x, y, w, h = mask.box()
        assert (x, y, w, h) == tuple(cv2.boundingRect(full.astype(np.uint8)))
        labels = np.zeros((40, 60), dtype=np.uint16)
        mask.paint(labels, 7)
        assert ((labels == 7) == full).all()


def test_a_mask_moves_and_scales_with_its_tracks_image_box() -> None:
    mask = TrackMask.from_mask(full_mask(110, 210, 130, 250), stamp=ns(0.0),
                               reference=PixelBox(100, 200, 40, 60), score=0.9)
    same = warp_mask(mask, PixelBox(100, 200, 40, 60), (480, 640))
    assert (same.full() == full_mask(110, 210, 130, 250)).all()
    # The box moved right by 50 px and doubled in size: the mask follows.
    moved = warp_mask(mask, PixelBox(150, 200, 80, 120), (480, 640))
    assert (moved.full() == full_mask(170, 220, 210, 300)).all()
    assert moved.box() == (170, 220, 40, 80)
    # Half off the image's left edge: the part inside stays.
    edge = warp_mask(mask, PixelBox(-20, 200, 40, 60), (480, 640))
    assert (edge.full() == full_mask(0, 210, 10, 250)).all()
    # Beyond 2x the view changed too much; off-image nothing is left.
    assert warp_mask(mask, PixelBox(150, 200, 100, 150), (480, 640)) is None
    assert warp_mask(mask, PixelBox(700, 200, 40, 60), (480, 640)) is None
    assert TrackMask.from_mask(np.zeros((4, 4), bool), stamp=ns(0), reference=PixelBox(0, 0, 1, 1),
                               score=1) is None


def test_refinement_drops_visible_points_outside_the_mask_and_keeps_hidden_ones() -> None:
    # Two separate blobs of points; the mask covers the first blob's pixels only.
    points = np.r_[np.zeros((10, 3)) + [5, 0, 0], np.zeros((4, 3)) + [5, 3, 0]]
    pixels = np.r_[np.tile([[20, 20]], (10, 1)), np.tile([[60, 60]], (4, 1))]
    visible = np.ones(14, dtype=bool)
    mask = placed(full_mask(10, 10, 30, 30, (100, 100)))
    kept = refine_points(points, pixels, visible, mask, erosion=2, tolerance=0.5)
    assert kept.tolist() == list(range(10))
    # Hidden points say nothing against the mask, but the largest 3D component still wins.
    visible[10:] = False
    kept = refine_points(points, pixels, visible, mask, erosion=2, tolerance=0.5)
    assert kept.tolist() == list(range(10))
    # Erosion: a point on the mask's edge is dropped.
    pixels[0] = [10, 10]
    visible[:] = True
    kept = refine_points(points, pixels, visible, mask, erosion=2, tolerance=0.5)
    assert 0 not in kept and 1 in kept


def test_a_model_mask_refines_the_object_and_replaces_its_hull_in_the_label_image() -> None:
    person = standing(8.0, 0.5, (0.6, 0.6, 1.8))
    points, truth = scan([person])
    pipeline = ScenePipeline()
    camera = CameraView(IMAGE, CAMERA, LIDAR_TO_CAMERA)
    for k in range(2):
        frame = pipeline.process(points, ns(0.1 * k), camera=camera)
    view = object_of_box(frame, truth, 0)
    assert view.source == 'lidar' and view.lidar_box is not None
    x, y, w, h = view.lidar_box
    # A mask of the upper half of the person (as SAM would give for a person behind a car).
    upper = TrackMask.from_mask(full_mask(x, y, x + w + 1, y + h // 2), stamp=ns(0.1),
                                reference=view.lidar_box, score=0.9)
    frame = pipeline.process(points, ns(0.2), camera=camera, masks={view.track.id: upper})
    refined = next(o for o in frame.objects if o.track.id == view.track.id)
    assert refined.source == 'both'
    assert 0.3 * view.indices.size < refined.indices.size < 0.8 * view.indices.size
    assert set(refined.indices) <= set(view.segment.indices)
    kept_z = frame.points[refined.indices, 2]
    all_z = frame.points[view.segment.indices, 2]
    assert np.median(kept_z) > np.median(all_z)  # the upper half stayed
    painted = frame.labels == refined.label_value
    assert not painted[y + h - 2, x + w // 2]  # the hull's lower half is no longer painted
    assert refined.image_box[3] <= h // 2 + 2
    # A mask that disagrees with the LiDAR (keeps < min_keep) or is too old is not used.
    sliver = TrackMask.from_mask(full_mask(x, y, x + w + 1, y + 3), stamp=ns(0.2),
                                 reference=view.lidar_box, score=0.9)
    frame = pipeline.process(points, ns(0.3), camera=camera, masks={view.track.id: sliver})
    assert next(o for o in frame.objects if o.track.id == view.track.id).source == 'lidar'
    frame = pipeline.process(points, ns(20.0), camera=camera, masks={view.track.id: upper})
    assert all(o.source == 'lidar' for o in frame.objects)


def crop_boxes(n: int, size: int = 40) -> list[tuple[int, str, PixelBox]]:
    return [(i + 1, '', PixelBox(10 + 50 * i, 10, size, size)) for i in range(n)]


def test_the_label_policy_asks_once_per_track_and_again_on_change_or_age() -> None:
    image = np.full((200, 640, 3), 90, dtype=np.uint8)
    policy = LabelPolicy(LabelConfig(refresh_period=30.0, max_per_call=3, min_crop=16))
    first = policy.due({'': image}, ns(0.0), crop_boxes(5))
    assert [r.track_id for r in first] == [1, 2, 3]  # max_per_call
    assert [r.track_id for r in policy.due({'': image}, ns(0.1), crop_boxes(5))] == [4, 5]
    assert policy.due({'': image}, ns(0.2), crop_boxes(5)) == []  # all in flight
    for request in first:
        policy.answered(request, caption='a grey thing')
    assert policy.due({'': image}, ns(0.3), crop_boxes(3)) == []  # named, unchanged, fresh
    assert policy.caption(1) == 'a grey thing'
    # Track 2's crop turns red: asked again. After 30 s every one is.
    image[10:50, 60:100] = (200, 20, 20)
    assert [r.track_id for r in policy.due({'': image}, ns(0.4), crop_boxes(3))] == [2]
    assert {r.track_id for r in policy.due({'': image}, ns(31.0), crop_boxes(3))} == {1, 3}
    # Too-small crops are skipped; failed requests are asked again; dead tracks forgotten.
    assert policy.due({'': image}, ns(40.0), [(9, '', PixelBox(0, 0, 5, 5))]) == []
    policy.failed(first)
    policy.forget([1])
    assert set(policy.labelled) <= {1} and policy.in_flight <= {1}


def test_text_prompts_are_split_stripped_and_deduplicated() -> None:
    assert PromptConfig(text=' chair, person ,,chair').phrases == ['chair', 'person']
    assert PromptConfig().phrases == []
    assert SceneConfig().prompts.text == ''
