"""LiDAR points -> camera pixels, with a nearest-depth buffer that tells which are hidden.

The LiDAR and the camera sit at different places, so the LiDAR sees surfaces that the camera
sees only behind a closer object. Those points project into the closer object's pixels; the
depth buffer marks them occluded, which later keeps background points out of a foreground
object's mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vlm_seg_ros.core.camera import CameraModel
from vlm_seg_ros.core.transforms import RigidTransform, as_points
from vlm_seg_ros.errors import InvalidInputError


@dataclass(frozen=True, eq=False)
class Projection:
    """The points of a cloud that land in an image.

    Attributes:
        indices: (M,) int64, index of each projected point in the input (ascending).
        uv: (M, 2) float32 sub-pixel coordinates (u right, v down; pixel centres at integers).
        pixels: (M, 2) int32 ``(column, row)`` of the pixel each point falls on.
        depth: (M,) float32 metres along the optical axis of the image projected into.
        num_points: N, the number of input points.
        width, height: size of the image, pixels.

    """

    indices: npt.NDArray[np.int64]
    uv: npt.NDArray[np.float32]
    pixels: npt.NDArray[np.int32]
    depth: npt.NDArray[np.float32]
    num_points: int
    width: int
    height: int

    def mask(self) -> npt.NDArray[np.bool_]:
        """Return an (N,) bool array: which input points are in the image."""
        mask = np.zeros(self.num_points, dtype=bool)
        mask[self.indices] = True
        return mask


def project_points(points: npt.ArrayLike, camera: CameraModel, *, rectified: bool,
                   transform: RigidTransform | None = None,
                   min_depth: float = 0.0) -> Projection:
    """Project points into the camera's image and keep those that land on a pixel.

    Args:
        points: (N, 3) metres, in the source frame of ``transform`` (the LiDAR frame), or in
            the camera's optical frame when ``transform`` is None.
        camera: the camera; its ``image_width`` x ``image_height`` is the image.
        rectified: project into the rectified image (R, then P) instead of the raw,
            distorted one (D, then K); see ``CameraModel``.
        transform: maps the points into the camera's optical frame (tf2's
            ``lookup_transform(camera_frame, lidar_frame)``).
        min_depth: points closer than this (metres) are left out.

    Raises:
        InvalidInputError: if ``points`` is not an (N, 3) array of numbers.

    """
    xyz = as_points(points, keep_float32=True)
    front = _candidates(xyz, camera, rectified=rectified, transform=transform,
                        min_depth=max(min_depth, 0.0))
    project = camera.project_rectified if rectified else camera.project_raw
    uv, depth = project(xyz[front], transform=transform)
    keep = np.flatnonzero(camera.in_image(uv))
    uv = uv[keep]
    # floor(x + 0.5) rounds half up, the same on both sides of zero.
    pixels = np.floor(uv + 0.5).astype(np.int32)
    return Projection(indices=front[keep], uv=uv.astype(np.float32), pixels=pixels,
                      depth=depth[keep].astype(np.float32), num_points=xyz.shape[0],
                      width=camera.image_width, height=camera.image_height)


def _candidates(xyz: npt.NDArray[np.floating], camera: CameraModel, *, rectified: bool,
                transform: RigidTransform | None, min_depth: float) -> npt.NDArray[np.intp]:
    """Return the rows of points that may land in the image, cheaply, before projecting them.

    Where the projection is projective (rectified, or an undistorted raw image) the image is
    a pyramid: four half-spaces and the depth, one matrix product over the scan, which keeps
    a camera's share of a 360-degree scan (a sixth for a 60-degree camera). It is one pixel
    wider than the image, so rounding never drops a point that lands on it; the exact test
    follows. Else only the points behind the camera go (half of a 360-degree scan): cheaper
    than carrying them through distortion.
    """
    linear = camera.linear_projection(rectified=rectified, transform=transform)
    if linear is None:
        return np.flatnonzero(camera.depth(xyz, rectified=rectified, transform=transform)
                              > min_depth)
    matrix, offset = linear
    # Homogeneous pixel (u, v, depth) = matrix @ x + offset; each bound of the pyramid is a
    # linear form of x too, so the five become one (5, 3) @ (3, N) product, then five tests
    # along the scan: depth >= min_depth, u >= -1.5 depth, u <= width depth, v likewise.
    width, height = camera.image_width + 0.5, camera.image_height + 0.5
    u, v, depth = np.c_[matrix, offset]
    forms = np.array([depth - [0, 0, 0, min_depth], u + 1.5 * depth, width * depth - u,
                      v + 1.5 * depth, height * depth - v])
    # (5, N): each bound a contiguous row, so the tests run along the scan.
    bounds = forms[:, :3].astype(xyz.dtype) @ xyz.T
    with np.errstate(invalid='ignore'):
        keep = bounds[0] >= -forms[0, 3]
        for bound, constant in zip(bounds[1:], forms[1:, 3], strict=True):
            keep &= bound >= -constant
    return np.flatnonzero(keep)


def nearest_depth_image(projection: Projection, *, radius: int = 2) -> npt.NDArray[np.float32]:
    """Per pixel, the depth of the nearest point projected within ``radius`` pixels.

    A LiDAR samples a surface sparsely, so a closer object covers the pixels between its
    points too; ``radius`` (Chebyshev distance, pixels) is how far each point's depth
    spreads. Choose it near half the gap between neighbouring LiDAR points in the image.

    Returns:
        (height, width) float32, metres; ``inf`` where no point is near.

    """
    if radius < 0:
        msg = f'radius must be >= 0, got {radius}'
        raise InvalidInputError(msg)
    buffer = np.full(projection.height * projection.width, np.inf, dtype=np.float32)
    linear = projection.pixels[:, 1].astype(np.int64) * projection.width + projection.pixels[:, 0]
    np.minimum.at(buffer, linear, projection.depth)
    image = buffer.reshape(projection.height, projection.width)
    if radius:
        # Grey-scale erosion is a minimum filter; OpenCV's is separable and SIMD. Replicated
        # borders: its default constant border is FLT_MAX, which would replace inf there.
        # In place: a new output image costs more in page faults than the erosion itself (a
        # 1600x900 image: 4.0 ms against 1.1 ms).
        kernel = np.ones((2 * radius + 1, 2 * radius + 1), dtype=np.uint8)
        cv2.erode(image, kernel, dst=image, borderType=cv2.BORDER_REPLICATE)
    return image


def visible_points(projection: Projection, *, radius: int = 2, tolerance: float = 0.3,
                   relative_tolerance: float = 0.1,
                   depth_image: npt.NDArray[np.float32] | None = None) -> npt.NDArray[np.bool_]:
    """Which projected points the camera sees, rather than hidden behind a closer surface.

    A point is occluded when it is deeper than the nearest depth around its pixel by more
    than ``tolerance + relative_tolerance * nearest``: the absolute part absorbs range noise,
    the relative part a surface seen at a grazing angle, whose depth grows quickly from one
    pixel to the next (the ground far ahead).

    Args:
        projection: from ``project_points``.
        radius: see ``nearest_depth_image``.
        tolerance: metres.
        relative_tolerance: fraction of the nearest depth.
        depth_image: reuse a buffer from ``nearest_depth_image`` (then ``radius`` is unused).

    Returns:
        (M,) bool, aligned with ``projection.indices``.

    """
    if depth_image is None:
        depth_image = nearest_depth_image(projection, radius=radius)
    nearest = depth_image[projection.pixels[:, 1], projection.pixels[:, 0]]
    visible: npt.NDArray[np.bool_] = projection.depth <= nearest * (
        1 + relative_tolerance) + tolerance
    return visible
