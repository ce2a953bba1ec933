"""Tiny random checkpoints of the real model classes, built offline in a second or two.

Each function writes what ``save_pretrained`` writes for a real checkpoint (config, safetensors
weights, processor and tokenizer files) into a directory and returns it, so that tests exercise
the same loading path as the real models without downloading anything. The weights are random:
outputs have the right types and shapes but no meaning.
"""

from __future__ import annotations

import json
from pathlib import Path
import string
from typing import Any

# The chat template of the SmolVLM2 checkpoints (as transformers' SmolVLMProcessor has it):
# ``<|im_start|>User:<image>question<end_of_utterance>\nAssistant:``.
SMOLVLM_CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}"
    "{% elif line['type'] == 'video' %}{{ '<video>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# SmolVLM's special tokens; the row/column tokens name the tiles of a split image.
SMOLVLM_SPECIAL_TOKENS = [
    '<|endoftext|>', '<|im_start|>', '<|im_end|>', '<end_of_utterance>',
    '<fake_token_around_image>', '<image>', '<global-img>', '<video>',
    *[f'<row_{row}_col_{col}>' for row in range(1, 7) for col in range(1, 7)],
]

# Tiny vision tower: a 64x64 tile of 16x16 patches is 4x4 patches, which pixel shuffle with
# scale factor 2 turns into 4 image tokens per tile.
SMOLVLM_TILE = 64
SMOLVLM_PATCH = 16
SMOLVLM_SCALE_FACTOR = 2
SMOLVLM_IMAGE_SEQ_LEN = (SMOLVLM_TILE // SMOLVLM_PATCH) ** 2 // SMOLVLM_SCALE_FACTOR ** 2


def character_tokenizer(special_tokens: list[str], *, bos: str, eos: str, pad: str,
                        unk: str) -> Any:
    """Return a fast tokenizer: ``special_tokens``, then one token per printable ASCII character.

    ASCII text round-trips through it (other characters become ``unk``); it needs no files
    or network: a BPE model without merges splits text into characters.
    """
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    characters = [c for c in string.printable if c not in '\r\x0b\x0c']
    vocab = {token: index for index, token in enumerate([*special_tokens, *characters])}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=unk))
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=eos,
                                        pad_token=pad, unk_token=unk)
    others = [token for token in special_tokens if token not in (bos, eos, pad, unk)]
    tokenizer.add_special_tokens({'additional_special_tokens': others})
    return tokenizer


def tiny_smolvlm(directory: Path) -> Path:
    """Save a tiny random SmolVLM2 checkpoint (model, processor, tokenizer) into ``directory``.

    The text model is a 2-layer Llama of width 32, the vision tower a 1-layer SigLIP-like
    encoder of 64x64 tiles; the image processor splits frames into at most 4x4 such tiles
    (``size`` 256, ``max_image_size`` 64), each tile taking 4 image tokens. Return
    ``directory``.
    """
    import torch
    from transformers import (
        GenerationConfig,
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessorPil,
    )

    tokenizer = character_tokenizer(
        SMOLVLM_SPECIAL_TOKENS, bos='<|im_start|>', eos='<end_of_utterance>', pad='<|im_end|>',
        unk='<|endoftext|>')
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SMOLVLM_SPECIAL_TOKENS}
    config = SmolVLMConfig(
        text_config={
            'model_type': 'llama', 'vocab_size': len(tokenizer), 'hidden_size': 32,
            'intermediate_size': 64, 'num_hidden_layers': 2, 'num_attention_heads': 2,
            'num_key_value_heads': 2, 'max_position_embeddings': 2048,
            'bos_token_id': ids['<|im_start|>'], 'eos_token_id': ids['<end_of_utterance>'],
            'pad_token_id': ids['<|im_end|>']},
        vision_config={
            'hidden_size': 32, 'intermediate_size': 64, 'num_hidden_layers': 1,
            'num_attention_heads': 2, 'image_size': SMOLVLM_TILE, 'patch_size': SMOLVLM_PATCH},
        scale_factor=SMOLVLM_SCALE_FACTOR, image_token_id=ids['<image>'],
        pad_token_id=ids['<|im_end|>'])
    torch.manual_seed(0)
    model = SmolVLMForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids['<|im_start|>'], eos_token_id=ids['<end_of_utterance>'],
        pad_token_id=ids['<|im_end|>'])
    model.save_pretrained(directory)
    # The processor files of the Hub's SmolVLM2 checkpoints, written part by part: transformers
    # cannot build a SmolVLMProcessor (to save) without its video processor (torchvision).
    SmolVLMImageProcessorPil(
        size={'longest_edge': 4 * SMOLVLM_TILE}, max_image_size={'longest_edge': SMOLVLM_TILE},
    ).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    (directory / 'chat_template.jinja').write_text(SMOLVLM_CHAT_TEMPLATE)
    (directory / 'processor_config.json').write_text(json.dumps(
        {'image_seq_len': SMOLVLM_IMAGE_SEQ_LEN, 'processor_class': 'SmolVLMProcessor'}))
    return directory
