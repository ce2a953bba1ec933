"""Describer backend: SmolVLM2 through transformers (``SmolVLMForConditionalGeneration``).

:class:`SmolVlmDescriber` names object crops in batches (greedy decoding, one image tile per
crop, a confidence from the answer's token probabilities), and describes or answers questions
about whole frames (the processor's default image splitting: a tile grid plus a downscaled
global view, so small objects stay visible).

The processor is SmolVLM's, with the PIL image processor: transformers' ``SmolVLMProcessor``
insists on a video processor, and SmolVLM's needs torchvision, which has no CPU build for the
pinned torch. :func:`load_processor` gives the same processor without the video part.
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
from pathlib import Path
import re
import string
from typing import Any

from PIL import Image as PilImage
import torch

from vlm_seg_ros.errors import InvalidInputError
from vlm_seg_ros.models import loading
from vlm_seg_ros.models.base import Image, Naming, check_image
from vlm_seg_ros.models.preprocessing import fit_within

NAME_PROMPT = 'What is the main object in this image? Answer with a short noun phrase.'
CAPTION_PROMPT = 'Describe this object in one short sentence.'
DESCRIBE_PROMPT = 'Describe this scene in two sentences for a robot: which objects are where?'
NAME_MAX_TOKENS = 8
CAPTION_MAX_TOKENS = 24
ANSWER_MAX_TOKENS = 64
LABEL_MAX_WORDS = 3

# Characters stripped from both ends of a label: ASCII punctuation, whitespace, typographic
# quotes (models like to answer '"Chair"' or '**chair**').
_STRIP = string.punctuation + string.whitespace + '\u2018\u2019\u201c\u201d'
_LABEL_END = re.compile(r'[\n.,;:!?]')
_LEADING_PHRASE = re.compile(
    r"^(?:(?:this|that|it|there) is|it's|(?:these|those|they) are)\b\s*")
_ARTICLE = re.compile(r'^(?:a|an|the)\b\s*')
_SENTENCE_END = re.compile(r'(?<=[.!?])\s|\n')


def normalise_label(text: str) -> str:
    """Return a model's answer as a short label: ``'A red chair.'`` -> ``'red chair'``.

    Lower case; cut at the first newline, period, comma (or ``;:!?``); without surrounding
    quotes and punctuation, a leading "this is" / "it is" (and the like) or article; at most
    three words. An answer with nothing left gives ``''``.
    """
    text = _LABEL_END.split(text.lower(), maxsplit=1)[0].strip(_STRIP)
    text = _LEADING_PHRASE.sub('', text)
    text = _ARTICLE.sub('', text)
    return ' '.join(text.split()[:LABEL_MAX_WORDS]).strip(_STRIP)


def first_sentence(text: str) -> str:
    """Return the first sentence of ``text``, stripped; all of it if it has no sentence end.

    A sentence ends at ``.``, ``!`` or ``?`` followed by whitespace, or at a newline.
    """
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0].strip()


def model_name(path: Path) -> str:
    """Return a checkpoint's name: the Hub id of a Hugging Face cache snapshot, else the name.

    ``.../models--HuggingFaceTB--SmolVLM2-256M-Video-Instruct/snapshots/<commit>`` gives
    ``'HuggingFaceTB/SmolVLM2-256M-Video-Instruct'``; any other directory its own name.
    """
    repo = path.parent.parent.name
    if path.parent.name == 'snapshots' and repo.startswith('models--'):
        return repo.removeprefix('models--').replace('--', '/')
    return path.name


def load_processor(path: Path) -> Any:
    """Return the SmolVLM processor of a checkpoint directory, for images, with PIL.

    It is transformers' ``SmolVLMProcessor`` (chat template, image token expansion, tiling)
    without the video processor, and with the PIL image processor; batches are padded on the
    left, so that every prompt ends where generation starts.
    """
    from transformers import AutoImageProcessor, AutoTokenizer

    # trust_remote_code=False: an auto_map in the checkpoint's configs never runs its code
    # (left unset, transformers asks on the terminal whether to run it).
    image_processor = AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
        str(path), backend='pil', local_files_only=True, trust_remote_code=False)
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True,
                                              trust_remote_code=False)
    processor_class = _image_processor_class()
    processor_dict, kwargs = processor_class.get_processor_dict(str(path), local_files_only=True)
    processor = processor_class.from_args_and_dict([image_processor, tokenizer], processor_dict,
                                                   **kwargs)
    processor.tokenizer.padding_side = 'left'
    return processor


@functools.cache
def _image_processor_class() -> type[Any]:
    """Return ``SmolVLMProcessor`` without its video part.

    The class is defined on first use: importing transformers takes seconds.
    """
    from transformers import SmolVLMProcessor
    from transformers.processing_utils import ProcessorMixin

    class SmolVlmImageProcessor(SmolVLMProcessor):
        """``SmolVLMProcessor`` for images only: no video processor, so no torchvision.

        transformers finds a processor's parts from its ``__init__`` parameters, so this one
        loads, checks and saves only the image processor and the tokenizer.
        """

        def __init__(self, image_processor: Any, tokenizer: Any, image_seq_len: int = 169,
                     chat_template: str | None = None, **kwargs: Any) -> None:
            """Build the processor from SmolVLM's image processor and tokenizer."""
            # SmolVLMProcessor hands (image_processor, tokenizer, video_processor) on to
            # ProcessorMixin, which keeps one per part this class declares: the first two.
            super().__init__(image_processor, tokenizer, None, image_seq_len=image_seq_len,
                             chat_template=chat_template, **kwargs)

        def apply_chat_template(  # type: ignore[override] # same parameters, passed on
                self, conversation: Any, chat_template: str | None = None, **kwargs: Any) -> Any:
            """Render a conversation (SmolVLM's own override only adds video defaults)."""
            return ProcessorMixin.apply_chat_template(self, conversation, chat_template,
                                                      **kwargs)

    return SmolVlmImageProcessor


