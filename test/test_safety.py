"""Inputs from outside stay data: no eval of parameters, no unsafe loaders, no stray files.

- The package's and the launch files' source has no ``eval``/``exec``/``compile``, pickle
  loads, ``torch.load`` without ``weights_only=True``, unsafe YAML loads, shells, or
  ``trust_remote_code`` (checked on the syntax tree; the checker is tested on each pattern).
- A parameter (``-p name:=value``, a parameters file, a launch argument) that looks like Python
  stays a string, and a YAML tag that would build Python objects is refused; nothing runs.
- ``process-bag``, ``kitti-to-bag`` and the demo, run as a user runs them with HOME, the caches,
  TMPDIR and the working directory inside a temporary tree, write nothing in that tree but
  their output (and, for the ROS nodes of the demo, ROS's own log files in ~/.ros/log).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest
import yaml

from vlm_seg_ros.datasets.demo_bag import write_demo_bag
from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.runtime import config as parameters
from vlm_seg_ros.tools import bringup
from vlm_seg_ros.tools.process_bag import main as process_bag

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(REPO / 'vlm_seg_ros').rglob('*.py'), *(REPO / 'launch').rglob('*.py')])

# Calls by their full dotted name (after resolving imports); each runs code from data.
FORBIDDEN_CALLS = {
    'eval', 'exec', 'compile', 'builtins.eval', 'builtins.exec', 'builtins.compile',
    'pickle.load', 'pickle.loads', 'pickle.Unpickler', 'cPickle.load', 'cPickle.loads',
    'dill.load', 'dill.loads', 'joblib.load', 'marshal.load', 'marshal.loads', 'shelve.open',
    'yaml.unsafe_load', 'yaml.unsafe_load_all', 'yaml.full_load', 'yaml.full_load_all',
    'os.system', 'os.popen',
}
SAFE_YAML_LOADERS = {'yaml.SafeLoader', 'yaml.CSafeLoader', 'yaml.BaseLoader',
                     'yaml.CBaseLoader'}


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """Return ``a.b.c`` for a name or attribute chain, its root resolved through imports."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return '.'.join(reversed(parts))


