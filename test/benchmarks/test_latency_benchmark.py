"""benchmarks/latency.py runs the node end to end and prints every figure the README quotes."""

from __future__ import annotations

import os
from pathlib import Path
import subprocess

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'benchmarks' / 'latency.py'
# The same data folder as the fixtures' (synthetic input stands in when it is absent).
DATA = os.environ.get('VLM_SEG_ROS_DATA', str(REPO.parent / 'shared' / 'data'))


def test_benchmark_prints_every_figure(python_exe: str) -> None:
    result = subprocess.run([python_exe, str(SCRIPT), '--seconds', '3', '--rates', '10', '30',
                             '--data', DATA],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for line in ('baseline: the same frame through ScenePipeline', 'saturated processing rate',
                 'input 10 Hz (achieved', 'input 30 Hz (achieved', 'p50 / in-process baseline',
                 'last quarter', 'overload: input', 'bound: processing period',
                 'node RSS', 'drops (node /diagnostics, this rate): replaced_by_newer_frame'):
        assert line in result.stdout, line
    assert 'nan' not in result.stdout
