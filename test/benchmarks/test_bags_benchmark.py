"""benchmarks/bags.py runs and prints every figure the README quotes."""

from __future__ import annotations

from pathlib import Path
import subprocess

SCRIPT = Path(__file__).resolve().parents[2] / 'benchmarks' / 'bags.py'


def test_benchmark_prints_every_figure(python_exe: str) -> None:
    result = subprocess.run([python_exe, '-P', str(SCRIPT), '--frames', '3'],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    for line in ('process-bag, per frame', 'the 10 Hz recording', 'pipeline alone',
                 'process-bag / pipeline alone', 'MB per frame'):
        assert line in result.stdout, line
    assert 'nan' not in result.stdout
