# Type stub of the compiled module built from src/geometry.cpp (see vlm_seg_ros.core.native).
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

def crop(points: npt.NDArray[np.float32], origin: Sequence[float], min_range: float,
         max_range: float, min_z: float, max_z: float) -> tuple[
             npt.NDArray[np.bool_], npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...
def voxel_means(points: npt.NDArray[np.float32], size: Sequence[float]) -> tuple[
    npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...
def voxel_clusters(points: npt.NDArray[np.float32],
                   size: Sequence[float]) -> npt.NDArray[np.int64]: ...
def group(labels: npt.NDArray[np.int64], count: int) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def group_boxes(points: npt.NDArray[np.float32] | npt.NDArray[np.float64],
                order: npt.NDArray[np.int64], starts: npt.NDArray[np.int64],
                boxed: npt.NDArray[np.int64]) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64],
    npt.NDArray[np.float64]]: ...

class SupportRule:
    def __init__(self, *, min_area: float, min_points: int, tolerance: float,
                 vertical_tolerance: float, thickness: float, cell: float, margin: float,
                 share: float, max_footprint: float) -> None: ...

def split_supported(points: npt.NDArray[np.float32], labels: npt.NDArray[np.int64],
                    rule: SupportRule) -> npt.NDArray[np.int64]: ...
