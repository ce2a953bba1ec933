"""Benchmark: perception_node end to end, input stamp -> ~/scene_graph, at 10 Hz and overloaded.

Run after ``scripts/setup`` and ``source ./activate``::

    python benchmarks/latency.py [--seconds 20] [--rates 10 20 30 50] [--organised] [--data ...]

perception_node runs in its own process (started like ``python -m vlm_seg_ros.tools.bringup``, with
the shipped config and Fast DDS profile; models off, and ``sync.camera_timeout`` 0 as the
inputs pause between runs; ``/diagnostics`` remapped into the benchmark's namespace); this
process plays the sensors: a KITTI frame (~120k-point PointCloud2, 1242x375 rgb8 Image,
CameraInfo) stamped with the current time, at the input rate.
For each rate it prints:

- the rate asked for and the rate achieved (this Python publisher on a small machine may not
  reach a high rate: the achieved one is what the figures are about);
- the whole frame in-process: deserialised, decoded, the scene pipeline, every output message
  built, with its parts (``--in-process`` prints only this, for ``taskset -c 0``);
- latency from the input stamp to the graph's arrival here: p50 / p95 / max, and the ratio of
  p50 to the in-process pipeline time measured in the same run (the baseline: what ROS adds);
- processed rate vs input rate, and frames without a graph (skipped by the node's latest-only
  worker when busy: the proof that nothing queues);
- p50 latency over the first and the last quarter of the run (equal when nothing builds up);
- the overload factor: achieved input rate / the node's saturated processing rate, measured in
  the same run (the most frames/s it published at a rate where its worker was never idle),
  and the rate it actually processed at;
- the bound of the issue's overload requirement, processing period (1 / saturated rate) + input
  period, against the p95 age of the processed data, measured here (stamp to the graph's
  arrival) and by the node (its ``age``: stamp to publication, over its last 100 frames);
- the node's own p50 per stage (decode, the pipeline's stages, publish), from ``/diagnostics``;
- the node process's RSS at the start and the end of the rate's run, and its peak over the
  whole benchmark (``VmRSS``, ``VmHWM`` of ``/proc/<pid>/status``);
- drops by reason, from the node's own ``/diagnostics`` (difference over the rate's run), and
  the messages it received per input (those lost on the way are not drops to the node), and
  the time this process took to publish a frame (what limits the input rates it reaches).

Without the shared data a synthetic 120k-point ray-cast scan and a grey image stand in.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
import os
from pathlib import Path
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from types import TracebackType
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import rclpy
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.scene import CameraView, ScenePipeline
from vlm_seg_ros.datasets.kitti_messages import kitti_messages
from vlm_seg_ros.datasets.synthetic import SpinningLidar, scan
from vlm_seg_ros.msg import SceneGraph
from vlm_seg_ros.ros.conversions import (
    array_to_image,
    array_to_pointcloud2,
    xyz_to_pointcloud2,
)
from vlm_seg_ros.ros.nodes.health import DROP_REASONS, WINDOW
from vlm_seg_ros.runtime.config import DEFAULT_LIDAR_TO_CAMERA, lidar_to_camera
from vlm_seg_ros.tools import bringup

NAMESPACE = '/latency_bench'
# The shared data folder beside this repository (the tests' default too).
DATA = Path(__file__).resolve().parents[2] / 'shared' / 'data'
# The node's name: the prefix of its diagnostic statuses ('perception: drops').
NODE_NAME = 'perception'

Stamp = tuple[int, int]


@dataclass
class Sensors:
    """One frame's messages and what the node needs to know about them."""

    cloud: PointCloud2
    image: Image
    info: CameraInfo
    lidar_to_camera: list[float]
    rectified: bool
    source: str


