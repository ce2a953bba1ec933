"""The demo scene as a rosbag2 recording (for process-bag's tests and benchmark).

A 10 Hz recording of :func:`~vlm_seg_ros.datasets.demo_scene.demo_scene` as a robot would log
it: ``/robot/points`` (PointCloud2 in ``lidar``), ``/robot/camera/image`` (rgb8) and
``/robot/camera/camera_info`` (in ``camera``), and the extrinsics only on ``/tf_static``:
``base_link -> lidar`` (1.73 m up) and ``base_link -> camera``. With ``cameras``, all three
cameras instead: ``/robot/<name>/image`` and ``/robot/<name>/camera_info`` in ``<name>_camera``
(``front``, ``left``, ``right``), each with its ``base_link -> <name>_camera``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from std_msgs.msg import Header

from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.datasets.demo_scene import demo_scene
from vlm_seg_ros.ros.bags import BagWriter, StampedTransform
from vlm_seg_ros.ros.conversions import array_to_image, model_to_camera_info, xyz_to_pointcloud2

START = 1_700_000_000 * 10**9  # ns
TOPICS = ('/robot/points', '/robot/camera/image', '/robot/camera/camera_info')


def write_demo_bag(path: str | Path, frames: int, *, storage: str = 'mcap',
                   broken: int | None = None, cameras: bool = False) -> None:
    """Write ``frames`` frames, 0.1 s apart from ``START``; noise differs per frame.

    Args:
        path: the bag to create.
        frames: how many frames.
        storage: ``'mcap'`` or ``'sqlite3'``.
        broken: a frame whose cloud is truncated (data shorter than declared), if any.
        cameras: record the three cameras (see above), not the front one alone.

    """
    scene = demo_scene()
    # (topics, frame, camera) of each camera recorded.
    recorded = ([(TOPICS[1:], 'camera', scene.cameras[0])] if not cameras else
                [((f'/robot/{c.name}/image', f'/robot/{c.name}/camera_info'),
                  f'{c.name}_camera', c) for c in scene.cameras])
    images = [scene.render(camera)[0] for _, _, camera in recorded]
    lidar_in_base = RigidTransform(np.eye(3), np.array([0.0, 0.0, scene.lidar.sensor_height]))
    with BagWriter(path, storage=storage) as bag:
        bag.write_transforms([StampedTransform('base_link', 'lidar', lidar_in_base, START)] + [
            StampedTransform('base_link', frame,
                             lidar_in_base @ camera.lidar_to_camera.inverse(), START)
            for _, frame, camera in recorded], START)
        for index in range(frames):
            stamp = START + index * 10**8
            header = Header(frame_id='lidar')
            header.stamp.sec, header.stamp.nanosec = divmod(stamp, 10**9)
            cloud = xyz_to_pointcloud2(scene.scan(seed=index)[0], header)
            if index == broken:
                cloud.data = cloud.data[: len(cloud.data) // 2]
            bag.write(TOPICS[0], cloud, stamp)
            for k, ((image_topic, info_topic), frame, camera) in enumerate(recorded):
                camera_header = Header(frame_id=frame, stamp=header.stamp)
                bag.write(image_topic, array_to_image(images[k], encoding='rgb8',
                                                      header=camera_header), stamp + 1000 + k)
                bag.write(info_topic, model_to_camera_info(camera.model, camera_header),
                          stamp + 2000 + k)
