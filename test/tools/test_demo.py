"""README's run command: the demo runs the node graph on the built-in scene and writes pictures.

Runs ``python -m vlm_seg_ros.tools.demo`` as a user does (a child process, the installed package,
real DDS) with an empty Hugging Face cache, so it runs geometry-only and must say so once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys

import cv2


def test_demo_recovers_the_scene_and_writes_its_files(tmp_path: Path) -> None:
    output = tmp_path / 'out'
    env = {**os.environ, 'HF_HOME': str(tmp_path / 'hf'), 'HF_HUB_OFFLINE': '1'}
    done = subprocess.run(
        [sys.executable, '-P', '-m', 'vlm_seg_ros.tools.demo', '--output', str(output),
         '--frames', '15', '--timeout', '90'],
        env=env, capture_output=True, text=True, timeout=150, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count('not in the local cache') == 1  # said once, by the demo
    assert 'running geometry-only' in done.stdout

    summary = json.loads((output / 'summary.json').read_text())
    assert summary['models'] == {}
    assert summary['graphs_received'] >= 15
    assert all(o['id'] is not None and o['error'] <= 0.6 for o in summary['objects'])
    assert len(summary['objects']) == 10 and summary['extra_objects'] == 0
    # Three cameras: the side ones see the objects beside the robot, and only those.
    seen = {camera: what['seen'] for camera, what in summary['cameras'].items()}
    assert seen['left'] == ['cardboard box'] and seen['right'] == ['person'], seen
    assert len(seen['front']) == 8
    assert 'camera left: saw 1 objects best (cardboard box)' in done.stdout
    assert summary['truth_relations'] == [
        {'subject': 'toolbox', 'predicate': 'on', 'object': 'table', 'found': True}]
    assert 'toolbox' in done.stdout and 'found' in done.stdout

    graph = json.loads((output / 'scene_graph.json').read_text())
    assert len(graph['objects']) == 10
    assert {o['camera'] for o in graph['objects']} == {'front', 'left', 'right'}
    toolbox = next(o['id'] for o in summary['objects'] if o['truth'] == 'toolbox')
    table = next(o['id'] for o in summary['objects'] if o['truth'] == 'table')
    assert {'subject_id': toolbox, 'predicate': 'on', 'object_id': table} in [
        {k: r[k] for k in ('subject_id', 'predicate', 'object_id')} for r in graph['relations']]
    for name in ('overlay.png', 'overlay_left.png', 'overlay_right.png'):
        overlay = cv2.imread(str(output / name))
        assert overlay is not None and overlay.shape == (540, 960, 3), name
    birds_eye = cv2.imread(str(output / 'birds_eye.png'))
    assert birds_eye is not None and birds_eye.shape[0] > 400
    assert (output / 'summary.txt').read_text().startswith('perception_node: ')


def test_demo_with_models_waits_for_their_names_and_masks(tmp_path: Path, sam2_dir: Path,
                                                          vlm_dir: Path) -> None:
    """Tiny random SAM 2 and SmolVLM2 (local directories, the users' loading path)."""
    output = tmp_path / 'out'
    done = subprocess.run(
        [sys.executable, '-P', '-m', 'vlm_seg_ros.tools.demo', '--output', str(output),
         '--frames', '10', '--timeout', '150', '-p', f'models.segmenter:={sam2_dir}',
         '-p', f'models.describer:={vlm_dir}', '-p', 'models.device:=cpu',
         # Random masks mostly disagree with the clusters; with min_keep 0 some still refine.
         '-p', 'masks.min_keep:=0.0'],
        env={**os.environ, 'HF_HUB_OFFLINE': '1'}, capture_output=True, text=True,
        timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'not in the local cache' not in done.stdout
    assert 'demo: waiting for' in done.stdout
    summary = json.loads((output / 'summary.json').read_text())
    assert summary['models'] == {'segmenter': str(sam2_dir), 'describer': str(vlm_dir)}
    assert all(o['id'] is not None for o in summary['objects'])
    assert all(o['label'] for o in summary['objects'])  # random weights: names, not good ones
    assert any(o['source'] == 'lidar+mask' for o in summary['objects'])
    # The objects beside the robot are named from the side cameras' crops.
    assert summary['cameras']['left']['named'] == ['cardboard box']
    assert summary['cameras']['right']['named'] == ['person']


def test_demo_refuses_a_bad_parameter(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, '-P', '-m', 'vlm_seg_ros.tools.demo', '--output', str(tmp_path),
         '-p', 'segmentation.max_range:=-1'], capture_output=True, text=True, timeout=60,
        check=False)
    assert done.returncode == 2
    assert 'max_range' in done.stderr and 'Traceback' not in done.stderr
