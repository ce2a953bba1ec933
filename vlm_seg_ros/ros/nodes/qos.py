"""Sensor subscriptions whose reliability follows their publishers.

A best-effort subscription matches every publisher, but between processes Fast DDS loses most
multi-megabyte best-effort messages (camera images, 128-beam scans) unless both sides use a
large-message profile; a reliable one gets them all, but does not match a best-effort
publisher. So each input starts best effort (it matches anything at once) and follows its
publishers, as rclpy's graph reports them:

- reliable when every publisher on the topic is reliable (most camera drivers, bags played
  with ``ros2 bag play``);
- best effort when any publisher is best effort (sensor-data QoS, e.g. ouster-ros, velodyne);
- unchanged while there is no publisher.

The choice is made when publishers appear and revisited when they change (the node polls the
graph every ``QOS_CHECK_PERIOD`` s), and logged once per change with the reason. History is
keep-last with depth 1 and durability volatile: only the newest message is kept, so a slow
frame never leaves a backlog. ROS's standard override parameters still win:
``qos_overrides.<topic>.subscription.reliability`` (``auto``, the default, is this rule;
``reliable`` or ``best_effort`` fix it) and ``...depth`` / ``...history``.

With ``raw``, the callback gets the message's serialised bytes (see ``ros.serialized``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import copy
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSPolicyKind,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.subscription import Subscription

from vlm_seg_ros.errors import InvalidInputError

AUTO = 'auto'
# Seconds between looks at the publishers of each input.
QOS_CHECK_PERIOD = 0.5
RELIABLE, BEST_EFFORT = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT


def reliability_for(publishers: Sequence[ReliabilityPolicy]) -> ReliabilityPolicy | None:
    """Return the reliability that matches every one of ``publishers``; None when there are none.

    Reliable when every publisher is reliable, best effort when any is not (a reliable
    subscription does not match a best-effort publisher).
    """
    if not publishers:
        return None
    return RELIABLE if all(p == RELIABLE for p in publishers) else BEST_EFFORT


def describe(policy: ReliabilityPolicy) -> str:
    """Return ``reliable`` or ``best effort``."""
    return 'reliable' if policy == RELIABLE else 'best effort'


class SensorSubscription:
    """One input topic: a keep-last-1 subscription whose reliability follows its publishers."""

    def __init__(self, node: Node, msg_type: type, topic: str, callback: Callable[[Any], None],
                 *, log: Callable[[str], None], callback_group: Any = None,
                 raw: bool = False) -> None:
        """Declare the input's reliability parameter and subscribe (``raw``: to bytes).

        Raises:
            InvalidInputError: if ``qos_overrides.<topic>.subscription.reliability`` is not
                ``auto``, ``reliable``, ``best_effort`` or ``system_default``.

        """
        self._node, self.msg_type, self._callback = node, msg_type, callback
        self._log, self._group, self._name, self._raw = log, callback_group, topic, raw
        self.topic = node.resolve_topic_name(topic)  # remapped and expanded
        name = f'qos_overrides.{self.topic}.subscription.reliability'
        value: object = node.declare_parameter(name, AUTO, ParameterDescriptor(
            description=f'reliability of the {self.topic} subscription: auto (follow its '
            'publishers: reliable when all are), reliable, best_effort', read_only=True)).value
        self.fixed: ReliabilityPolicy | None = None
        if value != AUTO:
            try:
                self.fixed = ReliabilityPolicy(ReliabilityPolicy.get_from_short_key(str(value)))
            except KeyError as error:
                msg = f'{name} is {value!r}; use auto, reliable, best_effort or system_default'
                raise InvalidInputError(msg) from error
        self.subscription = self._subscribe(self.fixed or BEST_EFFORT)
        if self.fixed is not None:
            log(f'{self.topic}: subscribed {describe(self.fixed)}, as {name} says')

    @property
    def reliability(self) -> ReliabilityPolicy:
        """The subscription's reliability now."""
        return ReliabilityPolicy(self.subscription.qos_profile.reliability)

    def update(self) -> bool:
        """Follow the topic's publishers; return whether the subscription was re-created."""
        if self.fixed is not None:
            return False
        policies = [info.qos_profile.reliability
                    for info in self._node.get_publishers_info_by_topic(self.topic)]
        want = reliability_for(policies)
        if want is None or want == self.reliability:
            return False
        old = self.subscription
        self.subscription = self._subscribe(want)
        self._node.destroy_subscription(old)
        count = len(policies)
        why = (f'its {count} publisher(s) are all reliable' if want == RELIABLE else
               f'{sum(p != RELIABLE for p in policies)} of its {count} publisher(s) are best '
               'effort')
        self._log(f'{self.topic}: subscribing {describe(want)}: {why} (set '
                  f'qos_overrides.{self.topic}.subscription.reliability to fix it)')
        return True

    def destroy(self) -> None:
        """Destroy the subscription."""
        self._node.destroy_subscription(self.subscription)

    def _subscribe(self, reliability: ReliabilityPolicy) -> Subscription[Any]:
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=reliability,
                         durability=DurabilityPolicy.VOLATILE)
        # History and depth take ROS's standard override parameters; reliability is this
        # class's own parameter of the same name (declared above), so it is not in the list.
        options = QoSOverridingOptions(policy_kinds=(QoSPolicyKind.HISTORY,
                                                     QoSPolicyKind.DEPTH))
        return self._node.create_subscription(
            self.msg_type, self._name, self._callback, copy.copy(qos),
            qos_overriding_options=options, callback_group=self._group, raw=self._raw)
