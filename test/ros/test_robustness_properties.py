"""Property tests: no input, however broken, crashes the pipeline (issue 8).

Every message either converts or raises the package's own ``InvalidInputError``; the core
pipeline takes any (N, 3) float32 array and any stamp; ``decode_frame`` over a whole
synchronised frame with one broken message returns inputs the pipeline processes, or raises
``InvalidInputError``. A node turns that error into a logged, counted, dropped frame; any other
exception would escape that handling and stop the node.

Three levels of input:
1. serialized bytes, as a subscription receives them: random ones, and valid messages with
   bytes flipped, overwritten, cut off, added or removed (which gets much deeper: the
   lengths mostly still agree, so rclpy builds a message with odd values);
2. arrays and stamps straight into ``ScenePipeline.process``, camera included;
3. whole frames through ``decode_frame`` and the pipeline, with one of ``MALFORMATIONS``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
import math
from typing import Any

from builtin_interfaces.msg import Time
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import numpy as np
import numpy.typing as npt
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField, RegionOfInterest
from std_msgs.msg import Header

from vlm_seg_ros.core.camera import CameraModel
from vlm_seg_ros.core.scene import CameraConfig, CameraView, SceneConfig, SceneFrame, ScenePipeline
from vlm_seg_ros.core.stamps import MAX_STAMP_NS
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.ros.bags import TransformTree
from vlm_seg_ros.ros.conversions import (
    array_to_image,
    array_to_pointcloud2,
    camera_info_to_model,
    image_to_array,
    pointcloud2_to_xyz,
)
from vlm_seg_ros.ros.nodes.frames import DroppedFrameError, FrameInputs, decode_frame
from vlm_seg_ros.runtime.config import DEFAULT_LIDAR_TO_CAMERA, PerceptionConfig, to_config
from vlm_seg_ros.runtime.frames import DropReason
from vlm_seg_ros.tools.process_bag import StaticTransforms

# numpy warns about the NaN and infinite values these tests feed in on purpose; the pipeline
# drops them (crop, projection), and the assertions check the results are finite.
pytestmark = pytest.mark.filterwarnings('ignore::RuntimeWarning')
UINT32 = 2**32 - 1
# Examples per property: multiples of the Hypothesis profile's budget (test/conftest.py:
# 100 in CI, derandomized; 1000 with HYPOTHESIS_PROFILE=explore).
BUDGET = settings.default.max_examples
F32_MAX = float(np.finfo(np.float32).max)
NONFINITE = [math.nan, math.inf, -math.inf]
# Values that break arithmetic: non-finite, huge (squares overflow), float32's extremes.
SPECIAL = [*NONFINITE, 1e30, -1e30, F32_MAX, -F32_MAX, 0.0, -0.0, 1e-45]
ONE = settings(max_examples=1)


def _rotation(yaw: float, pitch: float = 0.0, roll: float = 0.0) -> npt.NDArray[np.float64]:
    cy, sy, cp, sp, cr, sr = (math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch),
                              math.cos(roll), math.sin(roll))
    return np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]]) @ np.array(
        [[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]]) @ np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])


# The camera looks along the LiDAR's x axis: the parameter's default, a LiDAR at the camera.
LIDAR_TO_CAMERA = RigidTransform.from_quaternion(DEFAULT_LIDAR_TO_CAMERA[:3],
                                                 DEFAULT_LIDAR_TO_CAMERA[3:])


def _convert(message: Any) -> Any:
    """Convert a message the way the node does; return the result."""
    if isinstance(message, PointCloud2):
        return pointcloud2_to_xyz(message)
    if isinstance(message, Image):
        return image_to_array(message, desired_encoding='rgb8')
    return camera_info_to_model(message)


def _converts_or_raises_invalid_input(message: Any) -> None:
    try:
        result = _convert(message)
    except InvalidInputError:
        return
    if isinstance(message, PointCloud2):
        assert result.shape == (message.height * message.width, 3)
    elif isinstance(message, Image):
        assert result.shape == (message.height, message.width, 3)
        assert result.dtype == np.uint8
    else:
        assert isinstance(result, CameraModel)


# --- 1. Bytes -----------------------------------------------------------------------------

# Little-endian CDR's encapsulation header: without it rclpy refuses every buffer at once.
CDR_HEADER = b'\x00\x01\x00\x00'
MESSAGE_TYPES = {'cloud': PointCloud2, 'image': Image, 'camera_info': CameraInfo}
# 4-byte values that lengths, sizes and steps get wrong.
WORDS = [0, 1, 2, 3, 4, 7, 12, 16, 255, 65535, 2**31 - 1, 2**31, UINT32 - 15, UINT32]


@settings(max_examples=10 * BUDGET)
@given(kind=st.sampled_from(sorted(MESSAGE_TYPES)), header=st.booleans(),
       data=st.binary(max_size=400))
def test_any_bytes_deserialize_to_a_message_that_converts_or_raises_invalid_input(
        kind: str, header: bool, data: bytes) -> None:
    try:
        message = deserialize_message(CDR_HEADER + data if header else data, MESSAGE_TYPES[kind])
    except Exception:  # noqa: BLE001 - rclpy refusing garbage (RMWError) is its behaviour
        return  # ... and reaching here means it raised rather than crashed the process
    _converts_or_raises_invalid_input(message)


@st.composite
def valid_clouds(draw: st.DrawFn) -> PointCloud2:
    """Draw a small cloud of any layout: types, extra fields, padding, organised, byte order."""
    n = draw(st.integers(0, 12))
    coordinate = draw(st.sampled_from(['f4', 'f8', 'i2', 'u1']))
    fields = [('x', coordinate), ('y', coordinate), ('z', coordinate)]
    fields += draw(st.sampled_from([[], [('intensity', 'f4')], [('ring', 'u2')],
                                    [('intensity', 'f4'), ('rgb', 'f4', (2,))]]))
    packed = np.dtype(fields)
    order = draw(st.sampled_from('<>'))
    dtype = np.dtype({'names': packed.names, 'offsets': [packed.fields[name][1]
                                                         for name in packed.names],
                      'formats': [packed.fields[name][0] for name in packed.names],
                      'itemsize': packed.itemsize + draw(st.sampled_from([0, 0, 3, 8]))})
    points = np.zeros(n, dtype=dtype.newbyteorder(order))
    for name in 'xyz':
        points[name] = np.arange(n) % 7
    if draw(st.booleans()) and n % 2 == 0 and n:
        points = points.reshape(2, n // 2)  # organised
    cloud = array_to_pointcloud2(points, Header(frame_id='lidar'))  # little-endian
    if order == '>':
        cloud.is_bigendian = True
        cloud.data = points.tobytes()
    return cloud


@st.composite
def valid_images(draw: st.DrawFn) -> Image:
    """Draw a small image in one of the encodings cameras publish."""
    encoding = draw(st.sampled_from(['rgb8', 'bgr8', 'rgba8', 'mono8', 'mono16', '16UC3']))
    height, width = draw(st.integers(0, 5)), draw(st.integers(0, 5))
    pixels = np.zeros((height, width, 4), dtype=np.uint16 if '16' in encoding else np.uint8)
    if encoding in ('mono8', 'mono16'):
        pixels = pixels[..., 0]
    else:
        pixels = pixels[..., :4 if 'a' in encoding else 3]
    return array_to_image(pixels, encoding=encoding, header=Header(frame_id='camera'))


@st.composite
def valid_camera_infos(draw: st.DrawFn) -> CameraInfo:
    width, height = draw(st.integers(1, 2000)), draw(st.integers(1, 2000))
    f, cx, cy = width / 2, width / 2, height / 2
    model, d = draw(st.sampled_from([('plumb_bob', [0.1, -0.05, 0.0, 0.0, 0.01]),
                                     ('rational_polynomial', [0.1] * 8),
                                     ('equidistant', [0.01] * 4), ('', [])]))
    return CameraInfo(header=Header(frame_id='camera'), width=width, height=height,
                      distortion_model=model, d=d, k=[f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0],
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                      p=[f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0])


MUTATIONS = st.one_of(
    st.tuples(st.just('byte'), st.integers(0, 10**4), st.integers(0, 255)),
    st.tuples(st.just('word'), st.integers(0, 10**4), st.sampled_from(WORDS)),
    st.tuples(st.just('truncate'), st.integers(0, 10**4), st.just(0)),
    st.tuples(st.just('extend'), st.integers(1, 64), st.integers(0, 255)),
    st.tuples(st.just('delete'), st.integers(0, 10**4), st.integers(1, 8)),
    st.tuples(st.just('insert'), st.integers(0, 10**4), st.integers(0, 255)),
)


def _mutate(data: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    """Apply the mutations; the encapsulation header (4 bytes) is kept."""
    buffer = bytearray(data)
    for op, position, value in mutations:
        at = 4 + position % max(len(buffer) - 4, 1)
        if op == 'byte' and at < len(buffer):
            buffer[at] = value
        elif op == 'word':
            at = 4 + 4 * (position % max((len(buffer) - 4) // 4, 1))  # CDR aligns to 4
            buffer[at:at + 4] = value.to_bytes(4, 'little')
        elif op == 'truncate':
            del buffer[at:]
        elif op == 'extend':
            buffer += bytes([value]) * position
        elif op == 'delete':
            del buffer[at:at + value]
        elif op == 'insert':
            buffer[at:at] = bytes([value])
    return bytes(buffer)


@settings(max_examples=15 * BUDGET)
@given(message=st.one_of(valid_clouds(), valid_images(), valid_camera_infos()),
       mutations=st.lists(MUTATIONS, min_size=1, max_size=4))
def test_mutated_serialized_messages_convert_or_raise_invalid_input(
        message: Any, mutations: list[tuple[str, int, int]]) -> None:
    data = _mutate(serialize_message(message), mutations)
    try:
        mutated = deserialize_message(data, type(message))
    except Exception:  # noqa: BLE001 - rclpy refusing garbage (RMWError) is its behaviour
        return
    _converts_or_raises_invalid_input(mutated)


# --- 2. The core pipeline -----------------------------------------------------------------

coordinates = (st.floats(-30, 30, width=32) | st.sampled_from(SPECIAL)
               | st.floats(width=32, allow_nan=True, allow_infinity=True))


@st.composite
def scans(draw: st.DrawFn) -> npt.NDArray[np.float32]:
    """Draw an (N, 3) float32 scan: any values, one point N times, or objects and bad rows."""
    kind = draw(st.sampled_from(['elements', 'equal', 'single', 'scene', 'scene', 'scene']))
    if kind == 'elements':
        return draw(hnp.arrays(np.float32, (draw(st.integers(0, 40)), 3), elements=coordinates))
    if kind in ('equal', 'single'):
        n = 1 if kind == 'single' else draw(st.integers(0, 2000))
        point = draw(st.tuples(coordinates, coordinates, coordinates))
        return np.tile(np.array(point, dtype=np.float32), (n, 1))
    # Objects on a ground plane, each a blob, a flat disc or a vertical line, with some rows
    # replaced by special values: the scans where segmentation, tracking and projection run.
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    parts = []
    if draw(st.booleans()):
        ground = rng.uniform((-20, -20, -1.75), (20, 20, -1.7), size=(400, 3))
        parts.append(ground)
    for _ in range(draw(st.integers(0, 5))):
        centre = (rng.uniform((-15, -15, -1.7), (15, 15, 1.0)) if rng.random() < 0.5
                  else rng.uniform((2, -4, -1.5), (15, 4, 0.5)))  # in front of the camera
        scale = rng.choice([0.0, 0.05, 0.3, 1.0], size=3)
        parts.append(centre + rng.normal(size=(int(rng.integers(1, 300)), 3)) * scale)
    points = np.concatenate(parts or [np.zeros((0, 3))]).astype(np.float32)[:2000]
    bad = draw(st.lists(st.tuples(st.integers(0, 1999), st.integers(0, 2),
                                  st.sampled_from(SPECIAL)), max_size=20))
    for row, column, value in bad:
        if row < len(points):
            points[row, column] = value
    return points


@st.composite
def camera_views(draw: st.DrawFn) -> CameraView:
    """Draw a small random RGB image, its valid calibration, extrinsics near the default."""
    width, height = draw(st.integers(1, 64)), draw(st.integers(1, 48))
    f = draw(st.floats(0.5, 200))
    cx, cy = draw(st.floats(0, width)), draw(st.floats(0, height))
    model, d = draw(st.sampled_from([
        ('', []), ('plumb_bob', [-0.3, 0.1, 0.001, -0.001, 0.0]),
        ('plumb_bob', [-5.0, 20.0, 0.0, 0.0, 3.0]),  # folds back close to the axis
        ('rational_polynomial', [0.2, -0.1, 0.0, 0.0, 0.01, 0.1, 0.0, 0.0]),
        ('equidistant', [0.1, -0.05, 0.01, 0.0])]))
    camera = CameraModel(width, height, k=[f, 0, cx, 0, f, cy, 0, 0, 1], d=d, r=np.eye(3),
                         p=[f, 0, cx, 0, 0, f, cy, 0, 0, 0, 1, 0], distortion_model=model)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    offset = RigidTransform(_rotation(*draw(st.tuples(*[st.floats(-0.2, 0.2)] * 3))),
                            draw(st.tuples(*[st.floats(-0.5, 0.5)] * 3)
                                 | st.tuples(*[st.sampled_from([0.0, 1e7, -1e30, 1e300])] * 3)))
    return CameraView(image, camera, offset @ LIDAR_TO_CAMERA)


lidar_to_targets = st.one_of(
    st.none(), st.just(RigidTransform.identity()),
    st.builds(lambda yaw, height: RigidTransform(_rotation(yaw), (0.0, 0.0, height)),
              st.floats(-math.pi, math.pi), st.floats(-100, 100)),
    st.builds(lambda yaw, pitch, t: RigidTransform(_rotation(yaw, pitch), (t, -t, t)),
              st.floats(-math.pi, math.pi), st.floats(-0.3, 0.3), st.sampled_from(
                  [1e3, 1e5, 1e6, 1e7, 1e30, F32_MAX, 1e300])))
scene_configs = st.builds(
    lambda rectified, voxel: SceneConfig(
        camera=CameraConfig(rectified=rectified),
        segmentation=replace(SceneConfig().segmentation, voxel_size=voxel)),
    st.booleans(), st.sampled_from([0.0, 0.0, 0.2]))


def _check_frame(frame: SceneFrame, points: npt.NDArray[np.float32],
                 camera: CameraView | None) -> None:
    """Check the frame: sizes match the inputs, every box is finite."""
    assert isinstance(frame, SceneFrame)
    assert frame.points.shape == points.shape
    event(f'objects: {min(len(frame.objects), 3)}{"+" if len(frame.objects) > 2 else ""}')
    if any(view.image_box is not None for view in frame.objects):
        event('an object is painted in the image')
    for view in frame.objects:
        box = view.track.box
        assert np.isfinite(box.center).all() and np.isfinite(box.size).all(), view.track
        assert (box.size >= 0).all() and math.isfinite(box.yaw)
        assert np.isfinite(view.track.velocity).all()
        if view.segment is not None:
            assert np.isfinite(view.segment.box.center).all()
            assert np.isfinite(view.segment.box.size).all()
            assert np.isfinite(view.segment.centroid).all()
    if camera is None:
        assert frame.labels is None and frame.overlay is None
        return
    size = (camera.camera.image_height, camera.camera.image_width)
    assert frame.labels is not None and frame.labels.shape == size
    assert frame.overlay is not None and frame.overlay.shape == (*size, 3)
    for view in frame.objects:
        if view.image_box is not None:
            x, y, w, h = view.image_box
            assert 0 <= x and 0 <= y and x + w <= size[1] and y + h <= size[0]


@settings(max_examples=4 * BUDGET)
@given(points=scans(), camera=st.none() | camera_views(), lidar_to_target=lidar_to_targets,
       config=scene_configs, stamp=st.integers(-10**18, 10**18))
def test_pipeline_takes_any_scan(points: npt.NDArray[np.float32], camera: CameraView | None,
                                 lidar_to_target: RigidTransform | None, config: SceneConfig,
                                 stamp: int) -> None:
    scene = ScenePipeline(config)
    # Twice: tracks are confirmed on their second observation, so the second frame has
    # objects to project, paint and relate.
    for step in (0, 100_000_000):
        frame = scene.process(points, stamp + step, lidar_to_target=lidar_to_target,
                              camera=camera)
        _check_frame(frame, points, camera)


# Integer nanoseconds are stamps; floats (seconds by mistake, NaN) and absurd values are not.
stamps = (st.integers(-10**18, 10**18)
          | st.sampled_from([0, 1, -1, MAX_STAMP_NS, -MAX_STAMP_NS, MAX_STAMP_NS + 1, 2**63,
                             -2**80, True, *NONFINITE, 0.1, 1e300])
          | st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=2 * BUDGET)
@given(points=scans(), camera=st.none() | camera_views(),
       steps=st.lists(st.tuples(stamps, st.floats(-2, 2)), min_size=2, max_size=8))
def test_pipeline_takes_any_sequence_of_stamps(points: npt.NDArray[np.float32],
                                               camera: CameraView | None,
                                               steps: list[tuple[object, float]]) -> None:
    """Time going back, standing still, leaping, floats: a frame, or InvalidInputError.

    The scan moves a little each frame, so tracks get velocities to extrapolate with.
    """
    scene = ScenePipeline()
    for stamp, shift in steps:
        moved = points + np.float32(shift)
        try:
            frame = scene.process(moved, stamp, camera=camera)  # type: ignore[arg-type]
        except InvalidInputError:
            # Only the stamp can be wrong here.
            assert type(stamp) is not int or abs(stamp) > MAX_STAMP_NS, stamp
            continue
        _check_frame(frame, moved, camera)


def test_pipeline_refuses_bad_stamps_and_goes_on() -> None:
    scene = ScenePipeline()
    points = np.random.default_rng(0).normal((8.0, 0.0, -1.0), 0.3, (100, 3)).astype(np.float32)
    for bad in (*NONFINITE, 1e300, 0.1, MAX_STAMP_NS + 1):
        with pytest.raises(InvalidInputError, match='stamp'):
            scene.process(points, bad)  # type: ignore[arg-type]
    for stamp in (0, 1, 2, 1_000_000_000):  # steps of a nanosecond: no velocity blow-up
        frame = scene.process(points + np.float32(stamp / 1e9), stamp)
    assert len(frame.objects) == 1 and np.isfinite(frame.objects[0].track.velocity).all()


# --- 3. Whole frames through decode_frame -------------------------------------------------

WIDTH, HEIGHT = 40, 30


class Frame:
    """One synchronised frame as messages, and the parameters it is decoded with."""

    def __init__(self, cloud: PointCloud2, image: Image, info: CameraInfo,
                 values: dict[str, Any]) -> None:
        self.cloud, self.image, self.info, self.values = cloud, image, info, values

    def __repr__(self) -> str:
        """Show the messages' metadata; the data are thousands of bytes."""
        cloud, image = self.cloud, self.image
        return (f'Frame(cloud={cloud.header.frame_id!r} {cloud.width}x{cloud.height} '
                f'{[(f.name, f.offset, f.datatype, f.count) for f in cloud.fields]} '
                f'point_step={cloud.point_step} row_step={cloud.row_step} '
                f'bigendian={cloud.is_bigendian} {len(cloud.data)} bytes, '
                f'image={image.header.frame_id!r} {image.width}x{image.height} '
                f'{image.encoding!r} step={image.step} {len(image.data)} bytes, '
                f'info={self.info!r}, values={self.values})')


