"""A KITTI object-format frame as the ROS messages a robot would publish.

The scan becomes a PointCloud2 (``x y z intensity``, float32, in the Velodyne frame), image_2 an
``rgb8`` Image, the calibration a CameraInfo (KITTI images are rectified: D zero, R = R0_rect,
P = P2, K = P2's left 3x3), and ``Tr_velo_to_cam`` the 7-number ``lidar_to_camera`` parameter.
When the folder has ``image_3/`` (the right colour camera) and the calibration ``P3``, image_3
becomes a second Image and CameraInfo (P = P3). Both cameras' frame is ``camera_color_left``:
rectified camera 0, the frame that P2 and P3 project from (their fourth columns hold each
camera's offset from it, as ``sensor_msgs/CameraInfo`` documents for a stereo pair's second
camera), so both share the one ``lidar_to_camera``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builtin_interfaces.msg import Time
import cv2
import numpy as np
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, RegionOfInterest
from std_msgs.msg import Header

from vlm_seg_ros.datasets import kitti
from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.ros.conversions import array_to_image, array_to_pointcloud2

LIDAR_FRAME = 'velo_link'
CAMERA_FRAME = 'camera_color_left'


@dataclass(frozen=True, eq=False)
class KittiMessages:
    """One frame's messages (all stamped alike) and its extrinsic as a parameter value."""

    cloud: PointCloud2
    image: Image
    camera_info: CameraInfo
    lidar_to_camera: list[float]
    calibration: kitti.KittiCalibration
    scan: np.ndarray
    right: tuple[Image, CameraInfo] | None = None  # image_3 and its CameraInfo, if any

    def stamped(self, stamp: Time) -> tuple[PointCloud2, Image, CameraInfo]:
        """Return the three messages with ``stamp`` (changed in place, ``right`` too)."""
        for message in (self.cloud, self.image, self.camera_info, *(self.right or ())):
            message.header.stamp = stamp
        return self.cloud, self.image, self.camera_info


def kitti_messages(folder: str | Path, frame: str) -> KittiMessages:
    """Read frame ``frame`` (e.g. ``'000000'``) of a KITTI object-format folder.

    Raises:
        InvalidInputError: if a file is missing or malformed.

    """
    folder = Path(folder)
    calibration = kitti.read_calibration(folder / 'calib' / f'{frame}.txt')
    scan = kitti.read_velodyne(folder / 'velodyne' / f'{frame}.bin')
    bgr = _read_image(folder / 'image_2' / f'{frame}.png')
    height, width = bgr.shape[:2]
    points = np.zeros(len(scan), dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4'),
                                        ('intensity', '<f4')])
    for column, name in enumerate(points.dtype.names or ()):
        points[name] = scan[:, column]
    cloud = array_to_pointcloud2(points, Header(frame_id=LIDAR_FRAME))
    image, info = _camera_messages(bgr, calibration.p2, calibration)
    right_path = folder / 'image_3' / f'{frame}.png'
    right = (_camera_messages(_read_image(right_path), calibration.p3, calibration)
             if right_path.is_file() and calibration.p3 is not None else None)
    pose = calibration.velo_to_cam
    lidar_to_camera = [*map(float, pose.translation), *map(float, pose.quaternion)]
    return KittiMessages(cloud, image, info, lidar_to_camera, calibration, scan, right)


def _read_image(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        msg = f'{path} is missing or not an image'
        raise InvalidInputError(msg)
    return bgr


def _camera_messages(bgr: np.ndarray, p: np.ndarray,
                     calibration: kitti.KittiCalibration) -> tuple[Image, CameraInfo]:
    """Return a rectified KITTI image and its CameraInfo (projection ``p``)."""
    height, width = bgr.shape[:2]
    image = array_to_image(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), encoding='rgb8',
                           header=Header(frame_id=CAMERA_FRAME))
    info = CameraInfo(header=Header(frame_id=CAMERA_FRAME), width=width, height=height,
                      distortion_model='plumb_bob', d=[0.0] * 5, k=p[:, :3].ravel().tolist(),
                      r=calibration.r0_rect.ravel().tolist(), p=p.ravel().tolist(),
                      roi=RegionOfInterest())
    return image, info
