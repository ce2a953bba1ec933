"""What users ask of the perception node: ``~/ask`` and the prompt topics.

- ``~/ask`` (vlm_seg_ros/srv/Ask): a free-text question about the latest image, answered by
  the vision-language model on its own callback group (answers take seconds on a CPU and must
  not hold up the frames). A missing or failing model is an answer with ``success: false``
  and the reason, never an exception.
- ``~/prompts/text`` (String): comma-separated noun phrases for SAM 3.
- ``~/prompts/point`` (PointStamped, e.g. RViz's Publish Point tool, in the graph frame):
  projected into the next frame's image by the runner.
- ``~/prompts/box`` (RegionOfInterest, image pixels).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from geometry_msgs.msg import PointStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import RegionOfInterest
from std_msgs.msg import String

from vlm_seg_ros.models.engine import ModelUnavailableError, SemanticEngine
from vlm_seg_ros.ros.conversions import pixel_box, time_from_ns
from vlm_seg_ros.ros.nodes import guarded
from vlm_seg_ros.runtime.frames import FrameRunner, PointPrompt
from vlm_seg_ros.srv import Ask


class Requests:
    """The ``~/ask`` service and the prompt subscriptions of one configured node."""

    def __init__(self, node: Node, engine: SemanticEngine, runner: FrameRunner, *,
                 on_error: Callable[[str, Exception], None]) -> None:
        """Create the service and the subscriptions."""
        self._node, self._engine, self._runner = node, engine, runner
        side = MutuallyExclusiveCallbackGroup()  # questions take seconds: not on the frame path
        self.ask_service = node.create_service(
            Ask, '~/ask', guarded('~/ask', self._on_ask, on_error, _ask_failed),
            callback_group=side)
        topics: list[tuple[type, str, Callable[[Any], None]]] = [
            (String, '~/prompts/text', lambda msg: engine.set_prompts(msg.data)),
            (PointStamped, '~/prompts/point', self._on_point),
            (RegionOfInterest, '~/prompts/box', lambda roi: engine.add_box_prompt(pixel_box(roi)))]
        self.prompt_subs = [node.create_subscription(kind, topic, guarded(topic, callback,
                                                                          on_error), 10)
                            for kind, topic, callback in topics]

    def destroy(self) -> None:
        """Destroy the service and the subscriptions."""
        self._node.destroy_service(self.ask_service)
        for sub in self.prompt_subs:
            self._node.destroy_subscription(sub)

    def _on_point(self, click: PointStamped) -> None:
        point = click.point
        self._runner.add_point_prompt(PointPrompt((point.x, point.y, point.z),
                                                  click.header.frame_id))

    def _on_ask(self, request: Ask.Request, response: Ask.Response) -> Ask.Response:
        if not request.question.strip():
            response.message = 'the question is empty'
            return response
        try:
            response.answer, stamp = self._engine.ask(request.question)
        except ModelUnavailableError as exc:
            response.message = str(exc)
            return response
        except Exception as exc:  # noqa: BLE001 - a failing model is an answer, not a crash
            response.message = f'the model failed: {type(exc).__name__}: {exc}'
            return response
        response.success, response.stamp = True, time_from_ns(stamp)
        return response


def _ask_failed(request: Ask.Request, response: Ask.Response) -> Ask.Response:
    response.success, response.message = False, 'answering failed (see the node log)'
    return response
