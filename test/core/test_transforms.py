"""vlm_seg_ros.core.transforms: rigid transforms from quaternions, composed, inverted, applied."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.errors import InvalidInputError

# 90 degrees about z: x -> y, y -> -x.
QUARTER_TURN_Z = (0.0, 0.0, np.sqrt(0.5), np.sqrt(0.5))


def test_quaternion_is_in_ros_order_xyzw() -> None:
    t = RigidTransform.from_quaternion((1.0, 2.0, 3.0), QUARTER_TURN_Z)
    np.testing.assert_allclose(t.apply([1.0, 0.0, 0.0]), [1.0, 3.0, 3.0], atol=1e-12)
    np.testing.assert_allclose(t.apply([0.0, 1.0, 0.0]), [0.0, 2.0, 3.0], atol=1e-12)


def test_quaternion_round_trips_with_non_negative_w() -> None:
    q = Rotation.from_euler('xyz', [0.3, -1.2, 2.5]).as_quat()
    q = -q if q[3] > 0 else q  # the same rotation, written with w < 0
    t = RigidTransform.from_quaternion((0, 0, 0), q)
    np.testing.assert_allclose(t.quaternion, -q, atol=1e-12)


def test_composition_applies_right_then_left_and_inverse_undoes() -> None:
    rng = np.random.default_rng(1)
    a = RigidTransform(Rotation.random(random_state=2).as_matrix(), rng.normal(size=3))
    b = RigidTransform(Rotation.random(random_state=3).as_matrix(), rng.normal(size=3))
    points = rng.normal(size=(50, 3))
    np.testing.assert_allclose((a @ b).apply(points), a.apply(b.apply(points)), atol=1e-12)
    np.testing.assert_allclose(a.inverse().apply(a.apply(points)), points, atol=1e-12)
    np.testing.assert_allclose((a @ a.inverse()).as_matrix(), np.eye(4), atol=1e-12)


def test_apply_matches_the_homogeneous_matrix_and_keeps_float32() -> None:
    rng = np.random.default_rng(4)
    t = RigidTransform(Rotation.random(random_state=5).as_matrix(), rng.normal(size=3))
    points = rng.normal(scale=50, size=(1000, 3)).astype(np.float32)
    moved = t.apply(points)
    assert moved.dtype == np.float32 and moved.shape == (1000, 3)
    expected = (t.as_matrix() @ np.c_[points, np.ones(1000)].T).T[:, :3]
    np.testing.assert_allclose(moved, expected, atol=1e-4)
    assert t.apply(points.astype(np.int32)).dtype == np.float64


def test_from_matrix_accepts_3x4_and_4x4() -> None:
    m = np.eye(4)
    m[:3, 3] = (1, 2, 3)
    np.testing.assert_array_equal(RigidTransform.from_matrix(m[:3]).as_matrix(), m)
    np.testing.assert_array_equal(RigidTransform.from_matrix(m).translation, (1, 2, 3))


def test_slightly_denormalised_quaternion_is_normalised_like_tf2() -> None:
    t = RigidTransform.from_quaternion((0, 0, 0), (0, 0, 0, 1.004))
    np.testing.assert_allclose(t.rotation, np.eye(3), atol=1e-12)


@pytest.mark.parametrize('quaternion', [(0, 0, 0, 0), (0, 0, 0, 1.1), (np.nan, 0, 0, 1),
                                        (0, 0, 1)])
def test_bad_quaternions_are_refused_with_the_reason(quaternion: tuple[float, ...]) -> None:
    with pytest.raises(InvalidInputError, match='quaternion'):
        RigidTransform.from_quaternion((0, 0, 0), quaternion)


@pytest.mark.parametrize('rotation', [np.diag([1.0, 1.0, -1.0]), np.eye(3) * 2, np.zeros((3, 3))])
def test_non_rotations_are_refused(rotation: np.ndarray) -> None:
    with pytest.raises(InvalidInputError, match='rotation'):
        RigidTransform(rotation, np.zeros(3))


@pytest.mark.parametrize('points', [np.zeros((4, 2)), np.zeros((2, 4, 3)), [['1', '2', 'x']]])
def test_wrong_points_are_refused(points: object) -> None:
    with pytest.raises(InvalidInputError, match=r'\(N, 3\)'):
        RigidTransform.identity().apply(points)  # type: ignore[arg-type]


def test_transform_is_immutable() -> None:
    t = RigidTransform.identity()
    with pytest.raises(ValueError, match='read-only'):
        t.rotation[0, 0] = 2.0


def test_repr_reads_like_a_ros_transform() -> None:
    text = repr(RigidTransform.from_quaternion((1, 2, 3), QUARTER_TURN_Z))
    assert 'translation=(1, 2, 3)' in text and 'quaternion_xyzw=(0, 0, 0.7071, 0.7071)' in text


def test_only_the_exact_identity_is_the_identity() -> None:
    assert RigidTransform.identity().is_identity
    assert RigidTransform(np.eye(3), [0.0, 0.0, 0.0]).is_identity
    assert not RigidTransform(np.eye(3), [0.0, 0.0, 1e-12]).is_identity
    assert not RigidTransform(Rotation.from_euler('z', 1e-9).as_matrix(), np.zeros(3)).is_identity
