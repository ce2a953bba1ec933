"""Offline-first model loading: local paths or the Hugging Face cache, never a surprise download.

A model is named by a Hub id (``facebook/sam2.1-hiera-tiny``) or a local directory (what
``save_pretrained`` writes). :func:`resolve` finds its files without touching the network: a
directory is used as is, a Hub id is looked up in the Hugging Face cache
(``huggingface_hub.snapshot_download(local_files_only=True)``, which honours ``HF_HOME`` and
``HF_HUB_CACHE``). Fetching is a separate, explicit step (:func:`download`, the
``download-models`` command), which honours ``HF_HUB_OFFLINE``. Weights load from safetensors
only (``use_safetensors=True``; a directory with only pickle-based weights is refused with
:class:`UnsafeCheckpointError`) and never with ``trust_remote_code``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
import re
from typing import TYPE_CHECKING, Any, TypeVar

from vlm_seg_ros.core.config import check_ranges, tunable
from vlm_seg_ros.errors import InvalidInputError, VlmSegError

if TYPE_CHECKING:  # torch is imported only where a model is loaded (keeps node start-up light)
    import torch

ModelT = TypeVar('ModelT')

SAM2_DEFAULT = 'facebook/sam2.1-hiera-tiny'
SAM3_DEFAULT = 'facebook/sam3'
VLM_CPU_DEFAULT = 'HuggingFaceTB/SmolVLM2-256M-Video-Instruct'
VLM_GPU_DEFAULT = 'HuggingFaceTB/SmolVLM2-2.2B-Instruct'
# Files a checkpoint needs (weights, configs, tokenizer, templates); not other formats' weights.
CHECKPOINT_FILES = ['*.json', '*.safetensors', '*.txt', '*.model', '*.jinja', '*.tiktoken']
# Weight files in pickle-based formats: never loaded (unpickling can run arbitrary code).
PICKLE_SUFFIXES = ('.bin', '.pt', '.pth', '.ckpt', '.pkl', '.pickle')


class ModelMissingError(VlmSegError):
    """A model is neither a local directory nor in the Hugging Face cache."""


class UnsafeCheckpointError(VlmSegError, OSError):
    """A checkpoint has no safetensors weights (pickle-based ones are never loaded)."""


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Which models run, where and how (ROS parameters ``models.*``)."""

    segmenter: str = tunable(
        SAM2_DEFAULT, 'box/point-promptable segmenter (SAM 2 / 2.1): Hub id or local '
        'directory; empty: no masks from a model (LiDAR hull masks)')
    segmenter_backend: str = tunable(
        'transformers', "library that runs the segmenter: 'transformers' (Sam2Model) or "
        "'sam2' (Meta's sam2 package, where installed)")
    text_segmenter: str = tunable(
        SAM3_DEFAULT, 'text-promptable segmenter (SAM 3): Hub id or local directory; loaded '
        'only while prompts.text is set')
    describer: str = tunable(
        'auto', f"vision-language model (SmolVLM2): Hub id or local directory; 'auto': "
        f'{VLM_CPU_DEFAULT} on a CPU, {VLM_GPU_DEFAULT} on a GPU; empty: no names or '
        'descriptions from a model')
    device: str = tunable(
        'auto', "torch device: 'auto' (cuda, then mps, then cpu), 'cpu', 'cuda', 'cuda:1', "
        "'mps'")
    dtype: str = tunable(
        'auto', "'auto' (bfloat16/float16 on a GPU, float32 on a CPU), 'float32', 'float16' "
        "or 'bfloat16'")
    quantize: bool = tunable(
        False, 'int8 dynamic quantization of linear layers on a CPU (faster, less memory, '
        'slightly different results)')

    def __post_init__(self) -> None:
        """Check types, the backend name, the device and the dtype."""
        check_ranges(self)
        if self.segmenter_backend not in ('transformers', 'sam2'):
            msg = (f"models.segmenter_backend must be 'transformers' or 'sam2', got "
                   f'{self.segmenter_backend!r}')
            raise ModelConfigError(msg)
        if self.dtype not in DTYPES:
            msg = f'models.dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}'
            raise ModelConfigError(msg)
        if not DEVICE.fullmatch(self.device):
            msg = (f"models.device must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N', got "
                   f'{self.device!r}')
            raise ModelConfigError(msg)

    def describer_for(self, device: str) -> str:
        """Return the describer to load on ``device`` (resolving ``'auto'``)."""
        if self.describer != 'auto':
            return self.describer
        return VLM_CPU_DEFAULT if device == 'cpu' else VLM_GPU_DEFAULT


