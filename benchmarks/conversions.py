"""Benchmark: sensor data in and out, and LiDAR -> camera projection, against baselines.

Run after ``scripts/setup`` and ``source ./activate``::

    python benchmarks/conversions.py [--repeat 50]

Inputs are synthetic but sized like real sensors: one Ouster OS1-64 scan (2048 x 64 =
131,072 points, the driver's 48-byte point layout, organised) and a 1280x720 camera with
plumb_bob distortion looking forward from 0.1 m below the LiDAR. Every figure is the median
of ``--repeat`` runs, with its ratio to a baseline measured in the same run:
- decoding x, y, z vs one numpy copy of the same message buffer (goal <= 2x);
- building a 5-field output cloud vs one copy of its payload (goal <= 3x), with ``is_dense``
  computed (a finiteness scan of x, y, z) and given by the caller (nodes know it: they drop
  non-finite points on the way in);
- transform + project + depth buffer + visibility vs the 100 ms scan period (goal <= 10 %);
- per-point Python loops (struct for decoding, scalar maths for projection): the naive way.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import math
import os
import platform
import statistics
import struct
import time

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from vlm_seg_ros.core.camera import CameraModel
from vlm_seg_ros.core.projection import nearest_depth_image, project_points, visible_points
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.ros.conversions import (
    array_to_image,
    array_to_pointcloud2,
    image_to_array,
    pack_rgb,
    pointcloud2_to_xyz,
)

COLUMNS, BEAMS = 2048, 64
SCAN_PERIOD_MS = 100.0
OUSTER_FIELDS = [('x', 0, PointField.FLOAT32), ('y', 4, PointField.FLOAT32),
                 ('z', 8, PointField.FLOAT32), ('intensity', 16, PointField.FLOAT32),
                 ('t', 20, PointField.UINT32), ('reflectivity', 24, PointField.UINT16),
                 ('ring', 26, PointField.UINT16), ('ambient', 28, PointField.UINT16),
                 ('range', 32, PointField.UINT32)]
OUSTER_STEP = 48


def ouster_scan(rng: np.random.Generator) -> PointCloud2:
    """One OS1-64 scan of a room-sized scene: walls 2-40 m away, some returns missing."""
    azimuth = np.linspace(-np.pi, np.pi, COLUMNS, endpoint=False)
    elevation = np.radians(np.linspace(22.5, -22.5, BEAMS))
    el, az = np.meshgrid(elevation, azimuth, indexing='ij')
    distance = rng.uniform(2.0, 40.0, size=(BEAMS, 1)) * (1 + 0.05 * np.sin(5 * az))
    distance = np.where(rng.random((BEAMS, COLUMNS)) < 0.05, 0.0, distance)  # no return
    dtype = np.dtype({'names': [n for n, _, _ in OUSTER_FIELDS],
                      'formats': ['<f4', '<f4', '<f4', '<f4', '<u4', '<u2', '<u2', '<u2', '<u4'],
                      'offsets': [o for _, o, _ in OUSTER_FIELDS], 'itemsize': OUSTER_STEP})
    points = np.zeros((BEAMS, COLUMNS), dtype=dtype)
    points['x'] = distance * np.cos(el) * np.cos(az)
    points['y'] = distance * np.cos(el) * np.sin(az)
    points['z'] = distance * np.sin(el)
    points['intensity'] = rng.uniform(0, 3000, size=points.shape)
    points['ring'] = np.arange(BEAMS)[:, None]
    points['range'] = (distance * 1000).astype(np.uint32)
    return array_to_pointcloud2(points, Header(frame_id='os_sensor'))


def camera_setup() -> tuple[CameraModel, RigidTransform]:
    """Return a forward-looking 1280x720 camera and the LiDAR -> camera transform."""
    k = np.array([[640.0, 0.0, 641.2], [0.0, 640.0, 358.9], [0.0, 0.0, 1.0]])
    camera = CameraModel(width=1280, height=720, k=k, d=np.array([-0.05, 0.02, 5e-4, -3e-4, 0.0]),
                         r=np.eye(3), p=np.c_[k, np.zeros(3)])
    # LiDAR (x forward, y left, z up) -> camera optical (x right, y down, z forward).
    lidar_to_camera = RigidTransform(np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0],
                                               [1.0, 0.0, 0.0]]), np.array([0.0, -0.1, -0.05]))
    return camera, lidar_to_camera


def median_ms(function: Callable[[], object], repeat: int) -> float:
    """Return the median wall time of ``function`` over ``repeat`` calls, milliseconds."""
    function()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def naive_decode(cloud: PointCloud2) -> list[tuple[float, float, float]]:
    """Read x, y, z point by point with struct, as older sensor_msgs_py read_points did."""
    data, step = bytes(cloud.data), cloud.point_step
    unpack = struct.Struct('<3f').unpack_from
    return [unpack(data, i * step) for i in range(cloud.width * cloud.height)]


def naive_project(points: np.ndarray, camera: CameraModel,
                  t: RigidTransform) -> list[tuple[int, int, float]]:
    """Transform, distort and project one point at a time in plain Python."""
    r, tr = t.rotation.tolist(), t.translation.tolist()
    (fx, _, cx), (_, fy, cy), _ = camera.k.tolist()
    k1, k2, p1, p2, k3 = camera.d.tolist()
    out = []
    for px, py, pz in points.tolist():
        x = r[0][0] * px + r[0][1] * py + r[0][2] * pz + tr[0]
        y = r[1][0] * px + r[1][1] * py + r[1][2] * pz + tr[1]
        z = r[2][0] * px + r[2][1] * py + r[2][2] * pz + tr[2]
        if z <= 0:
            continue
        a, b = x / z, y / z
        r2 = a * a + b * b
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        u = fx * (a * radial + 2 * p1 * a * b + p2 * (r2 + 2 * a * a)) + cx
        v = fy * (b * radial + p1 * (r2 + 2 * b * b) + 2 * p2 * a * b) + cy
        if -0.5 <= u < camera.image_width - 0.5 and -0.5 <= v < camera.image_height - 0.5:
            out.append((math.floor(u + 0.5), math.floor(v + 0.5), z))
    return out


def row(name: str, ms: float, baseline_name: str, baseline_ms: float, goal: str = '') -> None:
    """Print one figure with its ratio to the baseline."""
    ratio = ms / baseline_ms
    print(f'  {name:<44} {ms:9.3f} ms   {ratio:7.2f}x {baseline_name}   {goal}')


def main() -> None:
    """Run every measurement once and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeat', type=int, default=50, help='runs per figure (median)')
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cloud = ouster_scan(rng)
    camera, lidar_to_camera = camera_setup()
    n = cloud.width * cloud.height
    print(f'vlm_seg_ros conversions benchmark: {platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} cores, numpy {np.__version__}, median of {args.repeat} runs')
    print(f'cloud: Ouster OS1-64 layout, {n:,} points x {cloud.point_step} B = '
          f'{len(cloud.data) / 1e6:.1f} MB; camera: {camera.image_width}x{camera.image_height}')

    print('PointCloud2 -> (N, 3) float32')
    buffer = np.frombuffer(cloud.data, dtype=np.uint8)
    copy_ms = median_ms(buffer.copy, args.repeat)
    decode_ms = median_ms(lambda: pointcloud2_to_xyz(cloud), args.repeat)
    naive_ms = median_ms(lambda: naive_decode(cloud), 1)
    print(f'  {"one numpy copy of the message buffer":<44} {copy_ms:9.3f} ms')
    row('pointcloud2_to_xyz', decode_ms, 'copy', copy_ms, '(goal <= 2x)')
    row('per-point struct loop (naive)', naive_ms, 'copy', copy_ms,
        f'= {naive_ms / decode_ms:.0f}x pointcloud2_to_xyz')

    print('(N,) x y z instance rgb -> PointCloud2')
    xyz = pointcloud2_to_xyz(cloud)
    out = np.zeros(n, dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('instance', '<u4'),
                             ('rgb', '<f4')])
    for column, name in enumerate('xyz'):
        out[name] = xyz[:, column]
    out['instance'] = rng.integers(0, 50, n)
    out['rgb'] = pack_rgb(rng.integers(0, 256, (n, 3)))
    payload = out.view(np.uint8)
    payload_ms = median_ms(payload.copy, args.repeat)
    build_ms = median_ms(lambda: array_to_pointcloud2(out, Header()), args.repeat)
    print(f'  {"one numpy copy of the payload":<44} {payload_ms:9.3f} ms')
    row('array_to_pointcloud2, is_dense computed', build_ms, 'copy', payload_ms,
        '(goal <= 3x)')
    given_ms = median_ms(lambda: array_to_pointcloud2(out, Header(), is_dense=True), args.repeat)
    row('array_to_pointcloud2, is_dense given', given_ms, 'copy', payload_ms, '(goal <= 3x)')

    print('Image 1280x720 bgr8')
    bgr = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    image = array_to_image(bgr, encoding='bgr8', header=Header())
    image_copy_ms = median_ms(bgr.copy, args.repeat)
    print(f'  {"one numpy copy of the pixels":<44} {image_copy_ms:9.3f} ms')
    row('image_to_array (passthrough view)', median_ms(lambda: image_to_array(image),
                                                       args.repeat), 'copy', image_copy_ms)
    row('image_to_array(desired_encoding="rgb8")',
        median_ms(lambda: image_to_array(image, desired_encoding='rgb8'), args.repeat),
        'copy', image_copy_ms)
    row('array_to_image', median_ms(lambda: array_to_image(bgr, encoding='bgr8',
                                                            header=Header()), args.repeat),
        'copy', image_copy_ms)

    def pipeline(rectified: bool) -> Callable[[], object]:
        def run() -> object:
            points = pointcloud2_to_xyz(cloud)
            projection = project_points(points, camera, rectified=rectified,
                                        transform=lidar_to_camera)
            depth = nearest_depth_image(projection, radius=2)
            return visible_points(projection, depth_image=depth)
        return run

    projection = project_points(xyz, camera, rectified=False, transform=lidar_to_camera)
    print(f'decode + transform + project + depth buffer + visibility '
          f'({len(projection.indices):,} points land in the image)')
    naive_projection_ms = median_ms(lambda: naive_project(xyz, camera, lidar_to_camera), 1)
    for rectified in (False, True):
        ms = median_ms(pipeline(rectified), args.repeat)
        row(f'{"rectified" if rectified else "raw"} image', ms, 'scan period', SCAN_PERIOD_MS,
            '(goal <= 0.10x)')
    row('per-point Python loop, raw image (naive)', naive_projection_ms, 'scan period',
        SCAN_PERIOD_MS)


if __name__ == '__main__':
    main()
