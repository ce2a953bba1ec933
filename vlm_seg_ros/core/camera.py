"""Pinhole camera with lens distortion, built from CameraInfo's K, D, R, P (REP 104).

Frames and pixels follow ROS: points are in the camera's optical frame (x right, y down,
z forward, metres); pixel (u, v) has u to the right, v down, and integer coordinates at pixel
centres, so the pixel holding (u, v) is ``(round(u), round(v))``.

Two images can be projected into, as ``sensor_msgs/CameraInfo`` defines them:
- the raw image (what the driver publishes as ``image_raw``): distort with D, then apply K;
- the rectified image (``image_rect``): rotate by R, then apply P.

Distortion follows OpenCV's models, which ``image_geometry.PinholeCameraModel`` uses
(``cv2.projectPoints`` for ``plumb_bob`` and ``rational_polynomial``,
``cv2.fisheye.projectPoints`` for ``equidistant``). Binning and ROI are applied to K and P
the way image_geometry does: shift the principal point by the ROI offset (full-resolution
pixels), then scale by 1 / binning (image_geometry's convention; taken literally, pixel centres
would add a shift of ``(binning - 1) / 2``). A non-zero skew ``K[0, 1]`` is applied, where
``cv2.projectPoints`` ignores it; ROS calibrations have none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.transforms import RigidTransform, affine, as_points, is_rotation
from vlm_seg_ros.errors import InvalidInputError

PLUMB_BOB = 'plumb_bob'
RATIONAL_POLYNOMIAL = 'rational_polynomial'
EQUIDISTANT = 'equidistant'
# Distortion model name -> number of D coefficients it uses (shorter D is zero-padded).
DISTORTION_MODELS: dict[str, int] = {PLUMB_BOB: 5, RATIONAL_POLYNOMIAL: 8, EQUIDISTANT: 4}
# Names drivers publish for an undistorted camera; accepted only with an all-zero D.
_NO_DISTORTION_NAMES = ('', 'none')
# The largest image this package accepts, from a camera or its calibration: every image-sized
# buffer (depth buffer, labels, overlay, model inputs) is allocated from these numbers, and
# OpenCV takes sizes as C ints. 65536 pixels a side and 2**28 pixels (16384 x 16384) are beyond
# any camera made (the largest are ~100 MP) and keep one float32 buffer under 1 GiB.
MAX_IMAGE_SIDE = 1 << 16
MAX_IMAGE_PIXELS = 1 << 28


def check_image_size(width: int, height: int, what: str = 'image') -> None:
    """Refuse a ``width x height`` that no camera has, before anything is allocated from it.

    Raises:
        InvalidInputError: if a side is over ``MAX_IMAGE_SIDE`` or the area over
            ``MAX_IMAGE_PIXELS``; the message gives the size and the limit.

    """
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
        msg = (f'{what} size {width}x{height} is absurd: a side of more than '
               f'{MAX_IMAGE_SIDE} pixels')
        raise InvalidInputError(msg)
    if width * height > MAX_IMAGE_PIXELS:
        msg = (f'{what} size {width}x{height} is absurd: more than {MAX_IMAGE_PIXELS} pixels '
               f'({width * height})')
        raise InvalidInputError(msg)

FloatArray = npt.NDArray[np.float64]


def _floats(values: npt.ArrayLike, name: str) -> FloatArray:
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        msg = f'{name} must be numbers: {error}'
        raise InvalidInputError(msg) from error


def _matrix(values: npt.ArrayLike, shape: tuple[int, int], name: str) -> FloatArray:
    m = _floats(values, name)
    if m.size != shape[0] * shape[1]:
        msg = f'{name} must have {shape[0] * shape[1]} values, got {m.size}'
        raise InvalidInputError(msg)
    m = m.reshape(shape).copy()
    if not np.isfinite(m).all():
        msg = f'{name} has NaN or infinite values: {m.tolist()}'
        raise InvalidInputError(msg)
    return m


def _check_intrinsics(m: FloatArray, name: str) -> None:
    """Refuse an all-zero (uncalibrated) or singular intrinsic block of K or P."""
    if not m.any():
        msg = (f'{name} is all zeros: the camera is not calibrated. Calibrate it (ROS package '
               'camera_calibration, which writes K, D, R and P) and make the driver publish '
               'the result in CameraInfo')
        raise InvalidInputError(msg)
    k = m[:, :3]
    if k[0, 0] <= 0 or k[1, 1] <= 0 or not np.allclose(k[1:, :1], 0) or not np.allclose(
            k[2], (0.0, 0.0, 1.0)):
        msg = (f'{name} is singular or not an intrinsic matrix: expected '
               f'[[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0, got {k.tolist()}')
        raise InvalidInputError(msg)


def _max_undistorted_radius(model: str, d: FloatArray) -> float:
    """Largest normalised radius ``sqrt(x^2 + y^2) / z`` the distortion maps one to one.

    Polynomial lens models fold back beyond some field angle, so a point far outside the
    field of view (a LiDAR sees all around) can land in the middle of the image. Points
    beyond the first maximum of the distorted radius are therefore not projected.
    """
    if not d.any():
        return float('inf')
    if model == EQUIDISTANT:
        theta = np.linspace(0.0, np.pi / 2, 4001)[:-1]
        t2 = theta * theta
        distorted = theta * (1 + t2 * (d[0] + t2 * (d[1] + t2 * (d[2] + t2 * d[3]))))
        radius = np.tan(theta)
    else:
        # Fine near the axis, where real lenses fold, and out to 89.99 degrees, where any
        # non-zero higher-order term eventually turns the polynomial around.
        radius = np.concatenate((np.linspace(0.0, 4.0, 8001), np.geomspace(4.0, 1e4, 4001)[1:]))
        r2 = radius * radius
        k1, k2, p1, p2, k3, k4, k5, k6 = np.pad(d, (0, 8 - d.size))[:8]
        with np.errstate(over='ignore', invalid='ignore', divide='ignore'):
            distorted = radius * (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (
                1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    step = np.diff(distorted)
    folds = np.flatnonzero((step <= 0) | ~np.isfinite(step))
    if folds.size:
        return float(radius[folds[0]])
    # Monotonic over the whole search: still no pinhole image reaches past 89.99 degrees.
    return float('inf') if model == EQUIDISTANT else float(radius[-1])


@dataclass(frozen=True, eq=False)
class CameraModel:
    """A calibrated camera, as described by one ``sensor_msgs/CameraInfo``.

    Constructor arguments are the calibration exactly as CameraInfo carries it (for the full
    resolution, unbinned sensor); the published image's size and matrices are derived.

    Attributes:
        width, height: calibrated full resolution, pixels.
        k: (3, 3) intrinsics of the raw image.
        d: distortion coefficients (zero-padded to the model's length).
        r: (3, 3) rectification rotation; all zeros (some drivers) means identity.
        p: (3, 4) projection of the rectified image (with ``Tx, Ty`` for stereo).
        distortion_model: ``plumb_bob``, ``rational_polynomial`` or ``equidistant``.
        binning_x, binning_y: 0 and 1 both mean no binning.
        roi: ``(x_offset, y_offset, width, height)`` in full-resolution pixels; all zero means
            the full image.
        image_width, image_height: size of the images the camera publishes (ROI, binning).
        image_k, image_p: K and P for those images.
        max_radius: largest normalised radius the distortion maps one to one.

    Raises:
        InvalidInputError: on an all-zero or singular K or P, a non-rotation R, an unknown
            distortion model or too many coefficients, a zero size or one beyond
            ``MAX_IMAGE_SIDE`` / ``MAX_IMAGE_PIXELS``, or an ROI outside it.

    """

    width: int
    height: int
    k: FloatArray
    d: FloatArray
    r: FloatArray
    p: FloatArray
    distortion_model: str = PLUMB_BOB
    binning_x: int = 1
    binning_y: int = 1
    roi: tuple[int, int, int, int] = (0, 0, 0, 0)
    image_width: int = field(init=False)
    image_height: int = field(init=False)
    image_k: FloatArray = field(init=False)
    image_p: FloatArray = field(init=False)
    max_radius: float = field(init=False)

    def __post_init__(self) -> None:
        """Validate the calibration and derive the published image's size and matrices."""
        set_ = object.__setattr__
        if self.width <= 0 or self.height <= 0:
            msg = f'camera size must be positive, got {self.width}x{self.height}'
            raise InvalidInputError(msg)
        check_image_size(self.width, self.height, 'camera calibration')
        k = _matrix(self.k, (3, 3), 'K')
        p = _matrix(self.p, (3, 4), 'P')
        r = _matrix(self.r, (3, 3), 'R')
        _check_intrinsics(k, 'K')
        _check_intrinsics(p, 'P')
        if not r.any():
            r = np.eye(3)
        if not is_rotation(r):
            msg = f'R must be a rotation matrix, got {r.tolist()}'
            raise InvalidInputError(msg)
        d = _floats(self.d, 'D').reshape(-1)
        model = self.distortion_model
        if model in _NO_DISTORTION_NAMES and not d.any():
            model, d = PLUMB_BOB, np.zeros(0)
        if model not in DISTORTION_MODELS:
            msg = (f'unknown distortion model {model!r}; supported: '
                   f'{", ".join(DISTORTION_MODELS)} (or "" with all-zero D)')
            raise InvalidInputError(msg)
        length = DISTORTION_MODELS[model]
        if d.size > length or not np.isfinite(d).all():
            msg = f'{model} takes at most {length} finite coefficients, got D = {d.tolist()}'
            raise InvalidInputError(msg)
        d = np.pad(d, (0, length - d.size))

        bin_x, bin_y = max(int(self.binning_x), 1), max(int(self.binning_y), 1)
        if len(self.roi) != 4:
            msg = f'roi must be (x_offset, y_offset, width, height), got {self.roi}'
            raise InvalidInputError(msg)
        x_off, y_off, roi_w, roi_h = (int(v) for v in self.roi)
        if not any((x_off, y_off, roi_w, roi_h)):
            roi_w, roi_h = self.width, self.height
        if min(x_off, y_off) < 0 or roi_w <= 0 or roi_h <= 0 or \
                x_off + roi_w > self.width or y_off + roi_h > self.height:
            msg = (f'roi (x_offset {x_off}, y_offset {y_off}, width {roi_w}, height {roi_h}) '
                   f'does not fit in the {self.width}x{self.height} calibration')
            raise InvalidInputError(msg)
        if roi_w < bin_x or roi_h < bin_y:
            msg = f'a {roi_w}x{roi_h} image binned by {bin_x}x{bin_y} has no pixels'
            raise InvalidInputError(msg)
        # Pixel map full-resolution -> published image; the same as image_geometry's
        # "shift the principal point, then scale" whenever P's last row is (0, 0, 1, 0).
        to_image = np.array([[1 / bin_x, 0, -x_off / bin_x], [0, 1 / bin_y, -y_off / bin_y],
                             [0, 0, 1]])
        image_k, image_p = to_image @ k, to_image @ p
        for name, value in (('k', k), ('d', d), ('r', r), ('p', p), ('image_k', image_k),
                            ('image_p', image_p)):
            value.flags.writeable = False
            set_(self, name, value)
        set_(self, 'distortion_model', model)
        set_(self, 'binning_x', bin_x)
        set_(self, 'binning_y', bin_y)
        set_(self, 'roi', (x_off, y_off, roi_w, roi_h))
        set_(self, 'image_width', roi_w // bin_x)
        set_(self, 'image_height', roi_h // bin_y)
        set_(self, 'max_radius', _max_undistorted_radius(model, d))

    @property
    def is_distorted(self) -> bool:
        """Whether any distortion coefficient is non-zero."""
        return bool(self.d.any())

    def depth(self, points: npt.ArrayLike, *, rectified: bool,
              transform: RigidTransform | None = None) -> FloatArray:
        """Depth of points along the optical axis of the raw or rectified image, metres.

        The same depth ``project_raw`` / ``project_rectified`` return, at a fraction of the
        cost: enough to drop the points behind the camera before projecting the rest.
        """
        xyz = as_points(points, keep_float32=True)
        row, offset = np.array([0.0, 0.0, 1.0]), 0.0
        if rectified:
            row, offset = self.image_p[2, :3] @ self.r, float(self.image_p[2, 3])
        if transform is not None:
            row, offset = row @ transform.rotation, float(row @ transform.translation) + offset
        depth: FloatArray = xyz @ row + offset
        return depth

    def linear_projection(self, *, rectified: bool, transform: RigidTransform | None = None
                          ) -> tuple[FloatArray, FloatArray] | None:
        """Return ``(matrix, offset)`` with pixels ``h[:2] / h[2]`` of ``h = matrix @ p + offset``.

        The projection into the rectified image, or into the raw image of an undistorted
        camera, is projective: ``h[2]`` is the depth ``project_*`` return, and a pixel
        bound is a linear inequality on ``h``. None for a distorted raw image.
        """
        if rectified:
            matrix, offset = self.image_p[:, :3] @ self.r, self.image_p[:, 3]
        elif not self.is_distorted:
            matrix, offset = self.image_k, np.zeros(3)
        else:
            return None
        if transform is not None:
            matrix, offset = matrix @ transform.rotation, matrix @ transform.translation + offset
        return matrix, offset

    def project_rectified(
            self, points: npt.ArrayLike, *,
            transform: RigidTransform | None = None) -> tuple[FloatArray, FloatArray]:
        """Project points into the rectified image: rotate by R, then apply P.

        Args:
            points: (N, 3) metres, in the camera's optical frame, or in the source frame of
                ``transform``, which maps them into it (folded into P: one pass over them).

        Returns:
            ``(uv, depth)``: (N, 2) float64 pixels and (N,) float64 depth along the rectified
            optical axis (metres; the third row of P). Points with depth <= 0 are behind the
            camera and get NaN pixels.

        """
        xyz = as_points(points).astype(np.float64, copy=False)
        matrix, offset = self.image_p[:, :3] @ self.r, self.image_p[:, 3]
        if transform is not None:
            matrix, offset = matrix @ transform.rotation, matrix @ transform.translation + offset
        homogeneous = affine(xyz, matrix, offset)
        depth = homogeneous[:, 2].copy()
        return _divide(homogeneous, depth), depth

    def project_raw(self, points: npt.ArrayLike, *,
                    transform: RigidTransform | None = None) -> tuple[FloatArray, FloatArray]:
        """Project points into the raw (distorted) image: distort with D, then apply K.

        Args:
            points: (N, 3) metres, in the camera's optical frame, or in the source frame of
                ``transform``, which maps them into it.

        Returns:
            ``(uv, depth)``: (N, 2) float64 pixels and (N,) float64 depth ``z``. Points behind
            the camera, or beyond the radius where the lens model folds back
            (``max_radius``), get NaN pixels.

        """
        xyz = as_points(points).astype(np.float64, copy=False)
        if transform is not None:
            xyz = affine(xyz, transform.rotation, transform.translation)
        depth = xyz[:, 2].copy()
        normalised = _divide(xyz, depth)
        x, y = normalised[:, 0], normalised[:, 1]
        with np.errstate(invalid='ignore'):
            normalised[x * x + y * y >= self.max_radius ** 2] = np.nan
        if self.is_distorted:
            normalised = self._distort(normalised)
        k = self.image_k
        uv = np.empty_like(normalised)
        uv[:, 0] = k[0, 0] * normalised[:, 0] + k[0, 1] * normalised[:, 1] + k[0, 2]
        uv[:, 1] = k[1, 1] * normalised[:, 1] + k[1, 2]
        return uv, depth

    def _distort(self, xy: FloatArray) -> FloatArray:
        """Apply D to normalised coordinates, as ``cv2.projectPoints`` / ``cv2.fisheye``.

        Written out in numpy because OpenCV's Python bindings always compute the Jacobian as
        well, which makes them ~10x slower on a LiDAR scan (tests compare the two).
        """
        x, y = xy[:, 0], xy[:, 1]
        r2 = x * x + y * y
        d = self.d
        if self.distortion_model == EQUIDISTANT:
            r = np.sqrt(r2)
            theta = np.arctan(r)
            t2 = theta * theta
            theta_d = theta * (1 + t2 * (d[0] + t2 * (d[1] + t2 * (d[2] + t2 * d[3]))))
            with np.errstate(divide='ignore', invalid='ignore'):
                scale = np.where(r > 1e-12, theta_d / r, 1.0)
            return np.stack((x * scale, y * scale), axis=1)
        k1, k2, p1, p2, k3, k4, k5, k6 = np.pad(d, (0, 8 - d.size))
        radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        xy2 = 2 * x * y
        out = np.empty_like(xy)
        out[:, 0] = x * radial + p1 * xy2 + p2 * (r2 + 2 * x * x)
        out[:, 1] = y * radial + p1 * (r2 + 2 * y * y) + p2 * xy2
        return out

    def in_image(self, uv: FloatArray) -> npt.NDArray[np.bool_]:
        """Which (N, 2) pixel coordinates fall on a pixel of the published image (NaN: no)."""
        with np.errstate(invalid='ignore'):
            return ((uv[:, 0] >= -0.5) & (uv[:, 0] < self.image_width - 0.5)
                    & (uv[:, 1] >= -0.5) & (uv[:, 1] < self.image_height - 0.5))


def _divide(xyz: FloatArray, depth: FloatArray) -> FloatArray:
    """(N, 2) ``xyz[:, :2] / depth``, NaN where depth <= 0 (behind the camera)."""
    safe = np.where(depth > 0, depth, np.nan)
    out = np.empty((xyz.shape[0], 2))
    # Column by column: numpy broadcasting over a trailing axis of 2 or 3 is ~10x slower.
    out[:, 0] = xyz[:, 0] / safe
    out[:, 1] = xyz[:, 1] / safe
    return out
