"""Tunables as frozen dataclasses whose fields map one to one onto ROS parameters.

Each tunable is a dataclass field made with :func:`tunable`: a default, a description and an
optional range. :func:`to_parameters` flattens a (nested) config into ``{'group.name': value}``
and :func:`from_parameters` builds it back, so a node declares exactly the fields of the core's
configs (same names, defaults, descriptions and ranges) and nothing drifts.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from dataclasses import dataclass
import math
from typing import Any, TypeVar

from vlm_seg_ros.errors import InvalidInputError

Config = TypeVar('Config')
Scalar = bool | int | float | str


@dataclass(frozen=True)
class Tunable:
    """What a ROS parameter descriptor needs to know about one field."""

    description: str
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class ParameterSpec:
    """One flattened tunable: its dotted name, default value and :class:`Tunable`."""

    name: str
    default: Scalar
    tunable: Tunable


def tunable(default: Scalar, description: str, *, minimum: float | None = None,
            maximum: float | None = None) -> Any:
    """Return a dataclass field with a default, a description and an inclusive range."""
    return dataclasses.field(
        default=default, metadata={'tunable': Tunable(description, minimum, maximum)})


def check_ranges(config: object) -> None:
    """Raise InvalidInputError naming the first field outside its range or of the wrong type."""
    for field in dataclasses.fields(config):  # type: ignore[arg-type]
        spec = field.metadata.get('tunable')
        if spec is None:
            continue
        value = getattr(config, field.name)
        default = field.default
        kind = type(default)
        ok_type = (isinstance(value, kind) and not (kind is int and isinstance(value, bool))
                   or (kind is float and isinstance(value, int) and not isinstance(value, bool)))
        if not ok_type:
            msg = (f'{type(config).__name__}.{field.name} must be of type {kind.__name__}, '
                   f'got {value!r}')
            raise InvalidInputError(msg)
        if kind is float and not math.isfinite(value):
            msg = f'{type(config).__name__}.{field.name} must be finite, got {value!r}'
            raise InvalidInputError(msg)
        if ((spec.minimum is not None and value < spec.minimum)
                or (spec.maximum is not None and value > spec.maximum)):
            msg = (f'{type(config).__name__}.{field.name} = {value!r} is outside '
                   f'[{spec.minimum}, {spec.maximum}]')
            raise InvalidInputError(msg)


def parameter_specs(config_type: type[Any], prefix: str = '') -> list[ParameterSpec]:
    """Return every tunable of ``config_type`` (nested configs as ``group.name``), in order."""
    specs: list[ParameterSpec] = []
    defaults = config_type()
    for field in dataclasses.fields(config_type):
        name = f'{prefix}{field.name}'
        value = getattr(defaults, field.name)
        if dataclasses.is_dataclass(value):
            specs += parameter_specs(type(value), f'{name}.')
        elif 'tunable' in field.metadata:
            specs.append(ParameterSpec(name, value, field.metadata['tunable']))
    return specs


def to_parameters(config: object, prefix: str = '') -> dict[str, Scalar]:
    """Flatten a config into ``{'group.name': value}``."""
    values: dict[str, Scalar] = {}
    for field in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            values.update(to_parameters(value, f'{prefix}{field.name}.'))
        else:
            values[f'{prefix}{field.name}'] = value
    return values


def from_parameters(config_type: type[Config], values: Mapping[str, Any],
                    prefix: str = '') -> Config:
    """Build ``config_type`` from flattened values; missing names keep their defaults.

    Raises:
        InvalidInputError: on a name that is not a tunable, or a value outside its range.

    """
    known = {spec.name for spec in parameter_specs(config_type, prefix)}
    unknown = sorted(name for name in values if name.startswith(prefix) and name not in known)
    if unknown:
        msg = f'unknown parameters {unknown}; known: {sorted(known)}'
        raise InvalidInputError(msg)
    return _build(config_type, values, prefix)


def _build(config_type: type[Config], values: Mapping[str, Any], prefix: str) -> Config:
    kwargs: dict[str, Any] = {}
    defaults = config_type()
    for field in dataclasses.fields(config_type):  # type: ignore[arg-type]
        name = f'{prefix}{field.name}'
        default = getattr(defaults, field.name)
        if dataclasses.is_dataclass(default):
            kwargs[field.name] = _build(type(default), values, f'{name}.')
        elif name in values:
            value = values[name]
            # ROS hands integer-valued doubles over as int when set from the command line.
            if isinstance(default, float) and isinstance(value, int) \
                    and not isinstance(value, bool):
                value = float(value)
            kwargs[field.name] = value
    return config_type(**kwargs)
