"""The one pixel-box type: OpenCV Rect and ROS RegionOfInterest convention, corners for models."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vlm_seg_ros.core.pixels import PixelBox, corners_array


def test_corners_are_one_past_the_last_pixel_and_round_trip() -> None:
    box = PixelBox(10, 20, 30, 40)
    assert box.corners() == (10.0, 20.0, 40.0, 60.0)
    assert PixelBox.from_corners(*box.corners()) == box
    assert box.area == 1200


def test_fractional_model_corners_round_outwards_and_reversed_ones_are_empty() -> None:
    # SAM 3's boxes are fractional: the box of whole pixels must hold all of it.
    assert PixelBox.from_corners(10.2, 19.9, 39.1, 60.0) == PixelBox(10, 19, 30, 41)
    assert PixelBox.from_corners(50.0, 50.0, 40.0, 45.0) == PixelBox(50, 50, 0, 0)


def test_boxes_around_pixels_and_masks_match_opencv_bounding_rect() -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 500, size=(40, 2)).astype(np.int32)
    assert PixelBox.around(pixels) == PixelBox(*cv2.boundingRect(pixels.reshape(-1, 1, 2)))
    mask = np.zeros((100, 200), dtype=bool)
    mask[30:41, 70:95] = True
    box = PixelBox.of_mask(mask)
    assert box == PixelBox(70, 30, 25, 11)
    assert box is not None and mask[box.y:box.y + box.height, box.x:box.x + box.width].all()
    assert PixelBox.of_mask(np.zeros((5, 5), dtype=bool)) is None


def test_iou_counts_pixels() -> None:
    a = PixelBox(0, 0, 10, 10)
    assert a.iou(a) == 1.0
    assert a.iou(PixelBox(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert a.iou(PixelBox(10, 0, 10, 10)) == 0.0  # touching, not overlapping
    assert PixelBox(0, 0, 0, 0).iou(PixelBox(0, 0, 0, 0)) == 0.0


def test_expanding_grows_each_side_and_stays_inside_the_image() -> None:
    assert PixelBox(100, 100, 40, 20).expanded(0.25, (480, 640)) == PixelBox(90, 95, 60, 30)
    assert PixelBox(0, 470, 40, 10).expanded(0.5, (480, 640)) == PixelBox(0, 465, 60, 15)


def test_corners_array_is_what_box_prompts_take() -> None:
    array = corners_array([PixelBox(1, 2, 3, 4), PixelBox(5, 6, 7, 8)])
    assert array.dtype == np.float32 and array.tolist() == [[1, 2, 4, 6], [5, 6, 12, 14]]
    assert corners_array([]).shape == (0, 4)
