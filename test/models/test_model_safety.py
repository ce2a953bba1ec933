"""Checkpoints from outside are data, never code: safetensors only, no remote code, no pickles.

Every checkpoint here is a tiny real one (``vlm_dir``, ``sam2_dir``, ``sam3_dir``) with a trap
added: a pickle whose unpickling writes a marker file, or a custom-code module named by an
``auto_map`` whose import writes one. They go through the package's own loading path (the
backends' ``load``, ``SemanticEngine``), and the marker must never appear. ``download-models``
runs against a stand-in for the Hugging Face Hub on localhost (real ``huggingface_hub``, no
internet) that offers pickles and code beside the safetensors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import hashlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import os
from pathlib import Path
import pickle
import shutil
import subprocess
import sys
import threading
from typing import Any

import pytest
import torch

from vlm_seg_ros.core.scene import SceneConfig
from vlm_seg_ros.models import loading
from vlm_seg_ros.models.describers import SmolVlmDescriber
from vlm_seg_ros.models.engine import SemanticEngine
from vlm_seg_ros.models.loading import ModelConfig, UnsafeCheckpointError
from vlm_seg_ros.models.segmenters import Sam2Segmenter, Sam3TextSegmenter


class WritesMarker:
    """Unpickling this runs ``Path(marker).write_text('ran')``: what a malicious pickle does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        """Tell pickle to rebuild this object by calling Path.write_text (runs on load)."""
        return (Path.write_text, (self.marker, 'ran'))


def save_trap(path: Path, marker: Path) -> None:
    """Write a state-dict-like pickle at ``path`` that writes ``marker`` when unpickled."""
    torch.save({'model': {'weight': torch.zeros(2)}, 'payload': WritesMarker(marker)}, path)


def pickled_copy(checkpoint: Path, directory: Path, marker: Path | None = None) -> Path:
    """Copy a checkpoint with its weights as pytorch_model.bin only (a trap with ``marker``)."""
    from safetensors.torch import load_file
    copy = Path(shutil.copytree(checkpoint, directory))
    if marker is None:
        torch.save(load_file(copy / 'model.safetensors'), copy / 'pytorch_model.bin')
    else:
        save_trap(copy / 'pytorch_model.bin', marker)
    (copy / 'model.safetensors').unlink()
    return copy


def engine_status(**models: str) -> dict[str, str]:
    """Load models through SemanticEngine (as the node does) and return its status."""
    engine = SemanticEngine(ModelConfig(**{'segmenter': '', 'describer': '', **models},
                                        device='cpu'),
                            SceneConfig(), log=lambda level, text: None)
    engine.start(wait=True)
    engine.stop()
    return engine.status()


def test_the_trap_pickle_runs_code_when_unpickled(tmp_path: Path) -> None:
    """The bait is live: plain unpickling writes the marker (so its absence below means safe)."""
    marker = tmp_path / 'ran'
    save_trap(tmp_path / 'trap.bin', marker)
    torch.load(tmp_path / 'trap.bin', weights_only=False)  # what an unsafe loader does
    assert marker.read_text() == 'ran'
    marker.unlink()
    with pytest.raises(pickle.UnpicklingError):  # torch's default (2.6+) refuses it
        torch.load(tmp_path / 'trap.bin')
    assert not marker.exists()


def test_a_pickle_only_checkpoint_is_refused_saying_why(sam2_dir: Path, tmp_path: Path) -> None:
    pickled = pickled_copy(sam2_dir, tmp_path / 'sam2-pickle')
    with pytest.raises(UnsafeCheckpointError, match='no safetensors weights') as refused:
        Sam2Segmenter.load(pickled, device='cpu', dtype=torch.float32)
    assert 'pytorch_model.bin' in str(refused.value)
    assert 'unpickling can run code' in str(refused.value)
    # The node's path: the model fails to load (geometry keeps running), the status says why.
    status = engine_status(segmenter=str(pickled))['segmenter']
    assert status.startswith(f'failed {pickled}: UnsafeCheckpointError: ')
    assert 'no safetensors weights' in status and 'pytorch_model.bin' in status


def test_a_code_running_pickle_is_never_unpickled(sam2_dir: Path, vlm_dir: Path,
                                                  tmp_path: Path) -> None:
    marker = tmp_path / 'ran'
    sam2 = pickled_copy(sam2_dir, tmp_path / 'sam2', marker)
    vlm = pickled_copy(vlm_dir, tmp_path / 'vlm', marker)
    for load, path in ((Sam2Segmenter.load, sam2), (SmolVlmDescriber.load, vlm)):
        with pytest.raises(UnsafeCheckpointError, match='safetensors'):
            load(path, device='cpu', dtype=torch.float32)
    status = engine_status(segmenter=str(sam2), describer=str(vlm))
    assert status['segmenter'].startswith('failed') and status['describer'].startswith('failed')
    # Beside real safetensors weights, the pickle is ignored: the model loads from those.
    beside = Path(shutil.copytree(sam2_dir, tmp_path / 'sam2-beside'))
    save_trap(beside / 'pytorch_model.bin', marker)
    Sam2Segmenter.load(beside, device='cpu', dtype=torch.float32)
    assert engine_status(segmenter=str(beside))['segmenter'] == f'loaded {beside} on cpu'
    assert not marker.exists()


