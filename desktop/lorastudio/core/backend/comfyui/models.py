"""What a ComfyUI server has (checkpoints, LoRAs, VAEs, samplers) and how local files map to it.

The server names its files relative to its model folders ("sd15/model.safetensors"); a local file
matches a server file with the same file name (case-insensitive), else with the same stem (a local
diffusers folder "dreamshaper" matches "dreamshaper.safetensors"). ComfyUI core offers no file
hashes, so a name is all there is to match on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from lorastudio.core.backend.comfyui.client import JSON_LIMIT, ComfyClient
from lorastudio.core.backend.comfyui.errors import RemoteError, RemoteMissingFiles, RemoteUnsupported
from lorastudio.core.backend.comfyui.workflow import SAMPLERS, ServerNames
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.metadata.untrusted import clean_text
from lorastudio.core.types import LoraFormat

# The node types build_workflow uses; a server without one of them cannot run our graph.
REQUIRED_NODES = ("CheckpointLoaderSimple", "LoraLoader", "CLIPSetLastLayer", "CLIPTextEncode",
                  "EmptyLatentImage", "KSampler", "VAEDecode", "VAELoader", "SaveImage")
MAX_NAMES = 100_000
MAX_NAME_LEN = 1024


@dataclass(frozen=True)
class ServerModels:
    checkpoints: tuple[str, ...] = ()
    loras: tuple[str, ...] = ()
    vaes: tuple[str, ...] = ()
    samplers: tuple[str, ...] = ()
    schedulers: tuple[str, ...] = ()
    nodes: frozenset[str] = frozenset()


def _options(info: dict[str, Any], node: str, field: str) -> tuple[str, ...]:
    """The option list of a combo input: ``[[...], {...}]`` (classic) or ``["COMBO", {"options": [...]}]``."""
    try:
        spec = info[node]["input"]["required"][field]
    except (KeyError, TypeError):
        return ()
    values: Any = None
    if isinstance(spec, list) and spec:
        if isinstance(spec[0], list):
            values = spec[0]
        elif spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
            values = spec[1].get("options")
    if not isinstance(values, list):
        return ()
    return tuple(clean_text(v) for v in values[:MAX_NAMES] if isinstance(v, str) and 0 < len(v) <= MAX_NAME_LEN)


def parse_object_info(info: Any) -> ServerModels:
    if not isinstance(info, dict):
        raise ValueError("/object_info is not an object")
    return ServerModels(
        checkpoints=_options(info, "CheckpointLoaderSimple", "ckpt_name"),
        loras=_options(info, "LoraLoader", "lora_name"),
        vaes=_options(info, "VAELoader", "vae_name"),
        samplers=_options(info, "KSampler", "sampler_name"),
        schedulers=_options(info, "KSampler", "scheduler"),
        nodes=frozenset(k for k in list(info)[:MAX_NAMES] if isinstance(k, str)),
    )


def fetch_server_models(client: ComfyClient) -> ServerModels:
    info = client.get_json("/object_info", limit=JSON_LIMIT)
    try:
        return parse_object_info(info)
    except ValueError:
        raise RemoteError(f"The ComfyUI server at {client.label} sent an unreadable node list.") from None


def _base(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).name


def find_on_server(local: Path, names: Iterable[str]) -> str | None:
    """The server's name for ``local``: same file name first, then same stem; None if absent."""
    names = tuple(names)
    wanted = local.name.lower()
    for name in names:
        if _base(name).lower() == wanted:
            return name
    stem = local.stem.lower() if local.suffix else local.name.lower()
    for name in names:
        if PurePosixPath(_base(name)).stem.lower() == stem:
            return name
    return None


class NameIndex:
    """The server's file names prepared for many look-ups: ``has(local)`` answers what
    ``find_on_server(local, names) is not None`` answers, in constant time (pickers mark thousands
    of files against thousands of names)."""

    def __init__(self, names: Iterable[str]) -> None:
        bases = [_base(name).lower() for name in names]
        self._names = frozenset(bases)
        self._stems = frozenset(PurePosixPath(base).stem for base in bases)

    def has(self, local: Path) -> bool:
        if local.name.lower() in self._names:
            return True
        return (local.stem.lower() if local.suffix else local.name.lower()) in self._stems


def match_local(local: Iterable[Path], names: Iterable[str]) -> dict[Path, str]:
    """Local files the server also has → the server's names (for marking pickers)."""
    names = tuple(names)
    found = {path: find_on_server(path, names) for path in local}
    return {path: name for path, name in found.items() if name is not None}


def check_lora_formats(request: GenerationRequest) -> None:
    """Refuse LoRAs in a layout ComfyUI core does not map to model keys (it would skip every key)."""
    from lorastudio.core.metadata.detect import inspect_file

    for spec in request.active_loras:
        if not spec.path.is_file():
            continue  # only the server has it: nothing to inspect, the server applies its own file
        info = inspect_file(spec.path)
        if info.lora_format == LoraFormat.PEFT:
            raise RemoteUnsupported(
                f"{spec.display_name} is a PEFT-format LoRA, which ComfyUI core cannot apply; "
                "convert it to kohya format or run it on this computer.")


def resolve_names(request: GenerationRequest, models: ServerModels, server: str) -> ServerNames:
    """The server's names for the request's files; refuses a job whose files or nodes it lacks."""
    missing_nodes = [n for n in REQUIRED_NODES if n not in models.nodes]
    if missing_nodes:
        raise RemoteUnsupported(f"The ComfyUI server at {server} lacks the node types {', '.join(missing_nodes)}.")
    sampler, scheduler = SAMPLERS.get(request.sampler, ("", ""))
    if sampler and (sampler not in models.samplers or scheduler not in models.schedulers):
        raise RemoteUnsupported(
            f"The ComfyUI server at {server} does not offer the sampler '{request.sampler}' ({sampler}, {scheduler}).")
    missing: list[str] = []
    checkpoint = find_on_server(Path(request.model), models.checkpoints)
    if checkpoint is None:
        missing.append(Path(request.model).name)
    loras: list[str] = []
    for spec in request.active_loras:
        name = find_on_server(spec.path, models.loras)
        if name is None:
            missing.append(spec.path.name)
        else:
            loras.append(name)
    vae = None
    if request.vae is not None:
        vae = find_on_server(Path(request.vae), models.vaes)
        if vae is None:
            missing.append(Path(request.vae).name)
    if missing or checkpoint is None:
        raise RemoteMissingFiles(f"The ComfyUI server at {server} lacks {', '.join(missing)}; "
                                 "copy the files into its models folders or pick another backend.")
    return ServerNames(checkpoint, tuple(loras), vae)
