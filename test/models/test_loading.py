"""Offline-first model management: local dirs and the HF cache, never the network at run time."""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess
import sys

import pytest
import torch

from vlm_seg_ros.core.scene import SceneConfig
from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.models import loading
from vlm_seg_ros.models.engine import SemanticEngine
from vlm_seg_ros.models.loading import ModelConfig, ModelMissingError, resolve
from vlm_seg_ros.tools.download_models import configured_models


def hub_cache(cache: Path, repo_id: str, checkpoint: Path) -> Path:
    """Lay a checkpoint out as huggingface_hub's cache does (refs/main -> snapshots/<rev>)."""
    repo = cache / f'models--{repo_id.replace("/", "--")}'
    snapshot = repo / 'snapshots' / ('0' * 40)
    shutil.copytree(checkpoint, snapshot)
    (repo / 'refs').mkdir(parents=True)
    (repo / 'refs' / 'main').write_text('0' * 40)
    return snapshot


def test_hub_ids_resolve_from_the_cache_and_load(sam2_dir: Path, tmp_path: Path) -> None:
    snapshot = hub_cache(tmp_path, 'someone/sam2-tiny', sam2_dir)
    assert resolve('someone/sam2-tiny', cache_dir=str(tmp_path)) == snapshot
    engine = SemanticEngine(ModelConfig(segmenter='someone/sam2-tiny', describer=''),
                            SceneConfig(), log=lambda level, text: None,
                            cache_dir=str(tmp_path))
    engine.start(wait=True)
    assert engine.status()['segmenter'] == 'loaded someone/sam2-tiny on cpu'
    assert engine.status()['describer'] == 'disabled'
    engine.stop()
    done = subprocess.run([sys.executable, '-P', '-m', 'vlm_seg_ros.tools.download_models',
                           '--model', 'someone/sam2-tiny'], capture_output=True, text=True,
                          env={'HF_HUB_CACHE': str(tmp_path), 'HF_HUB_OFFLINE': '1',
                               'PATH': '/usr/bin:/bin', **_python_env()}, check=False)
    assert done.returncode == 0 and 'already in the cache' in done.stdout


def _python_env() -> dict[str, str]:
    import os
    return {k: v for k, v in os.environ.items()
            if k.startswith(('PYTHON', 'AMENT', 'LD_LIBRARY', 'ROS', 'RMW', 'VIRTUAL'))}


def test_a_missing_model_says_how_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError, match='download-models'):
        resolve('facebook/sam2.1-hiera-tiny', cache_dir=str(tmp_path))
    with pytest.raises(ModelMissingError, match='does not exist'):
        resolve(str(tmp_path / 'nowhere'))
    done = subprocess.run([sys.executable, '-P', '-m', 'vlm_seg_ros.tools.download_models',
                           '--model', 'facebook/sam3'], capture_output=True, text=True,
                          env={'HF_HUB_CACHE': str(tmp_path), 'HF_HUB_OFFLINE': '1',
                               'PATH': '/usr/bin:/bin', **_python_env()}, check=False)
    assert done.returncode == 1 and 'HF_HUB_OFFLINE' in done.stderr


def test_the_configured_models_follow_the_parameters_file_and_device(tmp_path: Path) -> None:
    assert configured_models(device='cpu') == [loading.SAM2_DEFAULT, loading.VLM_CPU_DEFAULT]
    assert configured_models(device='cuda') == [loading.SAM2_DEFAULT, loading.VLM_GPU_DEFAULT]
    params = tmp_path / 'params.yaml'
    params.write_text('perception:\n  ros__parameters:\n    models:\n      segmenter: ""\n'
                      '      describer: my/vlm\n    prompts:\n      text: chair\n')
    assert configured_models(params, device='cpu') == ['my/vlm', loading.SAM3_DEFAULT]


def test_model_choices_are_checked_and_resolved() -> None:
    with pytest.raises(InvalidInputError, match='dtype'):
        ModelConfig(dtype='float8')
    with pytest.raises(InvalidInputError, match='device'):
        ModelConfig(device='tpu')
    with pytest.raises(InvalidInputError, match='segmenter_backend'):
        ModelConfig(segmenter_backend='onnx')
    assert loading.select_device('auto') == ('cuda' if torch.cuda.is_available() else 'cpu')
    assert loading.select_dtype('auto', 'cpu') == torch.float32
    assert loading.select_dtype('bfloat16', 'cpu') == torch.bfloat16


def test_int8_dynamic_quantization_replaces_linear_layers_on_cpu(vlm_dir: Path) -> None:
    from transformers import SmolVLMForConditionalGeneration
    model = loading.load_pretrained(SmolVLMForConditionalGeneration.from_pretrained, vlm_dir,
                                    device='cpu', dtype=torch.float32, quantize=True)
    kinds = {type(m).__module__ for m in model.modules()}
    assert any('quantized' in kind for kind in kinds)
    assert not any(type(m) is torch.nn.Linear for m in model.modules())
