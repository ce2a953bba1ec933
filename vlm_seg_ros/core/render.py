"""What people look at: one colour per object id, the camera overlay and a text summary.

The same colour of an id is used by every output (object cloud, markers, overlay), so an
object is recognisable across RViz displays.
"""

from __future__ import annotations

from collections.abc import Sequence
import colorsys
import math
from typing import NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.relations import Relation

GOLDEN = (math.sqrt(5) - 1) / 2
MASK_ALPHA = 0.45


def colour_of(object_id: int) -> tuple[int, int, int]:
    """Return the object's colour as (r, g, b) bytes: well separated hues for nearby ids."""
    hue = (object_id * GOLDEN) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return round(r * 255), round(g * 255), round(b * 255)


def colours_of(object_ids: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Return an (N, 3) uint8 array of ``colour_of`` for N ids."""
    ids = np.asarray(object_ids, dtype=np.int64).reshape(-1)
    unique, inverse = np.unique(ids, return_inverse=True)
    palette = np.array([colour_of(int(i)) for i in unique], dtype=np.uint8).reshape(-1, 3)
    return palette[inverse]


class OverlayBox(NamedTuple):
    """One object drawn on the overlay: its id, label-image value, 2D box (pixels), caption."""

    object_id: int
    label_value: int
    x: int
    y: int
    width: int
    height: int
    caption: str


def draw_overlay(image: npt.NDArray[np.uint8], labels: npt.NDArray[np.uint16],
                 boxes: Sequence[OverlayBox]) -> npt.NDArray[np.uint8]:
    """Tint each labelled pixel with its object's colour; draw boxes and captions.

    Args:
        image: (H, W, 3) uint8 RGB camera image (not modified).
        labels: (H, W) uint16 label image aligned with ``image``, 0 = no object.
        boxes: the objects to draw; pixels of label values not among them stay untinted.

    Returns:
        (H, W, 3) uint8 RGB.

    """
    overlay = image.copy()
    lut = np.zeros((65536, 4), dtype=np.uint8)
    for box in boxes:
        lut[box.label_value] = (*colour_of(box.object_id), 1)
    lut[0, 3] = 0
    looked_up = lut[labels]
    tinted = looked_up[..., 3].astype(bool)
    if tinted.any():
        blend = (1 - MASK_ALPHA) * overlay[tinted] + MASK_ALPHA * looked_up[tinted][:, :3]
        overlay[tinted] = blend.astype(np.uint8)
    scale = max(0.4, min(image.shape[:2]) / 800)
    for box in boxes:
        colour = colour_of(box.object_id)
        x, y = box.x, box.y
        cv2.rectangle(overlay, (x, y), (x + box.width - 1, y + box.height - 1), colour, 2)
        (tw, th), base = cv2.getTextSize(box.caption, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(y - th - base - 2, 0)
        cv2.rectangle(overlay, (x, top), (x + tw + 4, top + th + base + 2), colour, -1)
        cv2.putText(overlay, box.caption, (x + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, (0, 0, 0), 1, cv2.LINE_AA)
    return overlay


def describe(objects: Sequence[tuple[int, str, npt.NDArray[np.float64],
                                     npt.NDArray[np.float64]]],
             relations: Sequence[Relation], *, origin: npt.ArrayLike,
             max_objects: int = 5) -> str:
    """One paragraph about the scene from geometry alone (used until a VLM describes it).

    Args:
        objects: per object ``(id, label, centre (3,), size (3,))`` in a z-up frame, metres.
        relations: relations between those ids.
        origin: the observer's position in the same frame.
        max_objects: the nearest this many objects are described.

    """
    if not objects:
        return 'No objects in view.'
    observer = np.asarray(origin, dtype=np.float64)
    ranked = sorted(objects, key=lambda o: float(np.linalg.norm(o[2][:2] - observer[:2])))
    parts = []
    for object_id, label, centre, size in ranked[:max_objects]:
        distance = float(np.linalg.norm(centre[:2] - observer[:2]))
        name = label or 'object'
        parts.append(f'{name} #{object_id} at {distance:.1f} m '
                     f'({size[0]:.1f} x {size[1]:.1f} x {size[2]:.1f} m)')
    text = f'{len(objects)} object{"s" if len(objects) != 1 else ""} tracked; nearest: '
    text += ', '.join(parts) + '.'
    shown = {o[0] for o in ranked[:max_objects]}
    vertical = [r for r in relations if r.predicate == 'on' and r.subject in shown]
    if vertical:
        text += ' ' + ' '.join(f'#{r.subject} is on #{r.object}.' for r in vertical)
    return text
