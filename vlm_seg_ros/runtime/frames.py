"""The one frame runner: every per-frame rule, ROS-free, shared by the node and process-bag.

The live node (``ros.nodes.perception_node``) and ``process-bag`` decode messages into
:class:`FrameInputs` and hand them to a :class:`FrameRunner`; the demo runs the node. The
runner owns the rules that decide what a frame means:

- **the stamp gate** (:meth:`FrameRunner.check_stamp`): a message stamped more than
  ``sync.max_stamp_age`` before or ``sync.max_stamp_lead`` after the clock is dropped;
- **the dropout rule** (:meth:`FrameRunner.scan_arrived`): when no scan arrived for longer
  than ``tracking.max_age`` (a LiDAR dropout), every track expires at the next frame: objects
  seen again are new objects. About scans as they arrive, whatever the camera does; a slow
  consumer that skips frames keeps its tracks;
- **the time-jump reset**: a frame stamped before the previous one (a looping bag, a simulator
  reset) restarts the tracks and the models' pending results;
- **the order of a frame** (:meth:`FrameRunner.run`, then :meth:`FrameRunner.observe`): the
  models' finished work is attached to the tracks, the scan is processed, the models' latest
  description is attached, the caller publishes, and only then do the models get the frame;
- **prompts in**: point prompts in the graph's frame are projected into the frame's image.

Which camera messages make a frame, and when a scan goes alone, is ``core.sync``'s
``ScanSynchronizer``; the camera part of a bad image is dropped at decoding (``ros.nodes.frames``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
import threading

import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.projection import project_points
from vlm_seg_ros.core.scene import CameraView, SceneFrame, ScenePipeline
from vlm_seg_ros.core.stamps import NS_PER_S, ns_to_seconds, seconds_to_ns
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.models.engine import SemanticEngine
from vlm_seg_ros.runtime.config import PerceptionConfig

# Scan stamps further back than this are time going back (a looping bag), not reordering.
TIME_JUMP_NS = NS_PER_S


@dataclass(frozen=True, eq=False)
class CameraInput:
    """One camera's part of a frame.

    Attributes:
        view: its image, calibration, extrinsic and name.
        stamp_ns: the image's stamp, integer nanoseconds.
        frame_id: the image's frame.

    """

    view: CameraView
    stamp_ns: int
    frame_id: str


@dataclass(frozen=True, eq=False)
class FrameInputs:
    """One synchronised frame, decoded.

    Attributes:
        points: (N, 3) float32, metres, in the LiDAR frame.
        intensity: (N,) float32 when the ground reflection filter wants it, else None.
        stamp_ns: the scan's stamp, integer nanoseconds.
        frame_id: the outputs' frame (``target_frame``, else the cloud's).
        lidar_to_target: LiDAR frame -> ``frame_id`` at the scan's stamp.
        cameras: the cameras that came with the scan, in the configuration's order (none:
            the scan alone).

    """

    points: npt.NDArray[np.float32]
    intensity: npt.NDArray[np.float32] | None
    stamp_ns: int
    frame_id: str
    lidar_to_target: RigidTransform
    cameras: tuple[CameraInput, ...] = ()

    @property
    def camera(self) -> CameraView | None:
        """The first camera's view; None for the scan alone."""
        return self.cameras[0].view if self.cameras else None


class DropReason(StrEnum):
    """Why a message or a frame (or a frame's camera part) was dropped: counted per reason."""

    REPLACED_BY_NEWER_FRAME = 'replaced_by_newer_frame'
    UNSYNCHRONISED = 'unsynchronised'
    LATE = 'late'
    STAMP_TOO_OLD = 'stamp_too_old'
    STAMP_IN_FUTURE = 'stamp_in_future'
    INVALID_POINTS = 'invalid_points'
    INVALID_IMAGE = 'invalid_image'
    INVALID_CAMERA_INFO = 'invalid_camera_info'
    IMAGE_SIZE_MISMATCH = 'image_size_mismatch'
    NO_TRANSFORM = 'no_transform'
    NO_CAMERA_TRANSFORM = 'no_camera_transform'  # a camera without an extrinsic
    UNDECODABLE_MESSAGE = 'undecodable_message'  # a bag message its type cannot read
    ERROR = 'error'


