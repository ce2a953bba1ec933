"""The layers stay visible: what each package may import, directly or transitively.

Checked in a fresh interpreter, so that nothing another test imported hides a violation.
"""

from __future__ import annotations

import pkgutil
import subprocess

import pytest

import vlm_seg_ros

ROS = ('rclpy', 'rcl_interfaces', 'builtin_interfaces', 'std_msgs', 'sensor_msgs',
       'geometry_msgs', 'visualization_msgs', 'diagnostic_msgs', 'vlm_seg_ros.msg',
       'vlm_seg_ros.srv', 'vlm_seg_ros.ros', 'vlm_seg_ros.tools')
LAYERS = {
    # package: what none of its modules may import, directly or through another module
    'vlm_seg_ros.core': (*ROS, 'torch', 'transformers', 'vlm_seg_ros.models',
                         'vlm_seg_ros.runtime'),
    'vlm_seg_ros.models': (*ROS, 'vlm_seg_ros.runtime'),
    'vlm_seg_ros.runtime': ROS,
}


def modules_of(package: str) -> list[str]:
    path = [f'{vlm_seg_ros.__path__[0]}/{package.split(".", 1)[1]}']
    return [package, *(f'{package}.{m.name}' for m in pkgutil.iter_modules(path))]


@pytest.mark.parametrize('package', sorted(LAYERS))
def test_a_layer_imports_nothing_of_the_layers_above_it(python_exe: str, package: str) -> None:
    modules = modules_of(package)
    assert len(modules) > 1, modules
    script = (
        'import importlib, sys\n'
        f'for name in {modules!r}:\n'
        '    importlib.import_module(name)\n'
        f'bad = sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") '
        f'for f in {LAYERS[package]!r}))\n'
        'print(" ".join(bad))\n')
    result = subprocess.run([python_exe, '-P', '-c', script], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [], f'{package} imports {result.stdout.strip()}'
