"""From an image's generation parameters to a restore plan: prompt, settings and the LoRA mix.

Reads what LoRA Studio, A1111/Forge, Fooocus (both its A1111 text scheme and its JSON scheme),
StabilityMatrix and the Civitai extension write. LoRAs are resolved against the library by hash
first (12 hex = A1111's addnet hash, 10 hex = AutoV2 / Fooocus whole-file SHA-256), then by name,
and the plan names the ones that were not found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from lorastudio.core.engine.blocks import BlockWeightError
from lorastudio.core.engine.mix import LoraMix, PromptLora, extract_prompt_loras
from lorastudio.core.engine.request import LoraSpec
from lorastudio.core.engine.schedulers import SAMPLERS
from lorastudio.core.errors import ImageMetadataError
from lorastudio.core.metadata.infotext import Infotext, parse_infotext, read_image_parameters

# (path, display name, full-file sha256 or None, addnet (tensor-only) sha256 or None)
LibraryLora = tuple[Path, str, str | None, str | None]
# (path, display name, full-file sha256 or None)
LibraryModel = tuple[Path, str, str | None]

# Fooocus / ComfyUI sampler ids -> A1111 names.
_SAMPLER_IDS = {
    "euler": "Euler",
    "euler_ancestral": "Euler a",
    "heun": "Heun",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_2m_sde_gpu": "DPM++ 2M SDE",
    "ddim": "DDIM",
    "uni_pc": "UniPC",
    "uni_pc_bh2": "UniPC",
}


@dataclass(frozen=True)
class RestoredLora:
    """One LoRA named by the image, and what it resolved to (``path`` None: missing)."""

    name: str
    weight: float = 1.0
    te_weight: float | None = None
    hash: str = ""
    path: Path | None = None
    matched_by: str = ""  # "hash" | "name" | ""
    blocks: tuple[float, ...] | None = None  # from the tag's lbw= (LoRA Block Weight)
    start: float = 0.0
    stop: float = 1.0


@dataclass(frozen=True)
class RestorePlan:
    """Everything to put back into the generation panel and the mixer. None: not in the image."""

    prompt: str
    negative_prompt: str = ""
    seed: int | None = None
    steps: int | None = None
    cfg: float | None = None
    width: int | None = None
    height: int | None = None
    sampler: str | None = None  # one of SAMPLERS, or None when absent or unknown here
    clip_skip: int = 1
    model_name: str = ""
    model_hash: str = ""
    loras: tuple[RestoredLora, ...] = ()
    source: str = "A1111"
    notes: tuple[str, ...] = ()
    params: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def mix(self) -> LoraMix:
        return LoraMix(
            tuple(
                LoraSpec(path=lo.path, weight=lo.weight, te_weight=lo.te_weight, name=lo.name,
                         blocks=lo.blocks, start=lo.start, stop=lo.stop)
                for lo in self.loras
                if lo.path is not None
            )
        )

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(lo.name for lo in self.loras if lo.path is None)

    def summary(self) -> str:
        """One sentence for the notice bar."""
        found = len(self.loras) - len(self.missing)
        text = f"Restored the {self.source} parameters"
        if self.loras:
            text += f" and {found} of {len(self.loras)} LoRA{'s' if len(self.loras) != 1 else ''}"
        text += "."
        if self.missing:
            text += f" Not in your library: {', '.join(self.missing)}."
        return " ".join([text, *self.notes])


# -- reading -----------------------------------------------------------------------------------


def _from_tag(tag: PromptLora) -> RestoredLora:
    try:
        blocks = tag.blocks_vector()
    except BlockWeightError:  # an lbw= we cannot read: the LoRA comes back without block weights
        blocks = None
    return RestoredLora(tag.name, tag.weight, tag.te_weight, blocks=blocks, start=tag.start, stop=tag.stop)


def read_plan(path: Path, library: Sequence[LibraryLora] = ()) -> RestorePlan:
    """The restore plan of an image file; ImageMetadataError when it has nothing to restore."""
    try:
        text = read_image_parameters(path)
    except (OSError, ValueError, SyntaxError) as err:
        raise ImageMetadataError(f"{path.name} is not an image LoRA Studio can read ({err}).") from err
    except Exception as err:  # Pillow raises assorted errors for damaged files
        raise ImageMetadataError(f"{path.name} is damaged or not an image ({type(err).__name__}).") from err
    if not text:
        raise ImageMetadataError(f"{path.name} carries no generation parameters (no 'parameters' text).")
    return plan_from_text(text, library)


def plan_from_text(text: str, library: Sequence[LibraryLora] = ()) -> RestorePlan:
    """The restore plan of a ``parameters`` text (A1111 infotext or Fooocus JSON)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return _plan_from_fooocus_json(data, library)
    return plan_from_infotext(parse_infotext(text), library)


