"""Merge a weighted adapter mix into a standalone model folder that plain transformers loads.

The merge runs on a fresh copy of the base (``merge_and_unload`` rewrites the weights in place), so
the engine's loaded model and adapters stay usable.
"""

from __future__ import annotations

import json
from pathlib import Path

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.text.mix import TextMix
from lorastudio.core.text.models import TextModelInfo, require_text_model
from lorastudio.core.text.train import check_output_folder

MERGE_SIDECAR = "merged.json"


def merge_mix(model_dir: Path, mix: TextMix, out_dir: Path, cancel: CancelToken | None = None,
              device: str = "cpu") -> TextModelInfo:
    """Fold ``mix`` into the base in ``model_dir`` and save model, config and tokenizer to ``out_dir``."""
    from lorastudio.core.text.engine import TextEngine

    out_dir = Path(out_dir)
    check_output_folder(out_dir, "the merged model")  # before loading anything: a bad --out costs nothing
    mix.validate()
    if not mix.active:
        raise LoraStudioError("Give at least one adapter a weight other than 0 before merging.")
    base = require_text_model(Path(model_dir))
    engine = TextEngine(device=device)
    engine.load_model(base.path)
    engine.set_mix(mix)
    if cancel is not None:
        cancel.raise_if_cancelled()
    merged = engine.peft_model().merge_and_unload()
    merged.config.name_or_path = out_dir.name
    out_dir.mkdir(exist_ok=True)
    merged.save_pretrained(str(out_dir))
    engine.tokenizer.save_pretrained(str(out_dir))
    sources = {"base_model": base.repo_id or base.path.name,
               "adapters": [{"name": Path(p).name, "weight": w} for p, w in mix.active],
               "combination": "cat"}
    (out_dir / MERGE_SIDECAR).write_text(json.dumps(sources, indent=2), "utf-8")
    return require_text_model(out_dir)
