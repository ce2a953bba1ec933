"""From synchronised messages to the runtime's inputs.

``camera_synchronizer`` pairs each camera with the scans on its own; ``decode_frame`` converts
a scan and each camera's (image, camera_info) into ``runtime.frames.FrameInputs`` and looks up
the transforms, with the rule that a bad image or CameraInfo, or a camera without an
extrinsic, costs the frame that camera's part only (the node and ``process-bag`` both use
it); ``headers`` gives the outputs' headers back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from builtin_interfaces.msg import Time
import numpy as np
import numpy.typing as npt
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header

from vlm_seg_ros.core.scene import CameraView
from vlm_seg_ros.core.sync import CameraSetSynchronizer
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.errors import InvalidInputError, TransformUnavailableError
from vlm_seg_ros.ros.conversions import (
    camera_info_to_model,
    compressed_image_to_array,
    image_to_array,
    pointcloud2_to_array,
    pointcloud2_to_xyz,
    time_from_ns,
    time_to_ns,
)
from vlm_seg_ros.ros.serialized import message_of
from vlm_seg_ros.runtime.config import CameraSetup, PerceptionConfig
from vlm_seg_ros.runtime.frames import CameraInput, DropReason, FrameInputs


class TransformSource(Protocol):
    """Where transforms come from: TF in the node (``Extrinsics``), a bag's ``/tf_static``."""

    @property
    def has_tf(self) -> bool:
        """Return whether transforms are looked up at all (else only the parameter is used)."""

    def lookup(self, target_frame: str, target_stamp: Time, source_frame: str,
               source_stamp: Time, *, fixed_frame: str, timeout: float) -> RigidTransform:
        """Return the transform of points from ``source_frame`` into ``target_frame``."""


def _intensity(cloud: PointCloud2) -> npt.NDArray[np.float32]:
    """Return the cloud's scalar ``intensity`` field, one value per point.

    Raises:
        InvalidInputError: without one (the ground reflection filter needs it).

    """
    array = pointcloud2_to_array(cloud)
    fields: Mapping[str, Any] = array.dtype.fields or {}
    if 'intensity' not in fields or fields['intensity'][0].shape:
        msg = (f'segmentation.ground.reflection_filter needs a scalar intensity field; the '
               f'cloud has {list(fields)}: publish intensity, or turn the filter off')
        raise InvalidInputError(msg)
    return np.asarray(array['intensity'], dtype=np.float32).reshape(-1)


class DroppedFrameError(InvalidInputError):
    """A frame that cannot be processed; ``reason`` names why in a word (for counters)."""

    def __init__(self, reason: DropReason, text: str) -> None:
        """Keep ``reason`` beside the message ``text``."""
        super().__init__(text)
        self.reason = reason


def camera_synchronizer(config: PerceptionConfig) -> CameraSetSynchronizer[Any]:
    """Return the synchroniser of ``sync.*``: every scan goes, with each camera's pair or not.

    Each camera of ``config.camera_setups`` is matched to the scan on its own, with its own
    ``sync_offset``; a scan waits for a camera at most ``slop + camera_margin``, and not at
    all while that camera is down or once it has passed the scan by (see
    ``CameraSetSynchronizer``). Input 1 of a camera is its image, input 2 its CameraInfo.
    """
    sync, setups = config.sync, config.camera_setups
    return CameraSetSynchronizer(
        len(setups), slop=sync.slop, wait=sync.slop + sync.camera_margin,
        camera_timeout=sync.camera_timeout, queue_size=sync.queue_size,
        lidar_offset=sync.lidar_offset, camera_offsets=[setup.offset for setup in setups])


def camera_input(camera: int, part: int) -> int:
    """Return the node's input index of camera ``camera``'s ``part`` (1 image, 2 camera_info).

    The inputs are the points (0), then each camera's image and camera_info in turn, as
    ``ros.nodes.inputs.input_topics`` subscribes them.
    """
    return 2 * camera + part


def input_camera(index: int) -> tuple[int, int]:
    """Return the camera and its part (1 image, 2 camera_info) of input ``index`` >= 1."""
    camera, offset = divmod(index - 1, 2)
    return camera, offset + 1


def camera_label(setup: CameraSetup) -> str:
    """Return how logs and counters name a camera: ``camera 'front'``, or ``the camera``."""
    return f'camera {setup.name!r}' if setup.name else 'the camera'


