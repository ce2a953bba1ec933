"""The compiled geometry kernels (src/geometry.cpp) against plain numpy, scipy and OpenCV.

Each kernel replaces a few numpy passes or a library call; these tests hold it to what that
reference computes, on random clouds, degenerate ones, and the real SemanticKITTI scan.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from vlm_seg_ros.core import native
from vlm_seg_ros.core import segmentation as seg
from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.ground import GroundSegmenter
from vlm_seg_ros.datasets import kitti
from vlm_seg_ros.datasets.synthetic import scan

DATA = Path(__file__).resolve().parents[3] / 'shared' / 'data'
SCAN = DATA / 'semantickitti_scan_spvnas_sample' / '000000.bin'


def reference_clusters(points: np.ndarray, size: tuple[float, float, float]) -> np.ndarray:
    """Label connected components of voxels whose coordinates differ by at most 1 per axis."""
    cells = np.floor(points.astype(np.float64) / np.array(size)).astype(np.int64)
    voxels, member = np.unique(cells, axis=0, return_inverse=True)
    pairs = cKDTree(voxels).query_pairs(1.0, p=np.inf, output_type='ndarray')
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])),
                       shape=(len(voxels), len(voxels)))
    return connected_components(graph, directed=False)[1][member.ravel()]


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def real_scan() -> np.ndarray:
    if not SCAN.is_file():
        pytest.skip(f'shared data not found: {SCAN}')
    return np.ascontiguousarray(kitti.read_velodyne(SCAN)[:, :3])


@pytest.mark.parametrize('seed', range(3))
def test_clusters_are_the_connected_components_of_touching_voxels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Clumps of points with gaps of about one voxel between some of them, and a far offset.
    centres = rng.uniform(-20, 20, (40, 3)) + (1e4 if seed == 2 else 0)
    points = (centres[rng.integers(0, 40, 5000)] + rng.normal(0, 0.4, (5000, 3))).astype(
        np.float32)
    size = (0.25, 0.25, 0.5)
    labels = native.voxel_clusters(points, size)
    assert same_partition(labels, reference_clusters(points, size))
    # Numbered 0..K-1 in order of each cluster's first point.
    firsts = [int(np.flatnonzero(labels == k)[0]) for k in range(labels.max() + 1)]
    assert firsts == sorted(firsts)


def test_clusters_of_a_real_scan_match_the_reference() -> None:
    points = real_scan()
    labels = native.voxel_clusters(points, (0.25, 0.25, 0.5))
    assert labels.max() > 1000  # thousands of clusters: a real test of the union-find
    assert same_partition(labels, reference_clusters(points, (0.25, 0.25, 0.5)))


def test_voxel_means_are_the_means_of_each_voxels_points() -> None:
    rng = np.random.default_rng(4)
    points = rng.uniform(-3, 3, (4000, 3)).astype(np.float32)
    means, member = native.voxel_means(points, (0.5, 0.5, 0.25))
    cells = np.floor(points / np.array([0.5, 0.5, 0.25])).astype(np.int64)
    _, first, inverse = np.unique(cells, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    assert len(means) == len(first)
    # Same grouping as the cells, numbered in order of each voxel's first point.
    assert same_partition(member, inverse)
    assert (np.diff([np.flatnonzero(member == v)[0] for v in range(len(means))]) > 0).all()
    for v in rng.choice(len(means), 50, replace=False):
        np.testing.assert_allclose(means[v], points[member == v].mean(axis=0), atol=1e-5)


def test_group_is_a_stable_sort_by_label() -> None:
    labels = np.random.default_rng(5).integers(0, 300, 20000)
    order, starts = native.group(labels, 310)  # 10 empty labels at the end
    np.testing.assert_array_equal(order, np.argsort(labels, kind='stable'))
    np.testing.assert_array_equal(starts, np.concatenate([[0], np.cumsum(
        np.bincount(labels, minlength=310))]))
    with pytest.raises(ValueError, match='outside'):
        native.group(np.array([0, 3]), 3)


def test_boxes_match_opencv_and_hold_every_point() -> None:
    rng = np.random.default_rng(6)
    groups = [rng.normal(0, 1, (n, 3)) * [rng.uniform(0.1, 5), rng.uniform(0.1, 5), 1]
              @ np.array([[np.cos(a), np.sin(a), 0], [-np.sin(a), np.cos(a), 0], [0, 0, 1]])
              + [rng.uniform(-50, 50), rng.uniform(-50, 50), 0]
              for n, a in zip(rng.integers(3, 3000, 60), rng.uniform(-3, 3, 60), strict=True)]
    groups += [np.array([[1.0, 2.0, 3.0]]),                      # a point
               np.array([[0.0, 0, 0], [1, 1, 0], [2, 2, 0]]),    # a line
               np.repeat([[5.0, 5, 0], [6, 5, 1]], 20, axis=0),  # duplicates
               np.array([[3e5, 4e6, 0], [3e5 + 2, 4e6, 0], [3e5 + 2, 4e6 + 1, 0],
                         [3e5, 4e6 + 1, 0], [3e5 + 1, 4e6 + 0.5, 0]])]  # UTM-sized, 2 x 1
    points = np.vstack(groups)
    starts = np.concatenate([[0], np.cumsum([len(g) for g in groups])])
    order = np.arange(len(points))
    lows, highs, means, rects = native.group_boxes(points, order, starts,
                                                   np.arange(len(groups)))
    for k, group in enumerate(groups):
        np.testing.assert_allclose(lows[k], group.min(axis=0))
        np.testing.assert_allclose(highs[k], group.max(axis=0))
        np.testing.assert_allclose(means[k], group.mean(axis=0))
        cx, cy, length, width, yaw = rects[k]
        assert length >= width >= 0 and -np.pi / 2 < yaw <= np.pi / 2
        relative = group[:, :2] - group[0, :2]
        _, (a, b), _ = cv2.minAreaRect(relative.astype(np.float32))
        assert length * width == pytest.approx(a * b, rel=1e-4, abs=1e-6), k
        # Every point inside the rectangle (in its own axes).
        u = np.array([np.cos(yaw), np.sin(yaw)])
        d = group[:, :2] - [cx, cy]
        assert (np.abs(d @ u) <= length / 2 + 1e-6).all(), k
        assert (np.abs(d @ [-u[1], u[0]]) <= width / 2 + 1e-6).all(), k
    np.testing.assert_allclose(rects[-1, :4], [3e5 + 1, 4e6 + 0.5, 2, 1], atol=1e-9)
    assert rects[-1, 4] == pytest.approx(0.0, abs=1e-12)
    # float32 points are read as they are, and give the same boxes to float32 precision.
    _, _, _, rects32 = native.group_boxes(points.astype(np.float32), order[:-5],
                                          starts[:-1], np.arange(len(groups) - 1))
    np.testing.assert_allclose(rects32[:, :4], rects[:-1, :4], atol=1e-4, rtol=1e-5)


def test_an_empty_group_has_no_extent_and_cannot_be_boxed() -> None:
    points = np.array([[0.0, 0, 0], [1, 1, 1]])
    starts = np.array([0, 1, 1, 2])  # group 1 is empty
    lows, highs, means, _ = native.group_boxes(points, np.arange(2), starts, np.array([0, 2]))
    assert np.isnan(lows[1]).all() and np.isnan(highs[1]).all() and np.isnan(means[1]).all()
    np.testing.assert_array_equal(lows[2], [1, 1, 1])
    with pytest.raises(ValueError, match='empty'):
        native.group_boxes(points, np.arange(2), starts, np.array([1]))


def test_crop_matches_numpys_float32_arithmetic() -> None:
    rng = np.random.default_rng(7)
    points = rng.uniform(-12, 12, (20000, 3)).astype(np.float32)
    points[:5] = [[np.nan, 0, 0], [np.inf, 0, 0], [1, -np.inf, 0], [3e38, 3e38, 0],
                  [0.5, 0, 0]]  # exactly on min_range: kept
    origin = (1.0, -2.0, 0.5)
    kept, local, index = native.crop(points, origin, min_range=0.5, max_range=10.0,
                                     min_z=-2.0, max_z=3.0)
    shifted = points - np.array(origin, dtype=np.float32)
    with np.errstate(over='ignore', invalid='ignore'):
        range_sq = shifted[:, 0] ** 2 + shifted[:, 1] ** 2
    expected = ((range_sq >= np.float32(0.25)) & (range_sq <= np.float32(100.0))
                & (shifted[:, 2] >= -2.0) & (shifted[:, 2] <= 3.0))
    np.testing.assert_array_equal(kept, expected)
    np.testing.assert_array_equal(index, np.flatnonzero(expected))
    np.testing.assert_array_equal(local, shifted[expected])
    assert not kept[:4].any()


@pytest.mark.parametrize(('call', 'message'), [
    (lambda: native.voxel_clusters(np.array([[0, 0, np.nan]]), (1, 1, 1)), 'finite points'),
    (lambda: native.voxel_means(np.zeros((3, 3)), (1, 0, 1)), 'positive'),
    (lambda: native.voxel_clusters(np.array([[0, 0, 0], [1e6, 0, 0]]), (0.1, 0.1, 0.1)),
     'span'),
    (lambda: native.voxel_clusters(np.zeros((3, 2)), (1, 1, 1)), r'\(N, 3\)'),
    (lambda: native.voxel_means(np.full((2, 3), 1e30), (0.1, 0.1, 0.1)), 'from the origin'),
    (lambda: native.voxel_means(np.ones((2, 3)), (1e-300, 1, 1)), 'from the origin'),
    (lambda: native.group_boxes(np.array([[0, 0, 0], [np.nan, 0, 0]]), np.arange(2),
                                np.array([0, 2]), np.array([0])), 'non-finite'),
    (lambda: seg.split_supported(np.array([[0, 0, np.inf]]), np.zeros(1, dtype=np.int64),
                                 min_area=0.25, min_points=1, tolerance=0.25,
                                 vertical_tolerance=0.5), 'finite points'),
])
def test_bad_input_is_refused_clearly(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_empty_input_gives_empty_results() -> None:
    empty = np.zeros((0, 3), dtype=np.float32)
    assert len(native.voxel_clusters(empty, (1, 1, 1))) == 0
    means, member = native.voxel_means(empty, (1, 1, 1))
    assert means.shape == (0, 3) and len(member) == 0
    kept, local, index = native.crop(empty, (0, 0, 0), min_range=0, max_range=1, min_z=-1,
                                     max_z=1)
    assert len(kept) == len(index) == 0 and local.shape == (0, 3)


def reference_split_supported(points: np.ndarray, labels: np.ndarray, *, min_area: float,
                              min_points: int, tolerance: float,
                              vertical_tolerance: float) -> np.ndarray:
    """segmentation.split_supported as numpy computed it before it was compiled (float32 in)."""
    cell, thickness, margin = seg.SURFACE_CELL, seg.SURFACE_THICKNESS, seg.SURFACE_MARGIN
    span = 1 << 31
    neighbours = np.array([dx * span + dy for dx in (-1, 0, 1) for dy in (-1, 0, 1)])

    def keys(p: np.ndarray) -> np.ndarray:
        cells = np.floor(p[:, :2] / cell).astype(np.int64)
        return cells[:, 0] * span + cells[:, 1]

    result = labels.copy()
    counts = np.bincount(labels)
    order = np.argsort(labels, kind='stable')
    starts = np.concatenate([[0], np.cumsum(counts)])
    next_label = len(counts)
    cells_needed = min_area / cell ** 2
    ordered = points[order].astype(np.float64)
    low = np.minimum.reduceat(ordered, starts[:-1], axis=0)
    extent = np.maximum.reduceat(ordered, starts[:-1], axis=0) - low + cell
    candidates = ((counts >= 2 * min_points) & (extent[:, 0] * extent[:, 1] >= min_area)
                  & (extent[:, 2] > 2 * thickness + margin))
    for label in np.flatnonzero(candidates):
        index = order[starts[label]:starts[label + 1]]
        z = points[index, 2].astype(np.float64)
        histogram = np.bincount(np.floor((z - low[label, 2]) / thickness).astype(np.int64))
        window = histogram + np.append(histogram[1:], 0)
        if window.max() < cells_needed:
            continue
        bottom = low[label, 2] + int(window.argmax()) * thickness
        layer = (z >= bottom) & (z < bottom + 2 * thickness)
        above = z > float(np.median(z[layer])) + margin
        surface = np.unique(keys(points[index[layer]]))
        if np.count_nonzero(above) < min_points or len(surface) < cells_needed:
            continue
        grown = np.unique((surface[:, None] + neighbours[None]).ravel())
        above_keys = keys(points[index[above]])
        if (np.isin(above_keys, grown).mean() < seg.SUPPORTED_SHARE
                or len(np.unique(above_keys)) > seg.SUPPORTED_MAX_FOOTPRINT * len(surface)):
            continue
        parts = reference_clusters(points[index[above]],
                                   (tolerance, tolerance, vertical_tolerance))
        z_above = z[above]
        sizes = np.bincount(parts)
        top, bottom_ = np.full(len(sizes), -np.inf), np.full(len(sizes), np.inf)
        np.maximum.at(top, parts, z_above)
        np.minimum.at(bottom_, parts, z_above)
        big = (sizes >= min_points) & (top - bottom_ >= margin)
        # Parts numbered in order of their first point, as the compiled clustering numbers them.
        first = np.array([np.flatnonzero(parts == k)[0] for k in range(len(sizes))])
        for k in np.argsort(first):
            if big[k]:
                result[index[above][parts == k]] = next_label
                next_label += 1
    return result


def scan_clusters(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return the non-ground points of a real scan in the default crop, and their clusters."""
    config = seg.SegmentationConfig()
    points = np.ascontiguousarray(kitti.read_velodyne(path)[:, :3])
    points = points[seg.crop_mask(points, config)]
    above = points[~GroundSegmenter(min_range=config.min_range).ground_mask(points)]
    return above, seg.euclidean_clusters(above, config.cluster_tolerance,
                                         config.cluster_vertical_tolerance)