def _cloud(points: npt.NDArray[np.floating], frame_id: str = 'lidar', *,
           intensity: bool = True) -> PointCloud2:
    fields = [('x', '<f4'), ('y', '<f4'), ('z', '<f4')] + ([('intensity', '<f4')]
                                                           if intensity else [])
    array = np.zeros(len(points), dtype=fields)
    for column, name in enumerate('xyz'):
        array[name] = points[:, column]
    if intensity:
        array['intensity'] = np.linspace(0, 1, len(points))
    header = Header(frame_id=frame_id, stamp=Time(sec=1_700_000_000, nanosec=0))
    return array_to_pointcloud2(array, header)


def _info(width: int = WIDTH, height: int = HEIGHT, **changes: Any) -> CameraInfo:
    f = width * 0.8
    info = CameraInfo(header=Header(frame_id='camera', stamp=Time(sec=1_700_000_000)),
                      width=width, height=height, distortion_model='plumb_bob',
                      d=[-0.1, 0.01, 0.0, 0.0, 0.0],
                      k=[f, 0.0, width / 2, 0.0, f, height / 2, 0.0, 0.0, 1.0],
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                      p=[f, 0.0, width / 2, 0.0, 0.0, f, height / 2, 0.0, 0.0, 0.0, 1.0, 0.0])
    for name, value in changes.items():
        setattr(info, name, value)
    return info


