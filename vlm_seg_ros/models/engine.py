"""The learning side of the pipeline: models on background workers, results on track ids.

:class:`SemanticEngine` sits beside :class:`~vlm_seg_ros.core.scene.ScenePipeline`. After every
frame, :meth:`SemanticEngine.observe` hands work to two latest-only workers, only when the
worker is free (so nothing queues and nothing is lost):

- the *mask* worker encodes the image once and decodes every visible track's box prompt
  (LiDAR-prompted masks), the text prompts (SAM 3) and the external point/box prompts;
- the *label* worker names the tracks that :class:`~vlm_seg_ros.core.semantics.LabelPolicy`
  says are due (new, changed or stale) and, every ``labels.scene_period`` seconds, describes the
  whole frame.

Results wait in a queue and are applied on the frame thread by :meth:`apply` before the next
frame (votes on tracks, masks and captions by track id), so the geometry never waits for a
model and nothing else touches the tracks. Models load on a background thread; a missing model
is logged once with how to fetch it and the engine runs without it. A model call that fails is
counted, its job dropped and the worker goes on with the next (after running out of memory, the
garbage is collected and torch's CUDA cache emptied first); a model that fails three times in a
row is switched off with the reason logged, and the node goes on without it.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
import gc
import threading
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.pixels import PixelBox, corners_array
from vlm_seg_ros.core.scene import SceneConfig, SceneFrame
from vlm_seg_ros.core.semantics import (
    LabelPolicy,
    LabelRequest,
    MaskSource,
    PromptConfig,
    TrackMask,
)
from vlm_seg_ros.core.stamps import seconds_to_ns
from vlm_seg_ros.core.tracking import Track
from vlm_seg_ros.core.worker import LatestOnlyWorker
from vlm_seg_ros.errors import VlmSegError
from vlm_seg_ros.models import loading
from vlm_seg_ros.models.base import Describer, Naming, Segmenter, TextSegmenter

# Consecutive failures after which a model is switched off.
MAX_FAILURES = 3
# Smallest box IoU between a prompted mask and a track's LiDAR box for them to match.
MATCH_IOU = 0.3


class ModelUnavailableError(VlmSegError):
    """The model needed for a request is not loaded (missing, failed or disabled)."""


class ModelState(StrEnum):
    """Where a model role stands (``/diagnostics`` shows it)."""

    DISABLED = 'disabled'  # not configured (an empty name), or text prompts not asked for yet
    LOADING = 'loading'
    LOADED = 'loaded'
    MISSING = 'missing'  # not in the local cache
    FAILED = 'failed'  # failed to load, or switched off after failing calls


@dataclass
class ModelSlot:
    """One model role: its name, state and the loaded backend."""

    role: str
    name: str
    state: ModelState = ModelState.DISABLED
    reason: str = ''
    backend: Any = None
    failures: int = 0
    device: str = ''

    @property
    def ready(self) -> bool:
        """Return whether the model can be used."""
        return self.state == ModelState.LOADED

    def status(self) -> str:
        """Return a one-line status, e.g. ``'loaded facebook/sam2.1-hiera-tiny on cpu'``."""
        if self.state == ModelState.LOADED:
            return f'loaded {self.name} on {self.device}'
        if self.state == ModelState.DISABLED:
            return str(ModelState.DISABLED)
        return f'{self.state} {self.name}' + (f': {self.reason}' if self.reason else '')


@dataclass(frozen=True, eq=False)
class CameraJob:
    """What the mask worker needs from one camera's image (encoded once, if at all)."""

    camera: str
    image: npt.NDArray[np.uint8]
    visible: list[tuple[int, PixelBox]]  # tracks this camera sees best: id, LiDAR image box
    boxes: list[tuple[int, PixelBox]]  # those that get a box prompt
    points: list[tuple[float, float]]  # external point prompts, pixels
    box_prompts: list[PixelBox]  # external box prompts


@dataclass(frozen=True, eq=False)
class MaskJob:
    """What the mask worker needs from one frame."""

    stamp: int
    cameras: list[CameraJob]
    prompts: list[str]  # SAM 3 text prompts, looked for in every camera's image
    generation: int


@dataclass(frozen=True, eq=False)
class LabelJob:
    """What the label worker needs from one frame."""

    stamp: int
    requests: list[LabelRequest]
    scene: npt.NDArray[np.uint8] | None  # the whole image when a description is due
    generation: int


@dataclass
class _Results:
    generation: int = 0
    masks: dict[int, TrackMask] = field(default_factory=dict)
    votes: list[tuple[int, str, float]] = field(default_factory=list)
    namings: list[tuple[LabelRequest, Naming]] = field(default_factory=list)
    failed: list[LabelRequest] = field(default_factory=list)
    description: tuple[str, int] | None = None


