"""benchmarks/geometry.py runs and prints every figure the README quotes."""

from __future__ import annotations

from pathlib import Path
import subprocess

SCRIPT = Path(__file__).resolve().parents[2] / 'benchmarks' / 'geometry.py'


def test_benchmark_prints_every_figure(python_exe: str) -> None:
    result = subprocess.run([python_exe, str(SCRIPT), '--repeat', '1'], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    for line in ('of the 100 ms scan period', 'open3d DBSCAN', 'memcpy of the scan',
                 'relations', '30k unorganised', '262k unorganised', '131k organised 128x1024',
                 '262k organised 128x2048', 'ground resolution 0.2 m', 'voxel_size 0.1 m',
                 '1000 boxes', 'all pairs tested'):
        assert line in result.stdout, line
    assert 'nan' not in result.stdout
