"""A ``GenerationRequest`` as a ComfyUI API-format workflow (the graph ``POST /prompt`` takes).

The graph is the one every ComfyUI user knows: CheckpointLoaderSimple → one LoraLoader per enabled
mix row → CLIPSetLastLayer → two CLIPTextEncode → EmptyLatentImage → KSampler → VAEDecode →
SaveImage. Anything the graph cannot express exactly is refused by ``check_exact`` before a job is
sent, with one sentence, instead of being dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lorastudio.core.backend.comfyui.errors import RemoteUnsupported
from lorastudio.core.engine.request import GenerationRequest, LoraSpec

# Our A1111 sampler names (core/engine/schedulers.py) → ComfyUI core's (sampler_name, scheduler).
# A1111's "Karras" suffix is ComfyUI's karras scheduler; DDIM pairs with ddim_uniform as in
# ComfyUI's own DDIM examples.
SAMPLERS: dict[str, tuple[str, str]] = {
    "Euler": ("euler", "normal"),
    "Euler a": ("euler_ancestral", "normal"),
    "Heun": ("heun", "normal"),
    "DPM++ 2M": ("dpmpp_2m", "normal"),
    "DPM++ 2M Karras": ("dpmpp_2m", "karras"),
    "DPM++ 2M SDE": ("dpmpp_2m_sde", "normal"),
    "DPM++ 2M SDE Karras": ("dpmpp_2m_sde", "karras"),
    "DDIM": ("ddim", "ddim_uniform"),
    "UniPC": ("uni_pc", "normal"),
}

# ComfyUI's KSampler takes seeds up to 2**64 - 1, like ours; the filename prefix keeps our images
# apart from the user's own in the server's output folder.
SAVE_PREFIX = "LoRAStudio"


@dataclass(frozen=True)
class ServerNames:
    """The server's own names for the files a request uses (from ``models.resolve_names``)."""

    checkpoint: str
    loras: tuple[str, ...] = ()  # one per *active* LoRA of the request, in order
    vae: str | None = None


@dataclass(frozen=True)
class Workflow:
    graph: dict[str, dict[str, Any]]
    output_node: str  # the SaveImage node whose images /history lists


def comfy_sampler(name: str) -> tuple[str, str]:
    """ComfyUI's (sampler_name, scheduler) for one of our sampler names; refused if none fits."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise RemoteUnsupported(
            f"The sampler '{name}' has no equivalent on ComfyUI; choose one of: {', '.join(SAMPLERS)}."
        ) from None


def _lora_refusal(spec: LoraSpec) -> str | None:
    label = spec.display_name
    if spec.blocks is not None and any(abs(b - 1.0) > 1e-9 for b in spec.blocks):
        return (f"{label} uses per-block weights, which ComfyUI's LoraLoader cannot apply; "
                "reset them to run it remotely.")
    if spec.start > 0.0 or spec.stop < 1.0:
        return (f"{label} is limited to part of the steps (start/stop), which ComfyUI's LoraLoader cannot do; "
                "set it to the whole run to use a server.")
    return None


def check_exact(request: GenerationRequest) -> None:
    """Raise ``RemoteUnsupported`` for the first setting a ComfyUI server cannot reproduce exactly."""
    comfy_sampler(request.sampler)
    for spec in request.active_loras:
        reason = _lora_refusal(spec)
        if reason:
            raise RemoteUnsupported(reason)


def build_workflow(request: GenerationRequest, names: ServerNames, seed: int) -> Workflow:
    """The API-format graph for one image of ``request`` with ``seed`` (one prompt per image, so each
    image has the seed its infotext states, as in A1111)."""
    check_exact(request)
    loras = request.active_loras
    if len(names.loras) != len(loras):
        raise ValueError("names.loras must hold one server name per active LoRA")
    sampler, scheduler = comfy_sampler(request.sampler)
    graph: dict[str, dict[str, Any]] = {}
    counter = iter(range(1, 10_000))

    def add(class_type: str, inputs: dict[str, Any]) -> str:
        node = str(next(counter))
        graph[node] = {"class_type": class_type, "inputs": inputs}
        return node

    ckpt = add("CheckpointLoaderSimple", {"ckpt_name": names.checkpoint})
    model: list[Any] = [ckpt, 0]
    clip: list[Any] = [ckpt, 1]
    vae: list[Any] = [ckpt, 2]
    for spec, server_name in zip(loras, names.loras, strict=True):
        te = spec.weight if spec.te_weight is None else spec.te_weight
        node = add("LoraLoader", {"model": model, "clip": clip, "lora_name": server_name,
                                  "strength_model": float(spec.weight), "strength_clip": float(te)})
        model, clip = [node, 0], [node, 1]
    # A1111's clip skip N uses the N-th layer from the end: ComfyUI's stop_at_clip_layer = -N.
    skip = add("CLIPSetLastLayer", {"clip": clip, "stop_at_clip_layer": -int(request.clip_skip)})
    positive = add("CLIPTextEncode", {"clip": [skip, 0], "text": request.prompt})
    negative = add("CLIPTextEncode", {"clip": [skip, 0], "text": request.negative_prompt})
    latent = add("EmptyLatentImage", {"width": request.width, "height": request.height, "batch_size": 1})
    sample = add("KSampler", {
        "model": model, "positive": [positive, 0], "negative": [negative, 0], "latent_image": [latent, 0],
        "seed": int(seed), "steps": int(request.steps), "cfg": float(request.cfg),
        "sampler_name": sampler, "scheduler": scheduler, "denoise": 1.0,
    })
    if names.vae is not None:
        vae = [add("VAELoader", {"vae_name": names.vae}), 0]
    decode = add("VAEDecode", {"samples": [sample, 0], "vae": vae})
    save = add("SaveImage", {"images": [decode, 0], "filename_prefix": SAVE_PREFIX})
    return Workflow(graph, save)
