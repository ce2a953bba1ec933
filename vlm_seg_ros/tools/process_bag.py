r"""``process-bag``: the perception pipeline on every scan of a recorded bag.

Reads a rosbag2 (MCAP or SQLite 3) with ``rosbags`` and runs every scan through the frame
runner the node uses (``runtime.frames.FrameRunner``), with its camera messages when the
node's synchroniser pairs them (``core.sync.CameraSetSynchronizer``, on the bag's log time),
else alone. No frame is skipped for being late, unlike live mode, and the models run synchronously
on each frame: the output is the same on every run. It writes a new bag: every message of the
input, plus the node's outputs under ``--namespace`` (default ``/perception``, the node's own
topic names): ``scene_graph``, ``scene_graph/json``, ``objects/cloud``, ``obstacles``,
``markers``, ``labels``, ``overlay`` (``<name>/labels``, ``<name>/overlay`` per named camera),
``description``, each logged at the time of the message
that completed its frame::

    process-bag recording/ annotated/ --params-file config/perception.yaml \
        -p segmentation.max_range:=40.0 --points /ouster/points --image /camera/image_raw \
        --camera-info /camera/camera_info

Topics are found by type when the bag has one of each (else name them). With several cameras
(``-p cameras:=[front,left,right]``) each camera is matched to the scans on its own (the node's
``CameraSetSynchronizer``); its topics are the only ones of their type with its name in the
topic, or ``--image NAME=TOPIC --camera-info NAME=TOPIC``. Parameters are the node's (a ROS
parameters file, then ``-p name:=value``). The LiDAR-to-camera transform and
``target_frame`` come from the bag's ``/tf_static`` (as a tf2 listener replaying it would hold
it at each frame), else the ``lidar_to_camera`` parameter; ``/tf`` is not read, so a
``target_frame`` must be reachable through static transforms.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
import math
from pathlib import Path
import sys
import time
from typing import Any

from builtin_interfaces.msg import Time
import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from tqdm import tqdm

from vlm_seg_ros.core.scene import ObjectSource, SceneFrame
from vlm_seg_ros.core.sync import CamerasFrame
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.errors import InvalidInputError, TransformUnavailableError, VlmSegError
from vlm_seg_ros.models.engine import SemanticEngine
from vlm_seg_ros.ros.bags import TF_STATIC_TOPIC, BagReader, BagWriter, TransformTree, to_ros
from vlm_seg_ros.ros.conversions import time_to_ns
from vlm_seg_ros.ros.nodes.frames import (
    DroppedFrameError,
    camera_synchronizer,
    decode_frame,
    headers,
)
from vlm_seg_ros.ros.outputs import OutputBuilder
from vlm_seg_ros.runtime.config import read_values, to_config
from vlm_seg_ros.runtime.frames import DropReason, FrameRunner

POINTS_TYPE = 'sensor_msgs/msg/PointCloud2'
IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE_TYPE = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'


@dataclass(frozen=True)
class Topics:
    """The bag's sensor topics: the points, and each camera's (image, camera_info)."""

    points: str
    cameras: tuple[tuple[str, str], ...] = ()

    @property
    def inputs(self) -> list[str]:
        """The topics in the node's input order: points, then each camera's image and info."""
        return [self.points, *(topic for pair in self.cameras for topic in pair)]


def choose_topics(bag_topics: dict[str, str], *, points: str | None,
                  images: Mapping[str, str], camera_infos: Mapping[str, str],
                  cameras: Sequence[str]) -> Topics:
    """Pick the sensor topics: the named ones (checked), else the only one of each type.

    ``cameras`` are the configured cameras' names (``''``: the one unnamed camera);
    ``images`` and ``camera_infos`` the topics given per camera name. The image may be a
    ``sensor_msgs/Image`` or a ``sensor_msgs/CompressedImage`` topic (JPEG or PNG, how most
    bags record cameras); unnamed, the only Image topic is taken, else the only
    CompressedImage one. A named camera's topics, unless given, are the only ones of their
    type with its name as a part of the topic (``/front/image_raw``, ``/cam/front/info``).

    Raises:
        InvalidInputError: naming the candidates when a topic is missing, of the wrong type,
            or ambiguous, or given for a camera that is not configured.

    """
    unknown = sorted(set(images) - set(cameras)) + sorted(set(camera_infos) - set(cameras))
    if unknown:
        listed = ', '.join(name or '(unnamed)' for name in cameras) or 'none'
        msg = f'topics given for cameras {unknown} that are not configured (cameras: {listed})'
        raise InvalidInputError(msg)

    def pick(given: str | None, msgtype: str, flag: str, *other: str, camera: str = '') -> str:
        if given is not None:
            if bag_topics.get(given) not in (msgtype, *other):
                found = bag_topics.get(given, 'not in the bag')
                msg = (f'{flag} {given}: expected a {" or ".join((msgtype, *other))} topic, '
                       f'it is {found}')
                raise InvalidInputError(msg)
            return given

        def of(kind: str) -> list[str]:
            return sorted(t for t, k in bag_topics.items()
                          if k == kind and (not camera or camera in t.strip('/').split('/')))

        kinds = (msgtype, *other)
        candidates = of(msgtype)
        for kind_ in other:
            if not candidates:
                msgtype, candidates = kind_, of(kind_)
        if not candidates:
            msgtype = ' or '.join(kinds)
        if len(candidates) != 1:
            named = f' with {camera!r} in their name' if camera else ''
            example = f'{camera}=TOPIC' if camera else 'one'
            msg = (f'the bag has {len(candidates)} {msgtype} topics{named} {candidates}; name '
                   f'{example} with {flag}'
                   + (' (or use --no-camera)' if msgtype != POINTS_TYPE else ''))
            raise InvalidInputError(msg)
        return candidates[0]

    return Topics(pick(points, POINTS_TYPE, '--points'), tuple(
        (pick(images.get(name), IMAGE_TYPE, '--image', COMPRESSED_IMAGE_TYPE, camera=name),
         pick(camera_infos.get(name), CAMERA_INFO_TYPE, '--camera-info', camera=name))
        for name in cameras))


def per_camera(given: Sequence[str], flag: str) -> dict[str, str]:
    """Read ``--image``-like options: ``TOPIC`` (the unnamed camera) or ``NAME=TOPIC``.

    Raises:
        InvalidInputError: for a camera given twice.

    """
    topics: dict[str, str] = {}
    for text in given:
        name, sep, topic = text.partition('=')
        name, topic = (name, topic) if sep else ('', text)
        if name in topics:
            msg = f'{flag} given twice for {name!r}' if name else f'{flag} given twice'
            raise InvalidInputError(msg)
        topics[name] = topic
    return topics


class StaticTransforms:
    """The bag's ``/tf_static`` as the node's extrinsics (``ros.nodes.extrinsics.Extrinsics``)."""

    def __init__(self, tree: TransformTree) -> None:
        """Look transforms up in ``tree`` (kept up to date by the caller)."""
        self.tree = tree

    @property
    def has_tf(self) -> bool:
        """Return whether the bag had any static transform."""
        return len(self.tree) > 0

    def lookup(self, target_frame: str, target_stamp: Time, source_frame: str,
               source_stamp: Time, *, fixed_frame: str, timeout: float) -> RigidTransform:
        """Return the static transform from ``source_frame`` into ``target_frame``.

        Raises:
            TransformUnavailableError: naming both frames.

        """
        del target_stamp, source_stamp, fixed_frame, timeout  # static: the same at all times
        return self.tree.lookup(target_frame, source_frame)


@dataclass
class CameraSummary:
    """What one camera did in a run: frames with its image, objects it saw best (track ids)."""

    frames: int = 0
    boxed: set[int] = field(default_factory=set)
    masked: set[int] = field(default_factory=set)
    named: set[int] = field(default_factory=set)


@dataclass
class Summary:
    """What a run did."""

    messages: int = 0
    frames: int = 0
    processed: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    objects: list[int] = field(default_factory=list)
    written: int = 0
    models: dict[str, str] = field(default_factory=dict)
    # Per camera name: frames with its image, and the track ids it gave boxes, masks, names.
    cameras: dict[str, CameraSummary] = field(default_factory=dict)

    def count_cameras(self, frame: SceneFrame) -> None:
        """Count what each camera of ``frame`` did (objects by the camera that saw them best)."""
        for images in frame.images:
            self.cameras.setdefault(images.name, CameraSummary()).frames += 1
        for view in frame.objects:
            if view.camera is not None:
                seen = self.cameras.setdefault(view.camera, CameraSummary())
                seen.boxed.add(view.track.id)
                if view.source == ObjectSource.BOTH:
                    seen.masked.add(view.track.id)
                if view.track.label:
                    seen.named.add(view.track.id)

    def text(self, output: Path) -> str:
        """Return the summary as one paragraph."""
        size = sum(p.stat().st_size for p in output.rglob('*') if p.is_file())
        ms = np.array(self.seconds) * 1e3
        timing = (f'{np.median(ms):.0f} ms per frame (median, p95 {np.percentile(ms, 95):.0f})'
                  if len(ms) else 'no frame processed')
        dropped = (', dropped ' + ', '.join(f'{n} {why}' for why, n in self.dropped.items())
                   if self.dropped else '')
        objects = f'{np.mean(self.objects):.1f} objects per frame' if self.objects else ''
        models = ', '.join(f'{role} {name}' for role, name in self.models.items()) or 'none'
        cameras = '; '.join(
            f'camera {name or "(unnamed)"}: {seen.frames} frames, {len(seen.boxed)} objects '
            f'boxed, {len(seen.named)} named, {len(seen.masked)} masked'
            for name, seen in self.cameras.items())
        return (f'process-bag: {self.frames} synchronised frames from {self.messages} messages, '
                f'{self.processed} processed{dropped}; {timing}; {objects}; models: {models}; '
                + (f'{cameras}; ' if cameras else '')
                + f'wrote {output} ({self.written} messages, {size / 1e6:.1f} MB)')


class _OncePerKind:
    """Warnings shown once per kind (the text before its first colon), like the node's."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self._shown: set[str] = set()

    def __call__(self, text: str) -> None:
        kind = text.split(':')[0]
        if kind not in self._shown:
            self._shown.add(kind)
            self._log(f'warning: {text} (further ones are counted, not shown)')