class ModelConfigError(InvalidInputError):
    """A ``models.*`` value is not one of the accepted choices."""


DTYPES = ('auto', 'float32', 'float16', 'bfloat16')
DEVICE = re.compile(r'auto|cpu|mps|cuda(:\d+)?')


def select_device(preference: str = 'auto') -> str:
    """Return the torch device to use: ``preference``, or the best available for ``'auto'``."""
    import torch
    if preference != 'auto':
        return preference
    if torch.cuda.is_available():
        return 'cuda'
    if torch.backends.mps.is_available():
        return 'mps'
    return 'cpu'


def select_dtype(preference: str, device: str) -> torch.dtype:
    """Return the dtype: ``preference``, or for ``'auto'`` half precision on a GPU."""
    import torch
    if preference != 'auto':
        return getattr(torch, preference)  # type: ignore[no-any-return]
    if device.startswith('cuda'):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == 'mps':
        return torch.float16
    return torch.float32


def resolve(name: str, *, cache_dir: str | None = None) -> Path:
    """Return the local directory of a model, without using the network.

    Args:
        name: a local directory, or a Hub id looked up in the Hugging Face cache.
        cache_dir: another cache directory (default: the Hugging Face default).

    Raises:
        ModelMissingError: if it is neither; the message says how to fetch it.

    """
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if name.startswith(('/', '.', '~')):
        msg = f'model directory {name!r} does not exist'
        raise ModelMissingError(msg)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError
    try:
        return Path(snapshot_download(name, local_files_only=True, cache_dir=cache_dir,
                                      allow_patterns=CHECKPOINT_FILES))
    except (LocalEntryNotFoundError, OSError, ValueError) as exc:
        msg = (f"model {name!r} is not in the Hugging Face cache; fetch it once with "
               f"'ros2 run vlm_seg_ros download-models' (or 'python -m "
               f"vlm_seg_ros.tools.download_models --model {name}'), or name a local directory")
        raise ModelMissingError(msg) from exc


def download(name: str, *, cache_dir: str | None = None) -> Path:
    """Fetch a model's checkpoint files into the cache (progress bars from huggingface_hub).

    Raises:
        ModelMissingError: if it cannot be fetched (offline, unknown id, no network).

    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    try:
        return Path(snapshot_download(name, cache_dir=cache_dir,
                                      allow_patterns=CHECKPOINT_FILES))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
        msg = f'cannot download {name!r}: {exc}'
        raise ModelMissingError(msg) from exc


def load_pretrained(load: Callable[..., ModelT], path: Path, *, device: str,
                    dtype: torch.dtype, quantize: bool = False) -> ModelT:
    """Load a model with ``load`` (a ``from_pretrained``) safely and move it to ``device``.

    Safetensors only, no remote code, evaluation mode; with ``quantize`` on a CPU, linear
    layers become int8 dynamically quantized ones (``torch.ao.quantization.quantize_dynamic``).

    Raises:
        UnsafeCheckpointError: if ``path`` has no ``*.safetensors`` weights.

    """
    check_safetensors(path)
    model: Any = load(str(path), use_safetensors=True, trust_remote_code=False, dtype=dtype)
    import torch
    model = model.to(device).eval()
    if quantize and device == 'cpu':
        model = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            model, {torch.nn.Linear}, dtype=torch.qint8)
    return model  # type: ignore[no-any-return]


def check_safetensors(path: Path) -> None:
    """Refuse a checkpoint directory without ``*.safetensors`` weights, saying why.

    Raises:
        UnsafeCheckpointError: naming the pickle-based weight files found instead, if any.

    """
    if any(path.glob('*.safetensors')):
        return
    pickled = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    found = (f'; it has {", ".join(pickled)}: pickle-based weights, which are never loaded '
             'because unpickling can run code' if pickled else '')
    msg = (f'{path} has no safetensors weights (model.safetensors){found}. Only safetensors '
           'files are loaded (tensors, no code): use a checkpoint that has them, or convert '
           'this one where you trust it (from_pretrained, then save_pretrained)')
    raise UnsafeCheckpointError(msg)
