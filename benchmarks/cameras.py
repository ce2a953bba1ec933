"""Benchmark: real cameras into perception_node (issue 17).

Run after ``scripts/setup`` and ``source ./activate``::

    taskset -c 0 python benchmarks/cameras.py decode [--repeat 20]   # 1 core
    taskset -c 0 python benchmarks/cameras.py sizes [--repeat 10]    # 1 core, ../shared/data
    python benchmarks/cameras.py dds [--seconds 12]                  # needs ../shared/data
    taskset -c 0 python benchmarks/cameras.py ring [--repeat 10]     # 1 core

``decode``: per-frame cost of turning a 1920x1080 camera frame into the RGB array the pipeline
uses (JPEG CompressedImage, bayer_rggb8, yuv422_yuy2, rgb8), each against one copy of the same
message buffer measured in the same run. Medians of ``--repeat`` runs.

``sizes``: what a camera's size costs the LiDAR path: the in-process pipeline on KITTI frame
000000 with its image resized to 1242x375, 1920x1080 and 3840x2160, against the same scan
without a camera measured in the same run, with the overlay at ``outputs.overlay_max_width``
(1280) and at full size; the label image's message; SAM's model input from the frame (one
OpenCV resize of the uint8 frame) against the float resize of the whole frame it replaced.

``ring``: several cameras around one LiDAR (issue 19): a ray-cast 64 x 2048 scan (about 120k
points, objects all around) into 1, 3 and 6 cameras of 1600x900 placed as nuScenes places its
ring (yaw 0, +-55, +-110 and 180 degrees). Per camera count: projection plus depth buffer plus
occlusion test of the whole scan (against the 1-camera cost and the 100 ms scan period), and
the whole frame in process, geometry only (segment, track, relate, every camera's label image
and overlay at 1280 wide), against the scan alone, all measured in the same run.

``dds``: a driver process (``test/resource/camera_peer.py``) publishes KITTI frame 000000 at
10 Hz with its image resized to 1920x1080 (rgb8, 6.2 MB), to a perception_node started as the
launch file starts it (with the shipped Fast DDS profile). Rows: reliable and best-effort
drivers, with and without the shipped profile in the driver's process. Columns: scans the
node processed of those sent, objects per graph (median), graphs with and without the camera.
"""

from __future__ import annotations

import argparse
from functools import partial
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header

from vlm_seg_ros.ros.conversions import array_to_image, compressed_image_to_array, image_to_array

sys.path.insert(0, str(Path(__file__).resolve().parent))  # geometry.py, also under python -P
from geometry import median_ms  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PEER = REPO / 'test' / 'resource' / 'camera_peer.py'
WIDTH, HEIGHT = 1920, 1080