def load_frame(data: Path) -> Sensors:
    """Return the first KITTI frame, or a synthetic stand-in of the same size."""
    folder = data / 'kitti_object_training_3frames'
    if (folder / 'calib' / '000000.txt').exists():
        m = kitti_messages(folder, '000000')
        return Sensors(m.cloud, m.image, m.camera_info, m.lidar_to_camera, True,
                       'KITTI frame 000000')
    boxes = [OrientedBox(np.array([6.0 + 3 * i, 2.0 * (i % 3 - 1), -0.83]),
                         np.array([0.8, 0.8, 1.8]), 0.0) for i in range(8)]
    points, _ = scan(boxes, lidar=SpinningLidar(columns=2000))
    k = [721.5, 0.0, 609.6, 0.0, 721.5, 172.9, 0.0, 0.0, 1.0]
    info = CameraInfo(header=Header(frame_id='camera'), width=1242, height=375, k=k,
                      d=[0.0] * 5, distortion_model='plumb_bob', r=[1.0, 0, 0, 0, 1, 0, 0, 0, 1],
                      p=k[:3] + [0.0] + k[3:6] + [0.0] + k[6:] + [0.0])
    image = array_to_image(np.full((375, 1242, 3), 90, np.uint8), encoding='rgb8',
                           header=Header(frame_id='camera'))
    return Sensors(xyz_to_pointcloud2(points, Header(frame_id='lidar')), image, info,
                   DEFAULT_LIDAR_TO_CAMERA, False, f'synthetic {len(points):,}-point scan')


def organised_cloud(beams: int = 128, columns: int = 1024) -> PointCloud2:
    """Return a ray-cast street as a 128-beam driver sends it: organised, NaN for no return.

    Fields x, y, z, intensity (float32) and ring (uint16), rows by beam: 131,072 points, as an
    Ouster OS-128 in 1024x20 mode sends every 50 ms.
    """
    rng = np.random.default_rng(1)
    shapes = [OrientedBox(np.array([x + rng.uniform(-1, 1), y, -0.98]),
                          np.array([4.3, 1.8, 1.5]), float(rng.uniform(-0.1, 0.1)))
              for x in range(-40, 41, 6) for y in (-5.0, 5.0)]
    lidar = SpinningLidar(beams=beams, columns=columns, min_elevation=-25.0,
                          max_elevation=15.0, max_range=120.0)
    points, _ = scan(shapes, lidar=lidar, noise=0.01, organized=True)
    cloud = np.zeros((beams, columns), dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4'),
                                              ('intensity', '<f4'), ('ring', '<u2')])
    for axis, name in enumerate('xyz'):
        cloud[name] = points[:, axis].reshape(beams, columns)
    cloud['intensity'] = 0.5
    cloud['ring'] = np.arange(beams, dtype=np.uint16)[:, None]
    return array_to_pointcloud2(cloud, Header(frame_id='lidar'))


def whole_frame_ms(sensors: Sensors, repeat: int = 20) -> tuple[float, dict[str, float]]:
    """Median ms of the whole frame in-process, as the node runs it, and per part.

    From serialised messages: deserialised and decoded (``decode``), the scene pipeline with
    the overlay drawn (``pipeline``, of which ``geometry``: crop to relations; ``project``:
    projection, depth buffer, labels; ``render``: overlay and summary), then every output
    message built (``outputs``). The pipeline's median is the baseline of the latency ratios.
    """
    from rclpy.serialization import serialize_message

    from vlm_seg_ros.core.scene import CameraConfig, SceneConfig
    from vlm_seg_ros.ros.conversions import (
        camera_info_to_model,
        image_to_array,
        pointcloud2_to_xyz,
    )
    from vlm_seg_ros.ros.outputs import OutputBuilder
    from vlm_seg_ros.ros.serialized import Serialized
    from vlm_seg_ros.runtime.config import to_config

    raw = [Serialized.of(serialize_message(m), type(m))
           for m in (sensors.cloud, sensors.image, sensors.info)]
    pipeline = ScenePipeline(SceneConfig(camera=CameraConfig(rectified=sensors.rectified)))
    builder = OutputBuilder(to_config({}).outputs)
    extrinsic = lidar_to_camera(sensors.lidar_to_camera)
    totals: list[float] = []
    parts: dict[str, list[float]] = {}
    for i in range(repeat + 1):
        start = time.perf_counter()
        cloud, image, info = (item.message() for item in raw)
        view = CameraView(image_to_array(image, desired_encoding='rgb8'),
                          camera_info_to_model(info), extrinsic)
        points = pointcloud2_to_xyz(cloud)
        decoded = time.perf_counter()
        frame = pipeline.process(points, 100_000_000 * (i + 1), camera=view)
        processed = time.perf_counter()
        builder.build(frame, cloud.header, [image.header], wanted=lambda _: True)
        end = time.perf_counter()
        if i:
            totals.append(end - start)
            geometry = sum(v for k, v in frame.timings.items() if k not in ('project', 'render'))
            for name, seconds in (('decode', decoded - start),
                                  ('pipeline', processed - decoded), ('geometry', geometry),
                                  ('project', frame.timings['project']),
                                  ('render', frame.timings['render']),
                                  ('outputs', end - processed)):
                parts.setdefault(name, []).append(seconds)
    return (1000 * statistics.median(totals),
            {name: 1000 * statistics.median(values) for name, values in parts.items()})


