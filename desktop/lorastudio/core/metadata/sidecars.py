"""Files other tools keep next to a model (same folder, same base name).

- previews: ``name.preview.{png,jpg,jpeg,webp}``, ``name.{png,jpg,jpeg,webp}``, ``name.thumb.jpg``
- Civitai Helper ``name.civitai.info`` (``trainedWords``, ``description``, ``baseModel``)
- A1111 ``name.json`` ("activation text", "preferred weight", "description", "sd version")
- ``name.txt`` description
- LoRA Studio's hub sidecar ``<file>.hf.json`` (repo_id, revision, commit, filename, sha256, ...)

Every reader tolerates missing, empty, huge or malformed files: a sidecar never breaks a scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lorastudio.core.metadata.untrusted import clean_text, finite_float, loads_json, open_regular, read_limited
from lorastudio.core.types import BaseArch

MAX_SIDECAR_BYTES = 2 * 1024 * 1024
PREVIEW_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class Sidecars:
    preview: Path | None = None
    trigger_words: tuple[str, ...] = ()
    preferred_weight: float | None = None
    description: str = ""
    title: str = ""
    base: BaseArch = BaseArch.UNKNOWN
    hub: dict[str, str] = field(default_factory=dict)


def _stem(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


def find_preview(path: Path, siblings: frozenset[str] | None = None) -> Path | None:
    """The first preview image next to ``path`` (a file or a folder), in the order tools use.

    ``siblings``, the names in ``path``'s folder when the caller has listed it, saves a stat per
    candidate (a scan of 10k files would otherwise stat 90k names that do not exist).
    """
    stem, parent = _stem(path), path.parent
    names = [f"{stem}.preview{s}" for s in PREVIEW_SUFFIXES]
    names += [f"{stem}{s}" for s in PREVIEW_SUFFIXES]
    names.append(f"{stem}.thumb.jpg")
    for name in names:
        if siblings is not None and name not in siblings:
            continue
        candidate = parent / name
        try:
            if candidate.is_file():
                return candidate
        except OSError:
            continue
    if path.is_dir():  # a pipeline folder may hold its own preview
        for s in PREVIEW_SUFFIXES:
            candidate = path / f"preview{s}"
            if candidate.is_file():
                return candidate
    return None


def _read_json(path: Path | None) -> Any:
    """The sidecar's JSON, or None: missing, not a regular file, over 2 MB, too deep or malformed."""
    if path is None:
        return None
    try:
        raw = read_limited(path, MAX_SIDECAR_BYTES)
        # Tools write Latin-1 or broken UTF-8 now and then: keep what can be read.
        return loads_json(raw.decode("utf-8", errors="replace"), max_bytes=4 * MAX_SIDECAR_BYTES, lone_surrogates=True)
    except (OSError, ValueError):
        return None


def _read_text(path: Path | None, limit: int = 20_000) -> str:
    if path is None:
        return ""
    try:
        with open_regular(path) as f:
            raw = f.read(4 * limit)
    except OSError:
        return ""
    return clean_text(raw.decode("utf-8", errors="replace")[:limit], keep_newlines=True).strip()


def split_words(text: str) -> tuple[str, ...]:
    """Comma-separated trigger phrases, trimmed, without empties or duplicates (order kept)."""
    out: list[str] = []
    for part in text.replace("\n", ",").split(","):
        word = clean_text(part[:400]).strip()[:200]
        if word and word not in out:
            out.append(word)
    return tuple(out)


def base_from_label(label: str) -> BaseArch:
    """Map a base-model label (A1111 "sd version", Civitai ``baseModel``) to a ``BaseArch``."""
    s = label.strip().lower()
    if not s or s == "unknown":
        return BaseArch.UNKNOWN
    if "flux" in s:
        return BaseArch.FLUX
    if "sd 3" in s or "sd3" in s:
        return BaseArch.SD3
    if "xl" in s or "pony" in s or "illustrious" in s or "noobai" in s:
        return BaseArch.SDXL
    if s in ("sd2", "sd 2") or s.startswith(("sd 2.", "sd2.")):
        return BaseArch.SD2
    if s in ("sd1", "sd 1") or s.startswith(("sd 1.", "sd1.")):
        return BaseArch.SD1
    return BaseArch.OTHER


def read_sidecars(path: Path, siblings: frozenset[str] | None = None) -> Sidecars:
    """Everything the sidecars of ``path`` say; ``siblings`` as for ``find_preview``."""
    stem, parent = _stem(path), path.parent

    def near(name: str) -> Path | None:
        # None for a name known to be absent: no stat needed.
        return parent / name if siblings is None or name in siblings else None

    words: list[str] = []
    weight: float | None = None
    description = title = ""
    base = BaseArch.UNKNOWN

    civitai = _read_json(near(f"{stem}.civitai.info"))
    if isinstance(civitai, dict):
        trained = civitai.get("trainedWords")
        if isinstance(trained, list):
            for w in trained[:1000]:
                if isinstance(w, str):
                    words.extend(split_words(w))
        if isinstance(civitai.get("description"), str):
            description = civitai["description"]
        model = civitai.get("model")
        if isinstance(model, dict) and isinstance(model.get("name"), str):
            title = model["name"]
        if isinstance(civitai.get("baseModel"), str):
            base = base_from_label(civitai["baseModel"])

    a1111 = _read_json(near(f"{stem}.json"))
    if isinstance(a1111, dict):
        activation = a1111.get("activation text")
        if isinstance(activation, str):
            words.extend(split_words(activation))
        pw = finite_float(a1111.get("preferred weight"), -100.0, 100.0)
        if pw is not None and pw != 0:  # A1111: 0 = unset
            weight = pw
        if isinstance(a1111.get("description"), str) and a1111["description"].strip():
            description = a1111["description"]
        if isinstance(a1111.get("sd version"), str) and base is BaseArch.UNKNOWN:
            base = base_from_label(a1111["sd version"])

    if not description:
        description = _read_text(near(f"{stem}.txt")) or _read_text(near(f"{stem}.description.txt"))

    hub: dict[str, str] = {}
    raw_hub = _read_json(near(f"{path.name}.hf.json"))
    if isinstance(raw_hub, dict):
        hub = {clean_text(k[:100]): clean_text(str(v)[:500]) for k, v in list(raw_hub.items())[:50] if v is not None}

    unique = tuple(dict.fromkeys(words))
    return Sidecars(
        preview=find_preview(path, siblings),
        trigger_words=unique,
        preferred_weight=weight,
        description=clean_text(description[:40_000], keep_newlines=True).strip()[:20_000],
        title=clean_text(title[:1000]).strip()[:300],
        base=base,
        hub=hub,
    )
