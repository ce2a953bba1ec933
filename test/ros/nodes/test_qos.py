"""The rule that picks an input's reliability from its publishers (``nodes.qos``)."""

from __future__ import annotations

import pytest
from rclpy.qos import ReliabilityPolicy

from vlm_seg_ros.ros.nodes.qos import reliability_for

RELIABLE, BEST_EFFORT = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT


@pytest.mark.parametrize(('publishers', 'expected'), [
    ([], None),                                   # nobody publishes: keep what there is
    ([RELIABLE], RELIABLE),                       # a camera driver, ros2 bag play
    ([RELIABLE, RELIABLE], RELIABLE),
    ([BEST_EFFORT], BEST_EFFORT),                 # sensor-data QoS (ouster-ros, velodyne)
    ([RELIABLE, BEST_EFFORT], BEST_EFFORT),       # a reliable reader would miss the second
    ([ReliabilityPolicy.SYSTEM_DEFAULT], BEST_EFFORT),
])
def test_reliable_only_when_every_publisher_is(publishers: list[ReliabilityPolicy],
                                               expected: ReliabilityPolicy | None) -> None:
    assert reliability_for(publishers) == expected
