"""The bird's-eye view: objects where they are, in their colours, with their relations."""

from __future__ import annotations

import numpy as np

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.relations import Relation
from vlm_seg_ros.core.render import DRAWN_PREDICATES, MapObject, colour_of, draw_birds_eye

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