class _FramesOut:
    """The node's frame path on a bag's frames: decode, run, write the outputs, count."""

    def __init__(self, runner: FrameRunner, builder: OutputBuilder,
                 extrinsics: StaticTransforms, summary: Summary, namespace: str,
                 warn: Callable[[str], None]) -> None:
        self.runner, self.builder, self.summary = runner, builder, summary
        self.extrinsics = extrinsics
        self.namespace, self.warn = namespace, warn

    def dropped(self, reason: DropReason, text: str) -> None:
        """Count a drop and warn (once per kind)."""
        self.summary.dropped[reason] += 1
        self.warn(f'dropped {text}')

    def process(self, frame: CamerasFrame[Any], out: BagWriter, log_time: int) -> None:
        """Run one frame from the synchroniser; write its outputs at ``log_time``."""
        summary, runner = self.summary, self.runner
        summary.frames += 1
        started = time.perf_counter()
        try:
            decoded = decode_frame(frame.scan, frame.cameras, runner.config, self.extrinsics,
                                   warn=self.warn, dropped=self.dropped)
        except DroppedFrameError as exc:
            self.dropped(exc.reason, f'a frame: {exc}')
            return
        if decoded is None:
            summary.dropped[DropReason.NO_TRANSFORM] += 1
            return
        result = runner.run(decoded, render_overlay=True)
        for name, message in self.builder.build(result, *headers(decoded),
                                                wanted=lambda _: True):
            out.write(f'{self.namespace}/{name}', message, log_time)
            summary.written += 1
        runner.observe(result, decoded)
        summary.count_cameras(result)
        summary.seconds.append(time.perf_counter() - started)
        summary.objects.append(len(result.objects))
        summary.processed += 1


