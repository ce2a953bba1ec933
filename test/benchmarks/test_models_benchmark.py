"""benchmarks/models.py prints every figure the README quotes (true-size random models)."""

from __future__ import annotations

from pathlib import Path
import subprocess

SCRIPT = Path(__file__).resolve().parents[2] / 'benchmarks' / 'models.py'


def test_benchmark_prints_every_figure(python_exe: str) -> None:
    result = subprocess.run([python_exe, '-P', str(SCRIPT), '--repeats', '1', '--prompts', '3'],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for line in ('SAM 2.1-tiny (31.', 'encoder E =', 'of ideal', 'SmolVLM2-256M (256 M',
                 'crop 90x120: 1 tile(s)', 'whole frame / crop', 'with track caching'):
        assert line in result.stdout, (line, result.stdout)
    assert 'nan' not in result.stdout