class SmolVlmDescriber:
    """SmolVLM2 names object crops, describes frames and answers questions about them.

    Attributes:
        name: the checkpoint (Hub id or directory name).
        device: torch device of the model.
        calls: ``generate`` calls so far.
        prefill_tokens: prompt tokens processed so far (batch size x prompt length per call,
            padding included).

    """

    def __init__(self, model: Any, processor: Any, *, name: str,
                 device: str, max_crops_per_call: int = 8, captions: bool = True) -> None:
        """Wrap a loaded model and processor (see :meth:`load`).

        Args:
            model: a ``SmolVLMForConditionalGeneration`` in evaluation mode on ``device``.
            processor: its processor (:func:`load_processor`).
            name: the checkpoint's name.
            device: torch device of the model.
            max_crops_per_call: crops named per ``generate`` call (bounds memory).
            captions: also caption every crop (a second, longer generation per batch).

        """
        if max_crops_per_call < 1:
            msg = f'max_crops_per_call must be at least 1, got {max_crops_per_call}'
            raise InvalidInputError(msg)
        self.model = model
        self.processor = processor
        self.name = name
        self.device = device
        self.dtype: torch.dtype = next(model.parameters()).dtype
        self.max_crops_per_call = max_crops_per_call
        self.captions = captions
        self.calls = 0
        self.prefill_tokens = 0
        tokenizer = processor.tokenizer
        eos = model.generation_config.eos_token_id
        stop = [*(eos if isinstance(eos, list) else [eos]), tokenizer.pad_token_id,
                tokenizer.eos_token_id,
                tokenizer.convert_tokens_to_ids(processor.end_of_utterance_token)]
        self._stop_ids = torch.tensor(sorted({int(t) for t in stop if t is not None}),
                                      device=device)

    @classmethod
    def load(cls, path: Path, *, device: str, dtype: torch.dtype, quantize: bool = False,
             max_crops_per_call: int = 8, captions: bool = True,
             name: str | None = None) -> SmolVlmDescriber:
        """Load a SmolVLM / SmolVLM2 checkpoint directory (safetensors only, no remote code).

        ``name`` defaults to :func:`model_name` of ``path``; the other arguments are those of
        :func:`loading.load_pretrained` and of the constructor.
        """
        from transformers import SmolVLMForConditionalGeneration

        model = loading.load_pretrained(SmolVLMForConditionalGeneration.from_pretrained, path,
                                        device=device, dtype=dtype, quantize=quantize)
        return cls(model, load_processor(path), name=name or model_name(path),
                   device=device, max_crops_per_call=max_crops_per_call, captions=captions)

    def name_objects(self, crops: Sequence[Image]) -> list[Naming]:
        """Name the main object of each crop; one result per crop, in order.

        Crops go through the model ``max_crops_per_call`` at a time, each as one image tile
        (no splitting). Labels go through :func:`normalise_label`; the confidence is the
        geometric mean of the answer's token probabilities (0 for an empty label).

        Raises:
            InvalidInputError: if a crop is not an (H, W, 3) uint8 array of at least 2x2.

        """
        for index, crop in enumerate(crops):
            check_image(crop, f'crop {index}')
        namings: list[Naming] = []
        for start in range(0, len(crops), self.max_crops_per_call):
            images = [self._pil(crop) for crop in crops[start:start + self.max_crops_per_call]]
            answers, confidences = self._generate(images, NAME_PROMPT, NAME_MAX_TOKENS,
                                                  split=False)
            if self.captions:
                captions, _ = self._generate(images, CAPTION_PROMPT, CAPTION_MAX_TOKENS,
                                             split=False)
            else:
                captions = [''] * len(images)
            for answer, confidence, caption in zip(answers, confidences, captions, strict=True):
                label = normalise_label(answer)
                namings.append(Naming(label, confidence if label else 0.0,
                                      first_sentence(caption)))
        return namings

    def describe(self, image: Image) -> str:
        """Describe the whole scene in a few sentences.

        Raises:
            InvalidInputError: if ``image`` is not an (H, W, 3) uint8 array of at least 2x2.

        """
        check_image(image)
        answers, _ = self._generate([self._pil(image)], DESCRIBE_PROMPT,
                                    ANSWER_MAX_TOKENS, split=True)
        return answers[0].strip()

    def answer(self, image: Image, question: str) -> str:
        """Answer a free-text question about the image.

        Raises:
            InvalidInputError: if ``image`` is not an (H, W, 3) uint8 array of at least 2x2,
                or the question is empty.

        """
        check_image(image)
        if not question.strip():
            msg = 'the question is empty'
            raise InvalidInputError(msg)
        answers, _ = self._generate([self._pil(image)], question.strip(),
                                    ANSWER_MAX_TOKENS, split=True)
        return answers[0].strip()

    def _pil(self, image: Image) -> PilImage.Image:
        """Return ``image`` for the processor, shrunk (OpenCV) to the longest edge it resizes to.

        The processor resizes every image to ``size['longest_edge']`` first (then tiles it); a
        4K frame handed over at that size already skips its slow PIL resize of 8 million pixels
        and gives the same model input.
        """
        size = self.processor.image_processor.size
        longest = size.get('longest_edge') if isinstance(size, dict) else getattr(
            size, 'longest_edge', None)
        return PilImage.fromarray(fit_within(image, int(longest or 0)))

    @torch.inference_mode()
    def _generate(self, images: list[PilImage.Image], prompt: str, max_new_tokens: int, *,
                  split: bool) -> tuple[list[str], list[float]]:
        """Ask ``prompt`` about each image in one batch; return the answers and confidences.

        ``split``: the processor's image splitting (tiles plus a global view); without it an
        image is one tile.
        """
        conversation = [{'role': 'user', 'content': [{'type': 'image'},
                                                      {'type': 'text', 'text': prompt}]}]
        text = self.processor.apply_chat_template(conversation, add_generation_prompt=True)
        tokenizer = self.processor.tokenizer
        # The template starts with the BOS token already (as processor.apply_chat_template).
        bos_in_text = tokenizer.bos_token is not None and text.startswith(tokenizer.bos_token)
        inputs = self.processor(text=[text] * len(images), images=[[image] for image in images],
                                do_image_splitting=split, padding=True, return_tensors='pt',
                                add_special_tokens=not bos_in_text)
        inputs = {key: value.to(self.device, self.dtype) if value.is_floating_point()
                  else value.to(self.device) for key, value in inputs.items()}
        output = self.model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens,
                                     output_scores=True, return_dict_in_generate=True,
                                     pad_token_id=tokenizer.pad_token_id)
        batch, prompt_length = inputs['input_ids'].shape
        self.calls += 1
        self.prefill_tokens += batch * prompt_length
        new_tokens = output.sequences[:, prompt_length:]
        answers = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        return [str(answer) for answer in answers], self._confidences(new_tokens, output.scores)

    def _confidences(self, tokens: torch.Tensor, scores: Sequence[torch.Tensor]) -> list[float]:
        """Return the geometric mean probability of each row's tokens before its first stop."""
        if not scores:
            return [0.0] * tokens.shape[0]
        log_probs = torch.stack(list(scores), dim=1).float().log_softmax(dim=-1)
        chosen = log_probs.gather(-1, tokens[:, :log_probs.shape[1], None])[..., 0]
        stops = torch.isin(tokens[:, :chosen.shape[1]], self._stop_ids)
        answer = stops.cumsum(dim=1) == 0  # tokens before the first stop token
        counts = answer.sum(dim=1)
        mean = (chosen * answer).sum(dim=1) / counts.clamp(min=1)
        confidence = torch.where(counts > 0, mean.exp(), torch.zeros_like(mean))
        return [float(c) for c in confidence.clamp(0.0, 1.0).cpu()]
