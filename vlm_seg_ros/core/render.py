"""What people look at: one colour per object id, the camera overlay, a bird's-eye view, text.

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

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.pixels import PixelBox
from vlm_seg_ros.core.relations import Relation

GOLDEN = (math.sqrt(5) - 1) / 2
MASK_ALPHA = 0.45
# Relations drawn as lines (RViz markers, the bird's-eye view), with their colour (r, g, b in
# 0..1); directional ones would clutter the view.
DRAWN_PREDICATES = {'on': (1.0, 0.85, 0.1), 'under': (1.0, 0.85, 0.1), 'near': (0.6, 0.6, 0.6)}


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
    """One object drawn on the overlay: its id, label-image value, box, caption."""

    object_id: int
    label_value: int
    box: PixelBox
    caption: str


def draw_overlay(image: npt.NDArray[np.uint8], labels: npt.NDArray[np.uint16],
                 boxes: Sequence[OverlayBox], *, max_width: int = 0) -> npt.NDArray[np.uint8]:
    """Tint each labelled pixel with its object's colour; draw boxes and captions.

    The cost is one resize (or copy) of the image plus the objects' boxes, not a pass over
    every pixel per object: a 4K camera's overlay costs about what a smaller one does.

    Args:
        image: (H, W, 3) uint8 RGB camera image (not modified).
        labels: (H, W) uint16 label image aligned with ``image``, 0 = no object.
        boxes: the objects to draw, in ``image`` pixels; a label value's pixels lie inside
            its box; pixels of label values not among them stay untinted.
        max_width: a wider image is drawn downscaled to this width (aspect kept; the image
            with OpenCV's area averaging from 2x down, else bilinearly, the labels by nearest
            neighbour); 0: full size.

    Returns:
        (h, w, 3) uint8 RGB: (H, W) or the downscaled size.

    """
    height, width = image.shape[:2]
    scale = max_width / width if 0 < max_width < width else 1.0
    if scale < 1.0:
        size = (max_width, max(round(height * scale), 1))
        # Area averaging antialiases; below 2x, where OpenCV's is slow, bilinear barely aliases.
        interpolation = cv2.INTER_AREA if scale <= 0.5 else cv2.INTER_LINEAR
        overlay = np.asarray(cv2.resize(image, size, interpolation=interpolation), np.uint8)
        labels = np.asarray(cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST),
                            np.uint16)
    else:
        overlay = image.copy()
    rows, cols = overlay.shape[:2]
    drawn = []
    for box in boxes:
        left, top, right, bottom = (c * scale for c in box.box.corners())
        x0, y0 = max(math.floor(left), 0), max(math.floor(top), 0)
        x1, y1 = min(math.ceil(right), cols), min(math.ceil(bottom), rows)
        if x0 >= x1 or y0 >= y1:
            continue
        colour = colour_of(box.object_id)
        window = overlay[y0:y1, x0:x1]
        tinted = (labels[y0:y1, x0:x1] == box.label_value).view(np.uint8)
        fill = np.empty_like(window)
        fill[:] = colour
        # OpenCV's blend and masked copy: a tenth of the time of numpy's boolean indexing.
        blended = cv2.addWeighted(window, 1 - MASK_ALPHA, fill, MASK_ALPHA, 0)
        result = np.ascontiguousarray(window)  # copyTo writes in place only into whole arrays
        cv2.copyTo(blended, tinted, result)
        window[...] = result
        drawn.append((box, colour, x0, y0, x1, y1))
    text_scale = max(0.4, min(rows, cols) / 800)
    for box, colour, x0, y0, x1, y1 in drawn:
        cv2.rectangle(overlay, (x0, y0), (x1 - 1, y1 - 1), colour, 2)
        (tw, th), base = cv2.getTextSize(box.caption, cv2.FONT_HERSHEY_SIMPLEX, text_scale, 1)
        top = max(y0 - th - base - 2, 0)
        cv2.rectangle(overlay, (x0, top), (x0 + tw + 4, top + th + base + 2), colour, -1)
        cv2.putText(overlay, box.caption, (x0 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX,
                    text_scale, (0, 0, 0), 1, cv2.LINE_AA)
    return overlay


class MapObject(NamedTuple):
    """One object drawn on the bird's-eye view: its id, label and box (z-up frame, metres)."""

    object_id: int
    label: str
    box: OrientedBox