def decode_frame(scan: PointCloud2, cameras: Sequence[Sequence[Any] | None],
                 config: PerceptionConfig, extrinsics: TransformSource, *,
                 warn: Callable[[str], None], dropped: Callable[[DropReason, str], None],
                 tf_failed: Callable[[str], None] | None = None) -> FrameInputs | None:
    """Decode a scan and each camera's ``(image, camera_info)`` (None: that camera has none).

    Messages may still be serialised (:class:`vlm_seg_ros.ros.serialized.Serialized`); they
    are deserialised here. ``cameras`` follows ``config.camera_setups``. A bad camera part
    costs the frame only that camera (``CAMERA_REASONS``, reported as ``dropped(reason,
    text)``); so does a camera without an extrinsic (``no_camera_transform``: not in TF and
    no ``lidar_to_camera`` of its own): it is disabled until TF has it, the others go on.
    ``tf_failed(text)`` is called for every failed TF lookup, also those that fall back to a
    ``lidar_to_camera`` parameter.
    None (after ``warn``) without a transform from the scan to ``target_frame``.

    Raises:
        DroppedFrameError: for a bad scan (``invalid_points``).
        InvalidInputError: if ``cameras`` does not have one entry per configured camera.

    """
    setups = config.camera_setups
    if len(cameras) != len(setups):
        msg = f'{len(cameras)} camera parts for {len(setups)} configured cameras'
        raise InvalidInputError(msg)
    try:
        scan = _deserialised(scan, 'points')
        points = pointcloud2_to_xyz(scan)
        intensity = _intensity(scan) if config.segmentation.ground.reflection_filter else None
    except InvalidInputError as exc:
        raise DroppedFrameError(DropReason.INVALID_POINTS, f'points: {exc}') from exc
    lidar_frame, stamp = scan.header.frame_id, scan.header.stamp
    target = config.target_frame or lidar_frame
    try:
        to_target = extrinsics.lookup(target, stamp, lidar_frame, stamp, fixed_frame=target,
                                      timeout=config.tf_timeout)
    except TransformUnavailableError as exc:
        if tf_failed is not None:
            tf_failed(str(exc))
        warn(f'dropped a frame: {exc}; target_frame "" publishes in the point cloud\'s frame')
        return None
    decoded: list[CameraInput] = []
    for setup, messages in zip(setups, cameras, strict=True):
        if messages is None:
            continue
        try:
            decoded.append(_decode_camera(messages, setup, scan, target, config, extrinsics,
                                          warn=warn, tf_failed=tf_failed))
        except DroppedFrameError as exc:
            part = 'the camera part' if not setup.name else f'the part of {camera_label(setup)}'
            alone = 'its scan is processed alone' if len(setups) == 1 else (
                'the scan goes on with the other cameras')
            dropped(exc.reason, f'{part} of a frame: {exc}; {alone}')
    return FrameInputs(points, intensity, time_to_ns(stamp), target, to_target, tuple(decoded))


def _decode_camera(messages: Sequence[Any], setup: CameraSetup, scan: PointCloud2, target: str,
                   config: PerceptionConfig, extrinsics: TransformSource, *,
                   warn: Callable[[str], None],
                   tf_failed: Callable[[str], None] | None) -> CameraInput:
    """Decode one camera's ``(image, camera_info)`` and find its extrinsic.

    Raises:
        DroppedFrameError: with a reason of ``CAMERA_REASONS``.

    """
    try:
        image: Image | CompressedImage = _deserialised(messages[0], 'image')
    except InvalidInputError as exc:
        raise DroppedFrameError(DropReason.INVALID_IMAGE, f'image: {exc}') from exc
    try:
        info: CameraInfo = _deserialised(messages[1], 'camera_info')
        model = camera_info_to_model(info)
    except InvalidInputError as exc:
        raise DroppedFrameError(DropReason.INVALID_CAMERA_INFO, f'camera_info: {exc}') from exc
    compressed = isinstance(image, CompressedImage)
    if not compressed and (image.width, image.height) != (model.image_width,
                                                          model.image_height):
        msg = (f'image is {image.width}x{image.height} but its CameraInfo describes '
               f'{model.image_width}x{model.image_height} images')
        raise DroppedFrameError(DropReason.IMAGE_SIZE_MISMATCH, msg)
    try:
        rgb = (compressed_image_to_array(image) if compressed
               else image_to_array(image, desired_encoding='rgb8'))
    except InvalidInputError as exc:
        raise DroppedFrameError(DropReason.INVALID_IMAGE, f'image: {exc}') from exc
    if compressed and rgb.shape[:2] != (model.image_height, model.image_width):
        msg = (f'compressed image is {rgb.shape[1]}x{rgb.shape[0]} but its CameraInfo '
               f'describes {model.image_width}x{model.image_height} images')
        raise DroppedFrameError(DropReason.IMAGE_SIZE_MISMATCH, msg)
    camera_frame = image.header.frame_id or info.header.frame_id
    try:
        to_camera = extrinsics.lookup(camera_frame, image.header.stamp, scan.header.frame_id,
                                      scan.header.stamp, fixed_frame=target,
                                      timeout=config.tf_timeout)
    except TransformUnavailableError as exc:
        if extrinsics.has_tf and tf_failed is not None:
            tf_failed(str(exc))
        if setup.lidar_to_camera is None:
            msg = (f'no extrinsic: {exc}, and camera.{setup.name}.lidar_to_camera is not set; '
                   'it is disabled until TF has the transform')
            raise DroppedFrameError(DropReason.NO_CAMERA_TRANSFORM, msg) from exc
        if extrinsics.has_tf:
            parameter = f'camera.{setup.name}.' if setup.name else ''
            warn(f'{exc}; using the {parameter}lidar_to_camera parameter instead')
        to_camera = setup.lidar_to_camera
    view = CameraView(rgb, model, to_camera, name=setup.name, rectified=setup.rectified)
    return CameraInput(view, time_to_ns(image.header.stamp), image.header.frame_id)


def _deserialised(item: Any, name: str) -> Any:
    """Return the message of ``item`` (deserialised if serialised).

    Raises:
        InvalidInputError: for bytes rclpy cannot deserialise.

    """
    try:
        return message_of(item)
    except Exception as exc:  # rclpy raises several types for malformed CDR
        msg = f'cannot deserialise the {name} message: {exc}'
        raise InvalidInputError(msg) from exc


def headers(inputs: FrameInputs) -> tuple[Header, list[Header]]:
    """Return the outputs' header (scan stamp, output frame) and each camera image's."""
    return (Header(stamp=time_from_ns(inputs.stamp_ns), frame_id=inputs.frame_id),
            [Header(stamp=time_from_ns(camera.stamp_ns), frame_id=camera.frame_id)
             for camera in inputs.cameras])