def describe_setup(sensors: Sensors) -> str:
    """Return the line that says on what machine and input a benchmark runs."""
    return (f'machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
            f'load average {os.getloadavg()[0]:.1f} (1 min, before the start); '
            f'input: {sensors.source}, {len(sensors.cloud.data) / 1e6:.1f} MB cloud + '
            f'{len(sensors.image.data) / 1e6:.1f} MB image')


# The node's process -------------------------------------------------------------------------
def node_pid(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """Return the pid of the process that runs perception_node: ``proc`` or a descendant.

    The installed ``perception_node`` entry point is a Python script, so started directly it
    is the node; ``python -m vlm_seg_ros.tools.bringup`` starts it as a child process instead.
    """
    deadline = time.monotonic() + timeout
    while True:
        pids, found = [proc.pid], []
        for pid in pids:  # grows while walking: every descendant, breadth first
            try:
                args = Path(f'/proc/{pid}/cmdline').read_bytes().split(b'\0')
                pids += [int(child) for task in Path(f'/proc/{pid}/task').iterdir()
                         for child in (task / 'children').read_text().split()]
            except OSError:  # ended meanwhile
                continue
            if any(Path(os.fsdecode(arg)).name == 'perception_node' for arg in args):
                found.append(pid)
        if found or time.monotonic() > deadline:
            return found[0] if found else proc.pid
        time.sleep(0.1)


def rss_mib(pid: int, kind: str = 'VmRSS') -> float:
    """Return the resident set size of process ``pid``, MiB.

    ``kind``: a line of ``/proc/<pid>/status``: ``VmRSS`` (all of it), ``RssAnon`` (the heap:
    where a leak shows), ``RssFile`` or ``RssShmem`` (DDS shared-memory segments).
    """
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith(f'{kind}:'):
            return int(line.split()[1]) / 1024
    msg = f'no {kind} in /proc/{pid}/status'
    raise OSError(msg)


def params_yaml(sensors: Sensors) -> str:
    """Return the parameters the benchmarks give on top of the shipped ones: geometry only."""
    return ('/**:\n  ros__parameters:\n'
            f'    camera:\n      rectified: {str(sensors.rectified).lower()}\n'
            f'    lidar_to_camera: {sensors.lidar_to_camera}\n'
            '    models:\n      segmenter: ""\n      text_segmenter: ""\n      describer: ""\n'
            # The inputs pause between runs: not a camera failure (no LiDAR-only frames).
            '    sync:\n      camera_timeout: 0.0\n')


# What the node reports ----------------------------------------------------------------------
@dataclass
class Snapshot:
    """The node's counters and statuses from one ``/diagnostics`` array."""

    stamp_ns: int = 0
    statuses: dict[str, dict[str, str]] = field(default_factory=dict)
    # Messages received per input since the first report: its 'received /s' x period, summed.
    received: Counter[str] = field(default_factory=Counter)

    def values(self, part: str) -> dict[str, str]:
        """Return the key/values of status ``<node name>: <part>`` (empty when absent)."""
        return self.statuses.get(f'{NODE_NAME}: {part}', {})

    def drops(self) -> Counter[str]:
        """Return the drop totals by reason."""
        values = self.values('drops')
        return Counter({reason: int(values.get(reason, 0)) for reason in DROP_REASONS})

    def published(self) -> int:
        """Return the frames the node has published since it started."""
        return int(self.values('frames').get('published frames', 0))

    def latency_ms(self, key: str) -> float:
        """Return a figure of the ``latency`` status (``age p95 ms``...), NaN when absent."""
        return float(self.values('latency').get(key, 'nan'))


def drops_between(end: Snapshot, start: Snapshot) -> Counter[str]:
    """Return the drops by reason between two reports."""
    drops = end.drops()
    drops.subtract(start.drops())
    return drops


def received_text(end: Snapshot, start: Snapshot) -> str:
    """Return the messages the node received per input between two reports."""
    return ', '.join(f'{name} {end.received[name] - start.received[name]}'
                     for name in end.received)


def drop_text(drops: Counter[str]) -> str:
    """Return drops by reason: replaced_by_newer_frame always, the others when not zero."""
    others = {reason: drops[reason] for reason in DROP_REASONS
              if reason != 'replaced_by_newer_frame' and drops[reason]}
    text = f'replaced_by_newer_frame {drops["replaced_by_newer_frame"]}'
    text += ''.join(f', {reason} {count}' for reason, count in others.items())
    return text + ('' if others else '; other reasons 0')


@dataclass
class Sent:
    """The frames of one publishing run."""

    stamps: list[Stamp]
    seconds: float  # from the first publication to the end of the last period
    publish_ms: list[float]  # time to publish each frame's three messages

    @property
    def rate(self) -> float:
        """Return the achieved input rate, Hz."""
        return len(self.stamps) / self.seconds


class Bench:
    """perception_node in its own process, and this process playing its sensors.

    A context manager: entering starts the node and the ROS side here, leaving stops both.
    """

    def __init__(self, sensors: Sensors, namespace: str = NAMESPACE) -> None:
        """Prepare to run the node under ``namespace`` with ``sensors``' frame."""
        self.sensors = sensors
        self.namespace = namespace
        self.graphs: dict[Stamp, float] = {}  # stamp -> latency to arrival here, ms
        self.diagnostics = Snapshot()
        self.pid = 0
        self.node: Any = None
        self.pubs: list[Any] = []
        self._folder = tempfile.TemporaryDirectory()
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Bench:
        """Start the node and this process's publishers and subscriptions."""
        params = Path(self._folder.name) / 'bench.yaml'
        params.write_text(params_yaml(self.sensors))
        [launch] = bringup.nodes({'namespace': self.namespace})
        # /diagnostics is absolute: remapped, another node's reports cannot mix in.
        command = [*launch.command(), '--params-file', str(params),
                   '-r', f'/diagnostics:={self.namespace}/diagnostics']
        os.environ.update(launch.env)  # this process plays the driver: same DDS profile
        self._proc = subprocess.Popen(command, env=dict(os.environ), stdout=subprocess.DEVNULL)
        try:
            self._start_here(self._proc)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start_here(self, proc: subprocess.Popen[bytes]) -> None:
        self.pid = node_pid(proc)
        rclpy.init()
        self.node = rclpy.create_node(f'{self.namespace.strip("/")}_sensors')
        self.pubs = [self.node.create_publisher(t, f'{self.namespace}/{name}',
                                                qos_profile_sensor_data)
                     for t, name in ((PointCloud2, 'points'), (Image, 'image'),
                                     (CameraInfo, 'camera_info'))]
        self.node.create_subscription(SceneGraph, f'{self.namespace}/perception/scene_graph',
                                      self._on_graph, QoSProfile(depth=50))
        self.node.create_subscription(DiagnosticArray, f'{self.namespace}/diagnostics',
                                      self._on_diagnostics, QoSProfile(depth=10))

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 trace: TracebackType | None) -> None:
        """Stop the node and the ROS side here."""
        rclpy.try_shutdown()
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        self._folder.cleanup()

    def _on_graph(self, graph: SceneGraph) -> None:
        now = self.node.get_clock().now().nanoseconds
        stamp = graph.header.stamp
        self.graphs[(stamp.sec, stamp.nanosec)] = (
            now - (stamp.sec * 1_000_000_000 + stamp.nanosec)) / 1e6

    def _on_diagnostics(self, array: DiagnosticArray) -> None:
        stamp = array.header.stamp
        snapshot = Snapshot(stamp.sec * 1_000_000_000 + stamp.nanosec,
                            {s.name: {kv.key: kv.value for kv in s.values} for s in array.status},
                            Counter(self.diagnostics.received))
        if self.diagnostics.stamp_ns:  # the node's report period is the time between stamps
            period = (snapshot.stamp_ns - self.diagnostics.stamp_ns) / 1e9
            for key, value in snapshot.values('frames').items():
                if key.endswith(' received /s'):  # '/latency_bench/points received /s'
                    name = key.removesuffix(' received /s').rsplit('/', 1)[-1]
                    snapshot.received[name] += round(float(value) * period)
        self.diagnostics = snapshot

    def now_ns(self) -> int:
        """Return this process's ROS time, ns (the node's clock: the same system clock)."""
        return int(self.node.get_clock().now().nanoseconds)

    def rss_mib(self, kind: str = 'VmRSS') -> float:
        """Return the node process's RSS (or ``kind``, see :func:`rss_mib`), MiB."""
        return rss_mib(self.pid, kind)

    def spin(self, seconds: float) -> None:
        """Handle arriving messages for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=min(0.05, max(0.0, end - time.monotonic())))

    def publish_for(self, rate: float, seconds: float, *, linger: float = 1.0) -> Sent:
        """Publish the frame at ``rate`` Hz for ``seconds``, then listen ``linger`` s.

        Behind schedule (a rate this process cannot reach) it publishes back to back, catching
        up at most one period, so the achieved rate is the most it can do without bursts.
        """
        messages = (self.sensors.cloud, self.sensors.image, self.sensors.info)
        stamps: list[Stamp] = []
        publish_ms = []
        period = 1.0 / rate
        start = next_time = time.monotonic()
        while next_time - start < seconds - 1e-9:
            began = time.monotonic()
            stamp = self.node.get_clock().now().to_msg()
            for pub, message in zip(self.pubs, messages, strict=True):
                message.header.stamp = stamp
                pub.publish(message)
            stamps.append((stamp.sec, stamp.nanosec))
            now = time.monotonic()
            publish_ms.append(1000 * (now - began))
            next_time = max(next_time + period, now - period)
            rclpy.spin_once(self.node, timeout_sec=0.0)  # graphs arrive even when behind
            while (left := next_time - time.monotonic()) > 0:
                rclpy.spin_once(self.node, timeout_sec=left)
        sent = Sent(stamps, time.monotonic() - start, publish_ms)
        self.spin(linger)
        return sent

    def settle(self, after_ns: int, timeout: float = 5.0) -> Snapshot:
        """Return the first diagnostics the node publishes ``after_ns`` (this clock) or later."""
        end = time.monotonic() + timeout
        while self.diagnostics.stamp_ns < after_ns and time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=0.05)
        return self.diagnostics

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Publish at 10 Hz until graphs and diagnostics come back (matched and warm)."""
        deadline = time.monotonic() + timeout
        while not (self.graphs and self.diagnostics.statuses) and time.monotonic() < deadline:
            self.publish_for(10.0, 1.0, linger=0.2)
        return bool(self.graphs and self.diagnostics.statuses)