def process_bag(source: Path, output: Path, *, values: dict[str, Any],
                points: str | None = None, images: Mapping[str, str] | None = None,
                camera_infos: Mapping[str, str] | None = None,
                storage: str, overwrite: bool, namespace: str, models: bool,
                log: Callable[[str], None], progress: bool = True) -> Summary:
    """Run every scan of ``source`` through the frame runner; write ``output``.

    Args:
        source: the input bag (folder, or one ``.mcap`` file).
        output: the bag to write (must not exist unless ``overwrite``).
        values: perception_node parameter values by name (``runtime.config.read_values``).
        points: the points topic; None: the bag's only one (see ``choose_topics``).
        images: each camera's image topic by camera name (``''``: the unnamed camera); a
            camera not given: the bag's only one of its type (see ``choose_topics``).
        camera_infos: each camera's CameraInfo topic, likewise.
        storage: ``'mcap'`` or ``'sqlite3'``.
        overwrite: replace an existing output bag.
        namespace: prefix of the output topics.
        models: run the configured models (those in the local cache); False: geometry only.
        log: where warnings and model messages go.
        progress: show a progress bar on stderr.

    Raises:
        InvalidInputError: on a bad bag, topic choice or parameter, or an output that is the
            input or holds it (``overwrite`` would delete the recording being read).

    """
    source_path, output_path = source.resolve(), output.resolve()
    if output_path == source_path or output_path in source_path.parents:
        msg = (f'the output {output} is the input bag {source} or holds it; write the '
               'annotated bag somewhere else')
        raise InvalidInputError(msg)
    config = to_config(values)
    if not models:
        config = replace(config, models=replace(config.models, segmenter='', describer=''))
    summary = Summary()
    with BagReader(source) as bag:
        chosen = choose_topics(bag.topics, points=points, images=images or {},
                               camera_infos=camera_infos or {},
                               cameras=[setup.name for setup in config.camera_setups])
        inputs = chosen.inputs
        # Each topic's inputs (a topic may serve several, e.g. one CameraInfo for two cameras).
        index_of: dict[str, list[int]] = {}
        for i, topic in enumerate(inputs):
            index_of.setdefault(topic, []).append(i)
        types: dict[str, type[PointCloud2 | CameraInfo | Image | CompressedImage]] = {
            chosen.points: PointCloud2}
        for image, info in chosen.cameras:
            types[info] = CameraInfo
            types[image] = (CompressedImage if bag.topics.get(image) == COMPRESSED_IMAGE_TYPE
                            else Image)
        tree = TransformTree()
        first_static = next(iter(bag.messages([TF_STATIC_TOPIC])), None)
        if first_static is not None:  # latched: known from the start, as a listener gets it
            bag.add_transforms(tree, first_static)
        extrinsics = StaticTransforms(tree)
        sync = camera_synchronizer(config)
        warn = _OncePerKind(log)
        engine = SemanticEngine(config.models, config, inline=True,
                                log=lambda level, text: log(f'{level}: {text}'))
        engine.start(wait=True)
        runner = FrameRunner(config, engine, notify=lambda event, text: log(f'info: {text}'))
        summary.models = {role: status for role, status in engine.status().items()
                          if status.startswith('loaded')}
        frames_out = _FramesOut(runner, OutputBuilder(config.outputs), extrinsics, summary,
                                namespace, warn)

        with BagWriter(output, storage=storage, overwrite=overwrite) as out:
            bar = tqdm(total=bag.count(), unit='msg', desc='process-bag', disable=not progress,
                       mininterval=0.5, file=sys.stderr)
            log_time = 0
            for message in bag.messages():
                out.copy(message)
                summary.messages += 1
                bar.update()
                if message.topic == TF_STATIC_TOPIC:
                    bag.add_transforms(tree, message)
                    continue
                indices = index_of.get(message.topic)
                if indices is None:
                    continue
                try:
                    ros = to_ros(message)
                    if not isinstance(ros, types[message.topic]):
                        msg = f'{message.topic} carries {message.msgtype}'
                        raise InvalidInputError(msg)
                except (InvalidInputError, RuntimeError) as exc:
                    frames_out.dropped(DropReason.UNDECODABLE_MESSAGE,
                                       f'a message on {message.topic}: {exc}')
                    continue
                # The bag's log time is the synchroniser's clock: a scan waits for each camera
                # as long as it would have live, then goes on without it.
                log_time, now = message.timestamp, message.timestamp / 1e9
                stamp = time_to_ns(ros.header.stamp)
                frames = sync.poll(now)
                for index in indices:
                    if index == 0:
                        runner.scan_arrived(stamp)
                        frames += sync.add_scan(stamp, ros, now)
                    else:  # camera (index - 1) // 2: its image (1), then its camera_info (2)
                        camera, part = divmod(index - 1, 2)
                        frames += sync.add_camera(camera, part + 1, stamp, ros, now)
                for frame in frames:
                    frames_out.process(frame, out, log_time)
            for frame in sync.poll(math.inf):  # the scans still waiting at the bag's end
                frames_out.process(frame, out, log_time)
            bar.close()
        engine.stop()
    summary.written += summary.messages
    return summary


