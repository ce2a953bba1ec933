"""scripts/setup: the environment it builds, and that a second run does (almost) nothing."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
import re
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parents[2]

if Path(sys.prefix).resolve() != (REPO / '.venv').resolve():
    pytest.skip('these tests check the .venv that scripts/setup builds, and this interpreter '
                'is not it (e.g. a ROS install)', allow_module_level=True)


def pinned_requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / 'requirements.txt').read_text().splitlines():
        match = re.match(r'^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s#]+)', line)
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


def test_every_requirement_is_pinned() -> None:
    lines = [line.strip() for line in (REPO / 'requirements.txt').read_text().splitlines()]
    requirements = [line for line in lines if line and not line.startswith('#')]
    assert len(requirements) == len(pinned_requirements())


@pytest.mark.parametrize('name', sorted(pinned_requirements()))
def test_installed_version_matches_the_pin(name: str) -> None:
    assert version(name) == pinned_requirements()[name]


def test_heavy_dependencies_import() -> None:
    # open3d needs libusb from apt at import time: this proves setup's system step too.
    result = subprocess.run(
        [sys.executable, '-c', 'import open3d, torch, transformers, scipy, rosbags; '
         'print(torch.__version__)'],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_second_setup_run_changes_nothing() -> None:
    result = subprocess.run([str(REPO / 'scripts' / 'setup')], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [line for line in result.stdout.splitlines() if line.startswith('[setup]')]
    assert any('requirements unchanged' in line for line in steps), steps
    assert not [line for line in steps
                if re.search(r'\b(installing|creating|linking|copying)\b', line)], steps