def scene() -> np.ndarray:
    """Return a 1080p RGB frame of smoothed noise (a JPEG's size depends on content)."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)


def decode(repeat: int) -> None:
    """Print the decode cost of each kind of 1080p frame against one copy of its buffer."""
    rgb = scene()
    bayer = np.empty((HEIGHT, WIDTH), np.uint8)
    bayer[0::2, 0::2], bayer[0::2, 1::2] = rgb[0::2, 0::2, 0], rgb[0::2, 1::2, 1]
    bayer[1::2, 0::2], bayer[1::2, 1::2] = rgb[1::2, 0::2, 1], rgb[1::2, 1::2, 2]
    ok, jpeg = cv2.imencode('.jpg', rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    messages = {
        'rgb8 Image': array_to_image(rgb, encoding='rgb8', header=Header()),
        'bayer_rggb8 Image': array_to_image(bayer, encoding='bayer_rggb8', header=Header()),
        'yuv422_yuy2 Image': array_to_image(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_YUY2),
                                            encoding='yuv422_yuy2', header=Header()),
        'JPEG CompressedImage': CompressedImage(format='rgb8; jpeg compressed bgr8',
                                                data=jpeg.tobytes()),
    }
    print(f'decode to rgb8, {WIDTH}x{HEIGHT}, median of {repeat}, '
          f'{len(os.sched_getaffinity(0))} core(s):')
    for name, message in messages.items():
        buffer = np.frombuffer(message.data, np.uint8)
        copy_ms = median_ms(buffer.copy, repeat)
        if isinstance(message, CompressedImage):
            ms = median_ms(partial(compressed_image_to_array, message), repeat)
        else:
            ms = median_ms(partial(image_to_array, message, desired_encoding='rgb8'), repeat)
        # A JPEG's buffer is small: its copy is also given against the decoded frame's size.
        frame_copy_ms = median_ms(np.empty((HEIGHT, WIDTH, 3), np.uint8).copy, repeat)
        print(f'  {name:22} {len(buffer) / 1e6:5.2f} MB  {ms:7.2f} ms  '
              f'{ms / copy_ms:6.1f}x one copy of its buffer ({copy_ms:.2f} ms), '
              f'{ms / frame_copy_ms:5.1f}x one copy of an rgb8 frame ({frame_copy_ms:.2f} ms)')


SIZES = ((1242, 375), (1920, 1080), (3840, 2160))


def sizes(repeat: int, kitti_dir: Path) -> None:
    """Print what each camera size costs per frame, against the scan alone."""
    import torch
    import torch.nn.functional as F  # noqa: N812 - torch's own convention

    from vlm_seg_ros.core.scene import CameraView, ScenePipeline
    from vlm_seg_ros.datasets.kitti_messages import kitti_messages
    from vlm_seg_ros.models.preprocessing import IMAGENET_DEFAULT, SamPreprocessing
    from vlm_seg_ros.ros.conversions import camera_info_to_model, pointcloud2_to_xyz
    from vlm_seg_ros.ros.outputs import label_image
    from vlm_seg_ros.runtime.config import to_config

    kitti = kitti_messages(kitti_dir, '000000')
    config = to_config({'camera.rectified': True, 'lidar_to_camera': kitti.lidar_to_camera})
    extrinsic = config.cameras[0].lidar_to_camera
    assert extrinsic is not None  # (one camera: the lidar_to_camera parameter)
    points = pointcloud2_to_xyz(kitti.cloud)
    rgb = image_to_array(kitti.image, desired_encoding='rgb8')
    sam = SamPreprocessing(1024, 1024, *IMAGENET_DEFAULT)

    def frame_ms(camera: CameraView | None, max_width: int = 0) -> tuple[float, dict[str, float]]:
        scene = ScenePipeline(config)
        stamps = iter(range(10_000))
        stages: dict[str, list[float]] = {}

        def one() -> None:
            frame = scene.process(points, 100_000_000 * next(stamps), lidar_to_target=None,
                                  camera=camera, overlay_max_width=max_width)
            for stage in ('project', 'render'):
                stages.setdefault(stage, []).append(frame.timings.get(stage, 0.0) * 1e3)

        for _ in range(3):  # tracks confirmed: every object is painted
            one()
        return median_ms(one, repeat), {k: statistics.median(v) for k, v in stages.items()}

    def float_resize(image: np.ndarray) -> torch.Tensor:
        """Return SAM's input as it was made before: the whole frame as floats, resized."""
        tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float()
        tensor = F.interpolate(tensor, size=(1024, 1024), mode='bilinear', align_corners=False,
                               antialias=True)
        mean = torch.tensor(sam.mean).view(1, 3, 1, 1)
        std = torch.tensor(sam.std).view(1, 3, 1, 1)
        return (tensor * sam.rescale - mean) / std

    print(f'KITTI 000000 scan ({len(points)} points) with its image resized, median of '
          f'{repeat}, {len(os.sched_getaffinity(0))} core(s):')
    print('| camera | the scan alone | frame, overlay 1280 wide | (project / render) | frame, '
          'overlay full size | ~/labels message | SAM input: one uint8 resize | float resize '
          'of the frame |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- |')
    for width, height in SIZES:
        scale = np.diag([width / kitti.image.width, height / kitti.image.height, 1.0])
        info = kitti.camera_info
        model = camera_info_to_model(type(info)(
            width=width, height=height, distortion_model=info.distortion_model, d=info.d,
            k=(scale @ np.reshape(info.k, (3, 3))).ravel().tolist(), r=info.r,
            p=(scale @ np.reshape(info.p, (3, 4))).ravel().tolist()))
        image = np.asarray(cv2.resize(rgb, (width, height)), dtype=np.uint8)
        view = CameraView(image, model, extrinsic)
        alone, _ = frame_ms(None)  # the baseline, measured beside each row
        capped, stages = frame_ms(view, 1280)
        full, _ = frame_ms(view, 0)
        labels = np.zeros((height, width), np.uint16)
        label_ms = median_ms(partial(label_image, labels, Header()), repeat)
        ours = median_ms(partial(sam.pixel_values, image, device='cpu', dtype=torch.float32),
                         repeat)
        theirs = median_ms(partial(float_resize, image), repeat)
        print(f'| {width}x{height} | {alone:.1f} ms | {capped:.1f} ms ({capped / alone:.2f}x) | '
              f'{stages["project"]:.1f} / {stages["render"]:.1f} ms | {full:.1f} ms '
              f'({full / alone:.2f}x) | {label_ms:.1f} ms | {ours:.1f} ms | {theirs:.1f} ms '
              f'({theirs / ours:.1f}x) |', flush=True)


