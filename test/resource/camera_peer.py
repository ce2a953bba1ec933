"""Child process: a LiDAR + camera driver, run as real drivers run (issue 17).

Its own process with default Fast DDS settings (the tests start it without the shipped
profile), stamps from its own clock, 10 Hz. It publishes KITTI frame 000000 (the scan, and the
image resized to ``--width`` x ``--height`` with its calibration scaled to match) on
``NAMESPACE/points``, ``NAMESPACE/camera_info`` and ``NAMESPACE/image`` (or
``NAMESPACE/image/compressed``), in the encoding a camera driver would use:

    camera_peer.py KITTI_DIR NAMESPACE [--seconds S] [--width W --height H]
        [--encoding rgb8|bayer_rggb8|yuv422_yuy2] [--transport raw|compressed]
        [--qos reliable|best_effort] [--image-every N] [--shuffle] [--points-every N]
        [--only points|camera]

``--image-every N`` sends an image (and its CameraInfo) with every Nth scan only; ``--shuffle``
sends each pair of frames in reverse order, scans and images alike (two drivers on a topic, a
network that reorders). ``--points-every N`` keeps every Nth point of the scan (a 16- or
32-beam LiDAR's sparser scan: KITTI's 1.9 MB becomes under Fast DDS's default 512 KB
shared-memory segment at N 5). ``--only`` makes it the LiDAR alone or the camera alone (one
process per sensor, several cameras): it then stamps on the 100 ms grid of its clock, as
sensors triggered together do (PTP-synchronised clocks, a shared trigger), so that separate
processes' stamps agree. At the end it prints ``sent S scans, I images``.
"""

from __future__ import annotations

import argparse
import time

from builtin_interfaces.msg import Time
import cv2
import numpy as np
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from vlm_seg_ros.datasets.kitti_messages import kitti_messages
from vlm_seg_ros.ros.conversions import (
    array_to_image,
    array_to_pointcloud2,
    image_to_array,
    pointcloud2_to_array,
)


def camera_image(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """Return what a camera of ``encoding`` sends for the scene ``rgb``."""
    if encoding == 'bayer_rggb8':
        raw = np.empty(rgb.shape[:2], np.uint8)
        raw[0::2, 0::2], raw[0::2, 1::2] = rgb[0::2, 0::2, 0], rgb[0::2, 1::2, 1]
        raw[1::2, 0::2], raw[1::2, 1::2] = rgb[1::2, 0::2, 1], rgb[1::2, 1::2, 2]
        return raw
    if encoding == 'yuv422_yuy2':
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_YUY2)
    return rgb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('kitti_dir')
    parser.add_argument('namespace')
    parser.add_argument('--seconds', type=float, default=12.0)
    parser.add_argument('--width', type=int, default=1920)
    parser.add_argument('--height', type=int, default=1080)
    parser.add_argument('--encoding', default='rgb8')
    parser.add_argument('--transport', default='raw')
    parser.add_argument('--qos', default='reliable')
    parser.add_argument('--image-every', type=int, default=1)
    parser.add_argument('--shuffle', action='store_true')
    parser.add_argument('--points-every', type=int, default=1)
    parser.add_argument('--only', choices=('points', 'camera'))
    args = parser.parse_args()

    kitti = kitti_messages(args.kitti_dir, '000000')
    cloud = kitti.cloud
    if args.points_every > 1:
        points = pointcloud2_to_array(cloud).reshape(-1)
        cloud = array_to_pointcloud2(points[::args.points_every], cloud.header)
    rgb = cv2.resize(image_to_array(kitti.image, desired_encoding='rgb8'),
                     (args.width, args.height), interpolation=cv2.INTER_LINEAR)
    sx, sy = args.width / kitti.image.width, args.height / kitti.image.height
    scale = np.diag([sx, sy, 1.0])
    info = kitti.camera_info
    info.k = (scale @ np.reshape(info.k, (3, 3))).ravel().tolist()
    info.p = (scale @ np.reshape(info.p, (3, 4))).ravel().tolist()
    info.width, info.height = args.width, args.height
    image_msg: Image | CompressedImage
    if args.transport == 'compressed':
        ok, jpeg = cv2.imencode('.jpg', rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        image_msg = CompressedImage(format='rgb8; jpeg compressed bgr8', data=jpeg.tobytes())
    else:
        image_msg = array_to_image(camera_image(rgb, args.encoding), encoding=args.encoding,
                                   header=kitti.image.header)
        image_msg.encoding = args.encoding
    image_msg.header.frame_id = kitti.image.header.frame_id

    rclpy.init()
    node = rclpy.create_node('camera_peer', namespace=args.namespace)
    qos = (QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
           if args.qos == 'reliable' else qos_profile_sensor_data)
    image_topic = 'image/compressed' if args.transport == 'compressed' else 'image'
    pubs = {'points': node.create_publisher(PointCloud2, 'points', qos),
            'image': node.create_publisher(type(image_msg), image_topic, qos),
            'camera_info': node.create_publisher(CameraInfo, 'camera_info', qos)}
    if args.only is not None:
        wanted = {'points'} if args.only == 'points' else {'image', 'camera_info'}
        for topic in set(pubs) - wanted:
            node.destroy_publisher(pubs.pop(topic))
    deadline = time.monotonic() + 30
    while any(p.get_subscription_count() == 0 for p in pubs.values()) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    scans = images = 0
    if args.only is not None:  # start on the 100 ms grid of the clock
        time.sleep(0.1 - (time.time() % 0.1))
    start = time.monotonic()
    tick = 0
    # One message per topic, stamped as it is sent (publish serialises it at once).
    messages = {'points': cloud, 'image': image_msg, 'camera_info': info}
    batch: list[tuple[str, Time]] = []
    while time.monotonic() - start < args.seconds:
        stamp = node.get_clock().now().to_msg()
        if args.only is not None:  # the nearest tick of the 100 ms grid
            tick_ns = round((stamp.sec * 10**9 + stamp.nanosec) / 1e8) * 100_000_000
            stamp = Time(sec=tick_ns // 10**9, nanosec=tick_ns % 10**9)
        if args.only != 'camera':
            batch.append(('points', stamp))
            scans += 1
        if args.only != 'points' and tick % args.image_every == 0:
            batch += [('camera_info', stamp), ('image', stamp)]
            images += 1
        if not args.shuffle or tick % 2 == 1:
            for topic, sent_stamp in (reversed(batch) if args.shuffle else batch):
                messages[topic].header.stamp = sent_stamp
                pubs[topic].publish(messages[topic])
            batch = []
        tick += 1
        time.sleep(max(0.0, start + 0.1 * tick - time.monotonic()))
    print(f'sent {scans} scans, {images} images', flush=True)
    time.sleep(1.0)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
