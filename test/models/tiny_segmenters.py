"""Tiny random SAM 2 and SAM 3 checkpoints built from the real configs, for tests.

Saved with ``save_pretrained`` (safetensors) and loaded back through the package's own loading
code, exactly like a Hub checkpoint. The architectures are shrunk (few channels; SAM 2.1-tiny's
block layout) so a test encodes an image in well under a second; the input sizes are the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path


def tiny_sam2(directory: Path) -> Path:
    """Write a tiny random SAM 2 checkpoint (1024x1024 input, hiera with 8..64 channels)."""
    from transformers import Sam2Config, Sam2Model
    from transformers.models.sam2.configuration_sam2 import Sam2HieraDetConfig
    backbone = Sam2HieraDetConfig(
        hidden_size=8, embed_dim_per_stage=[8, 16, 32, 64],
        num_attention_heads_per_stage=[1, 1, 1, 1], num_attention_heads=1)
    config = Sam2Config(
        vision_config={'backbone_config': backbone, 'backbone_channel_list': [64, 32, 16, 8],
                       'fpn_hidden_size': 32},
        prompt_encoder_config={'hidden_size': 32},
        mask_decoder_config={'hidden_size': 32, 'mlp_dim': 64, 'num_attention_heads': 2,
                             'iou_head_hidden_dim': 32})
    Sam2Model(config).save_pretrained(directory)
    # What facebook/sam2.1-hiera-tiny's preprocessor_config.json says about the input.
    (directory / 'preprocessor_config.json').write_text(json.dumps({
        'image_processor_type': 'Sam2ImageProcessor', 'size': {'height': 1024, 'width': 1024},
        'image_mean': [0.485, 0.456, 0.406], 'image_std': [0.229, 0.224, 0.225],
        'rescale_factor': 1 / 255}))
    return directory


def tiny_tokenizer(directory: Path, *, vocab: list[str], bos: str = '<|startoftext|>',
                   eos: str = '<|endoftext|>') -> int:
    """Save a word-level tokenizer over ``vocab`` (plus bos/eos/unk) and return its size."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    words = ['<unk>', bos, eos, *vocab]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)},
                                           unk_token='<unk>'))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f'{bos} $A {eos}', special_tokens=[(bos, 1), (eos, 2)])
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token='<unk>', bos_token=bos,
                            eos_token=eos, pad_token=eos).save_pretrained(directory)
    return len(words)


def tiny_sam3(directory: Path) -> Path:
    """Write a tiny random SAM 3 checkpoint (1008x1008 input) with a word-level tokenizer."""
    from transformers import Sam3Config, Sam3Model
    size = tiny_tokenizer(directory, vocab=['chair', 'person', 'car', 'table', 'cup', 'red'])
    config = Sam3Config(
        vision_config={
            'backbone_config': {'model_type': 'sam3_vit_model',
                'hidden_size': 32, 'intermediate_size': 64, 'num_hidden_layers': 2,
                'num_attention_heads': 2, 'global_attn_indexes': [1], 'window_size': 24},
            'fpn_hidden_size': 32},
        text_config={'vocab_size': size, 'hidden_size': 32, 'intermediate_size': 64,
                     'projection_dim': 32, 'num_hidden_layers': 1, 'num_attention_heads': 2,
                     'bos_token_id': 1, 'eos_token_id': 2, 'pad_token_id': 2},
        geometry_encoder_config={'hidden_size': 32, 'num_layers': 1, 'num_attention_heads': 2,
                                 'intermediate_size': 64},
        detr_encoder_config={'hidden_size': 32, 'num_layers': 1, 'num_attention_heads': 2,
                             'intermediate_size': 64},
        detr_decoder_config={'hidden_size': 32, 'num_layers': 1, 'num_attention_heads': 2,
                             'intermediate_size': 64, 'num_queries': 8},
        mask_decoder_config={'hidden_size': 32, 'num_attention_heads': 2})
    Sam3Model(config).save_pretrained(directory)
    (directory / 'preprocessor_config.json').write_text(json.dumps({
        'image_processor_type': 'Sam3ImageProcessor', 'size': {'height': 1008, 'width': 1008},
        'image_mean': [0.5, 0.5, 0.5], 'image_std': [0.5, 0.5, 0.5],
        'rescale_factor': 1 / 255}))
    return directory
