"""benchmarks/cameras.py runs and prints the decode figures the README quotes."""

from __future__ import annotations

from pathlib import Path
import subprocess

SCRIPT = Path(__file__).resolve().parents[2] / 'benchmarks' / 'cameras.py'


def test_decode_benchmark_prints_every_figure(python_exe: str) -> None:
    result = subprocess.run([python_exe, str(SCRIPT), 'decode', '--repeat', '2'],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    for line in ('rgb8 Image', 'bayer_rggb8 Image', 'yuv422_yuy2 Image', 'JPEG CompressedImage',
                 'x one copy of its buffer'):
        assert line in result.stdout, line
    assert 'nan' not in result.stdout
