"""SemanticEngine: models beside the scene pipeline, results on the right track ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
import time

import numpy as np
import pytest

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.camera import CameraModel
from vlm_seg_ros.core.scene import CameraView, SceneConfig, SceneFrame, ScenePipeline
from vlm_seg_ros.core.semantics import LabelConfig, PromptConfig
from vlm_seg_ros.core.stamps import seconds_to_ns as ns
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.datasets.synthetic import scan
from vlm_seg_ros.models.base import Naming, PromptMask
from vlm_seg_ros.models.engine import MAX_FAILURES, ModelUnavailableError, SemanticEngine
from vlm_seg_ros.models.loading import ModelConfig

K = np.array([[500.0, 0.0, 319.5], [0.0, 500.0, 239.5], [0.0, 0.0, 1.0]])
CAMERA = CameraModel(width=640, height=480, k=K, d=np.zeros(5), r=np.eye(3),
                     p=np.c_[K, np.zeros(3)])
LIDAR_TO_CAMERA = RigidTransform(np.array([[0.0, -1, 0], [0, 0, -1], [1, 0, 0]]), np.zeros(3))
PERSON = OrientedBox(np.array([8.0, 1.5, -1.73 + 0.9]), np.array([0.6, 0.6, 1.8]), 0.0)
CRATE = OrientedBox(np.array([7.0, -1.5, -1.73 + 0.5]), np.array([1.0, 1.0, 1.0]), 0.0)
OFF = ModelConfig(segmenter='', describer='', text_segmenter='')


@dataclass
class Log:
    """Collects ``log(level, text)`` calls."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, level: str, text: str) -> None:
        """Record one line."""
        self.lines.append((level, text))


