"""ROS 2 nodes: thin glue that converts messages, calls the core and publishes."""

from __future__ import annotations

from collections.abc import Callable
import functools
from typing import ParamSpec, TypeVar

import rclpy
from rclpy.executors import (
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.impl.rcutils_logger import RcutilsLogger
from rclpy.node import Node

P = ParamSpec('P')
R = TypeVar('R')


def guarded(where: str, callback: Callable[P, R], on_error: Callable[[str, Exception], None],
            fallback: Callable[P, R] | None = None) -> Callable[P, R | None]:
    """Wrap a subscription, timer, service or parameter callback so no exception leaves it.

    rclpy's executor re-raises an exception from a callback out of ``spin``, which ends the
    node. This is the last line of defence behind the node's own error handling: the error
    goes to ``on_error(where, exc)`` (count it, log it) and the callback returns
    ``fallback(*args)`` (e.g. a service response saying what failed), else None.
    """
    @functools.wraps(callback)
    def guard(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return callback(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - counted and logged; the node goes on
            on_error(where, exc)
            return None if fallback is None else fallback(*args, **kwargs)

    guard.guarded = where  # type: ignore[attr-defined]  # tests check every callback has one
    return guard


def log_at(logger: RcutilsLogger, level: str, text: str) -> None:
    """Log ``text`` at ``level`` (``error``, ``warn``, else info) for callers that pick it."""
    # One call site per severity: rclpy refuses to change a call site's severity.
    if level == 'error':
        logger.error(text)
    elif level == 'warn':
        logger.warning(text)
    else:
        logger.info(text)


def run(make_node: Callable[[], Node], args: list[str] | None = None, *,
        threads: int = 1) -> None:
    """Init rclpy, spin the node from ``make_node`` until Ctrl-C or shutdown, clean up.

    With ``threads`` > 1 a multi-threaded executor runs callbacks of different callback groups
    in parallel (callbacks of the default group still run one at a time).
    """
    rclpy.init(args=args)
    node = None
    try:
        # The executor first: Ctrl-C shuts the context down, and none can be made after that.
        executor = (MultiThreadedExecutor(num_threads=threads) if threads > 1
                    else SingleThreadedExecutor())
        node = make_node()  # inside the try: Ctrl-C during start-up is a clean exit too
        if rclpy.ok():  # else Ctrl-C came while the node started: nothing to spin
            rclpy.spin(node, executor=executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # Ctrl-C during start-up: rclpy calls on the shut-down context fail; a clean exit.
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
