"""``download-models``: fetch perception_node's models into the Hugging Face cache, once.

The node never downloads (it loads offline-first and runs geometry-only while a model is
missing); this command is the one explicit online step::

    ros2 run vlm_seg_ros download-models                      # the default models
    ros2 run vlm_seg_ros download-models --params-file my.yaml # the models a config names
    python -m vlm_seg_ros.tools.download_models --model facebook/sam3

Models come from ``models.*`` of a parameters file (default: the built-in defaults);
``models.describer: auto`` fetches the describer for this machine's device (``--device`` to
choose another). SAM 3 is fetched when ``prompts.text`` is set or with ``--all``. The cache is
``HF_HUB_CACHE`` / ``HF_HOME`` as for every Hugging Face tool; ``HF_HUB_OFFLINE=1`` refuses.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import sys
from typing import Any

from vlm_seg_ros.core.config import from_parameters
from vlm_seg_ros.core.semantics import PromptConfig
from vlm_seg_ros.models import loading


def _parameters(path: Path | None) -> dict[str, Any]:
    """Return the flattened ``ros__parameters`` of the first node in a parameters file."""
    if path is None:
        return {}
    import yaml
    document = yaml.safe_load(path.read_text()) or {}
    node: dict[str, Any] = next(iter(document.values()), {}) if isinstance(document, dict) else {}
    values: dict[str, Any] = {}

    def flatten(prefix: str, tree: Any) -> None:
        for key, value in (tree or {}).items():
            if isinstance(value, dict):
                flatten(f'{prefix}{key}.', value)
            else:
                values[f'{prefix}{key}'] = value
    flatten('', node.get('ros__parameters', {}))
    return values


def configured_models(params_file: Path | None = None, *, device: str | None = None,
                      everything: bool = False) -> list[str]:
    """Return the model names the node would load with a parameters file (in load order)."""
    values = _parameters(params_file)
    models = from_parameters(loading.ModelConfig,
                             {k: v for k, v in values.items() if k.startswith('models.')},
                             'models.')
    prompts = from_parameters(PromptConfig,
                              {k: v for k, v in values.items() if k.startswith('prompts.')},
                              'prompts.')
    device = device or loading.select_device(models.device)
    names = [models.segmenter, models.describer_for(device)]
    if everything or prompts.phrases:
        names.append(models.text_segmenter)
    return [name for name in dict.fromkeys(names) if name]


def main(argv: list[str] | None = None) -> int:
    """Fetch the models; return the exit status (0: all present)."""
    parser = argparse.ArgumentParser(prog='download-models', description=__doc__.split('\n')[0])
    parser.add_argument('--model', action='append', default=[],
                        help='a Hub id to fetch (repeatable); default: the configured models')
    parser.add_argument('--params-file', type=Path,
                        help='perception_node parameters file whose models.* to fetch')
    parser.add_argument('--device', help="device the describer 'auto' is resolved for "
                        "(default: this machine's)")
    parser.add_argument('--all', action='store_true', help='also fetch SAM 3 (text prompts)')
    parser.add_argument('--cache-dir', help='another Hugging Face cache directory')
    args = parser.parse_args(argv)
    names = args.model or configured_models(args.params_file, device=args.device,
                                            everything=args.all)
    offline = os.environ.get('HF_HUB_OFFLINE', '').lower() in ('1', 'true', 'yes', 'on')
    status = 0
    for name in names:
        if Path(name).expanduser().is_dir():
            print(f'{name}: a local directory, nothing to fetch')
            continue
        try:
            path = loading.resolve(name, cache_dir=args.cache_dir)
            print(f'{name}: already in the cache ({path})')
            continue
        except loading.ModelMissingError:
            pass
        if offline:
            print(f'{name}: missing, and HF_HUB_OFFLINE is set; unset it to download',
                  file=sys.stderr)
            status = 1
            continue
        print(f'{name}: downloading')
        try:
            path = loading.download(name, cache_dir=args.cache_dir)
        except loading.ModelMissingError as exc:
            print(f'{name}: {exc}', file=sys.stderr)
            status = 1
            continue
        print(f'{name}: done ({path})')
    return status


def cli() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == '__main__':
    cli()