@st.composite
def valid_frames(draw: st.DrawFn) -> Frame:
    """Draw a plausible frame: objects in front of the camera on the ground, its image."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    parts = [rng.uniform((-15, -15, -1.75), (15, 15, -1.7), size=(300, 3))]
    for _ in range(draw(st.integers(1, 3))):
        centre = rng.uniform((3, -3, -1.5), (12, 3, 0.0))
        parts.append(centre + rng.normal(scale=0.3, size=(60, 3)))
    image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    header = Header(frame_id='camera', stamp=Time(sec=1_700_000_000, nanosec=1000))
    values = {'camera.rectified': draw(st.booleans()),
              'segmentation.ground.reflection_filter': draw(st.booleans()),
              'target_frame': draw(st.sampled_from(['', 'base_link']))}
    return Frame(_cloud(np.concatenate(parts)), array_to_image(image, encoding='rgb8',
                                                               header=header),
                 _info(), values)


def _points(frame: Frame) -> npt.NDArray[np.float32]:
    return pointcloud2_to_xyz(frame.cloud)


def _set_field(cloud: PointCloud2, index: int, **changes: Any) -> PointCloud2:
    fields = list(cloud.fields)
    field = fields[index]
    fields[index] = PointField(**{'name': field.name, 'offset': field.offset,
                                  'datatype': field.datatype, 'count': field.count, **changes})
    cloud.fields = fields
    return cloud


# Each malformation breaks one message of a valid frame; `draw` picks its details.
Malformation = Callable[[Frame, st.DrawFn], None]
_MALFORM: dict[str, Malformation] = {}
# Malformations that decode_frame must refuse (the others it may pass to the pipeline).
MUST_REJECT: set[str] = set()


def malformation(name: str, *, rejected: bool) -> Callable[[Malformation], Malformation]:
    def register(function: Malformation) -> Malformation:
        _MALFORM[name] = function
        if rejected:
            MUST_REJECT.add(name)
        return function
    return register


@malformation('cloud_empty', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.cloud = _cloud(np.zeros((0, 3)), intensity=draw(st.booleans()))


@malformation('cloud_zero_height', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.cloud.height = 0


@malformation('cloud_all_nan', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.cloud = _cloud(np.full((draw(st.integers(1, 500)), 3), np.nan))


@malformation('cloud_nonfinite_rows', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    points = _points(frame).copy()
    rows = draw(st.lists(st.integers(0, len(points) - 1), min_size=1, max_size=50))
    points[rows, draw(st.integers(0, 2))] = draw(st.sampled_from(NONFINITE))
    frame.cloud = _cloud(points)


@malformation('cloud_huge_values', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    points = _points(frame).copy()
    rows = draw(st.lists(st.integers(0, len(points) - 1), min_size=1, max_size=300))
    points[rows] = draw(st.sampled_from([1e30, -1e30, F32_MAX, -F32_MAX, 1e19]))
    frame.cloud = _cloud(points)


@malformation('cloud_all_equal_points', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    point = draw(st.tuples(coordinates, coordinates, coordinates))
    frame.cloud = _cloud(np.tile(np.array(point, dtype=np.float32),
                                 (draw(st.integers(1, 2000)), 1)))


@malformation('cloud_single_point', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.cloud = _cloud(np.array([draw(st.tuples(coordinates, coordinates, coordinates))]))


@malformation('cloud_duplicate_field_names', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    index = draw(st.integers(1, 3))
    _set_field(frame.cloud, index, name=frame.cloud.fields[draw(st.integers(0, index - 1))].name)


@malformation('cloud_empty_field_name', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    _set_field(frame.cloud, draw(st.integers(0, 3)), name='')


@malformation('cloud_field_overruns_point_step', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    _set_field(frame.cloud, draw(st.integers(0, 3)),
               offset=draw(st.integers(13, 2**16) | st.just(UINT32)))


@malformation('cloud_field_count_overruns', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    _set_field(frame.cloud, draw(st.integers(0, 3)), count=draw(st.integers(5, UINT32)))


@malformation('cloud_vector_xyz', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    _set_field(frame.cloud, draw(st.integers(0, 2)), count=2)


@malformation('cloud_unknown_datatype', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    _set_field(frame.cloud, draw(st.integers(0, 3)),
               datatype=draw(st.sampled_from([0, 9, 255])))


@malformation('cloud_missing_z', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    _set_field(frame.cloud, 2, name=draw(st.sampled_from(['Z', 'w', 'z '])))


@malformation('cloud_point_step_zero', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.cloud.point_step = 0


@malformation('cloud_row_step_too_small', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.cloud.row_step = draw(st.integers(0, frame.cloud.row_step - 1))


@malformation('cloud_data_shorter_than_declared', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.cloud.data = frame.cloud.data[:draw(st.integers(0, len(frame.cloud.data) - 1))]


@malformation('cloud_absurd_size', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.cloud.width, frame.cloud.height = draw(st.sampled_from(
        [(2**31, 1), (2**16, 2**15), (UINT32, UINT32), (1, 2**31)]))
    frame.cloud.row_step = frame.cloud.width * frame.cloud.point_step % 2**32


@malformation('cloud_longer_data', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.cloud.data = bytes(frame.cloud.data) + bytes(draw(st.integers(1, 100)))


@malformation('cloud_wrong_byte_order', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.cloud.is_bigendian = True  # the data stay little-endian: absurd coordinates


@malformation('cloud_integer_coordinates', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    for index in range(3):
        _set_field(frame.cloud, index,
                   datatype=draw(st.sampled_from([PointField.INT8, PointField.UINT16,
                                                  PointField.INT32])))


@malformation('cloud_intensity_vector', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.values['segmentation.ground.reflection_filter'] = True  # which reads intensity
    _set_field(frame.cloud, 3, datatype=PointField.UINT8, count=draw(st.integers(2, 4)))


@malformation('cloud_intensity_nonfinite', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    points = _points(frame)
    frame.cloud = _cloud(points)
    intensity = np.frombuffer(bytes(frame.cloud.data), dtype='<f4').reshape(-1, 4)[:, 3].copy()
    intensity[draw(st.lists(st.integers(0, len(points) - 1), min_size=1))] = draw(
        st.sampled_from([*NONFINITE, 1e30, -5.0]))
    array = np.frombuffer(bytes(frame.cloud.data), dtype='<f4').reshape(-1, 4).copy()
    array[:, 3] = intensity
    frame.cloud.data = array.tobytes()


@malformation('cloud_without_intensity', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.values['segmentation.ground.reflection_filter'] = True  # which needs intensity
    frame.cloud = _cloud(_points(frame), intensity=False)


@malformation('cloud_frame_unknown', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.cloud.header.frame_id = draw(st.sampled_from(['', 'ghost', 'camera']))


@malformation('stamps_extreme', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    stamp = draw(st.sampled_from([Time(sec=0, nanosec=0), Time(sec=-2**31, nanosec=0),
                                  Time(sec=2**31 - 1, nanosec=UINT32),
                                  Time(sec=-1, nanosec=999_999_999)]))
    frame.cloud.header.stamp = stamp
    frame.image.header.stamp = draw(st.sampled_from([stamp, Time(sec=2**31 - 1)]))


@malformation('image_size_differs_from_camera_info', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    width, height = draw(st.tuples(st.integers(0, 80), st.integers(0, 60)).filter(
        lambda size: size != (WIDTH, HEIGHT)))
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    frame.image = array_to_image(pixels, encoding='rgb8', header=frame.image.header)


@malformation('image_encoding_16UC3', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.image.encoding = '16UC3'
    frame.image.step *= 2
    frame.image.data = bytes(frame.image.data) * 2


@malformation('image_encoding_mono16', rejected=False)  # scaled to 8 bits (issue 17)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.image.encoding = 'mono16'


@malformation('image_encoding_raw_camera', rejected=False)  # demosaiced / converted (issue 17)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.image.encoding = draw(st.sampled_from(
        ['bayer_rggb8', 'bayer_bggr8', 'bayer_gbrg16', 'bayer_grbg16', 'yuv422', 'yuv422_yuy2',
         'rgb16', 'bgra16']))


@malformation('image_encoding_garbage', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.image.encoding = draw(st.sampled_from(['garbage', '', 'RGB8', 'yuv420', '8UC5'])
                                | st.text(max_size=10).filter(lambda text: text != 'rgb8'))


@malformation('image_encoding_other_colour_order', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    encoding = draw(st.sampled_from(['bgr8', 'rgba8', 'bgra8', 'mono8', '8UC3']))
    channels = {'mono8': 1, 'rgba8': 4, 'bgra8': 4}.get(encoding, 3)
    frame.image.encoding = encoding
    frame.image.step = WIDTH * channels
    frame.image.data = bytes(WIDTH * HEIGHT * channels)


@malformation('image_step_too_small', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.image.step = draw(st.integers(0, WIDTH * 3 - 1))


@malformation('image_step_padded', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.image.step = WIDTH * 3 + draw(st.integers(1, 64))
    frame.image.data = bytes(frame.image.step * HEIGHT)


@malformation('image_data_shorter_than_declared', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.image.data = frame.image.data[:draw(st.integers(0, len(frame.image.data) - 1))]


@malformation('image_absurd_size', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    width, height = draw(st.sampled_from([(2**16, 2**15), (2**31, 1), (UINT32, UINT32)]))
    frame.image.width, frame.image.height = width, height
    frame.image.step = width * 3 % 2**32
    frame.info = _info(width, height)


@malformation('image_empty', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.image = array_to_image(np.zeros((0, 0, 3), np.uint8), encoding='rgb8',
                                 header=frame.image.header)
    frame.info.width = frame.info.height = 0


@malformation('image_frame_unknown', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.image.header.frame_id = draw(st.sampled_from(['', 'ghost', 'lidar']))
    frame.info.header.frame_id = draw(st.sampled_from(['', 'ghost', 'camera']))


@malformation('info_k_all_zeros', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.info.k = [0.0] * 9
    if draw(st.booleans()):
        frame.info.p = [0.0] * 12


@malformation('info_k_singular', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    k = list(frame.info.k)
    k[draw(st.sampled_from([0, 4]))] = draw(st.sampled_from([0.0, -100.0, -0.0]))
    frame.info.k = k


@malformation('info_p_singular', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    p = list(frame.info.p)
    p[draw(st.sampled_from([0, 5, 10]))] = 0.0
    frame.info.p = p


@malformation('info_unknown_distortion_model', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.info.distortion_model = draw(st.sampled_from(['fisheye9', 'fisheye', 'Plumb_Bob',
                                                        'none', '']))


@malformation('info_too_many_coefficients', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.info.d = [0.01] * draw(st.integers(6, 20))


@malformation('info_nonfinite_k', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    k = list(frame.info.k)
    k[draw(st.integers(0, 8))] = draw(st.sampled_from(NONFINITE))
    frame.info.k = k


@malformation('info_nonfinite_d', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    d = list(frame.info.d)
    d[draw(st.integers(0, 4))] = draw(st.sampled_from(NONFINITE))
    frame.info.d = d


@malformation('info_nonfinite_p_or_r', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    name = draw(st.sampled_from(['p', 'r']))
    values = list(getattr(frame.info, name))
    values[draw(st.integers(0, len(values) - 1))] = draw(st.sampled_from(NONFINITE))
    setattr(frame.info, name, values)


@malformation('info_r_not_a_rotation', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.info.r = draw(st.sampled_from([[2.0, 0, 0, 0, 1, 0, 0, 0, 1],
                                         [1.0, 0, 0, 0, 1, 0, 0, 0, -1],
                                         [1e300, 0, 0, 0, 1e300, 0, 0, 0, 1e300]]))


@malformation('info_roi_outside_image', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.info.roi = RegionOfInterest(x_offset=draw(st.integers(1, UINT32)), y_offset=0,
                                      width=WIDTH, height=HEIGHT)


@malformation('info_absurd_binning', rejected=True)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.info.binning_x = draw(st.sampled_from([WIDTH + 1, 2**31, UINT32]))


@malformation('info_binned_and_cropped', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    """Make the images a binned ROI of the calibration (valid: the sizes agree)."""
    frame.info = _info(WIDTH * 4, HEIGHT * 2, binning_x=2, binning_y=2,
                       roi=RegionOfInterest(x_offset=draw(st.integers(0, 2 * WIDTH)),
                                            y_offset=draw(st.integers(0, 2 * HEIGHT)),
                                            width=2 * WIDTH, height=2 * HEIGHT))


@malformation('info_strong_distortion', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.info.d = draw(st.sampled_from([[-5.0, 20.0, 0.0, 0.0, 3.0], [3.0, 0.0, 0.5, 0.5, 0.0],
                                         [-0.9, 0.0, 0.0, 0.0, 0.0]]))


@malformation('info_no_distortion_model_name', rejected=False)
def _(frame: Frame, draw: st.DrawFn) -> None:
    frame.info.distortion_model = draw(st.sampled_from(['', 'none']))
    frame.info.d = []


MALFORMATIONS = [
    'cloud_empty', 'cloud_zero_height', 'cloud_all_nan', 'cloud_nonfinite_rows',
    'cloud_huge_values', 'cloud_all_equal_points', 'cloud_single_point',
    'cloud_duplicate_field_names', 'cloud_empty_field_name', 'cloud_field_overruns_point_step',
    'cloud_field_count_overruns', 'cloud_vector_xyz', 'cloud_unknown_datatype',
    'cloud_missing_z', 'cloud_point_step_zero', 'cloud_row_step_too_small',
    'cloud_data_shorter_than_declared', 'cloud_absurd_size', 'cloud_longer_data',
    'cloud_wrong_byte_order', 'cloud_integer_coordinates', 'cloud_intensity_vector',
    'cloud_intensity_nonfinite', 'cloud_without_intensity', 'cloud_frame_unknown',
    'stamps_extreme',
    'image_size_differs_from_camera_info', 'image_encoding_16UC3', 'image_encoding_mono16',
    'image_encoding_raw_camera',
    'image_encoding_garbage', 'image_encoding_other_colour_order', 'image_step_too_small',
    'image_step_padded', 'image_data_shorter_than_declared', 'image_absurd_size',
    'image_empty', 'image_frame_unknown',
    'info_k_all_zeros', 'info_k_singular', 'info_p_singular', 'info_unknown_distortion_model',
    'info_too_many_coefficients', 'info_nonfinite_k', 'info_nonfinite_d',
    'info_nonfinite_p_or_r', 'info_r_not_a_rotation', 'info_roi_outside_image',
    'info_absurd_binning', 'info_binned_and_cropped', 'info_strong_distortion',
    'info_no_distortion_model_name',
]
_exercised: Counter[str] = Counter()
_CONFIGS: dict[tuple[tuple[str, Any], ...], PerceptionConfig] = {}


def _config(values: dict[str, Any]) -> PerceptionConfig:
    key = tuple(sorted(values.items()))
    if key not in _CONFIGS:
        _CONFIGS[key] = to_config(values)
    return _CONFIGS[key]


def _extrinsics() -> StaticTransforms:
    """``/tf_static`` as a robot publishes it: base_link -> lidar, lidar -> camera."""
    tree = TransformTree()
    tree.add('base_link', 'lidar', RigidTransform(np.eye(3), (0.0, 0.0, 1.73)))
    tree.add('lidar', 'camera', LIDAR_TO_CAMERA.inverse())
    return StaticTransforms(tree)


@st.composite
def malformed_frames(draw: st.DrawFn, kind: str) -> Frame:
    frame = draw(valid_frames())
    _MALFORM[kind](frame, draw)
    return frame


def _refuse(reason: DropReason, text: str) -> None:
    """Raise what ``decode_frame`` reports as a camera part dropped (the node counts it)."""
    raise DroppedFrameError(reason, text)


def _decode(messages: tuple[Any, ...], config: PerceptionConfig) -> FrameInputs | None:
    warnings: list[str] = []
    inputs = decode_frame(messages[0], [messages[1:] or None], config, _extrinsics(),
                          warn=warnings.append, dropped=_refuse)
    if inputs is None:
        assert warnings  # dropped for want of a transform, and said so
        event('no transform')
    return inputs


def _process(config: PerceptionConfig, inputs: FrameInputs) -> None:
    """Run decoded inputs through the pipeline as process_frame does (without models)."""
    scene = ScenePipeline(config)
    for step in (0, 100_000_000):  # twice: the second frame has confirmed tracks
        result = scene.process(inputs.points, inputs.stamp_ns + step,
                               lidar_to_target=inputs.lidar_to_target, camera=inputs.camera,
                               intensity=inputs.intensity, render_overlay=True)
        _check_frame(result, inputs.points, inputs.camera)


def _decode_and_process(kind: str, frame: Frame) -> None:
    """Decode the frame and process it, or see it refused; then the scan alone likewise.

    The node decodes the scan alone when a frame's camera part is refused.
    """
    _exercised[kind] += 1
    config = _config(frame.values)
    try:
        inputs = _decode((frame.cloud, frame.image, frame.info), config)
    except InvalidInputError as exc:
        assert str(exc)  # says what is wrong
        event('refused')
    else:
        assert kind not in MUST_REJECT, f'{kind} was not refused'
        if inputs is not None:
            assert inputs.camera is not None
            _process(config, inputs)
    try:
        inputs = _decode((frame.cloud,), config)
    except InvalidInputError:
        return
    if inputs is not None:
        assert inputs.camera is None
        _process(config, inputs)


@pytest.mark.parametrize('kind', MALFORMATIONS)
@settings(max_examples=BUDGET // 5)
@given(data=st.data())
def test_decode_frame_decodes_or_refuses_a_malformed_frame(kind: str, data: st.DataObject
                                                           ) -> None:
    _decode_and_process(kind, data.draw(malformed_frames(kind)))


@settings(max_examples=BUDGET // 5)
@given(frame=valid_frames())
def test_decode_frame_decodes_a_valid_frame(frame: Frame) -> None:
    config = _config(frame.values)
    inputs = decode_frame(frame.cloud, [(frame.image, frame.info)], config, _extrinsics(),
                          warn=pytest.fail, dropped=_refuse)
    assert inputs is not None and inputs.camera is not None
    _decode_and_process('valid', frame)


def test_every_malformation_is_exercised() -> None:
    """Each name in MALFORMATIONS has its own malformation, and it went through decode_frame."""
    assert len(set(MALFORMATIONS)) == len(MALFORMATIONS)
    assert sorted(MALFORMATIONS) == sorted(_MALFORM)
    assert MUST_REJECT <= set(MALFORMATIONS)
    for kind in MALFORMATIONS:
        if not _exercised[kind]:  # run without the tests above: exercise it here
            _exercise(kind)
        assert _exercised[kind], kind


def _exercise(kind: str) -> None:
    @ONE
    @given(frame=malformed_frames(kind))
    def exercise(frame: Frame) -> None:
        _decode_and_process(kind, frame)
    exercise()
