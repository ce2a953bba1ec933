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
    for line in ('whole frame in-process, every output message built: ',
                 'baseline: the same frame through ScenePipeline', 'saturated processing rate',
                 'input 10 Hz (achieved', 'input 30 Hz (achieved', 'p50 / in-process baseline',
                 'last quarter', 'overload: input', 'bound: processing period',
                 'node RSS', 'drops (node /diagnostics, this rate): replaced_by_newer_frame',
                 'node p50 per stage, ms: ', 'node peak RSS (VmHWM'):
        assert line in result.stdout, line
    assert 'nan' not in result.stdout
    assert 'ground ' in result.stdout.split('node p50 per stage, ms: ')[1]


def test_an_organised_128_beam_cloud_goes_through_the_node(python_exe: str) -> None:
    result = subprocess.run([python_exe, str(SCRIPT), '--seconds', '3', '--rates', '20',
                             '--organised', '--data', DATA],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'organised 128 x 1024 ray-cast cloud' in result.stdout
    assert 'input 20 Hz (achieved' in result.stdout and 'nan' not in result.stdout