def draw_birds_eye(objects: Sequence[MapObject], relations: Sequence[Relation], *,
                   extent: tuple[float, float, float, float], resolution: float = 0.02,
                   viewpoint: tuple[float, float] = (0.0, 0.0),
                   truth: Sequence[OrientedBox] = ()) -> npt.NDArray[np.uint8]:
    """Draw objects, ids, labels and relations seen from above.

    x (forward) points up the picture and y (left) to its left, as in RViz's top-down view
    of a z-up frame. A grid line every metre (darker every five), the viewpoint as a triangle,
    ``truth`` boxes (if given) as thin grey outlines, each object's footprint in its colour
    with ``#id label``, and the relations of ``DRAWN_PREDICATES`` as lines between centres.

    Args:
        objects: the objects, boxes in a z-up frame, metres.
        relations: relations between their ids.
        extent: ``(x_min, x_max, y_min, y_max)`` shown, metres.
        resolution: metres per pixel.
        viewpoint: where the sensor is, (x, y) metres.
        truth: reference boxes to outline.

    Returns:
        (H, W, 3) uint8 RGB.

    """
    x_min, x_max, y_min, y_max = extent
    height = round((x_max - x_min) / resolution)
    width = round((y_max - y_min) / resolution)
    image = np.full((height, width, 3), 250, dtype=np.uint8)

    def pixel(points: npt.ArrayLike) -> npt.NDArray[np.int32]:
        xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return np.round(np.column_stack([(y_max - xy[:, 1]) / resolution,
                                         (x_max - xy[:, 0]) / resolution])).astype(np.int32)

    for metre in range(math.ceil(x_min), math.floor(x_max) + 1):
        row = int(pixel([(metre, y_max)])[0, 1])
        cv2.line(image, (0, row), (width - 1, row), (200, 200, 200) if metre % 5 else
                 (160, 160, 160), 1)
    for metre in range(math.ceil(y_min), math.floor(y_max) + 1):
        col = int(pixel([(x_max, metre)])[0, 0])
        cv2.line(image, (col, 0), (col, height - 1), (200, 200, 200) if metre % 5 else
                 (160, 160, 160), 1)
    sensor = pixel([viewpoint])[0]
    cv2.fillConvexPoly(image, np.array([sensor + (0, -12), sensor + (-8, 8), sensor + (8, 8)],
                                       dtype=np.int32), (40, 40, 40))
    for box in truth:
        cv2.polylines(image, [pixel(box.footprint())], True, (120, 120, 120), 1, cv2.LINE_AA)
    fill = image.copy()
    for item in objects:
        cv2.fillPoly(fill, [pixel(item.box.footprint())], colour_of(item.object_id))
    image[:] = (0.6 * image + 0.4 * fill).astype(np.uint8)
    centres = {item.object_id: pixel([item.box.center[:2]])[0] for item in objects}
    for relation in relations:
        if (relation.predicate not in DRAWN_PREDICATES or relation.subject > relation.object
                or relation.subject not in centres or relation.object not in centres):
            continue
        rgb = tuple(round(255 * v) for v in DRAWN_PREDICATES[relation.predicate])
        cv2.line(image, tuple(map(int, centres[relation.subject])),
                 tuple(map(int, centres[relation.object])), rgb,
                 3 if relation.predicate in ('on', 'under') else 1, cv2.LINE_AA)
    for item in objects:
        cv2.polylines(image, [pixel(item.box.footprint())], True, colour_of(item.object_id), 2,
                      cv2.LINE_AA)
    for item in objects:  # each text beside its footprint's rightmost corner
        corners = pixel(item.box.footprint())
        x, y = (int(v) for v in corners[corners[:, 0].argmax()])
        _label(image, f'#{item.object_id} {item.label}'.strip(), (x + 4, y + 4))
    legend: list[tuple[str, tuple[int, ...]]] = (
        [('grey outline: truth', (120, 120, 120))] if truth else [])
    legend += [(f'line: {name}', tuple(round(255 * v) for v in rgb))
               for name, rgb in DRAWN_PREDICATES.items() if name != 'under']
    for row, (text, rgb) in enumerate(legend):
        y = height - 12 - 18 * (len(legend) - 1 - row)
        cv2.line(image, (8, y - 4), (28, y - 4), rgb, 3)
        cv2.putText(image, text, (34, y), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (60, 60, 60), 1,
                    cv2.LINE_AA)
    return image


def _label(image: npt.NDArray[np.uint8], text: str, origin: tuple[int, int]) -> None:
    """Write ``text`` at ``origin`` (its baseline's left end) on a pale background."""
    (width, height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    x, y = origin
    cv2.rectangle(image, (x - 1, y - height - 2), (x + width + 1, y + base - 1),
                  (255, 255, 255), -1)
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (20, 20, 20), 1,
                cv2.LINE_AA)


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