def _source(params: dict[str, str]) -> str:
    version = params.get("Version", "")
    if version.startswith("LoRA Studio"):
        return "LoRA Studio"
    if "Fooocus" in version or "Sharpness" in params or "Performance" in params:
        return "Fooocus"
    return "A1111"


def plan_from_infotext(info: Infotext, library: Sequence[LibraryLora] = ()) -> RestorePlan:
    p = info.params
    source = _source(p)
    # Fooocus keeps the user's own prompt in "Raw prompt" (its main prompt holds expanded styles).
    prompt = p.get("Raw prompt", info.prompt) if source == "Fooocus" else info.prompt
    negative = p.get("Raw negative prompt", info.negative_prompt) if source == "Fooocus" else info.negative_prompt
    prompt, tags = extract_prompt_loras(prompt)
    negative, _ = extract_prompt_loras(negative)

    wanted: dict[str, RestoredLora] = {}
    for tag in tags:
        wanted.setdefault(_key(tag.name), _from_tag(tag))
    weights = info.lora_weights
    for name, weight in weights.items():
        key = _key(name)
        if key not in wanted:
            wanted[key] = RestoredLora(name, weight)
    hashes = dict(info.lora_hashes)
    for key, value in info.hashes.items():  # Civitai extension: "lora:<name>": "<10 hex>"
        if key.lower().startswith("lora:"):
            hashes.setdefault(key[5:], value)
    for name, value in hashes.items():
        key = _key(name)
        current = wanted.get(key) or RestoredLora(name, weights.get(name, 1.0))
        wanted[key] = replace(current, hash=value)

    notes: list[str] = []
    sampler = _sampler(p.get("Sampler", ""), p.get("Schedule type", "") or p.get("Scheduler", ""), notes)
    size = info.size
    return RestorePlan(
        prompt=prompt,
        negative_prompt=negative,
        seed=info.get_int("Seed"),
        steps=info.get_int("Steps"),
        cfg=info.get_float("CFG scale"),
        width=size[0] if size else None,
        height=size[1] if size else None,
        sampler=sampler,
        clip_skip=max(1, info.get_int("Clip skip", 1) or 1),
        model_name=p.get("Model", ""),
        model_hash=(p.get("Model hash", "") or info.hashes.get("model", "")).lower(),
        loras=resolve_loras(list(wanted.values()), library),
        source=source,
        notes=tuple(notes),
        params=dict(p),
    )


