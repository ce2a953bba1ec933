"""The ray-cast LiDAR: organised scans keep every ray, as an organised driver's cloud does."""

from __future__ import annotations

import numpy as np

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.segmentation import Segmenter
from vlm_seg_ros.datasets.synthetic import GROUND, MISS, SpinningLidar, scan


def test_an_organised_scan_has_every_ray_and_nan_where_nothing_was_hit() -> None:
    lidar = SpinningLidar(beams=32, columns=360, max_elevation=10.0)
    box = OrientedBox(np.array([6.0, 0.0, -0.98]), np.array([4.0, 1.8, 1.5]), 0.0)
    dense, dense_truth = scan([box], lidar=lidar)
    points, truth = scan([box], lidar=lidar, organized=True)
    assert points.shape == (32 * 360, 3) and truth.shape == (32 * 360,)
    hit = np.isfinite(points).all(axis=1)
    # The same hits in the same order; upward rays hit nothing and are NaN, not dropped.
    np.testing.assert_array_equal(points[hit], dense)
    np.testing.assert_array_equal(truth[hit], dense_truth)
    assert (truth[~hit] == MISS).all() and np.isnan(points[~hit]).all()
    rows = points.reshape(32, 360, 3)
    assert np.isnan(rows[-1]).all() and np.isfinite(rows[0]).all()  # top beam: sky
    assert set(np.unique(truth[hit])) == {GROUND, 0}
    # The segmenter takes it as it is (NaN rows are cropped) and finds the box, as unorganised.
    result = Segmenter().segment(points)
    assert not result.kept[~hit].any()
    assert [o.num_points for o in result.objects] == [
        o.num_points for o in Segmenter().segment(dense).objects]
    assert result.objects and all(abs(o.box.center[0] - 6.0) < 2.5 for o in result.objects)