RING = (('front', 0.0), ('front_left', 55.0), ('front_right', -55.0), ('back_left', 110.0),
        ('back_right', -110.0), ('back', 180.0))


def ring(repeat: int) -> None:
    """Print what 1, 3 and 6 cameras of 1600x900 cost one 120k-point scan."""
    from vlm_seg_ros.core.boxes import OrientedBox
    from vlm_seg_ros.core.camera import CameraModel
    from vlm_seg_ros.core.projection import nearest_depth_image, project_points, visible_points
    from vlm_seg_ros.core.scene import CameraView, ScenePipeline
    from vlm_seg_ros.core.transforms import RigidTransform
    from vlm_seg_ros.datasets.synthetic import SpinningLidar, scan

    objects = [OrientedBox(np.array([12 * np.cos(a), 12 * np.sin(a), -1.73 + 0.9]),
                           np.array([0.8, 0.8, 1.8]), 0.0)
               for a in np.radians(np.arange(0, 360, 30))]
    points, _ = scan(objects, lidar=SpinningLidar(beams=64, columns=2048))
    k = np.array([[1266.0, 0, 799.5], [0, 1266.0, 449.5], [0, 0, 1]])
    model = CameraModel(width=1600, height=900, k=k, d=np.zeros(5), r=np.eye(3),
                        p=np.c_[k, np.zeros(3)])
    image = np.full((900, 1600, 3), 90, np.uint8)

    def camera(name: str, yaw: float) -> CameraView:
        c, s = np.cos(np.radians(yaw)), np.sin(np.radians(yaw))
        # Optical axes (x right, y down, z forward) of a camera yawed by ``yaw`` about z.
        rotation = np.array([[s, -c, 0.0], [0.0, 0.0, -1.0], [c, s, 0.0]])
        return CameraView(image, model, RigidTransform(rotation, np.zeros(3)), name=name)

    def project_all(views: list[CameraView]) -> None:
        for view in views:
            projection = project_points(points, view.camera, rectified=False,
                                        transform=view.lidar_to_camera)
            visible_points(projection, depth_image=nearest_depth_image(projection, radius=3))

    def frame_ms(views: list[CameraView], *, overlays: bool = True) -> float:
        scene = ScenePipeline()
        stamps = iter(range(10_000))

        def one() -> None:
            scene.process(points, 100_000_000 * next(stamps), cameras=views,
                          overlay_max_width=1280, render_overlay=overlays)

        for _ in range(3):  # tracks confirmed: every object is painted
            one()
        return median_ms(one, repeat)

    alone = frame_ms([])
    counts = (1, 3, 6)
    rings = {count: [camera(name, yaw) for name, yaw in RING[:count]] for count in counts}
    # Interleaved rounds (1, 3, 6 cameras, again and again): the machine's drift falls on
    # every count alike, so the ratios hold better than the absolute times.
    samples: dict[int, list[float]] = {count: [] for count in counts}
    for count in counts:
        project_all(rings[count])  # warm-up
    for _ in range(repeat):
        for count in counts:
            start = time.perf_counter()
            project_all(rings[count])
            samples[count].append(1000 * (time.perf_counter() - start))
    rows = [(count, statistics.median(samples[count]), frame_ms(rings[count]),
             frame_ms(rings[count], overlays=False)) for count in counts]
    print(f'{len(points):,}-point scan into cameras of 1600x900, median of {repeat}, '
          f'{len(os.sched_getaffinity(0))} core(s); the scan alone: {alone:.1f} ms a frame')
    print('| cameras | projection + depth buffer + occlusion | x 1 camera | share of a 100 ms '
          'period | whole frame, geometry only | x the scan alone | whole frame, no overlay '
          'subscribed |')
    print('| --- | --- | --- | --- | --- | --- | --- |')
    for count, project, whole, bare in rows:
        print(f'| {count} | {project:.1f} ms | {project / rows[0][1]:.2f}x | {project:.0f} % | '
              f'{whole:.1f} ms | {whole / alone:.2f}x | {bare:.1f} ms ({bare / alone:.2f}x) |')


