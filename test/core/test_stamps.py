"""The one stamp type: integer nanoseconds; float seconds are refused, not misread."""

from __future__ import annotations

import numpy as np
import pytest

from vlm_seg_ros.core.stamps import MAX_STAMP_NS, check_stamp, ns_to_seconds, seconds_to_ns
from vlm_seg_ros.errors import InvalidInputError


def test_seconds_convert_to_whole_nanoseconds_exactly_at_scan_rates() -> None:
    assert seconds_to_ns(0.1) == 100_000_000
    # Float seconds drift (0.1 * 3 - 0.1 * 2 != 0.1); their nanoseconds do not.
    assert 0.1 * 3 - 0.1 * 2 != 0.1
    assert seconds_to_ns(0.1 * 3) - seconds_to_ns(0.1 * 2) == seconds_to_ns(0.1)
    assert ns_to_seconds(1_700_000_000_123_456_789) == pytest.approx(1_700_000_000.1234568)


@pytest.mark.parametrize('stamp', [0, -5, 1_700_000_000_000_000_000, np.int64(7), MAX_STAMP_NS])
def test_whole_nanoseconds_pass(stamp: object) -> None:
    assert check_stamp(stamp) == int(stamp)  # type: ignore[call-overload]
    assert type(check_stamp(stamp)) is int


@pytest.mark.parametrize('stamp', [0.5, float('nan'), '1', None, False, MAX_STAMP_NS + 1])
def test_anything_else_is_refused_with_the_reason(stamp: object) -> None:
    with pytest.raises(InvalidInputError, match='stamp'):
        check_stamp(stamp)
