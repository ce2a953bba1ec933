"""The package's one stamp type: integer nanoseconds, as ROS keeps them.

Every stamp inside the package (tracks' first and last sightings, masks, label crops, frames,
the scene description) is an ``int`` of nanoseconds. Float seconds lose exactness: with stamps
``k * 0.1`` a comparison like ``stamp - last_seen <= 0.1`` holds for some ``k`` and not for
others. Durations stay what the parameters give, float seconds, and are compared after
:func:`seconds_to_ns`. ROS ``builtin_interfaces/Time`` converts in
:mod:`vlm_seg_ros.ros.conversions`.
"""

from __future__ import annotations

import numbers

from vlm_seg_ros.errors import InvalidInputError

NS_PER_S = 1_000_000_000
# Largest stamp magnitude (~31,700 years; ROS time stops at 2**31 s): beyond it, differences
# of stamps times speeds could overflow and make predicted boxes infinite.
MAX_STAMP_NS = 10**12 * NS_PER_S


def seconds_to_ns(seconds: float) -> int:
    """Return a duration or time of ``seconds`` as integer nanoseconds (rounded)."""
    return round(seconds * NS_PER_S)


def ns_to_seconds(nanoseconds: int) -> float:
    """Return integer nanoseconds as float seconds (for velocities, rates and logs)."""
    return nanoseconds / NS_PER_S


def check_stamp(stamp: object) -> int:
    """Return ``stamp`` as an ``int`` if it is whole nanoseconds within +-``MAX_STAMP_NS``.

    Raises:
        InvalidInputError: on a float (seconds passed by mistake), a bool, or an absurd value.

    """
    if isinstance(stamp, bool) or not isinstance(stamp, numbers.Integral):
        msg = f'stamp must be integer nanoseconds, got {type(stamp).__name__} {stamp!r}'
        raise InvalidInputError(msg)
    value = int(stamp)
    if abs(value) > MAX_STAMP_NS:
        msg = f'stamp must lie within +-{MAX_STAMP_NS} ns, got {value}'
        raise InvalidInputError(msg)
    return value
