"""Linters as tests: ruff (ament's 99 columns, single quotes, pep257 docstrings) and mypy."""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize('command', [
    ['ruff', 'check', '--no-cache', '.'],
    ['mypy', '--no-incremental', 'vlm_seg_ros', 'benchmarks'],
], ids=['ruff', 'mypy'])
def test_linter_passes(command: list[str]) -> None:
    if not shutil.which(command[0]):  # scripts/setup always installs both
        pytest.skip(f'{command[0]} is not installed: pip install {command[0]}')
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