def test_support_split_matches_the_numpy_reference_on_real_scans() -> None:
    paths = [*sorted((DATA / 'kitti_object_training_3frames' / 'velodyne').glob('*.bin')), SCAN]
    paths = [p for p in paths if p.is_file()]
    if not paths:
        pytest.skip(f'shared data not found: {DATA}')
    split = 0
    for path in paths:
        points, labels = scan_clusters(path)
        kwargs = {'min_area': 0.25, 'min_points': 10, 'tolerance': 0.25,
                  'vertical_tolerance': 0.5}
        ours = seg.split_supported(points, labels, **kwargs)
        np.testing.assert_array_equal(ours, reference_split_supported(points, labels, **kwargs))
        split += int(ours.max() - labels.max())
    assert split == 0  # real streets have no tables: the ray-cast scene below covers splits


def test_support_split_matches_the_numpy_reference_on_tables() -> None:
    shapes = []
    for x, y, things in ((5.0, 1.0, 2), (7.0, -2.5, 1), (9.0, 2.5, 3)):
        top = OrientedBox(np.array([x, y, -1.73 + 0.75]), np.array([1.4, 0.8, 0.04]), 0.2)
        legs = [OrientedBox(np.array([x + dx, y + dy, -1.73 + 0.365]),
                            np.array([0.05, 0.05, 0.73]), 0.0)
                for dx in (-0.6, 0.6) for dy in (-0.3, 0.3)]
        on_top = [OrientedBox(np.array([x - 0.4 + 0.4 * k, y, -1.73 + 0.77 + 0.1]),
                              np.array([0.25, 0.2, 0.2]), 0.0) for k in range(things)]
        shapes += [top, *legs, *on_top]
    points, _ = scan(shapes, noise=0.005)
    config = seg.SegmentationConfig()
    points = points[~GroundSegmenter().ground_mask(points)]
    labels = seg.euclidean_clusters(points, config.cluster_tolerance,
                                    config.cluster_vertical_tolerance)
    kwargs = {'min_area': 0.25, 'min_points': 10, 'tolerance': 0.25, 'vertical_tolerance': 0.5}
    ours = seg.split_supported(points, labels, **kwargs)
    np.testing.assert_array_equal(ours, reference_split_supported(points, labels, **kwargs))
    assert ours.max() - labels.max() >= 3  # each table's things got labels of their own
