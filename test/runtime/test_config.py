"""The configuration tree (runtime.config): all in config/perception.yaml, checked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from vlm_seg_ros.core.config import parameter_specs
from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.runtime import config as parameters

REPO_CONFIG = Path(__file__).resolve().parents[2] / 'config' / 'perception.yaml'


def flatten(tree: dict, prefix: str = '') -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f'{prefix}{key}.'))
        else:
            flat[f'{prefix}{key}'] = value
    return flat


def test_the_shipped_yaml_sets_every_declared_parameter_and_nothing_else() -> None:
    values = flatten(yaml.safe_load(REPO_CONFIG.read_text())['/**']['ros__parameters'])
    values = {k: v for k, v in values.items() if not k.startswith('qos_overrides.')}
    # All but `cameras`, whose default (none: one unnamed camera) the file can only show in a
    # comment (an empty list in a ROS parameters file has no type).
    assert sorted(values) == sorted(set(parameters.parameter_names()) - {'cameras'})
    assert '# cameras: [front, left, right]' in REPO_CONFIG.read_text()
    config = parameters.to_config(values)
    extrinsic = config.cameras[0].lidar_to_camera
    assert extrinsic is not None
    # The file documents the defaults: one unnamed camera with the global camera settings.
    assert replace(config, cameras=()) == parameters.PerceptionConfig()
    assert [(c.name, c.rectified, c.transport, c.offset) for c in config.cameras] == [
        ('', False, 'raw', 0.0)]
    np.testing.assert_allclose(extrinsic.apply([[10.0, 2.0, 1.0]]), [[-2.0, -1.0, 10.0]])


def test_every_tunable_has_a_description_and_numbers_have_a_range() -> None:
    for spec in parameter_specs(parameters.PerceptionConfig):
        assert len(spec.tunable.description) > 20, spec.name
        if isinstance(spec.default, float):
            assert spec.tunable.minimum is not None, spec.name


@pytest.mark.parametrize(('values', 'message'), [
    ({'lidar_to_camera': [0.0] * 6}, 'lidar_to_camera'),
    ({'lidar_to_camera': [0, 0, 0, 0, 0, 0, 0]}, 'unit quaternion'),
    ({'lidar_to_camera': [float('nan'), 0, 0, 0, 0, 0, 1]}, 'lidar_to_camera'),
    ({'sync.slop': -1.0}, 'slop'),
    ({'segmentation.min_range': 90.0}, 'max_range'),
    ({'no_such.parameter': 1}, 'unknown'),
    ({'camera.transport': 'theora'}, "camera.transport is 'theora'; use one of raw, compressed"),
])
def test_bad_values_are_refused_naming_the_parameter(values: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parameters.to_config(values)


def test_a_nearly_unit_quaternion_is_normalised() -> None:
    transform = parameters.lidar_to_camera([1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0004])
    np.testing.assert_allclose(transform.rotation, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(transform.translation, [1, 2, 3])


def test_read_values_takes_a_parameters_file_then_overrides(tmp_path: Path) -> None:
    """What process-bag and the demo read: the shipped file gives the defaults."""
    values = parameters.read_values(REPO_CONFIG, [])
    config = parameters.to_config(values)
    assert config == parameters.to_config({})
    values = parameters.read_values(REPO_CONFIG, ['segmentation.max_range:=30',
                                                  'target_frame:=', 'camera.enabled:=false'])
    assert values['segmentation.max_range'] == 30 and values['target_frame'] == ''
    assert values['camera.enabled'] is False
    for text, message in (('- a list', 'no "<node>: ros__parameters:" section'),
                          ('a: [unclosed', 'cannot read the parameters file')):
        path = tmp_path / 'bad.yaml'
        path.write_text(text)
        with pytest.raises(InvalidInputError, match=message):
            parameters.read_values(path, [])


def test_several_cameras_each_with_its_own_settings_or_the_global_ones() -> None:
    pose = [0.1, 0.0, 0.0, 0.5, -0.5, 0.5, 0.5]
    config = parameters.to_config({
        'cameras': ['front', 'left', 'right'], 'camera.rectified': True,
        'sync.camera_offset': -0.02, 'camera.left.rectified': False,
        'camera.left.transport': 'compressed', 'camera.right.sync_offset': 0.01,
        'camera.right.lidar_to_camera': pose})
    assert [(c.name, c.rectified, c.transport, c.offset) for c in config.cameras] == [
        ('front', True, 'raw', -0.02), ('left', False, 'compressed', -0.02),
        ('right', True, 'raw', 0.01)]
    # Several cameras are not in one place: the global lidar_to_camera is none of theirs.
    assert [c.lidar_to_camera is None for c in config.cameras] == [True, True, False]
    right = config.cameras[2].lidar_to_camera
    assert right is not None
    np.testing.assert_allclose(right.translation, [0.1, 0, 0])
    assert not replace(config, camera=replace(config.camera, enabled=False)).camera_setups


def test_the_only_camera_named_or_not_takes_the_global_extrinsic() -> None:
    pose = [0.2, 0.0, 0.0, 0.5, -0.5, 0.5, 0.5]
    for names in ([], ['front']):
        config = parameters.to_config({'cameras': names, 'lidar_to_camera': pose})
        first = config.cameras[0].lidar_to_camera
        assert first is not None
        np.testing.assert_allclose(first.translation, [0.2, 0, 0])
    # Declared but not set (None) is not given.
    config = parameters.to_config({'cameras': ['front'], 'lidar_to_camera': pose,
                                   'camera.front.lidar_to_camera': None})
    first = config.cameras[0].lidar_to_camera
    assert first is not None
    np.testing.assert_allclose(first.translation, [0.2, 0, 0])


@pytest.mark.parametrize(('values', 'message'), [
    ({'cameras': ['front', 'front']}, r"\['front'\] given more than once"),
    ({'cameras': ['front-left']}, 'not a valid camera name'),
    ({'cameras': ['2nd']}, 'not a valid camera name'),
    ({'cameras': ['']}, 'not a valid camera name'),
    ({'cameras': ['rectified']}, 'the name of a camera.* parameter'),
    ({'cameras': ['front'], 'camera.rear.rectified': True},
     r"\['camera.rear.rectified'\] are not those of a listed camera"),
    ({'camera.front.transport': 'raw'}, 'not those of a listed camera .cameras: none'),
    ({'cameras': ['left'], 'camera.left.transport': 'mjpeg'},
     r"camera 'left' \(camera.left.\*\).*transport"),
    ({'cameras': ['left'], 'camera.left.lidar_to_camera': [0, 0, 0]},
     r"camera 'left'.*lidar_to_camera"),
])
def test_bad_camera_configurations_are_refused_clearly(values: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parameters.to_config(values)


def test_a_parameters_file_names_cameras_and_their_own_settings(tmp_path: Path) -> None:
    path = tmp_path / 'cameras.yaml'
    path.write_text('/**:\n  ros__parameters:\n    cameras: [front, left]\n'
                    '    camera:\n      rectified: true\n'
                    '      left:\n        transport: compressed\n')
    values = parameters.read_values(path, ['camera.front.sync_offset:=0.1'])
    config = parameters.to_config(values)
    assert [(c.name, c.rectified, c.transport, c.offset) for c in config.cameras] == [
        ('front', True, 'raw', 0.1), ('left', True, 'compressed', 0.0)]
