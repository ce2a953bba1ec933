"""benchmarks/cameras.py runs and prints the decode and camera-size figures the README quotes."""

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


def test_sizes_benchmark_prints_a_row_per_camera_size(python_exe: str, kitti_dir) -> None:
    result = subprocess.run([python_exe, str(SCRIPT), 'sizes', '--repeat', '1', '--data',
                             str(kitti_dir.parent)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    for size in ('1242x375', '1920x1080', '3840x2160'):
        assert f'| {size} |' in result.stdout, result.stdout
    assert result.stdout.count('x) |') == 9 and 'nan' not in result.stdout  # 3 ratios a row


def test_ring_benchmark_prints_a_row_per_camera_count(python_exe: str) -> None:
    result = subprocess.run([python_exe, str(SCRIPT), 'ring', '--repeat', '1'],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines()
            if line.startswith('| ') and ' ms |' in line]
    assert [row.split('|')[1].strip() for row in rows] == ['1', '3', '6'], result.stdout
    assert '| 1.00x |' in rows[0] and 'nan' not in result.stdout
