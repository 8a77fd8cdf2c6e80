"""GenerationRequest <-> JSON-safe dicts, for the persisted job queue.

Reading is bounded and strict: a damaged entry raises ValueError and the queue skips it.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from lorastudio.core.engine.memory import MemoryOptions
from lorastudio.core.engine.request import GenerationRequest, LoraSpec

_MAX_LORAS = 64
_MAX_TEXT = 20_000


def request_to_dict(request: GenerationRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(request):
        value = getattr(request, f.name)
        if f.name == "loras":
            value = [_spec_to_dict(s) for s in value]
        elif f.name == "memory":
            value = asdict(value)
        elif isinstance(value, Path):
            value = str(value)
        elif f.name == "extra":
            value = {str(k): str(v) for k, v in value.items()}
        out[f.name] = value
    return out


def _spec_to_dict(spec: LoraSpec) -> dict[str, Any]:
    d = asdict(spec)
    d["path"] = str(spec.path)
    if spec.blocks is not None:
        d["blocks"] = list(spec.blocks)
    return d


def _spec_from_dict(raw: Any) -> LoraSpec:
    if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
        raise ValueError("a LoRA entry needs a path")
    known = {f.name for f in fields(LoraSpec)}
    values = {k: v for k, v in raw.items() if k in known}
    values["path"] = Path(values["path"])
    if values.get("blocks") is not None:
        values["blocks"] = tuple(float(b) for b in values["blocks"])
    for key in ("weight", "start", "stop"):
        if key in values:
            values[key] = float(values[key])
    if values.get("te_weight") is not None:
        values["te_weight"] = float(values["te_weight"])
    return LoraSpec(**values)


def request_from_dict(raw: Any) -> GenerationRequest:
    """The request a dict describes; ValueError when it is not one."""
    if not isinstance(raw, dict) or not isinstance(raw.get("model"), str):
        raise ValueError("a job needs a model path")
    known = {f.name for f in fields(GenerationRequest)}
    values = {k: v for k, v in raw.items() if k in known}
    for key in ("prompt", "negative_prompt"):
        text = values.get(key, "")
        if not isinstance(text, str) or len(text) > _MAX_TEXT:
            raise ValueError(f"bad {key}")
    loras = values.get("loras", [])
    if not isinstance(loras, list) or len(loras) > _MAX_LORAS:
        raise ValueError("bad LoRA list")
    values["loras"] = tuple(_spec_from_dict(lo) for lo in loras)
    values["model"] = Path(values["model"])
    if values.get("vae") is not None:
        values["vae"] = Path(str(values["vae"]))
    memory = values.get("memory", {})
    if isinstance(memory, dict):
        mem_known = {f.name for f in fields(MemoryOptions)}
        values["memory"] = MemoryOptions(**{k: bool(v) for k, v in memory.items() if k in mem_known})
    else:
        raise ValueError("bad memory options")
    for key in ("seed", "steps", "width", "height", "clip_skip", "batch_count", "preview_every"):
        if key in values and not isinstance(values[key], int):
            raise ValueError(f"bad {key}")
    if "cfg" in values:
        values["cfg"] = float(values["cfg"])
    extra = values.get("extra", {})
    values["extra"] = {str(k): str(v) for k, v in extra.items()} if isinstance(extra, dict) else {}
    try:
        return GenerationRequest(**values)
    except (TypeError, ValueError) as err:
        raise ValueError(str(err)) from None
