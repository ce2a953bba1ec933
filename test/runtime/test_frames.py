"""FrameRunner: every per-frame rule, without rclpy (what the node and process-bag share)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.camera import CameraModel
from vlm_seg_ros.core.scene import CameraView
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.datasets.synthetic import scan
from vlm_seg_ros.models.engine import SemanticEngine
from vlm_seg_ros.runtime.config import PerceptionConfig, to_config
from vlm_seg_ros.runtime.frames import CameraInput, Event, FrameInputs, FrameRunner, PointPrompt

NS = 1_000_000_000
K = np.array([[500.0, 0.0, 319.5], [0.0, 500.0, 239.5], [0.0, 0.0, 1.0]])
CAMERA = CameraModel(width=640, height=480, k=K, d=np.zeros(5), r=np.eye(3),
                     p=np.c_[K, np.zeros(3)])
LIDAR_TO_CAMERA = RigidTransform(np.array([[0.0, -1, 0], [0, 0, -1], [1, 0, 0]]), np.zeros(3))
VIEW = CameraView(np.full((480, 640, 3), 100, np.uint8), CAMERA, LIDAR_TO_CAMERA)
BOX = OrientedBox(np.array([8.0, 0.0, -1.73 + 0.6]), np.array([0.8, 0.8, 1.2]), 0.0)
POINTS, _ = scan([BOX])


def inputs(seconds: float, *, camera: bool = False) -> FrameInputs:
    cameras = (CameraInput(VIEW, round(seconds * NS), 'camera'),) if camera else ()
    return FrameInputs(POINTS, None, round(seconds * NS), 'lidar', RigidTransform.identity(),
                       cameras)


class Runner:
    """A runner on a geometry-only engine (no models), and what it told its caller."""

    def __init__(self, config: PerceptionConfig | None = None) -> None:
        self.config = config or to_config({})
        self.engine = SemanticEngine(replace(self.config.models, segmenter='', describer='',
                                             text_segmenter=''), self.config, inline=True,
                                     log=lambda level, text: None)
        self.events: list[tuple[Event, str]] = []
        self.runner = FrameRunner(self.config, self.engine,
                                  notify=lambda event, text: self.events.append((event, text)))

    def ids(self, seconds: float, **kwargs: bool) -> set[int]:
        """Let a scan arrive and run it; return the frame's object ids."""
        self.runner.scan_arrived(round(seconds * NS))
        frame = self.runner.run(inputs(seconds, **kwargs), render_overlay=False)
        return {o.track.id for o in frame.objects}


def test_the_stamp_gate_refuses_stamps_far_from_the_clock() -> None:
    runner = Runner().runner
    now = 1_000 * NS
    assert runner.check_stamp(now - 5 * NS, now, '/points') is None
    old = runner.check_stamp(now - 11 * NS, now, '/points')
    assert old is not None and old.reason == 'stamp_too_old' and '/points' in old.text
    ahead = runner.check_stamp(now + 2 * NS, now, '/image')
    assert ahead is not None and ahead.reason == 'stamp_in_future' and 'chrony' in ahead.text
    assert runner.check_stamp(0, 0, '/points') is None  # no clock yet (use_sim_time)
    lenient = Runner(to_config({'sync.max_stamp_age': 0.0, 'sync.max_stamp_lead': 0.0}))
    assert lenient.runner.check_stamp(0, now, '/points') is None  # 0 turns a check off


def test_a_lidar_dropout_expires_every_track_and_a_slow_consumer_keeps_them() -> None:
    run = Runner()
    first = run.ids(0.0) | run.ids(0.1)
    assert first and run.ids(0.2) == first
    # No scan for 2 s (tracking.max_age is 1 s): the objects come back as new objects.
    again = run.ids(2.2) | run.ids(2.3)  # (confirmed on their second scan)
    assert again and not again & first
    assert [e for e, _ in run.events] == [Event.TRACKS_EXPIRED]
    # Scans arrive every 0.1 s but the next one run is 1.5 s later (a slow node): tracks stay.
    slow = Runner()
    kept = slow.ids(0.0) | slow.ids(0.1)
    for k in range(2, 17):
        slow.runner.scan_arrived(round(k * 0.1 * NS))
    frame = slow.runner.run(inputs(1.6), render_overlay=False)
    assert kept and {o.track.id for o in frame.objects} == kept
    assert not slow.events
    # An out-of-order scan changes nothing.
    slow.runner.scan_arrived(round(1.55 * NS))
    assert slow.ids(1.7) == kept