def main(argv: list[str] | None = None) -> int:
    """Run ``process-bag``; return the exit code (2 on bad input)."""
    parser = argparse.ArgumentParser(
        prog='process-bag', description=__doc__.split('\n\n')[0],
        epilog='Topics and parameters: see README, "Recorded bags".')
    parser.add_argument('input', type=Path, help='the bag to read (folder or .mcap file)')
    parser.add_argument('output', type=Path, help='the bag to write (a new folder)')
    parser.add_argument('--params-file', type=Path,
                        help="perception_node's parameters (e.g. config/perception.yaml)")
    parser.add_argument('-p', dest='overrides', action='append', default=[],
                        metavar='NAME:=VALUE', help='a parameter, after the file (repeatable)')
    parser.add_argument('--points', help='PointCloud2 topic (default: the only one)')
    parser.add_argument('--image', action='append', default=[], metavar='[NAME=]TOPIC',
                        help='Image or CompressedImage topic (default: the only one); with '
                        'cameras: [...], NAME=TOPIC per camera (default: the only one with '
                        'NAME in its topic name)')
    parser.add_argument('--camera-info', action='append', default=[], metavar='[NAME=]TOPIC',
                        help='CameraInfo topic, likewise')
    parser.add_argument('--no-camera', action='store_true',
                        help='LiDAR only: every scan is a frame (camera.enabled:=false)')
    parser.add_argument('--namespace', default='/perception',
                        help='prefix of the output topics (default /perception)')
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap',
                        help='storage of the output bag (default mcap)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing output')
    parser.add_argument('--no-models', action='store_true',
                        help='geometry only, even when models are in the cache')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)

    def log(text: str) -> None:
        tqdm.write(text, file=sys.stderr)

    try:
        values = read_values(args.params_file, args.overrides)
        if args.no_camera:
            values['camera.enabled'] = False
        summary = process_bag(args.input, args.output, values=values, points=args.points,
                              images=per_camera(args.image, '--image'),
                              camera_infos=per_camera(args.camera_info, '--camera-info'),
                              storage=args.storage, overwrite=args.overwrite,
                              namespace=args.namespace.rstrip('/'), models=not args.no_models,
                              log=log, progress=not args.quiet)
    except (InvalidInputError, TransformUnavailableError) as exc:
        print(f'process-bag: {exc}', file=sys.stderr)
        return 2
    except VlmSegError as exc:
        print(f'process-bag: {exc}', file=sys.stderr)
        return 1
    print(summary.text(args.output))
    return 0 if summary.processed else 1


def cli() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == '__main__':
    cli()
