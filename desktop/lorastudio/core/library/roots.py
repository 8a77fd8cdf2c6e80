"""Find model folders of existing installs so the user can add them as external roots.

Known layouts: AUTOMATIC1111 / Forge (``models/Stable-diffusion``, ``models/Lora``,
``models/LyCORIS``, ``models/VAE``, ``embeddings``), ComfyUI (``models/checkpoints``, ``models/loras``,
``models/vae``, ``models/embeddings`` and its ``extra_model_paths.yaml``), InvokeAI (``models/``
under its root) and the Hugging Face cache (current snapshots of repos holding a diffusers
pipeline or ``.safetensors`` files). External folders are used in place, never copied.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lorastudio.core.metadata.untrusted import read_limited
from lorastudio.core.types import ModelKind

MAX_CONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DetectedRoot:
    path: Path
    app: str  # "AUTOMATIC1111", "Forge", "ComfyUI", "InvokeAI", "Hugging Face cache"
    kind: ModelKind | None  # what the folder mostly holds, when the layout says so
    label: str


_A1111 = (
    ("models/Stable-diffusion", ModelKind.CHECKPOINT),
    ("models/Lora", ModelKind.LORA),
    ("models/LyCORIS", ModelKind.LYCORIS),
    ("models/VAE", ModelKind.VAE),
    ("embeddings", ModelKind.EMBEDDING),
)
_COMFY = (
    ("models/checkpoints", ModelKind.CHECKPOINT),
    ("models/loras", ModelKind.LORA),
    ("models/vae", ModelKind.VAE),
    ("models/embeddings", ModelKind.EMBEDDING),
    ("models/diffusers", ModelKind.PIPELINE),
    ("models/diffusion_models", ModelKind.CHECKPOINT),
)
_COMFY_KINDS = {
    "checkpoints": ModelKind.CHECKPOINT,
    "loras": ModelKind.LORA,
    "vae": ModelKind.VAE,
    "embeddings": ModelKind.EMBEDDING,
    "diffusers": ModelKind.PIPELINE,
    "diffusion_models": ModelKind.CHECKPOINT,
    "unet": ModelKind.CHECKPOINT,
}


def _dirs(base: Path, layout: Iterable[tuple[str, ModelKind]], app: str) -> list[DetectedRoot]:
    out = []
    for rel, kind in layout:
        p = base / rel
        if p.is_dir():
            out.append(DetectedRoot(p, app, kind, f"{app}: {rel}"))
    return out


def detect_install(folder: Path) -> list[DetectedRoot]:
    """The model folders of the install at ``folder`` (A1111/Forge, ComfyUI or InvokeAI), if any."""
    folder = Path(folder).expanduser()
    if (folder / "models" / "Stable-diffusion").is_dir():
        app = "Forge" if "forge" in folder.name.lower() or (folder / "modules_forge").is_dir() else "AUTOMATIC1111"
        return _dirs(folder, _A1111, app)
    if (folder / "models" / "checkpoints").is_dir() or (folder / "extra_model_paths.yaml").is_file():
        found = _dirs(folder, _COMFY, "ComfyUI")
        for yaml_file in (folder / "extra_model_paths.yaml", folder / "extra_models_config.yaml"):
            if yaml_file.is_file():
                found += comfyui_extra_paths(yaml_file)
        return _unique(found)
    if (folder / "invokeai.yaml").is_file() or (folder / "configs" / "invokeai.yaml").is_file():
        models = folder / "models"
        return [DetectedRoot(models, "InvokeAI", None, "InvokeAI: models")] if models.is_dir() else []
    return []


def comfyui_extra_paths(yaml_file: Path) -> list[DetectedRoot]:
    """Folders named by a ComfyUI ``extra_model_paths.yaml``: blocks of ``base_path`` plus
    ``<folder type>: <path or several paths, one a line>``. A broken file gives nothing."""
    import yaml  # PyYAML: already a dependency of huggingface_hub/diffusers

    try:
        text = read_limited(yaml_file, MAX_CONFIG_BYTES).decode("utf-8", errors="replace")
        data = yaml.safe_load(text)
    except (OSError, ValueError, RecursionError, yaml.YAMLError):  # PyYAML recurses per nesting level
        return []
    if not isinstance(data, dict):
        return []
    out: list[DetectedRoot] = []
    for block_name, block in data.items():
        if not isinstance(block, dict):
            continue
        base = Path(os.path.expanduser(str(block.get("base_path", "")))) if block.get("base_path") else None
        if base is not None and not base.is_absolute():
            base = yaml_file.parent / base
        for key, value in block.items():
            kind = _COMFY_KINDS.get(str(key))
            if kind is None or not isinstance(value, str):
                continue
            for line in value.splitlines():
                line = line.strip()
                if not line:
                    continue
                p = Path(os.path.expanduser(line))
                if not p.is_absolute():
                    p = (base or yaml_file.parent) / p
                if p.is_dir():
                    out.append(DetectedRoot(p, "ComfyUI", kind, f"ComfyUI ({block_name}): {key}"))
    return out


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache as huggingface_hub resolves it (env vars honoured)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def hf_cache_roots(cache: Path | None = None) -> list[DetectedRoot]:
    """Current snapshots (``refs/main``) of model repos with a pipeline or safetensors files."""
    cache = cache or hf_cache_dir()
    out: list[DetectedRoot] = []
    try:
        repos = sorted(p for p in cache.iterdir() if p.name.startswith("models--"))
    except OSError:
        return []
    for repo in repos:
        snapshot = _current_snapshot(repo)
        if snapshot is None:
            continue
        repo_id = repo.name.removeprefix("models--").replace("--", "/")
        if (snapshot / "model_index.json").is_file():
            out.append(DetectedRoot(snapshot, "Hugging Face cache", ModelKind.PIPELINE, f"HF: {repo_id}"))
        elif any(p.suffix == ".safetensors" for p in snapshot.rglob("*.safetensors")):
            out.append(DetectedRoot(snapshot, "Hugging Face cache", None, f"HF: {repo_id}"))
    return out


def _current_snapshot(repo: Path) -> Path | None:
    try:
        commit = read_limited(repo / "refs" / "main", 4096).decode("ascii", errors="replace").strip()
    except (OSError, ValueError):
        commit = ""
    if "/" in commit or commit.startswith("."):  # a commit id, never a path
        commit = ""
    if commit and (repo / "snapshots" / commit).is_dir():
        return repo / "snapshots" / commit
    try:  # no refs/main (a pinned revision): the newest snapshot
        snaps = sorted((repo / "snapshots").iterdir(), key=lambda p: p.stat().st_mtime)
    except OSError:
        return None
    return snaps[-1] if snaps else None


def detect_installs(
    candidates: Iterable[Path] | None = None, home: Path | None = None, include_hf_cache: bool = True
) -> list[DetectedRoot]:
    """Look in the usual places (or ``candidates``) for installs and the HF cache."""
    home = home or Path.home()
    if candidates is None:
        names = (
            "stable-diffusion-webui",
            "stable-diffusion-webui-forge",
            "sd-webui-forge",
            "ComfyUI",
            "comfyui",
            "invokeai",
            "Documents/ComfyUI",
            "StabilityMatrix/Packages/stable-diffusion-webui",
            "StabilityMatrix/Packages/ComfyUI",
        )
        candidates = [home / n for n in names]
        if os.environ.get("INVOKEAI_ROOT"):
            candidates.append(Path(os.environ["INVOKEAI_ROOT"]))
    found: list[DetectedRoot] = []
    for c in candidates:
        if Path(c).is_dir():
            found += detect_install(Path(c))
    if include_hf_cache:
        found += hf_cache_roots()
    return _unique(found)


def _unique(roots: list[DetectedRoot]) -> list[DetectedRoot]:
    seen: set[Path] = set()
    out = []
    for r in roots:
        key = r.path.resolve() if r.path.exists() else r.path
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out
