"""The demo's built-in scene: its camera and LiDAR agree, and the pipeline recovers its truth."""

from __future__ import annotations

import numpy as np
import pytest

from vlm_seg_ros.core.projection import nearest_depth_image, project_points, visible_points
from vlm_seg_ros.core.scene import CameraView, SceneConfig, ScenePipeline
from vlm_seg_ros.core.segmentation import SegmentationConfig
from vlm_seg_ros.datasets.demo_scene import SKY, demo_scene, match_truth
from vlm_seg_ros.datasets.synthetic import GROUND

# What the demo's node runs with (vlm_seg_ros/tools/demo.py DEMO_PARAMETERS).
CONFIG = SceneConfig(segmentation=SegmentationConfig(max_range=30.0))


@pytest.fixture(scope='module')
def scene_and_image():
    scene = demo_scene()
    image, truth = scene.render()
    return scene, image, truth


def test_the_scene_is_the_same_every_time(scene_and_image) -> None:
    scene, image, truth = scene_and_image
    again, again_truth = demo_scene().render()
    assert np.array_equal(image, again) and np.array_equal(truth, again_truth)
    points, hit = scene.scan(seed=3)
    points_again, hit_again = demo_scene().scan(seed=3)
    assert np.array_equal(points, points_again) and np.array_equal(hit, hit_again)


def test_every_object_is_in_one_camera_image_and_the_scan(scene_and_image) -> None:
    scene, image, truth = scene_and_image
    assert image.shape == (540, 960, 3) and image.dtype == np.uint8
    _, hit = scene.scan()
    seen_by = {camera.name: set(np.unique(scene.render(camera)[1]).tolist()) - {SKY, GROUND}
               for camera in scene.cameras}
    # The front camera sees all but the two objects beside the robot; each side camera one.
    assert seen_by['left'] == {8} and seen_by['right'] == {9}
    assert seen_by['front'] == set(range(8))
    for index, item in enumerate(scene.objects):
        camera = next(c for c in scene.cameras if index in seen_by[c.name])
        assert (scene.render(camera)[1] == index).sum() > 300, item.label
        assert (hit == index).sum() > 50, item.label
    assert (truth == SKY).any() and (truth == GROUND).any()
    # Shaded solids: an object's pixels are not one flat colour.
    assert len(np.unique(image[truth == 0].reshape(-1, 3), axis=0)) > 3


@pytest.mark.parametrize('camera', ['front', 'left', 'right'])
def test_lidar_points_land_on_their_own_object_in_the_image(camera: str) -> None:
    """The extrinsics and intrinsics the demo publishes are the ones it rendered with."""
    scene = demo_scene()
    view = next(c for c in scene.cameras if c.name == camera)
    _, truth = scene.render(view)
    points, hit = scene.scan(noise=0.0)
    projection = project_points(points, view.model, rectified=False,
                                transform=view.lidar_to_camera)
    visible = visible_points(projection, depth_image=nearest_depth_image(projection, radius=1))
    rows = projection.indices[visible]
    u, v = projection.pixels[visible].T
    on_objects = hit[rows] >= 0
    agree = truth[v, u][on_objects] == hit[rows][on_objects]
    assert on_objects.sum() > (1000 if camera == 'front' else 300)
    assert agree.mean() > 0.95


def test_the_pipeline_recovers_every_object_and_the_toolbox_on_the_table(
        scene_and_image) -> None:
    scene, image, _ = scene_and_image
    pipeline = ScenePipeline(CONFIG)
    for frame_index in range(3):
        points, _ = scene.scan(seed=frame_index)
        frame = pipeline.process(points, 100_000_000 * frame_index,
                                 camera=CameraView(image, scene.camera, scene.lidar_to_camera))
    boxes = [view.track.box for view in frame.objects]
    pairs = match_truth(scene, np.array([b.center for b in boxes]), max_distance=0.6)
    assert sorted(pairs) == list(range(len(scene.objects)))
    assert len(frame.objects) == len(scene.objects)  # nothing else
    ids = {t: frame.objects[f].track.id for t, (f, _) in pairs.items()}
    table, toolbox = 0, 1
    assert scene.relations[0].subject == toolbox and scene.relations[0].object == table
    found = {(r.subject, r.predicate, r.object) for r in frame.geometry.relations}
    assert (ids[toolbox], 'on', ids[table]) in found
    assert (ids[table], 'under', ids[toolbox]) in found
    assert f'#{ids[toolbox]} is on #{ids[table]}' in frame.description
    # Sizes: the table keeps its height; the toolbox is not swallowed by it.
    assert boxes[pairs[table][0]].size[2] == pytest.approx(0.77, abs=0.12)
    assert boxes[pairs[toolbox][0]].size[2] == pytest.approx(0.22, abs=0.08)


def test_match_truth_pairs_each_found_object_once() -> None:
    scene = demo_scene()
    truth = np.array([item.box.center for item in scene.objects])
    found = np.vstack([truth[[2, 0]] + 0.1, [[100.0, 0.0, 0.0]]])
    # The toolbox and the table share a horizontal centre: heights tell them apart.
    assert {t: f for t, (f, _) in match_truth(scene, truth[[1, 0]], max_distance=0.6).items()} \
        == {1: 0, 0: 1}
    pairs = match_truth(scene, found, max_distance=0.5)
    assert {t: f for t, (f, _) in pairs.items()} == {2: 0, 0: 1}
    assert match_truth(scene, np.zeros((0, 3)), max_distance=0.5) == {}