# The latency benchmark ----------------------------------------------------------------------
@dataclass
class RateRun:
    """What one input rate gave."""

    asked: float
    sent: Sent
    latencies: dict[Stamp, float]  # graphs received here for the frames sent
    start: Snapshot
    end: Snapshot
    rss: tuple[float, float]  # MiB at the start and the end

    def figures(self) -> dict[str, float]:
        """Latency and rate figures (ms, Hz)."""
        sent, graphs = self.sent.stamps, self.latencies
        latencies = [graphs[s] for s in sent if s in graphs]
        quarter = max(1, len(sent) // 4)
        first = [graphs[s] for s in sent[:quarter] if s in graphs] or [float('nan')]
        last = [graphs[s] for s in sent[-quarter:] if s in graphs] or [float('nan')]
        p50, p95, top = (np.percentile(latencies, [50, 95, 100]).tolist() if latencies
                         else [float('nan')] * 3)
        return {
            'sent': len(sent), 'processed': len(latencies),
            'input_hz': self.sent.rate, 'processed_hz': len(latencies) / self.sent.seconds,
            'p50': p50, 'p95': p95, 'max': top, 'first_p50': statistics.median(first),
            'last_p50': statistics.median(last),
        }

    def drops(self) -> Counter[str]:
        """Return the node's drops by reason during this run."""
        return drops_between(self.end, self.start)

    def published(self) -> int:
        """Return the frames the node published during this run."""
        return self.end.published() - self.start.published()


def run_rate(bench: Bench, rate: float, seconds: float) -> RateRun:
    """Run the node at ``rate`` Hz for ``seconds``; counters from fresh diagnostics."""
    start = bench.settle(bench.now_ns())
    rss_start = bench.rss_mib()
    bench.graphs.clear()
    sent = bench.publish_for(rate, seconds)
    # The first report after the last frame was processed (the linger) closes the run.
    end = bench.settle(bench.now_ns())
    return RateRun(rate, sent, dict(bench.graphs), start, end, (rss_start, bench.rss_mib()))


def saturated_rate(runs: list[RateRun]) -> tuple[float, str]:
    """Return the node's saturated processing rate (frames/s) and how it was measured.

    The most frames/s the node published at an input rate where it replaced frames (its worker
    never idle); faster inputs cost the node more to receive, so it is the overloaded rate
    nearest saturation that gives the most. Without any overloaded rate: 1 / the node's own
    decode-to-publication p50 at the highest rate.
    """
    overloaded = [r for r in runs if r.drops()['replaced_by_newer_frame'] > 0]
    if overloaded:
        top = max(overloaded, key=lambda r: r.published())
        return top.published() / top.sent.seconds, (
            f'the most frames/s the node published at an input rate where it replaced frames '
            f'(its worker never idle): at {top.sent.rate:.1f} Hz')
    top = max(runs, key=lambda r: r.sent.rate)
    total = top.end.latency_ms('total p50 ms')
    return 1000 / total, (f"1 / the node's decode-to-publication p50 at {top.sent.rate:.1f} Hz, "
                          f'{total:.1f} ms: no input rate overloaded it')


def verdict(value: float, bound: float) -> str:
    """Return whether ``value`` is within ``bound``."""
    return 'holds' if value <= bound else 'EXCEEDED'


def report(run: RateRun, seconds: float, baseline: float, saturated: float) -> None:
    """Print one rate's figures."""
    r = run.figures()
    drops = run.drops()
    replaced = drops['replaced_by_newer_frame']
    unaccounted = r['sent'] - run.published() - replaced
    print(f'input {run.asked:g} Hz (achieved {r["input_hz"]:.1f} Hz) for {seconds:g} s: '
          f'processed {r["processed"]} of {r["sent"]} frames ({r["processed_hz"]:.1f} Hz, '
          f'{r["sent"] - r["processed"]} skipped, {replaced} of them by the latest-only worker)')
    print(f'  latency stamp -> scene_graph: p50 {r["p50"]:.1f} ms, p95 '
          f'{r["p95"]:.1f} ms, max {r["max"]:.1f} ms; p50 / in-process baseline '
          f'{r["p50"] / baseline:.2f}x')
    print(f'  p50 first quarter {r["first_p50"]:.1f} ms, last quarter '
          f'{r["last_p50"]:.1f} ms (no queue: no growth)')
    processing, period = 1000 / saturated, 1000 / r['input_hz']
    bound = processing + period
    age, age50 = run.end.latency_ms('age p95 ms'), run.end.latency_ms('age p50 ms')
    published_hz = run.published() / run.sent.seconds
    print(f'  overload: input {r["input_hz"]:.1f} Hz / saturated {saturated:.1f} Hz = '
          f'{r["input_hz"] / saturated:.1f}x; the node published {published_hz:.1f} frames/s '
          f'(one per {1000 / max(published_hz, 1e-3):.0f} ms), its decode-to-publication p50 '
          f'{run.end.latency_ms("total p50 ms"):.1f} ms, p95 '
          f'{run.end.latency_ms("total p95 ms"):.1f} ms')
    print(f'  p95 age of the processed data: {r["p95"]:.1f} ms here (stamp -> scene_graph), '
          f"{age:.1f} ms the node's (p50 {age50:.1f} ms; stamp -> publication, over its last "
          f'{WINDOW} frames, {min(WINDOW, run.published())} from this rate); bound: processing '
          f'period {processing:.1f} ms + input period {period:.1f} ms = {bound:.1f} ms: '
          f'{verdict(r["p95"], bound)} here, {verdict(age, bound)} in the node')
    stages = {key[:-len(' p50 ms')]: float(value)
              for key, value in run.end.values('latency').items()
              if key.endswith(' p50 ms') and not key.startswith(('age', 'total'))}
    print('  node p50 per stage, ms: ' + ', '.join(f'{stage} {ms:.1f}'
                                                   for stage, ms in stages.items()))
    print(f'  node RSS {run.rss[0]:.1f} MiB at the start, {run.rss[1]:.1f} MiB at the end '
          f'({run.rss[1] - run.rss[0]:+.1f} MiB)')
    print(f'  drops (node /diagnostics, this rate): {drop_text(drops)}; node published '
          f'{run.published()}, frames neither published nor replaced {unaccounted}')
    print(f'  messages the node received (its received /s x period): '
          f'{received_text(run.end, run.start)} of {r["sent"]} sent each (the rest were lost '
          'before its callbacks: not counted as drops); publishing a frame here took p50 '
          f'{statistics.median(run.sent.publish_ms):.1f} ms, p95 '
          f'{np.percentile(run.sent.publish_ms, 95):.1f} ms')


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=float, default=20.0, help='per rate (default 20)')
    parser.add_argument('--rates', type=float, nargs='+', default=[10.0, 20.0, 30.0, 50.0],
                        help='input rates, Hz (default 10, then 20, 30 and 50: about 2, 3 and '
                        '5x the ~10 frames/s a 2-core machine processes)')
    parser.add_argument('--data', type=Path, default=DATA, help=f'default {DATA}')
    parser.add_argument('--in-process', action='store_true',
                        help='print only the whole frame in-process (run it with taskset -c 0 '
                        'for the one-core figure)')
    parser.add_argument('--organised', action='store_true',
                        help='send an organised 128 x 1024 ray-cast cloud (131k points, '
                        'x y z intensity ring, NaN for no return) with the KITTI image')
    args = parser.parse_args()

    sensors = load_frame(args.data)
    if args.organised:
        sensors.cloud = organised_cloud()
        sensors.source += ' image, organised 128 x 1024 ray-cast cloud'

    whole, parts = whole_frame_ms(sensors)
    print(describe_setup(sensors))
    print(f'whole frame in-process, every output message built: {whole:.1f} ms (median of 20; '
          + ', '.join(f'{name} {ms:.1f}' for name, ms in parts.items()) + ')')
    if args.in_process:
        return 0
    baseline = parts['pipeline']
    print(f'baseline: the same frame through ScenePipeline in-process: {baseline:.1f} ms '
          f'(median of 20, above)')

    with Bench(sensors) as bench:
        if not bench.wait_ready():
            print('latency: FAILED, perception_node published nothing', file=sys.stderr)
            return 1
        print(f'node process {bench.pid}: RSS {bench.rss_mib():.1f} MiB after warm-up')
        runs = []
        for rate in args.rates:
            runs.append(run_rate(bench, rate, args.seconds))
            print(f'(ran {rate:g} Hz)', file=sys.stderr, flush=True)
        peak = bench.rss_mib('VmHWM')
        saturated, how = saturated_rate(runs)
        print(f'saturated processing rate: {saturated:.1f} frames/s ({how})')
        for run in runs:
            report(run, args.seconds, baseline, saturated)
        print(f'node peak RSS (VmHWM, start to end of every rate): {peak:.1f} MiB')
    return 0


if __name__ == '__main__':
    sys.exit(main())