def _is_constant(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def unsafe_calls(source: str) -> list[str]:
    """Return 'line: what' for every call in ``source`` that could run code from data."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split('.')[0]] = (
                    alias.name if alias.asname else alias.name.split('.')[0])
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f'{node.module}.{alias.name}'
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func, aliases) or ''
        keywords = {k.arg: k.value for k in node.keywords if k.arg is not None}
        problem = ''
        if name in FORBIDDEN_CALLS:
            problem = name
        elif name == 'torch.load' and not _is_constant(keywords.get('weights_only'), True):
            problem = 'torch.load without weights_only=True'
        elif name in ('numpy.load', 'np.load') and 'allow_pickle' in keywords \
                and not _is_constant(keywords['allow_pickle'], False):
            problem = 'numpy.load with allow_pickle'
        elif name in ('yaml.load', 'yaml.load_all'):
            loader = keywords.get('Loader', node.args[1] if len(node.args) > 1 else None)
            if loader is None or _dotted(loader, aliases) not in SAFE_YAML_LOADERS:
                problem = f'{name} without a safe Loader'
        elif 'shell' in keywords and not _is_constant(keywords['shell'], False):
            problem = f'{name} with shell=True'
        elif 'trust_remote_code' in keywords \
                and not _is_constant(keywords['trust_remote_code'], False):
            problem = 'trust_remote_code other than False'
        elif 'use_safetensors' in keywords \
                and not _is_constant(keywords['use_safetensors'], True):
            problem = 'use_safetensors other than True'
        elif name.startswith('transformers.Auto') and name.endswith('.from_pretrained') \
                and not _is_constant(keywords.get('trust_remote_code'), False):
            problem = f'{name} without trust_remote_code=False (it would ask on the terminal)'
        if problem:
            found.append(f'{node.lineno}: {problem}')
    return found


@pytest.mark.parametrize('source', [
    'eval(text)', 'exec(text)', 'compile(text, "f", "exec")', 'import builtins\nbuiltins.eval(x)',
    'import pickle\npickle.loads(b)', 'import pickle as p\np.load(f)',
    'from pickle import loads\nloads(b)', 'import torch\ntorch.load(f)',
    'import torch\ntorch.load(f, weights_only=False)', 'from torch import load\nload(f)',
    'import numpy as np\nnp.load(f, allow_pickle=True)', 'import yaml\nyaml.load(text)',
    'import yaml\nyaml.load(text, Loader=yaml.Loader)', 'import yaml\nyaml.unsafe_load(text)',
    'import yaml\nyaml.full_load(text)', 'import subprocess\nsubprocess.run(cmd, shell=True)',
    'import subprocess as sp\nsp.Popen(cmd, shell=flag)', 'import os\nos.system(cmd)',
    'm.from_pretrained(p, trust_remote_code=True)', 'm.from_pretrained(p, use_safetensors=False)',
    'from transformers import AutoTokenizer\nAutoTokenizer.from_pretrained(p)',
])
def test_the_checker_finds_each_unsafe_call(source: str) -> None:
    assert unsafe_calls(source), source


@pytest.mark.parametrize('source', [
    'model.eval()', 'import re\nre.compile(r"x")', 'import yaml\nyaml.safe_load(text)',
    'import yaml\nyaml.load(text, Loader=yaml.SafeLoader)', 'import torch\ntorch.load(f, '
    'weights_only=True)', 'import numpy as np\nnp.load(f)', 'import subprocess\n'
    'subprocess.run(["ls"], check=True)', 'm.from_pretrained(p, use_safetensors=True, '
    'trust_remote_code=False)', 'from transformers import AutoTokenizer\n'
    'AutoTokenizer.from_pretrained(p, trust_remote_code=False)', 'ast.literal_eval(text)',
])
def test_the_checker_lets_safe_calls_pass(source: str) -> None:
    assert unsafe_calls(source) == []


def test_no_source_file_runs_code_from_data() -> None:
    assert len(SOURCES) > 20 and REPO / 'launch' / 'perception.launch.py' in SOURCES
    problems = [f'{path.relative_to(REPO)}:{problem}' for path in SOURCES
                for problem in unsafe_calls(path.read_text())]
    assert problems == []


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    """Yield a file that code smuggled into a value would create; it must never exist."""
    path = tmp_path / 'ran'
    yield path
    assert not path.exists(), 'a parameter value ran as code'


def test_a_parameter_override_that_looks_like_python_stays_a_string(marker: Path,
                                                                    tmp_path: Path) -> None:
    payload = f"__import__('os').system('touch {marker}')"
    values = parameters.read_values(None, [f'target_frame:={payload}',
                                           f'models.describer:={payload}'])
    assert values == {'target_frame': payload, 'models.describer': payload}
    config = parameters.to_config(values)
    assert config.target_frame == payload and config.models.describer == payload
    # The same from a parameters file.
    params = tmp_path / 'params.yaml'
    params.write_text(yaml.safe_dump({'/**': {'ros__parameters': {'target_frame': payload}}}))
    assert parameters.read_values(params, []) == {'target_frame': payload}


def test_a_yaml_tag_that_builds_python_objects_is_refused(marker: Path, tmp_path: Path) -> None:
    tag = f'!!python/object/apply:os.system ["touch {marker}"]'
    with pytest.raises(InvalidInputError, match='not valid YAML'):
        parameters.read_values(None, [f'target_frame:={tag}'])
    params = tmp_path / 'params.yaml'
    params.write_text(f'/**:\n  ros__parameters:\n    target_frame: {tag}\n')
    with pytest.raises(InvalidInputError, match='cannot read the parameters file'):
        parameters.read_values(params, [])


def test_a_launch_argument_that_looks_like_python_stays_a_string(marker: Path) -> None:
    """perception.launch.py and `python -m vlm_seg_ros.tools.bringup` share bringup.nodes."""
    payload = f"__import__('os').system('touch {marker}')"
    [node] = bringup.nodes(bringup.parse([f'target_frame:={payload}', f'points:={payload}']))
    assert node.parameters['target_frame'] == payload
    assert ('points', payload) in node.remappings
    command = node.command()
    # Passed to the node as a quoted YAML string: rcl reads it back as that string.
    assert f'target_frame:={json.dumps(payload)}' in command
    assert yaml.safe_load(json.dumps(payload)) == payload
    with pytest.raises(InvalidInputError, match='use_sim_time'):
        bringup.nodes({'use_sim_time': payload})
    with pytest.raises(InvalidInputError, match='log_level'):
        bringup.nodes({'log_level': payload})


def sandbox_env(root: Path) -> dict[str, str]:
    """Return the environment of a user whose home, caches and temp files are under ``root``.

    ROS_LOG_DIR and ROS_HOME are unset, so ROS logs go where they do by default (~/.ros/log).
    """
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(('ROS_LOG_DIR', 'ROS_HOME', 'XDG_', 'HF_', 'TORCH', 'MPL'))}
    for name, path in (('HOME', 'home'), ('XDG_CACHE_HOME', 'home/.cache'),
                       ('XDG_CONFIG_HOME', 'home/.config'), ('XDG_DATA_HOME', 'home/.local'),
                       ('XDG_STATE_HOME', 'home/.state'), ('HF_HOME', 'home/.cache/hf'),
                       ('TMPDIR', 'tmp')):
        (root / path).mkdir(parents=True, exist_ok=True)
        env[name] = str(root / path)
    return env


def files(root: Path) -> dict[Path, tuple[int, int]]:
    """Return every file under ``root`` with its size and modification time."""
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob('*')
            if p.is_file() or p.is_symlink()}


def written(root: Path, before: dict[Path, tuple[int, int]]) -> list[Path]:
    """Return the files under ``root`` created or changed since ``before``."""
    return sorted(p for p, stat in files(root).items() if before.get(p) != stat)


def run_sandboxed(root: Path, args: list[str], timeout: float) -> list[Path]:
    """Run ``python -P -m args`` in ``root/work`` with sandbox_env; return the files written."""
    env = sandbox_env(root)
    (root / 'work').mkdir(exist_ok=True)
    before = files(root)
    done = subprocess.run([sys.executable, '-P', '-m', *args], cwd=root / 'work', env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return written(root, before)


def test_process_bag_writes_only_its_output_bag(tmp_path: Path, sam2_dir: Path,
                                                vlm_dir: Path) -> None:
    """With models (tiny SAM 2 and SmolVLM2 in the tree: loading them writes nothing either)."""
    write_demo_bag(tmp_path / 'recording', 3)
    sam2 = shutil.copytree(sam2_dir, tmp_path / 'models' / 'sam2')
    vlm = shutil.copytree(vlm_dir, tmp_path / 'models' / 'vlm')
    new = run_sandboxed(tmp_path, [
        'vlm_seg_ros.tools.process_bag', str(tmp_path / 'recording'), 'annotated', '--quiet',
        '-p', f'models.segmenter:={sam2}', '-p', f'models.describer:={vlm}',
        '-p', 'models.device:=cpu'], timeout=180)
    output = tmp_path / 'work' / 'annotated'
    assert new and all(output in p.parents for p in new), new
    assert {p.name for p in new} == {'metadata.yaml', 'annotated.mcap'}


def test_process_bag_never_overwrites_its_input(tmp_path: Path, capsys) -> None:
    recording = tmp_path / 'recording'
    write_demo_bag(recording, 2)
    before = files(tmp_path)
    for output in (recording, tmp_path):
        assert process_bag([str(recording), str(output), '--overwrite', '--quiet',
                            '--no-models']) == 2
        assert 'is the input bag' in capsys.readouterr().err
    assert files(tmp_path) == before


def test_kitti_to_bag_writes_only_its_output_bag(tmp_path: Path, kitti_dir: Path) -> None:
    kitti = shutil.copytree(kitti_dir, tmp_path / 'kitti')
    new = run_sandboxed(tmp_path, ['vlm_seg_ros.tools.kitti_to_bag', str(kitti), 'kitti_bag',
                                   '--frames', '000000'], timeout=120)
    output = tmp_path / 'work' / 'kitti_bag'
    assert {p.relative_to(output).as_posix() for p in new} == {'metadata.yaml',
                                                              'kitti_bag.mcap'}


def test_the_demo_writes_only_its_output_folder_and_ros_logs(tmp_path: Path) -> None:
    """Geometry only. Its two ROS processes (the demo, perception_node) log to ~/.ros/log."""
    new = run_sandboxed(tmp_path, ['vlm_seg_ros.tools.demo', '--output', 'out', '--frames', '5',
                                   '--timeout', '60'], timeout=120)
    output, logs = tmp_path / 'work' / 'out', tmp_path / 'home' / '.ros' / 'log'
    assert {p.name for p in new if output in p.parents} == {
        'demo_parameters.yaml', 'scene_graph.json', 'overlay.png', 'overlay_left.png',
        'overlay_right.png', 'birds_eye.png', 'summary.json', 'summary.txt'}
    ros_logs = [p for p in new if p.parent == logs and p.suffix == '.log']
    assert 1 <= len(ros_logs) <= 2
    assert [p for p in new if output not in p.parents and p not in ros_logs] == []
