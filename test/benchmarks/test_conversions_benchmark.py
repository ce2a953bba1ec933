"""benchmarks/conversions.py runs and prints every figure the README quotes."""

from __future__ import annotations

from pathlib import Path
import subprocess

SCRIPT = Path(__file__).resolve().parents[2] / 'benchmarks' / 'conversions.py'


def test_benchmark_prints_every_figure(python_exe: str) -> None:
    result = subprocess.run([python_exe, str(SCRIPT), '--repeat', '2'], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    for line in ('pointcloud2_to_xyz', 'per-point struct loop', 'is_dense computed',
                 'is_dense given', 'image_to_array', 'raw image', 'rectified image',
                 'per-point Python loop'):
        assert line in result.stdout, line
    assert 'nan' not in result.stdout
