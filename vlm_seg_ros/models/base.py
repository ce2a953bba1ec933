"""The protocols every model backend implements, and the results they return.

A *segmenter* turns prompts into image masks: :meth:`Segmenter.encode` runs the image encoder
once per frame, :meth:`Segmenter.segment` decodes any number of box or point prompts against
that one encoding. A *text segmenter* (SAM 3) finds every instance of a noun phrase. A
*describer* (a vision-language model) names object crops, describes a whole frame and answers
questions about it. Images are (H, W, 3) uint8 RGB arrays; box prompts are ``(x0, y0, x1, y1)``
pixel rows (:meth:`~vlm_seg_ros.core.pixels.PixelBox.corners`), found boxes
:class:`~vlm_seg_ros.core.pixels.PixelBox`; masks are (H, W) bool arrays the size of the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.pixels import PixelBox
from vlm_seg_ros.errors import InvalidInputError

Image = npt.NDArray[np.uint8]
BoolMask = npt.NDArray[np.bool_]


def check_image(image: object, what: str = 'image') -> None:
    """Raise InvalidInputError unless ``image`` is an (H, W, 3) uint8 array of at least 2x2."""
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[2] == 3 and image.shape[0] >= 2 and image.shape[1] >= 2):
        shape = getattr(image, 'shape', None)
        dtype = getattr(image, 'dtype', type(image).__name__)
        msg = f'{what}: expected an (H, W, 3) uint8 RGB array of at least 2x2, got {shape} {dtype}'
        raise InvalidInputError(msg)


@dataclass(frozen=True, eq=False)
class PromptMask:
    """The mask one prompt produced.

    Attributes:
        mask: (H, W) bool, the size of the encoded image.
        score: the model's own quality estimate (SAM's predicted IoU), in [0, 1].

    """

    mask: BoolMask
    score: float


@dataclass(frozen=True, eq=False)
class TextMask:
    """One instance of a text prompt.

    Attributes:
        prompt: the noun phrase that found it.
        mask: (H, W) bool, the size of the image.
        score: detection confidence in [0, 1].
        box: the pixels it covers.

    """

    prompt: str
    mask: BoolMask
    score: float
    box: PixelBox


@dataclass(frozen=True)
class Naming:
    """A describer's answer for one object crop.

    Attributes:
        label: short normalised noun phrase (lower case, no article), e.g. ``"office chair"``;
            empty when the model gave nothing usable.
        confidence: in [0, 1] (from the answer's token probabilities); 0 when ``label`` is
            empty.
        caption: one short sentence about the object; may be empty.

    """

    label: str
    confidence: float
    caption: str = ''


class ImageEncoding(Protocol):
    """A segmenter's encoding of one image (opaque to callers)."""

    @property
    def image_size(self) -> tuple[int, int]:
        """Return the encoded image's ``(height, width)``."""
        ...


class Segmenter(Protocol):
    """Promptable segmentation: one encoding per image, any number of prompts against it."""

    name: str
    device: str
    encodings: int  # images encoded so far (the expensive step)

    def encode(self, image: Image) -> ImageEncoding:
        """Run the image encoder once."""
        ...

    def segment(self, encoding: ImageEncoding, *,
                boxes: npt.NDArray[np.floating] | None = None,
                points: npt.NDArray[np.floating] | None = None,
                point_labels: npt.NDArray[np.integer] | None = None) -> list[PromptMask]:
        """Decode prompts against an encoding; one mask per prompt, in prompt order.

        Args:
            encoding: from :meth:`encode`.
            boxes: (N, 4) ``x0, y0, x1, y1`` pixels: N box prompts (rows of
                :func:`~vlm_seg_ros.core.pixels.corners_array`).
            points: (N, P, 2) pixels: N prompts of P points each (when no ``boxes``).
            point_labels: (N, P), 1 = foreground, 0 = background; default all foreground.

        """
        ...


class TextSegmenter(Protocol):
    """Open-vocabulary segmentation: every instance of each noun phrase."""

    name: str
    device: str

    def segment_text(self, image: Image, prompts: Sequence[str]) -> list[TextMask]:
        """Return the instances of every prompt found in the image."""
        ...


class Describer(Protocol):
    """A vision-language model that names objects and describes scenes."""

    name: str
    device: str

    def name_objects(self, crops: Sequence[Image]) -> list[Naming]:
        """Name the main object of each crop; one result per crop, in order."""
        ...

    def describe(self, image: Image) -> str:
        """Describe the whole scene in a few sentences."""
        ...

    def answer(self, image: Image, question: str) -> str:
        """Answer a free-text question about the image."""
        ...