def test_time_going_back_restarts_the_tracks() -> None:
    run = Runner()
    before = run.ids(5.0) | run.ids(5.1)
    after = run.ids(1.0) | run.ids(1.1)
    assert before and after and not before & after
    assert [e for e, _ in run.events] == [Event.TIME_RESET]
    assert 'time went back from 5.100 s to 1.000 s' in run.events[0][1]


def test_point_prompts_are_projected_into_the_next_image_in_the_graph_frame() -> None:
    run = Runner()
    run.ids(0.0, camera=True)
    run.runner.add_point_prompt(PointPrompt((8.0, 0.0, -1.0), 'lidar'))
    run.runner.add_point_prompt(PointPrompt((8.0, 0.0, -1.0), 'map'))
    run.runner.add_point_prompt(PointPrompt((-8.0, 0.0, -1.0), 'lidar'))  # behind the camera
    frame = run.runner.run(inputs(0.1), render_overlay=False)
    run.runner.observe(frame, inputs(0.1))  # no image: the prompts wait
    assert not run.events
    frame = run.runner.run(inputs(0.2, camera=True), render_overlay=False)
    run.runner.observe(frame, inputs(0.2, camera=True))
    texts = [text for event, text in run.events if event == Event.PROMPT_IGNORED]
    assert len(texts) == 2 and "frame 'map'" in texts[0] and 'outside' in texts[1]
    camera, u, v = run.engine._points[0]  # noqa: SLF001 - the one prompt the engine got
    assert camera == '' and (u, v) == pytest.approx((319.5, 239.5 + 500 * 1.0 / 8.0), abs=1.0)


def test_a_point_prompt_goes_to_the_first_camera_it_lands_in() -> None:
    run = Runner()
    rear = RigidTransform(np.array([[0.0, 1, 0], [0, 0, -1], [-1, 0, 0]]), np.zeros(3))
    cameras = (CameraInput(CameraView(VIEW.image, CAMERA, rear, name='rear'), 0, 'rear'),
               CameraInput(CameraView(VIEW.image, CAMERA, LIDAR_TO_CAMERA, name='front'), 0,
                           'front'))
    frame_inputs = replace(inputs(0.0), cameras=cameras)
    run.runner.add_point_prompt(PointPrompt((8.0, 0.0, -1.0), 'lidar'))  # ahead
    run.runner.add_point_prompt(PointPrompt((-8.0, 0.0, -1.0), 'lidar'))  # behind
    frame = run.runner.run(frame_inputs, render_overlay=False)
    run.runner.observe(frame, frame_inputs)
    assert [camera for camera, _, _ in run.engine._points] == ['front', 'rear']  # noqa: SLF001


def test_a_geometry_change_restarts_the_tracks_and_a_mask_change_keeps_them() -> None:
    run = Runner()
    ids = run.ids(0.0) | run.ids(0.1)
    config = run.config
    kept = replace(config, masks=replace(config.masks, erosion=4))
    assert run.runner.reconfigure(kept) is False
    assert run.ids(0.2) == ids and run.runner.scene.config.masks.erosion == 4
    before = run.runner.run(inputs(0.3), render_overlay=False)
    assert all(o.track.observations > 1 for o in before.objects)
    restarted = replace(kept, tracking=replace(config.tracking, min_hits=1))
    assert run.runner.reconfigure(restarted) is True
    after = run.runner.run(inputs(0.4), render_overlay=False)  # a new tracker: new tracks
    assert after.objects and all(o.track.observations == 1 for o in after.objects)
    assert run.runner.config is restarted
