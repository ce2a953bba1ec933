"""Tiny random checkpoints (SAM 2, SAM 3, SmolVLM2), built once per session into a temp dir."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest


def import_beside(name: str) -> ModuleType:
    """Import ``name``.py from this folder (pytest runs with --import-mode=importlib)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f'{name}.py'))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def sam2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_beside('tiny_segmenters').tiny_sam2(tmp_path_factory.mktemp('sam2'))


@pytest.fixture(scope='session')
def sam3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_beside('tiny_segmenters').tiny_sam3(tmp_path_factory.mktemp('sam3'))


@pytest.fixture(scope='session')
def vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_beside('tiny_models').tiny_smolvlm(tmp_path_factory.mktemp('smolvlm'))
