"""One resize per model input, on the uint8 frame: a 4K camera costs the models little more."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - torch's own convention

from vlm_seg_ros.models.describers import load_processor
from vlm_seg_ros.models.preprocessing import SamPreprocessing, fit_within, resize_to


def smooth_frame(width: int, height: int) -> np.ndarray:
    """Return a camera-like frame: smooth colour gradients and blobs, no per-pixel noise."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (9, 16, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def striped_frame(width: int, height: int) -> np.ndarray:
    """Return a smooth frame whose left half has one-pixel black and white stripes (a fence).

    A resize that skips pixels instead of averaging them (aliasing) turns the stripes into
    black or white bands; an antialiased one into grey.
    """
    frame = smooth_frame(width, height)
    frame[:, :width // 2] = np.where(np.arange(width // 2) % 2, 255, 0)[None, :, None]
    return frame


def test_resize_to_shrinks_by_area_enlarges_bilinearly_and_keeps_a_fitting_image() -> None:
    frame = smooth_frame(64, 48)
    assert resize_to(frame, (64, 48)) is frame
    np.testing.assert_array_equal(resize_to(frame, (16, 12)),
                                  cv2.resize(frame, (16, 12), interpolation=cv2.INTER_AREA))
    np.testing.assert_array_equal(resize_to(frame, (128, 96)),
                                  cv2.resize(frame, (128, 96), interpolation=cv2.INTER_LINEAR))


def test_fit_within_keeps_the_aspect_and_leaves_small_images_alone() -> None:
    frame = smooth_frame(3840, 2160)
    assert fit_within(frame, 2048).shape == (1152, 2048, 3)
    assert fit_within(frame, 0) is frame
    small = smooth_frame(300, 200)
    assert fit_within(small, 512) is small
    assert fit_within(smooth_frame(200, 3000), 1000).shape == (1000, 67, 3)


def test_sam_input_of_a_4k_frame_matches_the_processors_antialiased_float_resize(
        sam2_dir: Path) -> None:
    # What Sam2ImageProcessor documents (bilinear, antialiased resize of the float image), done
    # the expensive way, against this module's one uint8 resize.
    prep = SamPreprocessing.from_checkpoint(sam2_dir, size=1024,
                                            normalisation=((0, 0, 0), (1, 1, 1)))
    frame = striped_frame(3840, 2160)
    mean = np.array(prep.mean)[:, None, None]
    std = np.array(prep.std)[:, None, None]
    pixels = prep.pixel_values(frame, device='cpu', dtype=torch.float32)[0].numpy()
    grey = (pixels * std + mean) * 255  # back to grey levels
    reference = F.interpolate(torch.from_numpy(frame).permute(2, 0, 1)[None].float(),
                              size=(1024, 1024), mode='bilinear', align_corners=False,
                              antialias=True)[0].numpy()
    assert pixels.shape == reference.shape == (3, 1024, 1024)
    # The smooth half: the same input to a grey level.
    assert np.abs(grey - reference)[:, :, 520:].mean() < 1.0
    # The stripes: averaged towards grey, as the antialiased resize does; skipping pixels
    # would show black and white (|value - 127.5| = 127.5).
    assert np.abs(reference[:, :, :500] - 127.5).max() < 40
    assert np.abs(grey[:, :, :500] - 127.5).max() < 40


def test_smolvlm_gets_a_4k_frame_already_at_its_processors_size(vlm_dir: Path) -> None:
    # The processor resizes every image to size['longest_edge'] before tiling; the frame handed
    # over at that size gives the same pixel values (to the resampling filters' differences).
    processor = load_processor(vlm_dir)
    longest = processor.image_processor.size.longest_edge
    frame = striped_frame(3840, 2160)
    fitted = fit_within(frame, longest)
    assert max(fitted.shape[:2]) == longest
    tile = processor.image_processor.max_image_size['longest_edge']

    def grey_levels(image: np.ndarray) -> np.ndarray:
        # One tile (no splitting), normalised with mean 0.5 and std 0.5: back to grey levels.
        values = processor.image_processor(images=[[image]], do_image_splitting=False,
                                           return_tensors='pt')['pixel_values']
        assert values.shape == (1, 1, 3, tile, tile)
        return (values[0, 0].numpy() * 0.5 + 0.5) * 255

    ours, theirs = grey_levels(fitted), grey_levels(frame)
    half = tile // 2
    assert np.abs(ours - theirs)[:, :, half + 2:].mean() < 1.5  # the smooth half
    # The stripes are grey in both, not black and white bands.
    assert np.abs(ours[:, :, :half - 2] - 127.5).max() < 40
    assert np.abs(theirs[:, :, :half - 2] - 127.5).max() < 40