def dds(seconds: float, kitti_dir: Path) -> None:
    """Print the node's figures with each kind of driver, as a README table."""
    import rclpy
    from rclpy.qos import QoSProfile

    from vlm_seg_ros.datasets.kitti_messages import kitti_messages
    from vlm_seg_ros.msg import SceneGraph

    profile = os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE') or str(
        REPO / 'resource' / 'fastdds_large_messages.xml')
    kitti = kitti_messages(kitti_dir, '000000')
    rows = [('reliable', True), ('reliable', False), ('best_effort', True),
            ('best_effort', False)]
    rclpy.init()
    node = rclpy.create_node('camera_benchmark')
    print(f'KITTI 000000 scan + 1920x1080 rgb8 camera at 10 Hz for {seconds:g} s, driver in its '
          'own process; node with the shipped profile:')
    print('| driver QoS | shipped profile in the driver | scans processed / sent | objects '
          'per graph (median) | graphs with camera / without |')
    print('| --- | --- | --- | --- | --- |')
    with tempfile.TemporaryDirectory() as tmp:
        params = Path(tmp) / 'kitti.yaml'
        params.write_text('/**:\n  ros__parameters:\n    camera:\n      rectified: true\n'
                          f'    lidar_to_camera: {kitti.lidar_to_camera}\n')
        for index, (qos, with_profile) in enumerate(rows):
            namespace = f'/camera_benchmark_{index}'
            env = {**os.environ, 'FASTDDS_DEFAULT_PROFILES_FILE': profile}
            perception = subprocess.Popen(
                [sys.executable, '-m', 'vlm_seg_ros.tools.bringup', f'namespace:={namespace}',
                 f'params_file:={params}'], env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            graphs: list[SceneGraph] = []
            subscription = node.create_subscription(
                SceneGraph, f'{namespace}/perception/scene_graph', graphs.append,
                QoSProfile(depth=100))
            deadline = time.monotonic() + 60
            while node.count_subscribers(f'{namespace}/points') == 0 and \
                    time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.1)
            driver_env = {k: v for k, v in os.environ.items()
                          if k != 'FASTDDS_DEFAULT_PROFILES_FILE'}  # Fast DDS defaults
            if with_profile:
                driver_env['FASTDDS_DEFAULT_PROFILES_FILE'] = profile
            driver = subprocess.Popen(
                [sys.executable, str(PEER), str(kitti_dir), namespace, '--seconds',
                 str(seconds), '--qos', qos], env=driver_env, stdout=subprocess.PIPE,
                text=True)
            while driver.poll() is None:
                rclpy.spin_once(node, timeout_sec=0.05)
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                rclpy.spin_once(node, timeout_sec=0.05)
            out = driver.stdout.read() if driver.stdout else ''
            sent = int(out.split('sent ')[1].split(' ')[0]) if 'sent ' in out else 0
            perception.terminate()
            perception.wait(20)
            node.destroy_subscription(subscription)
            objects = statistics.median([len(g.objects) for g in graphs]) if graphs else 0
            with_camera = sum(bool(g.image_header.frame_id) for g in graphs)
            print(f'| {qos.replace("_", " ")} | {"yes" if with_profile else "no"} | '
                  f'{len(graphs)} / {sent} | {objects:g} | {with_camera} / '
                  f'{len(graphs) - with_camera} |', flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


def main() -> None:
    """Run the benchmark named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    decode_parser = sub.add_parser('decode')
    decode_parser.add_argument('--repeat', type=int, default=20)
    sizes_parser = sub.add_parser('sizes')
    sizes_parser.add_argument('--repeat', type=int, default=10)
    ring_parser = sub.add_parser('ring')
    ring_parser.add_argument('--repeat', type=int, default=10)
    dds_parser = sub.add_parser('dds')
    dds_parser.add_argument('--seconds', type=float, default=12.0)
    data = Path(os.environ.get('VLM_SEG_ROS_DATA', REPO.parent / 'shared' / 'data'))
    for needs_data in (sizes_parser, dds_parser):
        needs_data.add_argument('--data', type=Path, default=data)
    args = parser.parse_args()
    if args.command == 'decode':
        decode(args.repeat)
        return
    if args.command == 'ring':
        ring(args.repeat)
        return
    kitti_dir = args.data / 'kitti_object_training_3frames'
    if not kitti_dir.exists():
        sys.exit(f'cameras.py {args.command}: {kitti_dir} is missing (KITTI frames); see README')
    if args.command == 'sizes':
        sizes(args.repeat, kitti_dir)
    else:
        dds(args.seconds, kitti_dir)


if __name__ == '__main__':
    main()
