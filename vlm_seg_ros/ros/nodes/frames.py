"""From synchronised messages to the runtime's inputs.

``decode_frame`` converts one synchronised (points[, image, camera_info]) tuple into
``runtime.frames.FrameInputs`` and looks up its transforms; ``decode_or_scan_alone`` adds the
rule that a bad image or CameraInfo costs the frame its camera part, not its scan (the node
and ``process-bag`` both use it); ``headers`` gives the outputs' headers back.
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
from vlm_seg_ros.core.sync import ScanSynchronizer, SyncConfig
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
from vlm_seg_ros.runtime.config import CameraSetup, PerceptionConfig
from vlm_seg_ros.runtime.frames import CAMERA_REASONS, CameraInput, DropReason, FrameInputs


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


def the_camera(config: PerceptionConfig) -> CameraSetup | None:
    """Return the one camera the node and process-bag take so far; None without a camera.

    Raises:
        InvalidInputError: for several cameras. The ROS-free pipeline, synchroniser and
            models take any number (``ScenePipeline``, ``CameraSetSynchronizer``); the node's
            and process-bag's inputs take one camera until issue 19 lands.

    """
    setups = config.camera_setups
    if len(setups) > 1:
        names = ', '.join(setup.name for setup in setups)
        msg = (f'cameras: [{names}]: perception_node and process-bag take one camera so far; '
               'run one node per camera meanwhile')
        raise InvalidInputError(msg)
    return setups[0] if setups else None


def scan_synchronizer(config: SyncConfig, *, camera_inputs: int,
                      camera_offset: float | None = None) -> ScanSynchronizer[Any]:
    """Return the synchroniser of ``sync.*``: every scan goes, with its camera or alone.

    A scan waits at most ``slop + camera_margin`` for its camera messages, and not at all
    while the camera is down or once the camera has passed it by (see ``ScanSynchronizer``).
    """
    return ScanSynchronizer(
        camera_inputs, slop=config.slop, wait=config.slop + config.camera_margin,
        camera_timeout=config.camera_timeout, queue_size=config.queue_size,
        lidar_offset=config.lidar_offset,
        camera_offset=config.camera_offset if camera_offset is None else camera_offset)


def decode_frame(messages: Sequence[Any], config: PerceptionConfig, extrinsics: TransformSource,
                 static_extrinsic: RigidTransform, *, warn: Callable[[str], None],
                 tf_failed: Callable[[str], None] | None = None) -> FrameInputs | None:
    """Decode ``(points[, image, camera_info])``; None (after ``warn``) without a transform.

    ``tf_failed(text)`` is called for every failed TF lookup, also those that fall back to the
    ``lidar_to_camera`` parameter.

    Raises:
        DroppedFrameError: with reason ``invalid_points``, ``invalid_camera_info``,
            ``image_size_mismatch`` or ``invalid_image``.

    """
    cloud: PointCloud2 = messages[0]
    try:
        points = pointcloud2_to_xyz(cloud)
        intensity = _intensity(cloud) if config.segmentation.ground.reflection_filter else None
    except InvalidInputError as exc:
        raise DroppedFrameError(DropReason.INVALID_POINTS, f'points: {exc}') from exc
    lidar_frame, stamp = cloud.header.frame_id, cloud.header.stamp
    target = config.target_frame or lidar_frame
    try:
        to_target = extrinsics.lookup(target, stamp, lidar_frame, stamp, fixed_frame=target,
                                      timeout=config.tf_timeout)
    except TransformUnavailableError as exc:
        if tf_failed is not None:
            tf_failed(str(exc))
        warn(f'dropped a frame: {exc}; target_frame "" publishes in the point cloud\'s frame')
        return None
    cameras: tuple[CameraInput, ...] = ()
    if len(messages) == 3:
        image: Image | CompressedImage = messages[1]
        info: CameraInfo = messages[2]
        try:
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
            to_camera = extrinsics.lookup(camera_frame, image.header.stamp, lidar_frame, stamp,
                                          fixed_frame=target, timeout=config.tf_timeout)
        except TransformUnavailableError as exc:
            if extrinsics.has_tf:
                if tf_failed is not None:
                    tf_failed(str(exc))
                warn(f'{exc}; using the lidar_to_camera parameter instead')
            to_camera = static_extrinsic
        setup = the_camera(config)
        view = CameraView(rgb, model, to_camera, name=setup.name if setup else '',
                          rectified=setup.rectified if setup else None)
        cameras = (CameraInput(view, time_to_ns(image.header.stamp), image.header.frame_id),)
    return FrameInputs(points, intensity, time_to_ns(stamp), target, to_target, cameras)


def decode_or_scan_alone(messages: Sequence[Any], config: PerceptionConfig,
                         extrinsics: TransformSource, static_extrinsic: RigidTransform, *,
                         warn: Callable[[str], None], dropped: Callable[[DropReason, str], None],
                         tf_failed: Callable[[str], None] | None = None
                         ) -> FrameInputs | None:
    """``decode_frame``, where a bad camera part costs the frame only its camera part.

    A bad image or CameraInfo (``CAMERA_REASONS``) is reported as ``dropped(reason, text)``
    and the scan is decoded alone; None (after ``warn``) without a transform.

    Raises:
        DroppedFrameError: for a bad scan (``invalid_points``).

    """
    try:
        return decode_frame(messages, config, extrinsics, static_extrinsic, warn=warn,
                            tf_failed=tf_failed)
    except DroppedFrameError as exc:
        if exc.reason not in CAMERA_REASONS:
            raise
        dropped(exc.reason, f'the camera part of a frame: {exc}; its scan is processed alone')
    return decode_frame(messages[:1], config, extrinsics, static_extrinsic, warn=warn,
                        tf_failed=tf_failed)


def headers(inputs: FrameInputs) -> tuple[Header, list[Header]]:
    """Return the outputs' header (scan stamp, output frame) and each camera image's."""
    return (Header(stamp=time_from_ns(inputs.stamp_ns), frame_id=inputs.frame_id),
            [Header(stamp=time_from_ns(camera.stamp_ns), frame_id=camera.frame_id)
             for camera in inputs.cameras])
