"""benchmarks/soak.py runs the node, samples its memory and prints every summary line."""

from __future__ import annotations

import os
from pathlib import Path
import subprocess

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'benchmarks' / 'soak.py'
# The same data folder as the fixtures' (synthetic input stands in when it is absent).
DATA = os.environ.get('VLM_SEG_ROS_DATA', str(REPO.parent / 'shared' / 'data'))


def test_short_soak_prints_every_summary_line(python_exe: str) -> None:
    # 24 s: a 6 s warm-up, then three rows of 6 s; RSS sampled every 1.5 s.
    result = subprocess.run([python_exe, str(SCRIPT), '--minutes', '0.4', '--warmup', '0.1',
                             '--data', DATA],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for line in ('(warm-up) 0-0.1', '0.3-0.4', 'RSS growth:', 'goal < 5 %',
                 'RSS slope after the warm-up:', 'latency drift:', 'drops (node /diagnostics, '
                 'whole run): replaced_by_newer_frame'):
        assert line in result.stdout, line
    assert 'nan' not in result.stdout
