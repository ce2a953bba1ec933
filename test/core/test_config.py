"""Configs: keyword-only tunables with ranges, flattened 1:1 into ROS parameter names."""

from __future__ import annotations

import dataclasses

import pytest

from vlm_seg_ros.core.config import from_parameters, parameter_specs, to_parameters
from vlm_seg_ros.core.ground import GroundConfig
from vlm_seg_ros.core.pipeline import GeometryConfig
from vlm_seg_ros.core.relations import RelationConfig
from vlm_seg_ros.core.segmentation import SegmentationConfig
from vlm_seg_ros.core.tracking import TrackerConfig
from vlm_seg_ros.errors import InvalidInputError

CONFIGS = [GroundConfig, SegmentationConfig, TrackerConfig, RelationConfig]


def test_every_tunable_is_named_described_and_in_range() -> None:
    specs = parameter_specs(GeometryConfig)
    names = [spec.name for spec in specs]
    assert len(names) == len(set(names))
    assert {'segmentation.cluster_tolerance', 'segmentation.ground.sensor_height',
            'tracking.max_age', 'relations.near_distance'} <= set(names)
    for spec in specs:
        assert spec.tunable.description.endswith(('.', ')')), spec.name
        if spec.tunable.minimum is not None and not isinstance(spec.default, bool):
            assert spec.tunable.minimum <= spec.default, spec.name
        if spec.tunable.maximum is not None and not isinstance(spec.default, bool):
            assert spec.default <= spec.tunable.maximum, spec.name


@pytest.mark.parametrize('config_type', CONFIGS)
def test_tunables_are_keyword_only(config_type: type) -> None:
    with pytest.raises(TypeError):
        config_type(1.0)
    assert all(field.kw_only for field in dataclasses.fields(config_type))


def test_parameters_round_trip() -> None:
    config = GeometryConfig(
        segmentation=SegmentationConfig(voxel_size=0.1, ground=GroundConfig(sensor_height=0.4)),
        tracking=TrackerConfig(min_hits=3))
    values = to_parameters(config)
    assert values['segmentation.ground.sensor_height'] == 0.4
    assert values['tracking.min_hits'] == 3
    assert from_parameters(GeometryConfig, values) == config


def test_missing_parameters_keep_defaults_and_ints_become_floats() -> None:
    # ROS hands over `max_age:=2` from the command line as an integer.
    config = from_parameters(GeometryConfig, {'tracking.max_age': 2})
    assert config.tracking.max_age == 2.0 and isinstance(config.tracking.max_age, float)
    assert config.segmentation == SegmentationConfig()


@pytest.mark.parametrize(('values', 'message'), [
    ({'segmentation.voxel_size': -0.1}, r'voxel_size = -0.1 is outside \[0.0, 1.0\]'),
    ({'tracking.min_hits': 1.5}, 'min_hits must be of type int'),
    ({'tracking.min_hits': True}, 'min_hits must be of type int'),
    ({'relations.near_distance': float('nan')}, 'must be finite'),
    ({'segmentation.min_z': 1.0, 'segmentation.max_z': 0.0}, 'min_z = 1.0 exceeds max_z'),
    ({'segmentation.min_range': 5.0, 'segmentation.max_range': 5.0}, 'must be below'),
    ({'segmentation.cluster_size': 1.0}, r"unknown parameters \['segmentation.cluster_size'\]"),
])
def test_bad_values_are_refused_with_the_name(values: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        from_parameters(GeometryConfig, values)