class SemanticEngine:
    """Run segmenters and the describer beside the scene pipeline (see the module doc)."""

    def __init__(self, models: loading.ModelConfig, scene: SceneConfig, *,
                 log: Callable[[str, str], None], inline: bool = False,
                 cache_dir: str | None = None) -> None:
        """Set up the slots and workers; call :meth:`start` to load the models.

        Args:
            models: which models, device, dtype, quantization.
            scene: the pipeline's config (``masks.*``, ``labels.*``, ``prompts.*``).
            log: ``log(level, text)`` with level ``'info'``, ``'warn'`` or ``'error'``.
            inline: run model work synchronously inside :meth:`observe` (deterministic, for
                offline processing and tests) instead of on the workers.
            cache_dir: a Hugging Face cache other than the default.

        """
        self.models = models
        self.scene = scene
        self._log = log
        self.inline = inline
        self._cache_dir = cache_dir
        self.device = loading.select_device(models.device)
        self.dtype = loading.select_dtype(models.dtype, self.device)
        self.segmenter = ModelSlot('segmenter', models.segmenter)
        self.text_segmenter = ModelSlot('text_segmenter', models.text_segmenter)
        self.describer = ModelSlot('describer', models.describer_for(self.device))
        self.policy = LabelPolicy(scene.labels)
        self.counters: Counter[str] = Counter()
        self.masks: dict[int, TrackMask] = {}
        self.description: tuple[str, int] | None = None
        self.prompts = scene.prompts.phrases
        self._points: list[tuple[str | None, float, float]] = []  # camera, u, v
        self._box_prompts: list[tuple[str | None, PixelBox]] = []
        self._last_scene: int | None = None
        self._latest: tuple[npt.NDArray[np.uint8], int] | None = None
        self._pending: deque[_Results] = deque()
        self._generation = 0  # bumped by reset(): results of older jobs are dropped
        self._vlm_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self._mask_worker: LatestOnlyWorker[MaskJob] = LatestOnlyWorker(
            self._run_masks, on_error=self._job_failed, name='vlm_seg_masks')
        self._label_worker: LatestOnlyWorker[LabelJob] = LatestOnlyWorker(
            self._run_labels, on_error=self._job_failed, name='vlm_seg_labels')

    # Loading ---------------------------------------------------------------------------------
    def start(self, *, wait: bool = False) -> None:
        """Load the configured models on a background thread (``wait``: in this call)."""
        slots = [self.segmenter, self.describer]
        if self.prompts:
            slots.append(self.text_segmenter)
        for slot in slots:
            if slot.name and slot.state == ModelState.DISABLED:
                slot.state = ModelState.LOADING
        if any(slot.state == ModelState.LOADING for slot in slots):
            self._log('info', f'models run on {self.device} ({str(self.dtype).split(".")[-1]}'
                      f'{", int8 dynamic quantization" if self.models.quantize else ""})')
        self._loader = threading.Thread(target=self._load_all, args=(slots,),
                                        name='vlm_seg_model_loader', daemon=True)
        self._loader.start()
        if wait:
            self._loader.join()

    def wait_loaded(self, timeout: float | None = None) -> None:
        """Block until the loading thread (if any) is done."""
        if self._loader is not None:
            self._loader.join(timeout)

    def _load_all(self, slots: Sequence[ModelSlot]) -> None:
        for slot in slots:
            if slot.state == ModelState.LOADING:
                self._load(slot)

    def _load(self, slot: ModelSlot) -> None:
        with self._load_lock:
            started = time.perf_counter()
            try:
                slot.backend = self._build(slot)
            except loading.ModelMissingError as exc:
                slot.state, slot.reason = ModelState.MISSING, str(exc)
                self._log('warn', f'{slot.role}: {exc}. Running without it.')
                return
            except Exception as exc:  # noqa: BLE001 - any loading failure leaves geometry up
                slot.state, slot.reason = ModelState.FAILED, f'{type(exc).__name__}: {exc}'
                self._log('error', f'{slot.role} {slot.name!r} failed to load ({slot.reason});'
                          ' running without it.')
                return
            slot.state, slot.device, slot.failures = ModelState.LOADED, self.device, 0
            self._log('info', f'{slot.role}: loaded {slot.name} on {self.device} in '
                      f'{time.perf_counter() - started:.1f} s')

    def _build(self, slot: ModelSlot) -> Any:
        models = self.models
        if slot is self.segmenter and models.segmenter_backend == 'sam2':
            from vlm_seg_ros.models.segmenters import MetaSam2Segmenter
            return MetaSam2Segmenter.load(slot.name, device=self.device)
        path = loading.resolve(slot.name, cache_dir=self._cache_dir)
        device, dtype, quantize = self.device, self.dtype, models.quantize
        if slot is self.segmenter:
            from vlm_seg_ros.models.segmenters import Sam2Segmenter
            return Sam2Segmenter.load(path, name=slot.name, device=device, dtype=dtype,
                                      quantize=quantize)
        if slot is self.text_segmenter:
            from vlm_seg_ros.models.segmenters import Sam3TextSegmenter
            return Sam3TextSegmenter.load(path, name=slot.name, device=device, dtype=dtype,
                                          quantize=quantize)
        from vlm_seg_ros.models.describers import SmolVlmDescriber
        labels = self.scene.labels
        return SmolVlmDescriber.load(path, name=slot.name, device=device, dtype=dtype,
                                     quantize=quantize, captions=labels.captions,
                                     max_crops_per_call=labels.max_per_call)

    def status(self) -> dict[str, str]:
        """Return each model role's one-line status."""
        return {slot.role: slot.status()
                for slot in (self.segmenter, self.text_segmenter, self.describer)}

    # Prompts ---------------------------------------------------------------------------------
    def set_prompts(self, text: str) -> None:
        """Replace the text prompts (comma-separated); loads SAM 3 on first use."""
        self.prompts = PromptConfig(text=text).phrases
        slot = self.text_segmenter
        if self.prompts and slot.name and slot.state == ModelState.DISABLED:
            slot.state = ModelState.LOADING
            threading.Thread(target=self._load, args=(slot,), name='vlm_seg_sam3_loader',
                             daemon=True).start()

    def reconfigure(self, scene: SceneConfig) -> None:
        """Use new ``masks.*``, ``labels.*`` and ``prompts.*`` from the next frame on."""
        previous, self.scene = self.scene, scene
        self.policy.config = scene.labels
        if scene.prompts != previous.prompts:  # else keep those set on ~/prompts/text
            self.set_prompts(scene.prompts.text)

    def add_point_prompt(self, u: float, v: float, camera: str | None = None) -> None:
        """Segment what is at pixel ``(u, v)`` in the camera's next image (e.g. an RViz click).

        ``camera`` None, or one not in the next frame: its first camera.
        """
        self._points.append((camera, float(u), float(v)))

    def add_box_prompt(self, box: PixelBox, camera: str | None = None) -> None:
        """Segment what is in ``box`` in the camera's next image (None: the first camera)."""
        self._box_prompts.append((camera, box))

    # Per frame -------------------------------------------------------------------------------
    def apply(self, tracks: Sequence[Track], stamp: int) -> None:
        """Attach results that arrived since the last frame to the live tracks, by id."""
        by_id = {track.id: track for track in tracks}
        while self._pending:
            results = self._pending.popleft()
            if results.generation != self._generation:
                continue
            self.masks.update(results.masks)
            for track_id, label, confidence in results.votes:
                if track_id in by_id:
                    by_id[track_id].vote(label, confidence)
            for request, naming in results.namings:
                if naming.label and request.track_id in by_id:
                    by_id[request.track_id].vote(naming.label, naming.confidence)
                self.policy.answered(request, naming.caption)
            self.policy.failed(results.failed)
            if results.description is not None:
                self.description = results.description
        max_age = seconds_to_ns(self.scene.masks.max_age)
        self.masks = {k: m for k, m in self.masks.items()
                      if k in by_id and stamp - m.stamp <= max_age}
        self.policy.forget(by_id)

    def reset(self) -> None:
        """Forget everything attached to track ids (call when the tracker restarts its ids)."""
        self._generation += 1
        self.masks = {}
        self.policy = LabelPolicy(self.scene.labels)
        self._pending.clear()

    def captions(self) -> dict[int, str]:
        """Return the latest caption of each track that has one."""
        return {k: v.caption for k, v in self.policy.labelled.items() if v.caption}

    def finish(self, frame: SceneFrame) -> SceneFrame:
        """Return ``frame`` with the model's scene description, when there is one."""
        if self.description is None:
            return frame
        text, stamp = self.description
        return replace(frame, description=text, description_stamp=stamp)

    def observe(self, frame: SceneFrame, images: Mapping[str, npt.NDArray[np.uint8]]) -> None:
        """Hand this frame's work to the free workers (or run it now when ``inline``).

        ``images``: the frame's camera images by camera name, in the frame's camera order.
        Each object is prompted and named in the camera that sees it best
        (``ObjectView.camera``); the scene description and ``ask`` use the first camera.
        """
        if not images:
            return
        first = next(iter(images))
        self._latest = (images[first], frame.stamp)
        visible = [(o.track.id, o.camera, o.lidar_box) for o in frame.objects
                   if o.lidar_box is not None and o.segment is not None
                   and o.camera is not None and o.camera in images]
        if (self.segmenter.ready or (self.text_segmenter.ready and self.prompts)) \
                and (self.inline or self._mask_worker.idle()):
            job = self._mask_job(frame.stamp, images, visible)
            self._submit(self._mask_worker, self._run_masks, job)
        if self.describer.ready and (self.inline or self._label_worker.idle()):
            requests = self.policy.due(images, frame.stamp, visible)
            scene_period = self.scene.labels.scene_period
            scene = None
            last = self._last_scene
            if scene_period > 0 and (last is None or frame.stamp < last
                                     or frame.stamp - last >= seconds_to_ns(scene_period)):
                scene, self._last_scene = images[first], frame.stamp
            if requests or scene is not None:
                self._submit(self._label_worker, self._run_labels,
                             LabelJob(frame.stamp, requests, scene, self._generation))

    def _mask_job(self, stamp: int, images: Mapping[str, npt.NDArray[np.uint8]],
                  visible: list[tuple[int, str, PixelBox]]) -> MaskJob:
        min_pixels = self.scene.masks.min_pixels
        ready = self.segmenter.ready
        points, self._points = self._points, []
        box_prompts, self._box_prompts = self._box_prompts, []
        first = next(iter(images))

        def camera_of(name: str | None) -> str:
            return name if name is not None and name in images else first

        cameras = []
        for name, image in images.items():
            seen = [(i, b) for i, c, b in visible if c == name]
            cameras.append(CameraJob(
                name, image, seen,
                [(i, b) for i, b in seen if min(b.width, b.height) >= min_pixels] if ready
                else [],
                [(u, v) for c, u, v in points if camera_of(c) == name] if ready else [],
                [b for c, b in box_prompts if camera_of(c) == name] if ready else []))
        return MaskJob(stamp, cameras, list(self.prompts) if self.text_segmenter.ready else [],
                       self._generation)

    def _submit(self, worker: LatestOnlyWorker[Any], run: Callable[[Any], None],
                job: Any) -> None:
        if self.inline:
            try:
                run(job)
            except Exception as exc:  # noqa: BLE001 - same handling as on the worker
                self._job_failed(job, exc)
        else:
            worker.submit(job)

    # Workers ---------------------------------------------------------------------------------
    def _run_masks(self, job: MaskJob) -> None:
        results = _Results(job.generation)
        for camera in job.cameras:
            self._camera_masks(results, job, camera)
        self.counters['mask_jobs'] += 1
        self._pending.append(results)

    def _camera_masks(self, results: _Results, job: MaskJob, camera: CameraJob) -> None:
        """Every prompt of one camera's image against one encoding of it."""
        size = (camera.image.shape[0], camera.image.shape[1])
        segmenter: Segmenter | None = self.segmenter.backend if self.segmenter.ready else None
        if segmenter is not None and (camera.boxes or camera.points or camera.box_prompts):
            encoding = self._call(self.segmenter, segmenter.encode, camera.image)
            self.counters['encodings'] += 1
            if camera.boxes:
                margin = self.scene.masks.box_margin
                prompts = corners_array([b.expanded(margin, size) for _, b in camera.boxes])
                masks = self._call(self.segmenter, segmenter.segment, encoding, boxes=prompts)
                self.counters['box_prompts'] += len(masks)
                for (track_id, box), result in zip(camera.boxes, masks, strict=True):
                    mask = TrackMask.from_mask(result.mask, stamp=job.stamp, reference=box,
                                               score=result.score, camera=camera.camera)
                    if mask is not None:
                        results.masks[track_id] = mask
            external = []
            if camera.points:
                external += self._call(self.segmenter, segmenter.segment, encoding,
                                       points=np.array(camera.points, np.float32)[:, None])
            if camera.box_prompts:
                external += self._call(self.segmenter, segmenter.segment, encoding,
                                       boxes=corners_array(camera.box_prompts))
            for result in external:
                self._attach(results, job, camera, result.mask, result.score,
                             MaskSource.PROMPT, None)
        text: TextSegmenter | None = (self.text_segmenter.backend
                                      if self.text_segmenter.ready else None)
        if text is not None and job.prompts:
            for found in self._call(self.text_segmenter, text.segment_text, camera.image,
                                    job.prompts):
                self._attach(results, job, camera, found.mask, found.score, MaskSource.TEXT,
                             found.prompt)

    def _attach(self, results: _Results, job: MaskJob, camera: CameraJob,
                mask: npt.NDArray[np.bool_], score: float, source: MaskSource,
                label: str | None) -> None:
        """Give a prompted mask to the track whose LiDAR box it overlaps most in its camera."""
        cut = TrackMask.from_mask(mask, stamp=job.stamp, reference=PixelBox(0, 0, 0, 0),
                                  score=score, source=source, camera=camera.camera)
        if cut is None:
            return
        mask_box = PixelBox(*cut.origin, cut.crop.shape[1], cut.crop.shape[0])
        best = max(camera.visible, key=lambda item: item[1].iou(mask_box), default=None)
        if best is None or best[1].iou(mask_box) < MATCH_IOU:
            self.counters['unmatched_masks'] += 1
            return
        track_id, box = best
        if label is not None:
            results.votes.append((track_id, label, score))
        if source == MaskSource.PROMPT or track_id not in results.masks:
            results.masks[track_id] = replace(cut, reference=box)

    def _run_labels(self, job: LabelJob) -> None:
        results = _Results(job.generation)
        describer: Describer = self.describer.backend
        try:
            if job.requests:
                namings = self._call(self.describer, describer.name_objects,
                                     [r.crop for r in job.requests])
                results.namings = list(zip(job.requests, namings, strict=True))
                self.counters['crops_named'] += len(job.requests)
            if job.scene is not None:
                text = self._call(self.describer, describer.describe, job.scene)
                results.description = (text.strip(), job.stamp)
                self.counters['descriptions'] += 1
        except BaseException:
            results.failed = [r for r in job.requests
                              if r not in {n[0] for n in results.namings}]
            self._pending.append(results)
            raise
        self._pending.append(results)

    def _call(self, slot: ModelSlot, function: Callable[..., Any], *args: Any,
              **kwargs: Any) -> Any:
        """Call a model; count consecutive failures and switch it off after too many."""
        try:
            if slot is self.describer:
                with self._vlm_lock:
                    result = function(*args, **kwargs)
            else:
                result = function(*args, **kwargs)
        except Exception as exc:
            slot.failures += 1
            if _out_of_memory(exc):
                self.counters['out_of_memory'] += 1
                _free_memory()  # let the next call (or the other model) have the memory back
            if slot.failures >= MAX_FAILURES and slot.state == ModelState.LOADED:
                slot.state = ModelState.FAILED
                slot.reason = f'{slot.failures} calls in a row failed, last: ' \
                    f'{type(exc).__name__}: {exc}'
                slot.backend = None
                self._log('error', f'{slot.role} switched off ({slot.reason}); the node goes '
                          'on without it')
            raise
        slot.failures = 0
        return result

    def _job_failed(self, job: object, exc: BaseException) -> None:
        self.counters['failed_jobs'] += 1
        self._log('warn', f'model work on frame {getattr(job, "stamp", "?")} failed '
                  f'({type(exc).__name__}: {exc})')

    # Questions -------------------------------------------------------------------------------
    def ask(self, question: str) -> tuple[str, int]:
        """Answer a free-text question about the latest image; returns (answer, its stamp, ns).

        Raises:
            ModelUnavailableError: if no describer is loaded or no image was seen yet.

        """
        if not self.describer.ready:
            msg = f'no vision-language model: {self.describer.status()}'
            raise ModelUnavailableError(msg)
        if self._latest is None:
            msg = 'no camera image received yet'
            raise ModelUnavailableError(msg)
        image, stamp = self._latest
        describer: Describer = self.describer.backend
        answer = self._call(self.describer, describer.answer, image, question)
        self.counters['questions'] += 1
        return str(answer).strip(), stamp

    def idle(self) -> bool:
        """Return whether no model work is waiting or running."""
        return self._mask_worker.idle() and self._label_worker.idle()

    def stop(self) -> None:
        """Stop the workers (the current model call finishes in the background)."""
        self._mask_worker.stop(timeout=0.5)
        self._label_worker.stop(timeout=0.5)


def _out_of_memory(exc: BaseException) -> bool:
    """Return whether ``exc`` is running out of host or accelerator memory."""
    return isinstance(exc, MemoryError) or type(exc).__name__ == 'OutOfMemoryError' \
        or 'out of memory' in str(exc).lower()


def _free_memory() -> None:
    """Return the memory of a failed call: collect its garbage, empty torch's CUDA cache."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
