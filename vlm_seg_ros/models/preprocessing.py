"""SAM 2 / SAM 3 image pre- and post-processing, as their transformers processors do it.

transformers' ``Sam2ImageProcessor`` and ``Sam3ImageProcessor`` need torchvision, which has no
CPU build for the pinned torch, so this small module does the same documented steps with torch
and OpenCV: resize the RGB image to the model's square input size (OpenCV's area averaging on
the uint8 image, which antialiases as the processors' resize does; a 4K frame is never turned
into floats at full size), rescale by 1/255, normalise with the checkpoint's mean and std;
scale prompt coordinates from the image to the input size per axis
(``Sam2Processor._normalize_coordinates``); upsample mask logits bilinearly
(``align_corners=False``) to the image size and threshold them (``post_process_masks``). Sizes,
mean and std are read from the checkpoint's ``preprocessor_config.json`` when it has one.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812 - torch's own convention

from vlm_seg_ros.models.base import check_image

IMAGENET_DEFAULT = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # SAM 2
IMAGENET_STANDARD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # SAM 3


@dataclass(frozen=True)
class SamPreprocessing:
    """Input size and normalisation of one SAM checkpoint."""

    height: int
    width: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    rescale: float = 1 / 255

    @classmethod
    def from_checkpoint(cls, path: Path, *, size: int,
                        normalisation: tuple[tuple[float, ...], tuple[float, ...]]
                        ) -> SamPreprocessing:
        """Read ``preprocessor_config.json`` in ``path``; missing keys take the defaults."""
        config: dict[str, Any] = {}
        file = path / 'preprocessor_config.json'
        if file.is_file():
            config = json.loads(file.read_text())
        dims = config.get('size') or {}
        mean = config.get('image_mean') or normalisation[0]
        std = config.get('image_std') or normalisation[1]
        return cls(int(dims.get('height', size)), int(dims.get('width', size)),
                   (float(mean[0]), float(mean[1]), float(mean[2])),
                   (float(std[0]), float(std[1]), float(std[2])),
                   float(config.get('rescale_factor', 1 / 255)))

    def pixel_values(self, image: npt.NDArray[np.uint8], *, device: str,
                     dtype: torch.dtype) -> torch.Tensor:
        """Return the (1, 3, height, width) model input for an (H, W, 3) uint8 RGB image."""
        check_image(image)
        resized = resize_to(image, (self.width, self.height))
        tensor = torch.from_numpy(np.ascontiguousarray(resized)).to(device)
        tensor = tensor.permute(2, 0, 1)[None].contiguous().float()
        # (x * rescale - mean) / std, in place: (x - mean / rescale) * (rescale / std).
        mean = torch.tensor(self.mean, device=device).view(1, 3, 1, 1) / self.rescale
        factor = self.rescale / torch.tensor(self.std, device=device).view(1, 3, 1, 1)
        return tensor.sub_(mean).mul_(factor).to(dtype)

    def scale_xy(self, coords: npt.ArrayLike, image_size: tuple[int, int]) -> torch.Tensor:
        """Scale ``(..., 2k)`` pixel coordinates (x, y, x, y, ...) to the input size."""
        values = torch.as_tensor(np.asarray(coords, dtype=np.float32))
        height, width = image_size
        scale = torch.tensor([self.width / width, self.height / height])
        shape = values.shape
        return (values.reshape(-1, 2) * scale).reshape(shape)


def resize_to(image: npt.NDArray[np.uint8], size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """Return ``image`` resized to ``size`` = (width, height) with OpenCV, on its uint8 pixels.

    Area averaging when shrinking (antialiased: every source pixel counts), bilinear when
    enlarging; the image itself when it already has that size. This is the one resize between a
    camera frame and a model's input: on a 3840x2160 frame it costs a few milliseconds, where
    converting the frame to floats first and resizing those costs ~100 MB and 10x the time.
    """
    height, width = image.shape[:2]
    if (width, height) == size:
        return image
    shrink = size[0] * size[1] < width * height
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink
                                 else cv2.INTER_LINEAR), dtype=np.uint8)


def fit_within(image: npt.NDArray[np.uint8], longest_edge: int) -> npt.NDArray[np.uint8]:
    """Return ``image`` shrunk (aspect kept) so its longest side is at most ``longest_edge``.

    For processors that resize to a longest edge themselves (SmolVLM's): handing them the frame
    already at that size makes their own resize a no-op instead of a pass over 8 million pixels.
    """
    height, width = image.shape[:2]
    if longest_edge <= 0 or max(height, width) <= longest_edge:
        return image
    scale = longest_edge / max(height, width)
    return resize_to(image, (max(round(width * scale), 1), max(round(height * scale), 1)))


def upsample_masks(logits: torch.Tensor, image_size: tuple[int, int],
                   threshold: float = 0.0) -> npt.NDArray[np.bool_]:
    """Return (N, H, W) bool masks from (N, h, w) mask logits (or probabilities)."""
    if logits.shape[0] == 0:
        return np.zeros((0, *image_size), dtype=bool)
    masks = F.interpolate(logits[:, None].float(), size=image_size, mode='bilinear',
                          align_corners=False)[:, 0]
    return (masks > threshold).cpu().numpy()
