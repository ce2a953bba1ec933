"""``kitti-to-bag``: KITTI object-format frames as a rosbag2 recording for perception_node.

::

    kitti-to-bag FOLDER OUTPUT [--frames 000000 000002 ...] [--storage mcap|sqlite3]
                 [--period 2.0] [--start 1700000000.0] [--overwrite]
    python -m vlm_seg_ros.tools.kitti_to_bag ...

FOLDER is in KITTI object format (``image_2/``, ``velodyne/``, ``calib/``, optional
``label_2/``); by default every ``velodyne/*.bin`` with an image and a calibration is converted,
in name order. Frame ``i`` is stamped ``start + i * period`` (header stamps and bag log time
alike) and written as:

- ``/kitti/points``: PointCloud2 (``x y z intensity``, float32) in ``velo_link``;
- ``/kitti/image``: Image (``rgb8``) in ``camera_color_left``;
- ``/kitti/camera_info``: CameraInfo of the rectified image (D zero, R = R0_rect, P = P2): play
  it to perception_node with ``camera.rectified: true``;
- ``/kitti/right/image`` and ``/kitti/right/camera_info`` (P = P3), for the frames that have
  ``image_3/`` (the right colour camera): a second camera, in the same ``camera_color_left``
  frame (rectified camera 0, which P2 and P3 both project from; see
  ``datasets.kitti_messages``). Process both with
  ``-p cameras:=[left,right] --image left=/kitti/image --camera-info left=/kitti/camera_info``;
- ``/kitti/labels`` (when ``label_2/`` exists): MarkerArray, one CUBE per labelled object
  (``DontCare`` skipped) in ``velo_link``, namespace ``kitti``, the KITTI type in ``text``,
  ids from 0 in each frame and a lifetime of one period (RViz drops a frame's boxes when the
  next frame's arrive).

``/tf_static`` carries the extrinsic as tf2 expects it: parent ``velo_link``, child
``camera_color_left``, the camera's pose in the LiDAR frame (``Tr_velo_to_cam`` inverted), so
that ``lookup_transform('camera_color_left', 'velo_link')`` gives ``Tr_velo_to_cam`` (LiDAR
points into the camera frame), exactly the ``lidar_to_camera`` of
``datasets.kitti_messages``. The LiDAR is the root of the tree, so a ``base_link -> velo_link``
transform can still be added. It is written at the first stamp, and again whenever a frame's
calibration differs from the previous frame's (object-format frames come from several
recording days): half a period before that frame, so that a tf2 listener replaying the bag
has the new extrinsic before the frame's messages arrive.

The default period is 2 s because object-format frames are unrelated snapshots, not a
sequence: 2 s apart, longer than the tracker's ``tracking.max_age`` (1 s), no track carries
over from one frame into the next.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
import re
import sys

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
import numpy as np
from std_msgs.msg import ColorRGBA, Header
from tqdm import tqdm
from visualization_msgs.msg import Marker, MarkerArray

from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.datasets import kitti
from vlm_seg_ros.datasets.kitti_messages import CAMERA_FRAME, LIDAR_FRAME, kitti_messages
from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.ros.bags import STORAGES, BagWriter, StampedTransform
from vlm_seg_ros.ros.conversions import time_from_ns

POINTS_TOPIC = '/kitti/points'
IMAGE_TOPIC = '/kitti/image'
CAMERA_INFO_TOPIC = '/kitti/camera_info'
RIGHT_IMAGE_TOPIC = '/kitti/right/image'
RIGHT_CAMERA_INFO_TOPIC = '/kitti/right/camera_info'
LABELS_TOPIC = '/kitti/labels'
LABEL_NAMESPACE = 'kitti'
DEFAULT_PERIOD = Decimal('2.0')
DEFAULT_START = Decimal('1700000000.0')
_NS = 1_000_000_000
_FRAME_NAME = re.compile(r'\d+')
# Box colours (r, g, b) by KITTI type; other types are grey.
_COLOURS = {'Car': (0.0, 0.8, 0.0), 'Van': (0.0, 0.6, 0.4), 'Truck': (0.0, 0.4, 0.8),
            'Pedestrian': (0.9, 0.1, 0.1), 'Person_sitting': (0.9, 0.4, 0.1),
            'Cyclist': (0.9, 0.8, 0.0), 'Tram': (0.5, 0.0, 0.8)}
# KITTI box axes -> marker axes: the marker's x is the box length (KITTI x rotated by
# rotation_y), its y the width (KITTI z), its z the height, pointing up (KITTI -y).
_BOX_AXES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class Summary:
    """What a conversion wrote."""

    frames: int
    messages: int
    path: Path
    bytes: int
    right: int = 0  # frames with the right colour camera (image_3)


def frames_in(folder: Path) -> list[str]:
    """Return the frames of ``folder`` with a scan, an image and a calibration, sorted."""
    return sorted(scan.stem for scan in (folder / 'velodyne').glob('*.bin')
                  if (folder / 'image_2' / f'{scan.stem}.png').is_file()
                  and (folder / 'calib' / f'{scan.stem}.txt').is_file())


def check_frames(folder: Path, frames: list[str]) -> None:
    """Check that every frame has a valid name and its three files.

    Raises:
        InvalidInputError: naming the first bad frame and what is missing.

    """
    for frame in frames:
        if not _FRAME_NAME.fullmatch(frame):
            msg = (f'{frame!r} is not a KITTI frame name: use the digits of the file names, '
                   'e.g. 000000')
            raise InvalidInputError(msg)
        for path in (Path('velodyne') / f'{frame}.bin', Path('image_2') / f'{frame}.png',
                     Path('calib') / f'{frame}.txt'):
            if not (folder / path).is_file():
                msg = f'frame {frame}: {path} is missing in {folder}'
                raise InvalidInputError(msg)


def box_in_lidar(obj: kitti.KittiObject,
                 calibration: kitti.KittiCalibration) -> tuple[RigidTransform, Vector3]:
    """Return a labelled 3D box as a pose in the Velodyne frame and its size.

    The KITTI box (bottom centre ``location`` and yaw ``rotation_y`` about y, in rectified
    camera-0 coordinates) becomes a box centred on its pose, with x along its length, y along
    its width and z up; the size is ``(length, width, height)``.
    """
    height, width, length = obj.dimensions
    c, s = np.cos(obj.rotation_y), np.sin(obj.rotation_y)
    yaw = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    box_in_rect = RigidTransform(yaw @ _BOX_AXES, obj.centre)
    rect_to_velo = (calibration.velo_to_cam.inverse()
                    @ RigidTransform(calibration.r0_rect.T, np.zeros(3)))
    return rect_to_velo @ box_in_rect, Vector3(x=length, y=width, z=height)


def label_markers(objects: list[kitti.KittiObject], calibration: kitti.KittiCalibration,
                  header: Header, lifetime: Duration) -> MarkerArray:
    """Return one CUBE marker per object in ``header.frame_id`` (the Velodyne frame).

    ``DontCare`` regions (2D only) are skipped; ids count the other objects from 0.
    """
    markers: list[Marker] = []
    for obj in objects:
        if obj.type == 'DontCare':
            continue
        pose, size = box_in_lidar(obj, calibration)
        x, y, z = (float(v) for v in pose.translation)
        qx, qy, qz, qw = (float(v) for v in pose.quaternion)
        r, g, b = _COLOURS.get(obj.type, (0.6, 0.6, 0.6))
        markers.append(Marker(
            header=header, ns=LABEL_NAMESPACE, id=len(markers), type=Marker.CUBE,
            action=Marker.ADD, pose=Pose(position=Point(x=x, y=y, z=z),
                                         orientation=Quaternion(x=qx, y=qy, z=qz, w=qw)),
            scale=size, color=ColorRGBA(r=r, g=g, b=b, a=0.5), lifetime=lifetime,
            text=obj.type))
    return MarkerArray(markers=markers)


def convert(folder: str | Path, output: str | Path, *, frames: list[str] | None = None,
            storage: str = 'mcap', period: Decimal = DEFAULT_PERIOD,
            start: Decimal = DEFAULT_START, overwrite: bool = False,
            progress: bool = True) -> Summary:
    """Write KITTI object-format frames to a rosbag2 bag (see the module documentation).

    Args:
        folder: KITTI object-format folder.
        output: bag directory to create.
        frames: frame names (default: every complete frame of ``folder``).
        storage: ``'mcap'`` or ``'sqlite3'``.
        period: seconds between frames (> 0).
        start: stamp of the first frame, seconds since the epoch.
        overwrite: replace an existing bag at ``output``.
        progress: show a progress bar on stderr.

    Returns:
        What was written.

    Raises:
        InvalidInputError: on a missing folder, no frames, a bad or incomplete frame, a bad
            period or start, an existing output without ``overwrite``, or a malformed file.

    """
    folder = Path(folder)
    if not folder.is_dir():
        msg = f'{folder} is not a folder; pass a KITTI object-format folder (with velodyne/)'
        raise InvalidInputError(msg)
    start_ns, period_ns = int(start * _NS), int(period * _NS)
    if period_ns <= 0 or start_ns < 0:
        msg = (f'period must be at least 1 ns and start >= 0 seconds, got {period} and '
               f'{start}')
        raise InvalidInputError(msg)
    frames = frames_in(folder) if frames is None else list(frames)
    if not frames:
        msg = (f'no frames in {folder}: expected velodyne/NNNNNN.bin with matching '
               'image_2/NNNNNN.png and calib/NNNNNN.txt')
        raise InvalidInputError(msg)
    check_frames(folder, frames)
    labels = folder / 'label_2'
    lifetime = Duration(sec=period_ns // _NS, nanosec=period_ns % _NS)
    previous: list[float] | None = None
    right = 0
    with BagWriter(output, storage=storage, overwrite=overwrite) as bag:
        for index, frame in enumerate(tqdm(frames, desc='kitti-to-bag', unit='frame',
                                           file=sys.stderr, disable=not progress)):
            stamp = start_ns + index * period_ns
            messages = kitti_messages(folder, frame)
            if messages.lidar_to_camera != previous:
                tf_stamp = stamp if previous is None else stamp - period_ns // 2
                pose = messages.lidar_to_camera
                camera_in_lidar = RigidTransform.from_quaternion(pose[:3], pose[3:]).inverse()
                bag.write_transforms([StampedTransform(LIDAR_FRAME, CAMERA_FRAME,
                                                       camera_in_lidar, tf_stamp)], tf_stamp)
                previous = pose
            cloud, image, info = messages.stamped(time_from_ns(stamp))
            # The camera's messages first, as a LiDAR driver publishes a scan at the end of its
            # sweep: frames 2 s apart find the camera silent for longer than
            # sync.camera_timeout, and a scan that comes before its image then goes alone.
            bag.write(IMAGE_TOPIC, image, stamp)
            bag.write(CAMERA_INFO_TOPIC, info, stamp)
            if messages.right is not None:
                right += 1
                bag.write(RIGHT_IMAGE_TOPIC, messages.right[0], stamp)
                bag.write(RIGHT_CAMERA_INFO_TOPIC, messages.right[1], stamp)
            bag.write(POINTS_TOPIC, cloud, stamp)
            if labels.is_dir():
                label_file = labels / f'{frame}.txt'
                objects = kitti.read_labels(label_file) if label_file.is_file() else []
                header = Header(stamp=time_from_ns(stamp), frame_id=LIDAR_FRAME)
                bag.write(LABELS_TOPIC, label_markers(objects, messages.calibration, header,
                                                      lifetime), stamp)
        written = bag.message_count
    size = sum(path.stat().st_size for path in Path(output).iterdir() if path.is_file())
    return Summary(frames=len(frames), messages=written, path=Path(output), bytes=size,
                   right=right)


def _seconds(text: str) -> Decimal:
    """Parse seconds exactly (a float would round a stamp near 1.7e9 s to 256 ns)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        msg = f'not a number of seconds: {text!r}'
        raise argparse.ArgumentTypeError(msg) from None
    if not value.is_finite():
        msg = f'not a finite number of seconds: {text!r}'
        raise argparse.ArgumentTypeError(msg)
    return value


