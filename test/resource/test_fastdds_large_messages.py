"""resource/fastdds_large_messages.xml: LiDAR-sized best-effort clouds reach another process."""

from __future__ import annotations

from pathlib import Path
import re

from ament_index_python.packages import get_package_share_directory

PEER = Path(__file__).with_name('large_cloud_peer.py')
PROFILE = (Path(get_package_share_directory('vlm_seg_ros')) / 'resource'
           / 'fastdds_large_messages.xml')


def test_profile_delivers_4mb_best_effort_clouds_between_processes(spawn, python_exe) -> None:
    env = {'FASTDDS_DEFAULT_PROFILES_FILE': str(PROFILE)}
    sub = spawn([python_exe, str(PEER), 'sub', '20', '15'], env=env)
    pub = spawn([python_exe, str(PEER), 'pub', '20', '4'], env=env)
    assert sub.proc.wait(timeout=30) == 0, sub.output()
    assert pub.proc.wait(timeout=30) == 0, pub.output()
    match = re.search(r'received (\d+)', sub.output())
    assert match, sub.output()
    # Without the profile none of these arrives (Fast DDS defaults); allow a little loss.
    assert int(match.group(1)) >= 16, sub.output() + pub.output()