def test_a_directory_without_safetensors_never_reaches_from_pretrained(tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    def from_pretrained(path: str, **kwargs: Any) -> torch.nn.Module:
        calls.append(kwargs)
        return torch.nn.Linear(2, 2)

    save_trap(tmp_path / 'pytorch_model.bin', tmp_path / 'ran')
    with pytest.raises(UnsafeCheckpointError, match='pytorch_model.bin'):
        loading.load_pretrained(from_pretrained, tmp_path, device='cpu', dtype=torch.float32)
    assert calls == [] and not (tmp_path / 'ran').exists()


def test_load_pretrained_passes_the_safety_flags(sam2_dir: Path) -> None:
    calls: list[dict[str, Any]] = []

    def from_pretrained(path: str, **kwargs: Any) -> torch.nn.Module:
        calls.append(kwargs)
        return torch.nn.Linear(2, 2)

    loading.load_pretrained(from_pretrained, sam2_dir, device='cpu', dtype=torch.float32)
    assert calls[0]['use_safetensors'] is True
    assert calls[0]['trust_remote_code'] is False


def add_remote_code(checkpoint: Path, directory: Path, marker: Path, *,
                    custom_type: bool) -> Path:
    """Copy a checkpoint whose configs name custom code (a module that writes ``marker``).

    Every config gets an ``auto_map``; with ``custom_type`` the model type is one transformers
    does not know and the tokenizer and image processor classes are left out, so that only the
    custom code could build them.
    """
    copy = Path(shutil.copytree(checkpoint, directory))
    (copy / 'custom_code.py').write_text(
        'from pathlib import Path\n'
        f'Path({str(marker)!r}).write_text("ran")\n'
        'class Custom:\n    pass\n')
    auto_map = {
        'config.json': {'AutoConfig': 'custom_code.Custom', 'AutoModel': 'custom_code.Custom',
                        'AutoModelForImageTextToText': 'custom_code.Custom',
                        'AutoTokenizer': ['custom_code.Custom', 'custom_code.Custom'],
                        'AutoProcessor': 'custom_code.Custom'},
        'tokenizer_config.json': {
            'AutoTokenizer': ['custom_code.Custom', 'custom_code.Custom']},
        'preprocessor_config.json': {'AutoImageProcessor': 'custom_code.Custom',
                                     'AutoProcessor': 'custom_code.Custom'},
        'processor_config.json': {'AutoProcessor': 'custom_code.Custom'},
    }
    for name, entries in auto_map.items():
        file = copy / name
        if not file.exists():
            continue
        config = json.loads(file.read_text())
        config['auto_map'] = entries
        if custom_type:
            if name == 'config.json':
                config['model_type'] = 'custom_model'
            config.pop('tokenizer_class', None)
            config.pop('image_processor_type', None)
        file.write_text(json.dumps(config))
    return copy


@pytest.fixture
def operator_says_yes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Answer 'y' to any question on the terminal (transformers asks before running code)."""
    asked: list[str] = []

    def answer(prompt: str = '') -> str:
        asked.append(prompt)
        return 'y'
    monkeypatch.setattr('builtins.input', answer)
    return asked


LOADERS: dict[str, Callable[[Path], Any]] = {
    'describer': lambda path: SmolVlmDescriber.load(path, device='cpu', dtype=torch.float32),
    'text_segmenter': lambda path: Sam3TextSegmenter.load(path, device='cpu',
                                                          dtype=torch.float32),
    'segmenter': lambda path: Sam2Segmenter.load(path, device='cpu', dtype=torch.float32),
}


@pytest.mark.parametrize('custom_type', [False, True], ids=['auto_map', 'custom-model-type'])
@pytest.mark.parametrize('role', list(LOADERS))
def test_custom_code_named_by_a_checkpoint_never_runs(
        request: pytest.FixtureRequest, tmp_path: Path, operator_says_yes: list[str],
        role: str, custom_type: bool) -> None:
    """The built-in classes load it, or loading fails saying so; nobody is asked to run it.

    Left unset, transformers' ``trust_remote_code`` asks on the terminal whether to run a
    checkpoint's code; the fixture answers yes, as a hurried operator might.
    """
    checkpoint = request.getfixturevalue({'describer': 'vlm_dir', 'text_segmenter': 'sam3_dir',
                                          'segmenter': 'sam2_dir'}[role])
    marker = tmp_path / 'ran'
    path = add_remote_code(checkpoint, tmp_path / 'remote', marker, custom_type=custom_type)
    try:
        backend = LOADERS[role](path)
    except (ValueError, OSError) as exc:  # refused: the message names the custom code
        assert custom_type and 'custom code' in str(exc), exc
    else:
        assert type(backend.model).__module__.startswith('transformers.models.')
        if role == 'describer':
            for part in (backend.processor.tokenizer, backend.processor.image_processor):
                assert type(part).__module__.startswith('transformers.'), type(part)
    assert operator_says_yes == []
    assert not marker.exists()


# A Hub repository offering everything a hostile or careless upload could hold.
HUB_FILES = {
    'config.json': b'{}', 'generation_config.json': b'{}', 'tokenizer.json': b'{}',
    'tokenizer_config.json': b'{}', 'special_tokens_map.json': b'{}', 'vocab.txt': b'a',
    'merges.txt': b'#', 'tokenizer.model': b'sp', 'chat_template.jinja': b'{{ x }}',
    'model.safetensors': b'tensors', 'model-00001-of-00002.safetensors': b'tensors',
    'model.safetensors.index.json': b'{}', 'preprocessor_config.json': b'{}',
    # Never fetched: pickles, code and other frameworks' weights.
    'pytorch_model.bin': b'pickle', 'sam2.1_hiera_tiny.pt': b'pickle', 'model.ckpt': b'pickle',
    'weights.pth': b'pickle', 'optimizer.pkl': b'pickle', 'modeling_custom.py': b'import os',
    'flax_model.msgpack': b'm', 'tf_model.h5': b'h', 'model.onnx': b'o', 'README.md': b'# r',
    'setup.sh': b'rm -rf /',
}
FETCHED = {name for name in HUB_FILES if name.endswith(
    ('.json', '.safetensors', '.txt', '.model', '.jinja'))}


def hub_body(name: str) -> bytes:
    """Return a file's content, unique per name (the cache stores equal contents once)."""
    return f'{name}\n'.encode() + HUB_FILES[name]


@pytest.fixture
def fake_hub() -> Iterator[tuple[str, list[str]]]:
    """Serve HUB_FILES as the Hub's API does for repository some/model; yield (url, fetched)."""
    commit = 'c' * 40
    fetched: list[str] = []

    class Hub(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
            self.do_GET()

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split('?')[0]
            resolve = f'/some/model/resolve/{commit}/'
            if path == '/api/models/some/model/revision/main':
                self._send(json.dumps({'id': 'some/model', 'sha': commit}).encode())
            elif path == f'/api/models/some/model/tree/{commit}':
                self._send(json.dumps([
                    {'type': 'file', 'path': name, 'size': len(hub_body(name)),
                     'oid': hashlib.sha1(hub_body(name)).hexdigest()}
                    for name in HUB_FILES]).encode())
            elif path.startswith(resolve) and path[len(resolve):] in HUB_FILES:
                name = path[len(resolve):]
                if self.command == 'GET':
                    fetched.append(name)
                body = hub_body(name)
                self._send(body, {'X-Repo-Commit': commit,
                                  'ETag': f'"{hashlib.sha256(body).hexdigest()}"'})
            else:
                self._send(b'{}', status=404)

        def _send(self, body: bytes, headers: dict[str, str] | None = None,
                  status: int = 200) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            if self.command != 'HEAD':
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            """Stay quiet."""

    server = ThreadingHTTPServer(('127.0.0.1', 0), Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_port}', fetched
    server.shutdown()
    server.server_close()


def test_download_models_fetches_only_the_allowed_files(
        fake_hub: tuple[str, list[str]], tmp_path: Path) -> None:
    """The real command and huggingface_hub, against a Hub stand-in on localhost."""
    url, fetched = fake_hub
    env = {key: value for key, value in os.environ.items()
           if key not in ('HF_HUB_OFFLINE', 'HF_TOKEN', 'HF_HUB_CACHE', 'HF_HOME')}
    env.update(HF_ENDPOINT=url, HF_HOME=str(tmp_path / 'hf'), NO_PROXY='127.0.0.1',
               no_proxy='127.0.0.1', HF_HUB_DISABLE_TELEMETRY='1')
    done = subprocess.run([sys.executable, '-P', '-m', 'vlm_seg_ros.tools.download_models',
                           '--model', 'some/model'], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(fetched) == sorted(FETCHED)
    snapshot = loading.resolve('some/model', cache_dir=str(tmp_path / 'hf' / 'hub'))
    assert {p.name for p in snapshot.iterdir()} == FETCHED
    assert not any(p.suffix in loading.PICKLE_SUFFIXES + ('.py',)
                   for p in (tmp_path / 'hf').rglob('*'))
