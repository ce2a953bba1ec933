"""Gravity-aligned boxes: axis-aligned and yaw-oriented fits of point sets."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from vlm_seg_ros.core.boxes import AxisAlignedBox, OrientedBox, oriented_box
from vlm_seg_ros.errors import InvalidInputError

# Examples per property: multiples of the Hypothesis profile's budget (test/conftest.py:
# 100 in CI, derandomized; 1000 with HYPOTHESIS_PROFILE=explore).
BUDGET = settings.default.max_examples


def box_points(center: tuple[float, float, float], size: tuple[float, float, float],
               yaw: float, n: int = 2000, seed: int = 0) -> np.ndarray:
    """Points filling a box (corners included, so the fit is exact)."""
    rng = np.random.default_rng(seed)
    local = rng.uniform(-0.5, 0.5, size=(n, 3))
    local[:8] = [[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)]
    local *= size
    c, s = math.cos(yaw), math.sin(yaw)
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return local @ rotation.T + np.asarray(center)


def same_yaw(a: float, b: float) -> bool:
    """Whether two yaws describe the same box axis (boxes repeat every pi)."""
    return abs(math.remainder(a - b, math.pi)) < 1e-3


@pytest.mark.parametrize('yaw', [0.0, 0.3, -1.2, math.pi / 2, 2.5])
def test_oriented_box_recovers_a_turned_box(yaw: float) -> None:
    box = oriented_box(box_points((4.0, -2.0, 0.5), (4.2, 1.8, 1.5), yaw))
    np.testing.assert_allclose(box.center, [4.0, -2.0, 0.5], atol=1e-4)
    np.testing.assert_allclose(box.size, [4.2, 1.8, 1.5], atol=1e-4)
    assert same_yaw(box.yaw, yaw)
    assert -math.pi / 2 < box.yaw <= math.pi / 2


def test_box_x_axis_is_the_longer_side() -> None:
    box = oriented_box(box_points((0, 0, 0), (1.0, 3.0, 1.0), 0.0))
    np.testing.assert_allclose(box.size, [3.0, 1.0, 1.0], atol=1e-4)
    assert same_yaw(box.yaw, math.pi / 2)


def test_corners_and_footprint_enclose_the_points() -> None:
    points = box_points((1.0, 2.0, 3.0), (2.0, 1.0, 0.5), 0.7)
    box = oriented_box(points)
    corners = box.corners()
    assert corners.shape == (8, 3)
    np.testing.assert_allclose(np.sort(corners[:, 2]), [2.75] * 4 + [3.25] * 4, atol=1e-4)
    # Every point lies inside the footprint (counter-clockwise: all cross products >= 0).
    footprint = box.footprint()
    edges = np.roll(footprint, -1, axis=0) - footprint
    rel = points[:, None, :2] - footprint[None]
    cross = edges[None, :, 0] * rel[..., 1] - edges[None, :, 1] * rel[..., 0]
    assert (cross >= -1e-4).all()


def test_quaternion_is_a_rotation_about_z() -> None:
    box = OrientedBox(np.zeros(3), np.ones(3), 0.5)
    np.testing.assert_allclose(box.quaternion(), [0, 0, math.sin(0.25), math.cos(0.25)])


def test_single_point_and_collinear_points_give_flat_boxes() -> None:
    point = oriented_box(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(point.center, [1, 2, 3], atol=1e-5)
    np.testing.assert_allclose(point.size, [0, 0, 0], atol=1e-5)
    line = oriented_box(np.array([[0.0, 0, 0], [1, 1, 0], [2, 2, 0]]))
    np.testing.assert_allclose(line.size[:2], [math.sqrt(8), 0], atol=1e-4)


@pytest.mark.parametrize('points', [np.zeros((0, 3)), np.zeros((3, 2)),
                                    np.array([[0.0, np.nan, 0]])])
def test_oriented_box_refuses_bad_points(points: np.ndarray) -> None:
    with pytest.raises(InvalidInputError):
        oriented_box(points)


def test_box_values_are_checked_and_read_only() -> None:
    with pytest.raises(InvalidInputError, match='exceeds'):
        AxisAlignedBox(np.ones(3), np.zeros(3))
    with pytest.raises(InvalidInputError):
        OrientedBox(np.zeros(3), [-1.0, 1.0, 1.0], 0.0)
    box = AxisAlignedBox([0, 0, 0], [2, 4, 6])
    np.testing.assert_allclose(box.center, [1, 2, 3])
    np.testing.assert_allclose(box.size, [2, 4, 6])
    with pytest.raises(ValueError, match='read-only'):
        box.minimum[0] = 5


@settings(max_examples=3 * BUDGET // 5)
@given(st.lists(st.tuples(*[st.floats(-50, 50, allow_nan=False)] * 3), min_size=1,
                max_size=40))
def test_any_point_set_lies_inside_its_box(raw: list[tuple[float, float, float]]) -> None:
    points = np.array(raw)
    box = oriented_box(points)
    c, s = math.cos(box.yaw), math.sin(box.yaw)
    rel = points - box.center
    along = c * rel[:, 0] + s * rel[:, 1]
    across = -s * rel[:, 0] + c * rel[:, 1]
    slack = 1e-3 * (1 + np.abs(points).max())  # minAreaRect works in float32
    assert (np.abs(along) <= box.size[0] / 2 + slack).all()
    assert (np.abs(across) <= box.size[1] / 2 + slack).all()
    assert (np.abs(rel[:, 2]) <= box.size[2] / 2 + slack).all()
    assert box.size[0] >= box.size[1] - slack