class ColourNamer:
    """A describer that names a crop by the colour at its centre (deterministic bookkeeping)."""

    name, device = 'colour-namer', 'cpu'

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.crops = 0

    def name_objects(self, crops: Sequence[np.ndarray]) -> list[Naming]:
        """Name each crop by its centre pixel, or fail like a GPU out of memory."""
        if self.fail:
            raise RuntimeError('CUDA out of memory (simulated)')
        self.crops += len(crops)
        names = []
        for crop in crops:
            r, g, b = crop[crop.shape[0] // 2, crop.shape[1] // 2]
            names.append(Naming('red thing' if r > b else 'blue thing', 0.8, 'a caption'))
        return names

    def describe(self, image: np.ndarray) -> str:
        """Describe any image the same way."""
        return 'a scene'

    def answer(self, image: np.ndarray, question: str) -> str:
        """Echo the question."""
        return f'you asked: {question}'


def run_frames(engine: SemanticEngine, frames: int, *, paint: bool = False,
               settle: bool = False) -> tuple[ScenePipeline, list[SceneFrame]]:
    """Run frames at 10 Hz stamps; ``settle``: let the workers finish before the next one."""
    points, _ = scan([PERSON, CRATE])
    pipeline = ScenePipeline(engine.scene)
    image = np.full((480, 640, 3), 90, np.uint8)
    results = []
    for k in range(frames):
        stamp = ns(0.1 * k)
        engine.apply(pipeline.geometry.tracker.tracks, stamp)
        frame = pipeline.process(points, stamp, camera=CameraView(image, CAMERA, LIDAR_TO_CAMERA),
                                 masks=engine.masks, captions=engine.captions())
        frame = engine.finish(frame)
        if paint:  # the person's pixels red, the crate's blue
            image = np.full((480, 640, 3), 90, np.uint8)
            for view in frame.objects:
                if view.lidar_box is not None:
                    x, y, w, h = view.lidar_box
                    red = view.track.box.center[1] > 0
                    image[y:y + h, x:x + w] = (220, 30, 30) if red else (30, 30, 220)
        engine.observe(frame, {'': image})
        results.append(frame)
        start = time.monotonic()
        while settle and not engine.idle() and time.monotonic() - start < 60:
            time.sleep(0.01)
    return pipeline, results


def test_labels_and_captions_land_on_the_right_track_ids_once_per_track() -> None:
    engine = SemanticEngine(OFF, SceneConfig(labels=LabelConfig(scene_period=0.5)), log=Log(),
                            inline=True)
    namer = ColourNamer()
    engine.describer.backend, engine.describer.state = namer, 'loaded'
    pipeline, frames = run_frames(engine, 12, paint=True)
    views = {v.track.id: v for v in frames[-1].objects if v.lidar_box is not None}
    assert len(views) == 2
    for view in views.values():
        expected = 'red thing' if view.track.box.center[1] > 0 else 'blue thing'
        assert view.track.label == expected
        assert view.caption == 'a caption'
    # Each track was named once (on the first painted frame), not once per frame.
    assert namer.crops == 2 == engine.counters['crops_named']
    assert frames[-1].description == 'a scene'
    assert engine.counters['descriptions'] == 3  # at 0.0, 0.5 and 1.0 s: every 0.5 s
    assert engine.ask('what is red?')[0] == 'you asked: what is red?'
    # A restarted tracker numbers from 1 again: nothing attached to the old ids survives.
    engine.reset()
    assert not engine.masks and not engine.captions() and not engine.policy.labelled


def test_a_failing_model_is_switched_off_and_the_frames_go_on() -> None:
    log = Log()
    engine = SemanticEngine(OFF, SceneConfig(), log=log, inline=True)
    engine.describer.backend, engine.describer.state = ColourNamer(fail=True), 'loaded'
    _, frames = run_frames(engine, 8, paint=True)
    assert len(frames[-1].objects) >= 2  # geometry went on
    assert engine.describer.state == 'failed'
    assert 'out of memory' in engine.status()['describer']
    # Each out-of-memory failure was recognised (and the memory freed) before the next call.
    assert engine.counters['out_of_memory'] == MAX_FAILURES
    assert any(level == 'error' and 'switched off' in text for level, text in log.lines)
    with pytest.raises(ModelUnavailableError, match='failed'):
        engine.ask('anything?')


def test_missing_models_leave_geometry_only_and_say_how_to_fetch_them(tmp_path: Path) -> None:
    log = Log()
    engine = SemanticEngine(ModelConfig(), SceneConfig(), log=log, cache_dir=str(tmp_path))
    engine.start(wait=True)
    assert engine.segmenter.state == engine.describer.state == 'missing'
    assert engine.text_segmenter.state == 'disabled'  # no text prompts: SAM 3 not loaded
    warnings = [text for level, text in log.lines if level == 'warn']
    assert len(warnings) == 2 and all('download-models' in text for text in warnings)
    assert 'facebook/sam2.1-hiera-tiny' in warnings[0]
    _, frames = run_frames(engine, 3)
    assert frames[-1].objects and all(o.source == 'lidar' for o in frames[-1].objects)
    with pytest.raises(ModelUnavailableError, match='missing'):
        engine.ask('anything?')
    engine.stop()


def test_real_tiny_models_mask_name_and_answer_through_the_workers(
        sam2_dir: Path, sam3_dir: Path, vlm_dir: Path) -> None:
    config = ModelConfig(segmenter=str(sam2_dir), text_segmenter=str(sam3_dir),
                         describer=str(vlm_dir))
    scene = SceneConfig(prompts=PromptConfig(text='chair'))
    log = Log()
    engine = SemanticEngine(config, scene, log=log)
    engine.start(wait=True)
    assert all(status.startswith('loaded') for status in engine.status().values()), log.lines
    pipeline, frames = run_frames(engine, 4, settle=True)
    engine.apply(pipeline.geometry.tracker.tracks, ns(0.4))
    visible = {v.track.id: v.lidar_box for v in frames[-1].objects if v.lidar_box is not None}
    assert len(visible) == 2
    # Frames 1-3 have both tracks: one encoding each, decoding both box prompts.
    assert engine.counters['mask_jobs'] == 4
    assert engine.counters['encodings'] == 3
    assert engine.counters['box_prompts'] == 2 * 3
    # Masks are stored under the ids of the tracks they were prompted by, with their boxes.
    for track_id, mask in engine.masks.items():
        assert track_id in visible and mask.reference == visible[track_id]
    assert set(engine.policy.labelled) == set(visible)
    assert engine.description is not None and engine.description[1] == 0.0, engine.counters
    answer, stamp = engine.ask('What is in front of the robot?')
    assert isinstance(answer, str) and stamp == ns(0.3)
    # SAM 3 ran on every frame with the text prompt (random weights: matches are chance).
    assert engine.text_segmenter.backend.encodings == 4
    engine.stop()


@dataclass
class BoxFiller:
    """A segmenter whose mask fills each box prompt; records what it encodes and decodes."""

    name: str = 'box-filler'
    device: str = 'cpu'
    encodings: int = 0
    encoded: list[int] = field(default_factory=list)  # the encoded images' fill value
    prompts: list[tuple[int, int]] = field(default_factory=list)  # (image fill, box prompts)

    def encode(self, image: np.ndarray) -> np.ndarray:
        """Keep the image (the 'encoding')."""
        self.encodings += 1
        self.encoded.append(int(image[0, 0, 0]))
        return image

    def segment(self, encoding: np.ndarray, *, boxes: np.ndarray | None = None,
                points: np.ndarray | None = None,
                point_labels: np.ndarray | None = None) -> list[PromptMask]:
        """Fill each box."""
        del points, point_labels
        assert boxes is not None
        self.prompts.append((int(encoding[0, 0, 0]), len(boxes)))
        masks = []
        for x0, y0, x1, y1 in np.asarray(boxes, int):
            mask = np.zeros(encoding.shape[:2], bool)
            mask[y0:y1, x0:x1] = True
            masks.append(PromptMask(mask, 0.9))
        return masks


def test_each_camera_image_is_encoded_once_per_job_and_its_objects_named_from_it() -> None:
    # A front camera sees the person; a left camera (turned 90 degrees) sees a crate beside
    # the robot that the front one cannot. The front image is red, the left one blue.
    side = OrientedBox(np.array([0.3, 6.0, -1.73 + 0.5]), np.array([1.0, 1.0, 1.0]), 0.0)
    points, _ = scan([PERSON, side])
    turn = RigidTransform(np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]]), np.zeros(3))
    left_view = LIDAR_TO_CAMERA @ turn  # points turned back by 90 degrees, then the front camera
    engine = SemanticEngine(OFF, SceneConfig(), log=Log(), inline=True)
    segmenter, namer = BoxFiller(), ColourNamer()
    engine.segmenter.backend, engine.segmenter.state = segmenter, 'loaded'
    engine.describer.backend, engine.describer.state = namer, 'loaded'
    pipeline = ScenePipeline(engine.scene)
    images = {'front': np.full((480, 640, 3), (220, 30, 30), np.uint8),
              'left': np.full((480, 640, 3), (30, 30, 220), np.uint8)}
    for k in range(6):
        stamp = ns(0.1 * k)
        engine.apply(pipeline.geometry.tracker.tracks, stamp)
        frame = engine.finish(pipeline.process(
            points, stamp, cameras=[CameraView(images['front'], CAMERA, LIDAR_TO_CAMERA,
                                               name='front'),
                                    CameraView(images['left'], CAMERA, left_view, name='left')],
            masks=engine.masks, captions=engine.captions()))
        engine.observe(frame, images)
    views = {v.camera: v for v in frame.objects}
    assert set(views) == {'front', 'left'}
    assert views['left'].track.box.center[1] > 5  # the crate beside the robot
    # Names from each object's best camera: the crate's crop is from the blue left image.
    assert views['front'].track.label == 'red thing'
    assert views['left'].track.label == 'blue thing'
    # One encoding per camera image per mask job, each with the boxes of its own objects.
    jobs = engine.counters['mask_jobs']
    assert segmenter.encoded.count(220) == segmenter.encoded.count(30) == jobs - 1  # not frame 0
    assert set(segmenter.prompts) == {(220, 1), (30, 1)}
    # The crate's mask was made in, and refines it in, the left camera.
    assert engine.masks[views['left'].track.id].camera == 'left'
    assert views['left'].source == 'both' and views['front'].source == 'both'