# A bad camera part costs the frame only its camera part: the scan is still processed.
CAMERA_REASONS = frozenset({DropReason.INVALID_IMAGE, DropReason.INVALID_CAMERA_INFO,
                            DropReason.IMAGE_SIZE_MISMATCH, DropReason.NO_CAMERA_TRANSFORM})


class Event(StrEnum):
    """What the runner tells its caller (to log, and to count on /diagnostics)."""

    TIME_RESET = 'time_reset'
    TRACKS_EXPIRED = 'tracks_expired'
    PROMPT_IGNORED = 'prompt_ignored'


@dataclass(frozen=True)
class StampProblem:
    """Why a message's stamp is refused: ``reason`` (a drop reason) and a sentence."""

    reason: DropReason
    text: str


@dataclass(frozen=True)
class PointPrompt:
    """A point to segment (e.g. RViz's Publish Point): metres, in ``frame_id``."""

    xyz: tuple[float, float, float]
    frame_id: str


class FrameRunner:
    """Turns decoded frames into scene frames by the rules above; keeps their state.

    Thread-safe where the node needs it: subscriptions call :meth:`check_stamp`,
    :meth:`scan_arrived` and :meth:`add_point_prompt` while a worker calls :meth:`run` and
    :meth:`observe`, and a parameter change calls :meth:`reconfigure`.
    """

    def __init__(self, config: PerceptionConfig, engine: SemanticEngine, *,
                 notify: Callable[[Event, str], None] | None = None) -> None:
        """Start with no tracks; ``notify(event, text)`` hears of resets and ignored prompts."""
        self.config = config
        self.scene = ScenePipeline(config)
        self.engine = engine
        self._notify = notify or (lambda event, text: None)
        self._lock = threading.Lock()
        self._last_stamp: int | None = None  # the last frame run, ns
        self._last_scan: int | None = None  # the newest scan that arrived, ns
        self._expire_before: int | None = None  # a scan after a dropout: tracks expire
        self._prompts: list[PointPrompt] = []

    # Arrivals --------------------------------------------------------------------------------
    def check_stamp(self, stamp_ns: int, now_ns: int, topic: str) -> StampProblem | None:
        """Return why a message on ``topic`` stamped ``stamp_ns`` is refused, or None.

        ``now_ns`` is the clock the stamps are judged by (the node's, the sim clock with
        ``use_sim_time``); 0 means there is none yet (before the first ``/clock``): nothing
        is refused.
        """
        if now_ns == 0:
            return None
        sync = self.config.sync
        ahead = ns_to_seconds(stamp_ns - now_ns)
        if sync.max_stamp_age and -ahead > sync.max_stamp_age:
            return StampProblem(DropReason.STAMP_TOO_OLD, (
                f"a message: {topic} is stamped {-ahead:.1f} s before the node's clock "
                f'(sync.max_stamp_age {sync.max_stamp_age:g} s): an unset stamp, or a bag '
                'played without --clock and use_sim_time:=true?'))
        if sync.max_stamp_lead and ahead > sync.max_stamp_lead:
            return StampProblem(DropReason.STAMP_IN_FUTURE, (
                f"a message: {topic} is stamped {ahead:.1f} s after the node's clock "
                f'(sync.max_stamp_lead {sync.max_stamp_lead:g} s): are the clocks of the '
                'sensor and this computer synchronised (chrony, PTP)?'))
        return None

    def scan_arrived(self, stamp_ns: int) -> None:
        """Note an arriving scan; one after a dropout makes every track expire.

        After more than ``tracking.max_age`` s without any scan, the tracks expire at the next
        frame run from this scan on. An out-of-order scan (older than the newest by less than
        a time jump) changes nothing.
        """
        with self._lock:
            last = self._last_scan
            if last is not None and 0 < last - stamp_ns <= TIME_JUMP_NS:
                return
            self._last_scan = stamp_ns
            if last is not None and stamp_ns - last > seconds_to_ns(self.config.tracking.max_age):
                self._expire_before = stamp_ns

    def add_point_prompt(self, prompt: PointPrompt) -> None:
        """Segment what is at this point in the next frame's image."""
        with self._lock:
            self._prompts.append(prompt)

    # Frames ----------------------------------------------------------------------------------
    def run(self, inputs: FrameInputs, *, render_overlay: bool | Collection[str]) -> SceneFrame:
        """Run one frame: resets due, models' results in, the pipeline, the description.

        The caller publishes the returned frame, then calls :meth:`observe` with it.
        """
        scene, engine = self.scene, self.engine
        with self._lock:
            if self._last_stamp is not None and inputs.stamp_ns < self._last_stamp:
                self._restart(Event.TIME_RESET, (
                    f'time went back from {ns_to_seconds(self._last_stamp):.3f} s to '
                    f'{ns_to_seconds(inputs.stamp_ns):.3f} s '
                    '(a looping bag, a simulator reset): tracks restart'))
            if self._expire_before is not None and inputs.stamp_ns >= self._expire_before:
                self._expire_before = None
                self._restart(Event.TRACKS_EXPIRED, (
                    f'no scan for more than tracking.max_age ({self.config.tracking.max_age:g} '
                    's): every track expired'))
            self._last_stamp = inputs.stamp_ns
            scene = self.scene
        engine.apply(scene.geometry.tracker.tracks, inputs.stamp_ns)
        frame = scene.process(
            inputs.points, inputs.stamp_ns, lidar_to_target=inputs.lidar_to_target,
            cameras=[camera.view for camera in inputs.cameras], intensity=inputs.intensity,
            render_overlay=render_overlay,
            overlay_max_width=self.config.outputs.overlay_max_width, masks=engine.masks,
            captions=engine.captions())
        return engine.finish(frame)

    def observe(self, frame: SceneFrame, inputs: FrameInputs) -> None:
        """Hand a published frame to the models, with the point prompts waiting for an image."""
        if not inputs.cameras:
            return
        with self._lock:
            prompts, self._prompts = self._prompts, []
        for prompt in prompts:
            found = self._project(prompt, inputs)
            if found is not None:
                self.engine.add_point_prompt(*found)
        self.engine.observe(frame, {camera.view.name: camera.view.image
                                    for camera in inputs.cameras})

    def _project(self, prompt: PointPrompt, inputs: FrameInputs
                 ) -> tuple[float, float, str] | None:
        """Return the pixel and camera of a point prompt: the first camera it lands in."""
        if prompt.frame_id != inputs.frame_id:
            self._notify(Event.PROMPT_IGNORED, (
                f'ignored a point prompt in frame {prompt.frame_id!r}: point prompts must be in '
                f'the graph frame {inputs.frame_id!r}'))
            return None
        lidar = inputs.lidar_to_target.inverse().apply(np.array([prompt.xyz]))
        for camera in inputs.cameras:
            view = camera.view
            projection = project_points(lidar, view.camera,
                                        rectified=view.is_rectified(self.config.camera.rectified),
                                        transform=view.lidar_to_camera)
            if projection.indices.size:
                u, v = projection.pixels[0]
                return float(u), float(v), view.name
        # Behind every camera or outside its image.
        self._notify(Event.PROMPT_IGNORED, 'ignored a point prompt outside every camera image')
        return None

    # Configuration ---------------------------------------------------------------------------
    def reconfigure(self, config: PerceptionConfig) -> bool:
        """Use a new configuration from the next frame; return whether the tracks restart.

        A change to segmentation, tracking, relations or the camera rebuilds the pipeline
        (the new tracker numbers its tracks from 1 again, so the models' results restart too);
        other changes (masks, labels, prompts, outputs, sync) keep the tracks.
        """
        with self._lock:
            old = self.config
            restart = config.geometry != old.geometry or config.camera != old.camera
            if restart:
                self.scene = ScenePipeline(config)
                self.engine.reset()
            else:
                self.scene.reconfigure(config)
            self.engine.reconfigure(config)
            self.config = config
        return restart

    def _restart(self, event: Event, text: str) -> None:
        self.scene.reset()
        self.engine.reset()
        self._notify(event, text)
