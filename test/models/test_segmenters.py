"""SAM 2 and SAM 3 backends on tiny random checkpoints, loaded as users load Hub checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.models.loading import ModelMissingError, resolve
from vlm_seg_ros.models.preprocessing import SamPreprocessing
from vlm_seg_ros.models.segmenters import MetaSam2Segmenter, Sam2Segmenter, Sam3TextSegmenter

IMAGE = np.random.default_rng(0).integers(0, 255, (375, 1242, 3), dtype=np.uint8)


@pytest.fixture(scope='module')
def sam2(sam2_dir: Path) -> Sam2Segmenter:
    return Sam2Segmenter.load(resolve(str(sam2_dir)), device='cpu', dtype=torch.float32)


def test_one_encoding_serves_every_box_prompt_with_one_mask_each(sam2: Sam2Segmenter) -> None:
    encodings, decodes = sam2.encodings, sam2.decodes
    encoding = sam2.encode(IMAGE)
    boxes = np.array([[10, 20, 100, 200], [300, 50, 400, 300], [500, 100, 700, 350]])
    masks = sam2.segment(encoding, boxes=boxes)
    more = sam2.segment(encoding, boxes=np.tile(boxes, (15, 1)))  # 45 prompts: 2 decoder calls
    assert len(masks) == 3 and len(more) == 45
    assert all(m.mask.shape == (375, 1242) and m.mask.dtype == bool for m in masks + more)
    assert all(0.0 <= m.score <= 1.0 for m in masks)
    assert sam2.encodings == encodings + 1
    assert sam2.decodes == decodes + 3
    # Same prompt, same encoding: same mask.
    assert (more[0].mask == masks[0].mask).all()


def test_point_prompts_give_one_mask_per_prompt(sam2: Sam2Segmenter) -> None:
    encoding = sam2.encode(IMAGE)
    single = sam2.segment(encoding, points=np.array([[[50, 50]], [[600, 200]]]))
    pair = sam2.segment(encoding, points=np.array([[[50, 50], [60, 60]]]),
                        point_labels=np.array([[1, 0]]))
    assert len(single) == 2 and len(pair) == 1
    assert pair[0].mask.shape == (375, 1242)


def test_bad_prompts_and_images_are_refused_with_a_clear_error(sam2: Sam2Segmenter) -> None:
    encoding = sam2.encode(IMAGE)
    with pytest.raises(InvalidInputError, match='either boxes'):
        sam2.segment(encoding)
    with pytest.raises(InvalidInputError, match='boxes must be'):
        sam2.segment(encoding, boxes=np.array([[1, 2, 3]]))
    with pytest.raises(InvalidInputError, match='point_labels'):
        sam2.segment(encoding, points=np.zeros((2, 1, 2)), point_labels=np.ones((2, 3)))
    with pytest.raises(InvalidInputError, match='uint8 RGB'):
        sam2.encode(IMAGE[..., 0])


def test_preprocessing_follows_the_sam_processors_documented_steps(sam2_dir: Path) -> None:
    prep = SamPreprocessing.from_checkpoint(sam2_dir, size=1024,
                                            normalisation=((0, 0, 0), (1, 1, 1)))
    assert (prep.height, prep.width) == (1024, 1024)  # from preprocessor_config.json
    pixels = prep.pixel_values(np.full((375, 1242, 3), 124, np.uint8), device='cpu',
                               dtype=torch.float32)
    assert pixels.shape == (1, 3, 1024, 1024)
    expected = (124 / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(pixels[0, :, 500, 500].numpy(), expected, atol=1e-6)
    # Sam2Processor._normalize_coordinates: x scaled by 1024 / width, y by 1024 / height.
    scaled = prep.scale_xy([[1242.0, 375.0, 621.0, 0.0]], (375, 1242))
    np.testing.assert_allclose(scaled.numpy(), [[1024, 1024, 512, 0]], rtol=1e-6)


def test_sam3_finds_instances_of_each_text_prompt(sam3_dir: Path) -> None:
    sam3 = Sam3TextSegmenter.load(resolve(str(sam3_dir)), device='cpu', dtype=torch.float32,
                                  threshold=0.0)
    found = sam3.segment_text(IMAGE, ['chair', ' person ', ''])
    assert {f.prompt for f in found} == {'chair', 'person'}
    assert len(found) == 2 * 8  # every query of the tiny decoder passes threshold 0
    assert all(f.mask.shape == (375, 1242) and 0 <= f.score <= 1 for f in found)
    assert all(0 <= f.box[0] <= f.box[2] <= 1242 * 1.01 for f in found)
    assert sam3.encodings == 1  # one vision pass for both prompts
    assert sam3.segment_text(IMAGE, []) == []
    strict = Sam3TextSegmenter.load(resolve(str(sam3_dir)), device='cpu', dtype=torch.float32,
                                    threshold=1.0)
    assert strict.segment_text(IMAGE, ['chair']) == []


def test_metas_sam2_backend_says_how_to_install_it_when_missing() -> None:
    pytest.importorskip('torch')
    try:
        import sam2  # noqa: F401
        pytest.skip('sam2 is installed here')
    except ImportError:
        pass
    with pytest.raises(ModelMissingError, match='pip install sam2'):
        MetaSam2Segmenter.load('facebook/sam2.1-hiera-tiny', device='cpu')
