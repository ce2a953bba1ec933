"""SmolVlmDescriber on a tiny random SmolVLM2 checkpoint, through transformers' loading path."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import importlib.util
from pathlib import Path
import shutil
import sys
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.models.base import Naming
from vlm_seg_ros.models.describers import (
    NAME_PROMPT,
    SmolVlmDescriber,
    first_sentence,
    model_name,
    normalise_label,
)
from vlm_seg_ros.models.loading import resolve


def import_beside(name: str) -> ModuleType:
    """Import ``name``.py from this folder (pytest runs with --import-mode=importlib)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f'{name}.py'))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


tiny_models = import_beside('tiny_models')
RNG = np.random.default_rng(0)


def random_image(height: int, width: int) -> np.ndarray:
    return RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.tiny_smolvlm(tmp_path_factory.mktemp('tiny-smolvlm'))


def load(checkpoint: Path, **kwargs: Any) -> SmolVlmDescriber:
    return SmolVlmDescriber.load(resolve(str(checkpoint)), device='cpu', dtype=torch.float32,
                                 **kwargs)


@contextlib.contextmanager
def forced_token(describer: SmolVlmDescriber, token: str) -> Iterator[None]:
    """Make the model generate ``token`` at every step, with near certainty."""
    token_id = describer.processor.tokenizer.convert_tokens_to_ids(token)

    def boost(module: object, inputs: object, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.clone()
        logits[..., token_id] += 100.0
        return logits

    handle = describer.model.lm_head.register_forward_hook(boost)
    try:
        yield
    finally:
        handle.remove()


def test_loads_a_local_checkpoint_directory(checkpoint: Path) -> None:
    describer = load(checkpoint)
    assert describer.name == checkpoint.name
    assert describer.device == 'cpu'
    assert (describer.calls, describer.prefill_tokens) == (0, 0)
    assert type(describer.processor.image_processor).__name__ == 'SmolVLMImageProcessorPil'


def test_names_one_object_per_crop_of_any_size(checkpoint: Path) -> None:
    crops = [random_image(10, 20), random_image(50, 30), random_image(200, 100),
             random_image(2, 2)]
    namings = load(checkpoint).name_objects(crops)
    assert len(namings) == len(crops)
    for naming in namings:
        assert isinstance(naming, Naming)
        assert naming.label == normalise_label(naming.label)
        assert naming.label == naming.label.lower()
        assert len(naming.label.split()) <= 3
        assert 0.0 <= naming.confidence <= 1.0
        assert (naming.confidence == 0.0) == (naming.label == '')
        assert isinstance(naming.caption, str)
        assert '\n' not in naming.caption


def test_confidence_is_the_answers_token_probability(checkpoint: Path) -> None:
    describer = load(checkpoint)
    crops = [random_image(30, 40), random_image(60, 20)]
    with forced_token(describer, 'x'):
        certain = describer.name_objects(crops)
    assert [n.label for n in certain] == ['xxxxxxxx'] * 2  # 8 new tokens, one word
    assert all(n.confidence > 0.99 for n in certain)
    with forced_token(describer, '<end_of_utterance>'):
        assert describer.name_objects(crops) == [Naming('', 0.0, '')] * 2
    with forced_token(describer, '.'):  # a confident answer with no label in it
        assert [(n.label, n.confidence) for n in describer.name_objects(crops)] == [('', 0.0)] * 2
    # The random model's own answers: probabilities of a vocabulary of ~140 tokens.
    assert all(n.confidence < 0.5 for n in describer.name_objects(crops) if n.label)


def test_names_crops_in_batches_of_max_crops_per_call(checkpoint: Path) -> None:
    crops = [random_image(20 + i, 30) for i in range(10)]
    describer = load(checkpoint, max_crops_per_call=4, captions=False)
    assert len(describer.name_objects(crops)) == 10
    assert describer.calls == 3
    assert all(n.caption == '' for n in describer.name_objects(crops[:2]))
    captioning = load(checkpoint, max_crops_per_call=4)
    assert len(captioning.name_objects(crops)) == 10
    assert captioning.calls == 6  # a label and a caption generation per batch
    assert captioning.name_objects([]) == []
    assert captioning.calls == 6


def test_crops_are_one_tile_and_a_large_frame_is_split(checkpoint: Path) -> None:
    describer = load(checkpoint, captions=False)
    describer.name_objects([random_image(10, 20)])
    small_crop = describer.prefill_tokens
    describer.name_objects([random_image(375, 1242)])
    large_crop = describer.prefill_tokens - small_crop
    assert large_crop == small_crop  # every crop is one tile, whatever its size
    describer.answer(random_image(375, 1242), NAME_PROMPT)  # same text, image split
    frame = describer.prefill_tokens - small_crop - large_crop
    # 256 x 128 after resizing: 2 x 4 tiles of 64 pixels besides the global view.
    assert frame >= small_crop + 8 * tiny_models.SMOLVLM_IMAGE_SEQ_LEN


def test_describes_and_answers_with_text(checkpoint: Path) -> None:
    describer = load(checkpoint)
    frame = random_image(120, 300)
    description = describer.describe(frame)
    answer = describer.answer(frame, 'How many chairs are there?')
    assert isinstance(description, str) and isinstance(answer, str)
    assert description == description.strip() and answer == answer.strip()
    assert describer.calls == 2


@pytest.mark.parametrize('crop', [
    np.zeros((20, 20), np.uint8), np.zeros((20, 20, 4), np.uint8),
    np.zeros((20, 20, 3), np.float32), np.zeros((1, 20, 3), np.uint8), [[0, 0, 0]],
], ids=['gray', 'rgba', 'float', '1-row', 'list'])
def test_rejects_a_malformed_crop_before_running_the_model(checkpoint: Path,
                                                           crop: Any) -> None:
    describer = load(checkpoint)
    with pytest.raises(InvalidInputError, match='crop 1'):
        describer.name_objects([random_image(10, 10), crop])
    with pytest.raises(InvalidInputError):
        describer.describe(crop)
    with pytest.raises(InvalidInputError):
        describer.answer(crop, 'What is this?')
    assert describer.calls == 0


def test_rejects_an_empty_question(checkpoint: Path) -> None:
    with pytest.raises(InvalidInputError, match='question'):
        load(checkpoint).answer(random_image(10, 10), '  ')


def test_refuses_a_checkpoint_without_safetensors(checkpoint: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    pickled = Path(shutil.copytree(checkpoint, tmp_path / 'pickled'))
    torch.save(load_file(pickled / 'model.safetensors'), pickled / 'pytorch_model.bin')
    (pickled / 'model.safetensors').unlink()
    with pytest.raises(OSError, match='safetensors'):
        load(pickled)


@pytest.mark.parametrize(('text', 'label'), [
    ('A red chair.', 'red chair'),
    ('The person', 'person'),
    ('This is a car, parked on the street', 'car'),
    ('  ', ''),
    ('', ''),
    ('"Office Chair"\nIt is grey.', 'office chair'),
    ("It's an apple", 'apple'),
    ('**Traffic light**', 'traffic light'),
    ('a big old wooden table', 'big old wooden'),
    ('Theatre seat', 'theatre seat'),
    ('A.', ''),
    ('the', ''),
])
def test_normalise_label(text: str, label: str) -> None:
    assert normalise_label(text) == label


@pytest.mark.parametrize(('text', 'sentence'), [
    (' A red chair. It is empty. ', 'A red chair.'),
    ('A chair\nwith wheels', 'A chair'),
    ('No end', 'No end'),
    ('Version 2.5 of it! Yes', 'Version 2.5 of it!'),
    ('', ''),
])
def test_first_sentence(text: str, sentence: str) -> None:
    assert first_sentence(text) == sentence


def test_model_name_is_the_hub_id_of_a_cache_snapshot() -> None:
    snapshot = Path('/hf/hub/models--HuggingFaceTB--SmolVLM2-256M-Video-Instruct/snapshots/abc')
    assert model_name(snapshot) == 'HuggingFaceTB/SmolVLM2-256M-Video-Instruct'
    assert model_name(Path('/models/my-smolvlm')) == 'my-smolvlm'
