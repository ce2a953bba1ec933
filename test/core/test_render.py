"""What people look at: the bird's-eye view and the camera overlay, in the objects' colours."""

from __future__ import annotations

import numpy as np

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.pixels import PixelBox
from vlm_seg_ros.core.relations import Relation
from vlm_seg_ros.core.render import (
    DRAWN_PREDICATES,
    MapObject,
    OverlayBox,
    colour_of,
    draw_birds_eye,
    draw_overlay,
)

EXTENT = (-1.0, 9.0, -4.0, 4.0)  # x from -1 to 9 m, y from -4 to 4 m
RESOLUTION = 0.02


def pixel(x: float, y: float) -> tuple[int, int]:
    """(row, column) of a point: x up the picture, y to its left."""
    return round((EXTENT[1] - x) / RESOLUTION), round((EXTENT[3] - y) / RESOLUTION)


def box(x: float, y: float, size: float = 1.0) -> OrientedBox:
    return OrientedBox(np.array([x, y, 0.0]), np.array([size, size, 1.0]), 0.0)


def near_colour(image: np.ndarray, x: float, y: float, rgb: tuple[int, ...]) -> bool:
    """Whether ``rgb`` (tinted into the pale background) is what the picture shows there."""
    row, col = pixel(x, y)
    shown = image[row, col].astype(float)
    expected = 0.6 * 250 + 0.4 * np.array(rgb, dtype=float)
    return bool(np.abs(shown - expected).max() <= 3)


def test_objects_are_drawn_where_they_are_in_their_colours() -> None:
    ahead_left, right = MapObject(3, 'box', box(6.0, 2.0)), MapObject(4, 'person', box(2.0, -2.5))
    image = draw_birds_eye([ahead_left, right], [], extent=EXTENT, resolution=RESOLUTION)
    assert image.shape == (500, 400, 3) and image.dtype == np.uint8
    # (Sampled off the metre grid lines.)
    assert near_colour(image, 6.3, 2.3, colour_of(3))
    assert near_colour(image, 2.3, -2.3, colour_of(4))
    row, col = pixel(6.0, 2.0)
    assert row < 500 / 2 and col < 400 / 2  # ahead is up, left is left
    assert tuple(image[pixel(2.3, 2.3)]) == (250, 250, 250)  # nothing where nothing is


def test_truth_outlines_and_relation_lines() -> None:
    table, cup = MapObject(1, 'table', box(5.0, 0.0, 2.0)), MapObject(2, 'cup', box(5.2, 0.3, 0.2))
    far = MapObject(7, '', box(5.0, -3.0))
    relations = [Relation(2, 'on', 1, 1.0), Relation(1, 'under', 2, 1.0),
                 Relation(1, 'left_of', 7, 0.9)]
    with_lines = draw_birds_eye([table, cup, far], relations, extent=EXTENT,
                                resolution=RESOLUTION, truth=[box(5.0, 3.0)])
    without = draw_birds_eye([table, cup, far], [], extent=EXTENT, resolution=RESOLUTION)
    on_colour = np.round(255 * np.array(DRAWN_PREDICATES['on']))
    # The 'on' line runs between the two centres; directional relations draw nothing.
    row, col = pixel(5.1, 0.15)
    assert np.abs(with_lines[row, col] - on_colour).max() < 60
    assert np.abs(without[row, col].astype(int) - on_colour).max() >= 60
    row, col = pixel(5.0, -1.5)
    assert np.array_equal(with_lines[row, col], without[row, col])
    # The truth box is outlined in grey, not filled.
    row, col = pixel(5.5, 3.3)
    outline = with_lines[row, col].astype(int)
    assert outline.max() - outline.min() <= 2 and outline.max() < 150
    row, col = pixel(5.3, 3.3)
    assert tuple(with_lines[row, col]) == (250, 250, 250)


def overlay_scene(width: int, height: int) -> tuple[np.ndarray, np.ndarray, list[OverlayBox]]:
    """Return a grey image with masks of ids 3 and 9 (drawn) and of a label nobody draws."""
    image = np.full((height, width, 3), 100, dtype=np.uint8)
    labels = np.zeros((height, width), dtype=np.uint16)
    s = width / 640
    labels[round(100 * s):round(300 * s), round(50 * s):round(150 * s)] = 3
    labels[round(200 * s):round(260 * s), round(400 * s):round(560 * s)] = 9
    labels[round(400 * s):round(450 * s), round(20 * s):round(60 * s)] = 5  # not drawn
    def box(x: int, y: int, w: int, h: int) -> PixelBox:
        return PixelBox(round(x * s), round(y * s), round(w * s), round(h * s))

    boxes = [OverlayBox(3, 3, box(50, 100, 100, 200), '#3 box'),
             OverlayBox(9, 9, box(400, 200, 160, 60), '#9')]
    return image, labels, boxes


def tint(object_id: int) -> np.ndarray:
    return 0.55 * 100 + 0.45 * np.array(colour_of(object_id))


def test_the_overlay_tints_each_drawn_mask_in_its_colour_and_nothing_else() -> None:
    image, labels, boxes = overlay_scene(640, 480)
    overlay = draw_overlay(image, labels, boxes)
    assert overlay.shape == image.shape and (image == 100).all()  # the input is kept
    np.testing.assert_allclose(overlay[200, 100], tint(3), atol=2)
    np.testing.assert_allclose(overlay[230, 480], tint(9), atol=2)
    assert (overlay[425, 40] == 100).all()  # a label value without a box stays untinted
    assert (overlay[400, 300] == 100).all()  # background
    # Each box is outlined in its colour.
    assert tuple(overlay[200, 50]) == colour_of(3)
    assert tuple(overlay[259, 480]) == colour_of(9)


def test_a_wide_camera_overlay_is_drawn_downscaled_to_max_width() -> None:
    image, labels, boxes = overlay_scene(3840, 2880)
    overlay = draw_overlay(image, labels, boxes, max_width=640)
    assert overlay.shape == (480, 640, 3)
    # The same picture as the 640-wide camera's: masks, background and outlines in place.
    small = draw_overlay(*overlay_scene(640, 480))
    np.testing.assert_allclose(overlay[200, 100], tint(3), atol=2)
    np.testing.assert_allclose(overlay[230, 480], tint(9), atol=2)
    assert (overlay[400, 300] == 100).all() and (overlay[425, 40] == 100).all()
    assert tuple(overlay[200, 50]) == colour_of(3)
    assert np.mean(np.abs(overlay.astype(int) - small.astype(int)) > 3) < 0.01
    # A narrower camera is drawn at its own size.
    assert draw_overlay(image, labels, boxes, max_width=5000).shape == image.shape
