"""The package's one pixel-box type, with explicit conversions to and from corner form.

Inside the package every box in an image is a :class:`PixelBox`: whole pixels, left column
``x``, top row ``y``, ``width`` and ``height``, covering columns ``x .. x + width - 1`` and
rows ``y .. y + height - 1``. That is OpenCV's ``Rect`` (``cv2.boundingRect``) and ROS's
``sensor_msgs/RegionOfInterest`` convention, so both convert without arithmetic.

Models take boxes in corner form ``(x0, y0, x1, y1)`` (SAM's ``input_boxes``, SAM 3's
``pred_boxes``), with ``x1, y1`` one past the last pixel; :meth:`PixelBox.corners` and
:meth:`PixelBox.from_corners` are the only places the two forms meet.
"""

from __future__ import annotations

from collections.abc import Sequence
import math
from typing import NamedTuple

import cv2
import numpy as np
import numpy.typing as npt


class PixelBox(NamedTuple):
    """An axis-aligned box of whole pixels in an image (see the module docstring)."""

    x: int
    y: int
    width: int
    height: int

    @classmethod
    def from_corners(cls, x0: float, y0: float, x1: float, y1: float) -> PixelBox:
        """Return the smallest box of whole pixels holding corners ``(x0, y0)-(x1, y1)``.

        ``x1, y1`` lie one past the box, as in :meth:`corners`; fractional corners round
        outwards, and reversed corners give an empty box at ``(x0, y0)``.
        """
        left, top = math.floor(x0), math.floor(y0)
        return cls(left, top, max(math.ceil(x1) - left, 0), max(math.ceil(y1) - top, 0))

    @classmethod
    def around(cls, pixels: npt.NDArray[np.int32]) -> PixelBox:
        """Return the box around (N >= 1, 2) int32 ``(u, v)`` pixels (``cv2.boundingRect``)."""
        x, y, w, h = cv2.boundingRect(pixels.reshape(-1, 1, 2))
        return cls(int(x), int(y), int(w), int(h))

    @classmethod
    def of_mask(cls, mask: npt.NDArray[np.bool_]) -> PixelBox | None:
        """Return the box around a bool mask's pixels (``cv2.boundingRect``); None if empty."""
        if not mask.any():
            return None
        x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
        return cls(int(x), int(y), int(w), int(h))

    def corners(self) -> tuple[float, float, float, float]:
        """Return ``(x0, y0, x1, y1)``: the top-left corner and one past the bottom-right."""
        return (float(self.x), float(self.y), float(self.x + self.width),
                float(self.y + self.height))

    @property
    def area(self) -> int:
        """Return the number of pixels covered."""
        return self.width * self.height

    def iou(self, other: PixelBox) -> float:
        """Return intersection over union with ``other``; 0 when both are empty."""
        ax0, ay0, ax1, ay1 = self.corners()
        bx0, by0, bx1, by1 = other.corners()
        inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def expanded(self, margin: float, image_size: tuple[int, int]) -> PixelBox:
        """Grow by ``margin`` of the size per side, clipped to an image of ``(rows, cols)``."""
        dx, dy = round(self.width * margin), round(self.height * margin)
        rows, cols = image_size
        x0, y0 = max(self.x - dx, 0), max(self.y - dy, 0)
        x1 = min(self.x + self.width + dx, cols)
        y1 = min(self.y + self.height + dy, rows)
        return PixelBox(x0, y0, max(x1 - x0, 0), max(y1 - y0, 0))


def corners_array(boxes: Sequence[PixelBox]) -> npt.NDArray[np.float32]:
    """Return boxes as the (N, 4) float32 ``x0, y0, x1, y1`` rows models take as prompts."""
    return np.array([box.corners() for box in boxes], dtype=np.float32).reshape(-1, 4)