def main(argv: list[str] | None = None) -> int:
    """Convert; return the exit status (0: written, 2: bad input, 1: I/O error)."""
    parser = argparse.ArgumentParser(prog='kitti-to-bag', description=__doc__.split('\n')[0])
    parser.add_argument('folder', type=Path, help='KITTI object-format folder')
    parser.add_argument('output', type=Path, help='rosbag2 directory to create')
    parser.add_argument('--frames', nargs='+', metavar='FRAME',
                        help='frames to convert, e.g. 000000 000002 (default: all, sorted)')
    parser.add_argument('--storage', choices=STORAGES, default='mcap',
                        help='rosbag2 storage (default: mcap)')
    parser.add_argument('--period', type=_seconds, default=DEFAULT_PERIOD,
                        help='seconds between frames (default: 2.0, longer than the '
                        "tracker's max_age, so that unrelated frames share no tracks)")
    parser.add_argument('--start', type=_seconds, default=DEFAULT_START,
                        help='stamp of the first frame, seconds since the epoch '
                        '(default: 1700000000.0)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUTPUT')
    args = parser.parse_args(argv)
    try:
        summary = convert(args.folder, args.output, frames=args.frames, storage=args.storage,
                          period=args.period, start=args.start, overwrite=args.overwrite)
    except InvalidInputError as exc:
        print(f'kitti-to-bag: error: {exc}', file=sys.stderr)
        return 2
    except OSError as exc:
        print(f'kitti-to-bag: error: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('kitti-to-bag: interrupted; nothing written', file=sys.stderr)
        return 130
    print(f'kitti-to-bag: {summary.frames} frames, {summary.messages} messages -> '
          f'{summary.path} ({args.storage}, {summary.bytes / 1e6:.1f} MB)')
    stereo = (' -p cameras:=[left,right] --image left=/kitti/image --camera-info '
              'left=/kitti/camera_info' if summary.right else '')
    print('kitti-to-bag: process it with `python -m vlm_seg_ros.tools.process_bag '
          f'{summary.path} {summary.path}_annotated -p camera.rectified:=true '
          f'-p tracking.min_hits:=1{stereo}` (rectified images; unrelated snapshots)')
    return 0


def cli() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == '__main__':
    cli()
