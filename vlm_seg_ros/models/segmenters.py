"""Segmenter backends: SAM 2 / 2.1 and SAM 3 through transformers, SAM 2 through Meta's package.

:class:`Sam2Segmenter` encodes an image once (``Sam2Model.get_image_embeddings``) and decodes
every box or point prompt of the frame against that encoding in batches
(``Sam2Model(image_embeddings=..., input_boxes=...)``). :class:`Sam3TextSegmenter` finds every
instance of each text prompt (``Sam3Model``; vision features computed once per image, one
decoder pass per prompt). :class:`MetaSam2Segmenter` wraps ``sam2.SAM2ImagePredictor`` where
Meta's ``sam2`` package is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from vlm_seg_ros.core.pixels import PixelBox
from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.models import loading
from vlm_seg_ros.models.base import Image, PromptMask, TextMask, check_image
from vlm_seg_ros.models.preprocessing import (
    IMAGENET_DEFAULT,
    IMAGENET_STANDARD,
    SamPreprocessing,
    upsample_masks,
)

# Prompts decoded per mask-decoder call (bounds memory with many objects in view).
DECODE_BATCH = 32


@dataclass(frozen=True, eq=False)
class Sam2Encoding:
    """SAM 2's multi-level image features of one image."""

    features: list[torch.Tensor]
    image_size: tuple[int, int]


class Sam2Segmenter:
    """SAM 2 / 2.1 box and point prompts through transformers' ``Sam2Model``."""

    def __init__(self, model: Any, preprocessing: SamPreprocessing, *, name: str,
                 device: str) -> None:
        """Wrap a loaded model (see :meth:`load`)."""
        self.model = model
        self.preprocessing = preprocessing
        self.name = name
        self.device = device
        self.dtype = next(model.parameters()).dtype
        self.encodings = 0
        self.decodes = 0

    @classmethod
    def load(cls, path: Path, *, device: str, dtype: torch.dtype, quantize: bool = False,
             name: str | None = None) -> Sam2Segmenter:
        """Load a SAM 2 checkpoint directory (safetensors only)."""
        from transformers import Sam2Model
        model = loading.load_pretrained(Sam2Model.from_pretrained, path, device=device,
                                        dtype=dtype, quantize=quantize)
        preprocessing = SamPreprocessing.from_checkpoint(path, size=1024,
                                                         normalisation=IMAGENET_DEFAULT)
        return cls(model, preprocessing, name=name or path.name, device=device)

    @torch.inference_mode()
    def encode(self, image: Image) -> Sam2Encoding:
        """Run the image encoder once."""
        pixels = self.preprocessing.pixel_values(image, device=self.device, dtype=self.dtype)
        features = self.model.get_image_embeddings(pixels)
        self.encodings += 1
        return Sam2Encoding(list(features), (int(image.shape[0]), int(image.shape[1])))

    @torch.inference_mode()
    def segment(self, encoding: Sam2Encoding, *,
                boxes: npt.NDArray[np.floating] | None = None,
                points: npt.NDArray[np.floating] | None = None,
                point_labels: npt.NDArray[np.integer] | None = None) -> list[PromptMask]:
        """Decode box prompts, or point prompts, against one encoding (see base.Segmenter)."""
        prompts = _check_prompts(boxes, points, point_labels)
        results: list[PromptMask] = []
        for start in range(0, prompts.count, DECODE_BATCH):
            part = slice(start, start + DECODE_BATCH)
            kwargs: dict[str, torch.Tensor] = {}
            if prompts.boxes is not None:
                kwargs['input_boxes'] = self._scaled(prompts.boxes[part], encoding)[None]
            else:
                assert prompts.points is not None and prompts.labels is not None
                kwargs['input_points'] = self._scaled(prompts.points[part], encoding)[None]
                kwargs['input_labels'] = torch.as_tensor(
                    prompts.labels[part], dtype=torch.long, device=self.device)[None]
            # One point is ambiguous (part or whole): take the best of SAM's three masks.
            multimask = prompts.boxes is None and prompts.points is not None \
                and prompts.points.shape[1] == 1
            output = self.model(image_embeddings=encoding.features, multimask_output=multimask,
                                **kwargs)
            self.decodes += 1
            scores = output.iou_scores[0].float()  # (n, masks per prompt)
            best = scores.argmax(dim=1)
            rows = torch.arange(scores.shape[0])
            logits = output.pred_masks[0][rows, best]  # (n, h, w)
            masks = upsample_masks(logits, encoding.image_size)
            results += [PromptMask(mask, float(score)) for mask, score in
                        zip(masks, scores[rows, best].clamp(0, 1).tolist(), strict=True)]
        return results

    def _scaled(self, coords: npt.NDArray[np.float32], encoding: Sam2Encoding) -> torch.Tensor:
        return self.preprocessing.scale_xy(coords, encoding.image_size).to(
            self.device, self.dtype)


