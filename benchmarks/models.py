"""Model-layer benchmark: what one image encoding, track caching and crops save.

True architecture sizes with random weights (the compute is that of the real checkpoints):
SAM 2.1-tiny (``Sam2Config()``'s defaults are hiera-tiny) and SmolVLM2-256M (SmolLM2-135M text
model, SigLIP-B/16-512 vision tower, pixel shuffle 4: 64 tokens per 512 px tile). Prints:

1. SAM 2.1-tiny encoder time E and per-prompt decoder time D; one encoding + N box prompts
   against N full calls, as a fraction of the ideal ratio N(E+D)/(E+N*D);
2. SmolVLM2-256M prefill tokens and time for a 1-tile crop against the whole frame with the
   default image splitting;
3. vision-language calls over a 100-frame tracked sequence with track caching (LabelPolicy)
   against naming every visible object every frame, as a fraction of the ideal ratio
   (object-frames / distinct tracks).

Usage: ``python benchmarks/models.py [--prompts 8] [--repeats 3] [--device cpu]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import statistics
import tempfile
import time
from typing import Any

import numpy as np
import torch

from vlm_seg_ros.core.boxes import OrientedBox
from vlm_seg_ros.core.camera import CameraModel
from vlm_seg_ros.core.scene import CameraView, ScenePipeline
from vlm_seg_ros.core.semantics import LabelPolicy
from vlm_seg_ros.core.transforms import RigidTransform
from vlm_seg_ros.datasets.synthetic import scan
from vlm_seg_ros.models import loading
from vlm_seg_ros.models.segmenters import Sam2Segmenter

FRAME = (375, 1242)  # a KITTI camera image


def timed(function, repeats: int) -> float:  # type: ignore[no-untyped-def]
    """Return the median seconds of ``repeats`` calls (after one warm-up call)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sam2_figures(prompts: int, repeats: int, device: str) -> None:
    """Print SAM 2.1-tiny's encoder and decoder times and the shared-encoding ratio."""
    from transformers import Sam2Config, Sam2Model
    with tempfile.TemporaryDirectory() as folder:
        Sam2Model(Sam2Config()).save_pretrained(folder)
        sam = Sam2Segmenter.load(Path(folder), device=device, dtype=torch.float32)
    params = sum(p.numel() for p in sam.model.parameters()) / 1e6
    image = np.random.default_rng(0).integers(0, 255, (*FRAME, 3), dtype=np.uint8)
    boxes = np.array([[40 + 130 * i, 120, 140 + 130 * i, 300] for i in range(prompts)],
                     dtype=np.float32)
    encoding = sam.encode(image)
    encode = timed(lambda: sam.encode(image), repeats)
    decode_one = timed(lambda: sam.segment(encoding, boxes=boxes[:1]), repeats)
    shared = timed(lambda: sam.segment(sam.encode(image), boxes=boxes), repeats)
    separate = timed(lambda: [sam.segment(sam.encode(image), boxes=boxes[i:i + 1])
                              for i in range(prompts)], max(1, repeats // 2))
    ideal = prompts * (encode + decode_one) / (encode + prompts * decode_one)
    print(f'SAM 2.1-tiny ({params:.1f} M parameters, {device}), image {FRAME[1]}x{FRAME[0]}:')
    print(f'  encoder E = {encode * 1e3:.0f} ms; decoder D = {decode_one * 1e3:.1f} ms per '
          'prompt (one prompt per call)')
    print(f'  {prompts} box prompts: one encoding + batched decoding {shared * 1e3:.0f} ms; '
          f'{prompts} full calls {separate * 1e3:.0f} ms; speed-up {separate / shared:.2f}x, '
          f'ideal N(E+D)/(E+N*D) = {ideal:.2f}x, achieved {separate / shared / ideal:.2f} of '
          'ideal')


def smolvlm_figures(repeats: int, device: str) -> None:
    """Print SmolVLM2-256M prefill tokens and time for a crop and for the whole frame."""
    from PIL import Image as PilImage
    from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration
    from transformers.models.smolvlm.image_processing_pil_smolvlm import (
        SmolVLMImageProcessorPil,
    )
    config = SmolVLMConfig(
        text_config={'model_type': 'llama', 'hidden_size': 576, 'intermediate_size': 1536,
                     'num_hidden_layers': 30, 'num_attention_heads': 9,
                     'num_key_value_heads': 3, 'vocab_size': 49280,
                     'max_position_embeddings': 8192, 'rope_theta': 100000.0},
        vision_config={'hidden_size': 768, 'intermediate_size': 3072, 'num_hidden_layers': 12,
                       'num_attention_heads': 12, 'image_size': 512, 'patch_size': 16},
        scale_factor=4, image_token_id=49190)
    with tempfile.TemporaryDirectory() as folder:
        SmolVLMForConditionalGeneration(config).save_pretrained(folder)
        model = loading.load_pretrained(SmolVLMForConditionalGeneration.from_pretrained,
                                        Path(folder), device=device, dtype=torch.float32)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    # SmolVLM2's preprocessor_config.json: frames resized to at most 2048 px (longest edge),
    # split into 512 px tiles plus a global view; a crop is one 512 px tile.
    processor: Any = SmolVLMImageProcessorPil(size={'longest_edge': 2048},
                                         max_image_size={'longest_edge': 512})
    tokens_per_tile = (512 // 16) ** 2 // 4 ** 2
    text_tokens = 30  # chat template and a short question
    rng = np.random.default_rng(1)
    frame = PilImage.fromarray(rng.integers(0, 255, (*FRAME, 3), dtype=np.uint8))
    crop = PilImage.fromarray(rng.integers(0, 255, (120, 90, 3), dtype=np.uint8))
    print(f'SmolVLM2-256M ({params:.0f} M parameters, {device}), prefill (one forward pass):')
    results = {}
    for name, image, split in (('crop 90x120', crop, False),
                               (f'frame {FRAME[1]}x{FRAME[0]}', frame, True)):
        pixels = processor(images=[[image]], do_image_splitting=split,
                           return_tensors='pt')['pixel_values'].to(device)
        tiles = pixels.shape[1]
        image_tokens = tiles * tokens_per_tile
        ids = torch.full((1, image_tokens + text_tokens), 1, dtype=torch.long, device=device)
        ids[0, :image_tokens] = config.image_token_id

        def prefill(ids: torch.Tensor = ids, pixels: torch.Tensor = pixels) -> None:
            with torch.inference_mode():
                model(input_ids=ids, pixel_values=pixels)
        seconds = timed(prefill, repeats)
        results[name] = (ids.shape[1], seconds)
        print(f'  {name}: {tiles} tile(s), {ids.shape[1]} prefill tokens, '
              f'{seconds * 1e3:.0f} ms')
    (crop_tokens, crop_s), (frame_tokens, frame_s) = results.values()
    print(f'  whole frame / crop: {frame_tokens / crop_tokens:.1f}x tokens, '
          f'{frame_s / crop_s:.1f}x time')


def caching_figures(frames: int = 100) -> None:
    """Print VLM crops asked with track caching against every object every frame."""
    k = np.array([[700.0, 0, 621], [0, 700.0, 187], [0, 0, 1]])
    camera = CameraModel(width=FRAME[1], height=FRAME[0], k=k, d=np.zeros(5), r=np.eye(3),
                         p=np.c_[k, np.zeros(3)])
    to_camera = RigidTransform(np.array([[0.0, -1, 0], [0, 0, -1], [1, 0, 0]]), np.zeros(3))
    pipeline, policy = ScenePipeline(), LabelPolicy()
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (*FRAME, 3), dtype=np.uint8)
    starts = [(6.0 + 2 * i, -4.0 + 1.6 * i) for i in range(6)]
    every_frame, tracks = 0, set[int]()
    for index in range(frames):
        t = 100_000_000 * index  # 10 Hz, ns
        # Six objects walking across at 0.5 m/s; the robot's view drifts.
        boxes = [OrientedBox(np.array([x, y + 0.05 * index, -1.73 + 0.8]),
                             np.array([0.7, 0.7, 1.6]), 0.0) for x, y in starts]
        points, _ = scan(boxes)
        frame = pipeline.process(points, t, camera=CameraView(image, camera, to_camera))
        visible = [(o.track.id, '', o.lidar_box) for o in frame.objects
                   if o.lidar_box is not None and o.segment is not None]
        every_frame += len(visible)
        # Tracks whose crop was ever big enough to name (LabelPolicy's own rule).
        tracks.update(i for i, _, box in visible
                      if min(box.expanded(policy.config.crop_margin, FRAME)[2:])
                      >= policy.config.min_crop)
        for request in policy.due({'': image}, t, visible):
            policy.answered(request)
    cached = policy.requested
    ideal = every_frame / len(tracks)
    print(f'Labelling over {frames} tracked frames (10 Hz, 6 moving objects, '
          f'{len(tracks)} nameable tracks):')
    print(f'  every visible object every frame: {every_frame} crops; with track caching: '
          f'{cached} crops; saving {every_frame / cached:.1f}x, ideal {ideal:.1f}x '
          f'(one per nameable track), achieved {every_frame / cached / ideal:.2f} of ideal')


def main() -> None:
    """Run the three parts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--prompts', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--device', default=loading.select_device('auto'))
    parser.add_argument('--skip-vlm', action='store_true', help='skip the SmolVLM2 part')
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads')
    sam2_figures(args.prompts, args.repeats, args.device)
    if not args.skip_vlm:
        smolvlm_figures(args.repeats, args.device)
    caching_figures()


if __name__ == '__main__':
    main()