def _plan_from_fooocus_json(data: dict[str, object], library: Sequence[LibraryLora]) -> RestorePlan:
    """Fooocus' ``fooocus`` metadata scheme: the ``parameters`` chunk is a JSON object."""

    def text(key: str) -> str:
        value = data.get(key)
        return "" if value is None else str(value)

    def number(key: str) -> float | None:
        try:
            return float(text(key))
        except ValueError:
            return None

    loras = []
    for item in data.get("loras") or []:  # type: ignore[attr-defined]
        if isinstance(item, list | tuple) and item:
            weight = float(item[1]) if len(item) > 1 and isinstance(item[1], int | float) else 1.0
            loras.append(RestoredLora(_stem(str(item[0])), weight, None, str(item[2]).lower() if len(item) > 2 else ""))
    prompt, tags = extract_prompt_loras(text("prompt"))
    for tag in tags:
        if all(_key(lo.name) != _key(tag.name) for lo in loras):
            loras.append(_from_tag(tag))
    size = re.findall(r"\d+", text("resolution"))
    notes: list[str] = []
    sampler = _sampler(text("sampler"), text("scheduler"), notes)
    seed, steps, cfg, clip = number("seed"), number("steps"), number("guidance_scale"), number("clip_skip")
    params = {k: text(k) for k in data}
    return RestorePlan(
        prompt=prompt,
        negative_prompt=text("negative_prompt"),
        seed=int(seed) if seed is not None else None,
        steps=int(steps) if steps is not None else None,
        cfg=cfg,
        width=int(size[0]) if len(size) == 2 else None,
        height=int(size[1]) if len(size) == 2 else None,
        sampler=sampler,
        clip_skip=max(1, int(clip)) if clip is not None else 1,
        model_name=_stem(text("base_model")),
        model_hash=text("base_model_hash").lower(),
        loras=resolve_loras(loras, library),
        source="Fooocus",
        notes=tuple(notes),
        params=params,
    )


def _sampler(name: str, schedule: str, notes: list[str]) -> str | None:
    name, schedule = name.strip(), schedule.strip()
    if not name:
        return None
    name = _SAMPLER_IDS.get(name.lower(), name)
    if schedule.lower() == "karras" and not name.endswith("Karras"):
        name = f"{name} Karras"
    by_lower = {s.lower(): s for s in SAMPLERS}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    notes.append(f"The sampler '{name}' is not available here; the current one is kept.")
    return None


# -- resolving ---------------------------------------------------------------------------------


def _stem(name: str) -> str:
    """A file name without folders and model suffix (not Path.stem: "style_v1.5" keeps its ".5")."""
    name = re.split(r"[\\/]", name.strip())[-1]
    for suffix in (".safetensors", ".ckpt", ".pt", ".sft"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _key(name: str) -> str:
    """How names compare: A1111 aliases drop ':' and ','; case and folder prefixes don't matter."""
    return _stem(name).replace(":", "").replace(",", "").strip().lower()


def _hash_match(short: str, sha256: str | None, addnet: str | None) -> bool:
    if len(short) < 8 or not re.fullmatch(r"[0-9a-f]+", short):
        return False
    # 12 hex is A1111's addnet short hash, 10 hex is AutoV2 (full-file): try the expected one first,
    # but accept either, since writers disagree (Fooocus writes 10-hex full-file hashes).
    first, second = (addnet, sha256) if len(short) == 12 else (sha256, addnet)
    return any(h is not None and h.lower().startswith(short) for h in (first, second))


def resolve_loras(wanted: Sequence[RestoredLora], library: Sequence[LibraryLora]) -> tuple[RestoredLora, ...]:
    """Resolve each wanted LoRA by hash first, then by name; unresolved ones keep ``path`` None."""
    out = []
    for lo in wanted:
        match: Path | None = None
        how = ""
        if lo.hash:
            for path, _name, sha, addnet in library:
                if _hash_match(lo.hash.lower(), sha, addnet):
                    match, how = path, "hash"
                    break
        if match is None:
            key = _key(lo.name)
            for path, name, _sha, _addnet in library:
                if key in (_key(name), _key(path.stem)):
                    match, how = path, "name"
                    break
        display = next((n for p, n, _s, _a in library if p == match), lo.name) if match else lo.name
        out.append(replace(lo, name=display, path=match, matched_by=how))
    return tuple(out)


def resolve_model(plan: RestorePlan, models: Sequence[LibraryModel]) -> Path | None:
    """The library checkpoint the image was made with: by AutoV2 hash, then by name."""
    if plan.model_hash:
        for path, _name, sha in models:
            if sha and _hash_match(plan.model_hash, sha, None):
                return path
    key = _key(plan.model_name)
    if key:
        for path, name, _sha in models:
            if key in (_key(name), _key(path.stem), _key(path.name)):
                return path
    return None