class Sam3TextSegmenter:
    """SAM 3 text prompts ("chair", "person") through transformers' ``Sam3Model``."""

    def __init__(self, model: Any, tokenizer: Any, preprocessing: SamPreprocessing, *,
                 name: str, device: str, threshold: float = 0.5) -> None:
        """Wrap a loaded model and its tokenizer (see :meth:`load`)."""
        self.model = model
        self.tokenizer = tokenizer
        self.preprocessing = preprocessing
        self.name = name
        self.device = device
        self.threshold = threshold
        self.dtype = next(model.parameters()).dtype
        self.encodings = 0

    @classmethod
    def load(cls, path: Path, *, device: str, dtype: torch.dtype, quantize: bool = False,
             name: str | None = None, threshold: float = 0.5) -> Sam3TextSegmenter:
        """Load a SAM 3 checkpoint directory (safetensors only) and its CLIP tokenizer."""
        from transformers import AutoTokenizer, Sam3Model
        model = loading.load_pretrained(Sam3Model.from_pretrained, path, device=device,
                                        dtype=dtype, quantize=quantize)
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True,
                                                  trust_remote_code=False)
        preprocessing = SamPreprocessing.from_checkpoint(path, size=1008,
                                                         normalisation=IMAGENET_STANDARD)
        return cls(model, tokenizer, preprocessing, name=name or path.name, device=device,
                   threshold=threshold)

    @torch.inference_mode()
    def segment_text(self, image: Image, prompts: Sequence[str]) -> list[TextMask]:
        """Return every instance of each prompt scoring above the threshold."""
        check_image(image)
        prompts = [p.strip() for p in prompts if p.strip()]
        if not prompts:
            return []
        size = (int(image.shape[0]), int(image.shape[1]))
        pixels = self.preprocessing.pixel_values(image, device=self.device, dtype=self.dtype)
        vision = self.model.get_vision_features(pixel_values=pixels)
        self.encodings += 1
        # As Sam3Processor tokenises: padded to the text encoder's 32 positions.
        text = self.tokenizer(prompts, padding='max_length', max_length=32, truncation=True,
                              return_tensors='pt').to(self.device)
        found: list[TextMask] = []
        for index, prompt in enumerate(prompts):
            output = self.model(vision_embeds=vision,
                                input_ids=text['input_ids'][index:index + 1],
                                attention_mask=text['attention_mask'][index:index + 1])
            # Sam3ImageProcessor.post_process_instance_segmentation: query score times
            # presence score, sigmoid masks upsampled and thresholded at 0.5, boxes xyxy in
            # [0, 1] scaled to the image.
            scores = output.pred_logits[0].float().sigmoid()
            if output.presence_logits is not None:
                scores = scores * output.presence_logits[0].float().sigmoid()
            keep = torch.nonzero(scores > self.threshold).flatten()
            if keep.numel() == 0:
                continue
            masks = upsample_masks(output.pred_masks[0][keep].float().sigmoid(), size, 0.5)
            scale = torch.tensor([size[1], size[0], size[1], size[0]], dtype=torch.float32)
            boxes = (output.pred_boxes[0][keep].float().cpu() * scale).tolist()
            found += [TextMask(prompt, mask, float(score), PixelBox.from_corners(*box))
                      for mask, score, box in zip(masks, scores[keep].tolist(), boxes,
                                                  strict=True)]
        return found


class MetaSam2Segmenter:
    """SAM 2 through Meta's ``sam2`` package (``SAM2ImagePredictor``), where it is installed.

    Meta's checkpoints are ``.pt`` files, which ``sam2`` loads with
    ``torch.load(weights_only=True)`` (tensors only, no code).
    """

    def __init__(self, predictor: Any, *, name: str, device: str) -> None:
        """Wrap a ``SAM2ImagePredictor``."""
        self.predictor = predictor
        self.name = name
        self.device = device
        self.encodings = 0

    @classmethod
    def load(cls, name: str, *, device: str) -> MetaSam2Segmenter:
        """Build the predictor for a Hub id (Meta's ``from_pretrained``, which uses the cache).

        Raises:
            ModelMissingError: if the ``sam2`` package is not installed.

        """
        try:
            from sam2.sam2_image_predictor import SAM2ImagePredictor  # type: ignore[import-not-found]
        except ImportError as exc:
            msg = ("models.segmenter_backend 'sam2' needs Meta's sam2 package "
                   "(pip install sam2); use 'transformers' otherwise")
            raise loading.ModelMissingError(msg) from exc
        predictor = SAM2ImagePredictor.from_pretrained(name, device=device)
        return cls(predictor, name=name, device=device)

    def encode(self, image: Image) -> Any:
        """Run the image encoder once (kept in the predictor and in the returned encoding)."""
        check_image(image)
        self.predictor.set_image(image)
        self.encodings += 1
        return _MetaEncoding(self.predictor._features, self.predictor._orig_hw,  # noqa: SLF001
                             (int(image.shape[0]), int(image.shape[1])))

    def segment(self, encoding: Any, *, boxes: npt.NDArray[np.floating] | None = None,
                points: npt.NDArray[np.floating] | None = None,
                point_labels: npt.NDArray[np.integer] | None = None) -> list[PromptMask]:
        """Decode prompts with ``SAM2ImagePredictor.predict`` (batched boxes or points)."""
        prompts = _check_prompts(boxes, points, point_labels)
        self.predictor._features = encoding.features  # noqa: SLF001 - restore this image
        self.predictor._orig_hw = encoding.orig_hw  # noqa: SLF001
        self.predictor._is_image_set = True  # noqa: SLF001
        masks, scores, _ = self.predictor.predict(
            point_coords=prompts.points, point_labels=prompts.labels, box=prompts.boxes,
            multimask_output=False)
        masks = np.asarray(masks).reshape(prompts.count, -1, *encoding.image_size)[:, 0]
        scores = np.asarray(scores).reshape(prompts.count, -1)[:, 0]
        return [PromptMask(m > 0, float(s)) for m, s in zip(masks, scores, strict=True)]


@dataclass(frozen=True)
class _MetaEncoding:
    features: Any
    orig_hw: Any
    image_size: tuple[int, int]


@dataclass(frozen=True)
class _Prompts:
    count: int
    boxes: npt.NDArray[np.float32] | None
    points: npt.NDArray[np.float32] | None
    labels: npt.NDArray[np.int64] | None


def _check_prompts(boxes: npt.ArrayLike | None, points: npt.ArrayLike | None,
                   point_labels: npt.ArrayLike | None) -> _Prompts:
    if (boxes is None) == (points is None):
        msg = 'give either boxes (N, 4) or points (N, P, 2) as prompts'
        raise InvalidInputError(msg)
    if boxes is not None:
        array = np.asarray(boxes, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != 4 or not np.isfinite(array).all():
            msg = f'boxes must be finite (N, 4) x0, y0, x1, y1 pixels, got shape {array.shape}'
            raise InvalidInputError(msg)
        return _Prompts(len(array), array, None, None)
    array = np.asarray(points, dtype=np.float32)
    if array.ndim != 3 or array.shape[2] != 2 or array.shape[1] < 1 \
            or not np.isfinite(array).all():
        msg = f'points must be finite (N, P, 2) pixels, got shape {array.shape}'
        raise InvalidInputError(msg)
    labels = (np.ones(array.shape[:2], dtype=np.int64) if point_labels is None
              else np.asarray(point_labels, dtype=np.int64))
    if labels.shape != array.shape[:2]:
        msg = f'point_labels must be (N, P) = {array.shape[:2]}, got {labels.shape}'
        raise InvalidInputError(msg)
    return _Prompts(len(array), None, array, labels)
