"""The demo library: a tiny random-weight SD 1.x pipeline and three small LoRAs, built offline in
seconds, so a new user (and every test) can try the whole flow without downloading anything.

The LoRAs cover the layouts artists meet: two kohya/A1111 files (``lora_unet_*``/``lora_te_*`` keys
with ``ss_*`` and ``modelspec.*`` metadata) and one diffusers/PEFT file. Random weights make noisy
pictures; the point is that every code path is the real one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorastudio.core.paths import DataDir

DEMO_PIPELINE = "demo-tiny-sd15"
DEMO_SIZE = 128  # pixels; the tiny UNet is fast at this size on a CPU
# Enough for the scheduler to settle at this size, a second or two on a CPU (20 steps at 512 px took 80 s).
DEMO_STEPS = 8

UNET_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2", "proj_in", "proj_out")
TE_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")


@dataclass(frozen=True)
class DemoLibrary:
    pipeline: Path
    loras: tuple[Path, ...]


def _byte_chars() -> list[str]:
    # GPT-2/CLIP bytes_to_unicode: transformers 5 no longer exports it.
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    extra = [b for b in range(256) if b not in keep]
    return [chr(b) for b in keep] + [chr(256 + i) for i in range(len(extra))]


def write_clip_tokenizer(folder: Path) -> Any:
    """A byte-level CLIP BPE tokenizer (every byte a token, a few merges) made offline."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in _byte_chars():
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    merges = ["a t</w>", "c at</w>"]
    for tok in ("at</w>", "cat</w>"):
        vocab[tok] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), "utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", "utf-8")
    return CLIPTokenizer.from_pretrained(str(folder), model_max_length=77)


def _text_config(**kw: Any) -> Any:
    from transformers import CLIPTextConfig

    cfg: dict[str, Any] = dict(vocab_size=1000, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                               num_attention_heads=4, max_position_embeddings=77, projection_dim=32,
                               bos_token_id=0, eos_token_id=1, pad_token_id=1)
    cfg.update(kw)
    return CLIPTextConfig(**cfg)


def _tiny_vae() -> Any:
    from diffusers import AutoencoderKL

    # 4 blocks -> vae_scale_factor 8, like the real SD VAE
    return AutoencoderKL(down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                         block_out_channels=[8, 8, 8, 8], layers_per_block=1, norm_num_groups=4,
                         latent_channels=4, sample_size=DEMO_SIZE)


def _scheduler() -> Any:
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  timestep_spacing="leading", steps_offset=1)


def build_tiny_sd(tokenizer_dir: Path, seed: int = 0) -> Any:
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=DEMO_SIZE // 8, layers_per_block=1, block_out_channels=(32, 64), norm_num_groups=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8)
    return StableDiffusionPipeline(
        vae=_tiny_vae(), text_encoder=CLIPTextModel(_text_config()),
        tokenizer=write_clip_tokenizer(tokenizer_dir), unet=unet, scheduler=_scheduler(),
        safety_checker=None, feature_extractor=None, image_encoder=None, requires_safety_checker=False)


def add_kohya_pair(sd: dict[str, Any], key: str, mod: Any, rank: int, alpha: float, scale: float,
                   generator: Any) -> None:
    """Random ``lora_down``/``lora_up``/``alpha`` tensors for one Linear or 1x1 Conv2d module."""
    import torch

    mod = getattr(mod, "base_layer", mod)  # skip PEFT wrappers if adapters are loaded
    down_shape: tuple[int, ...]
    up_shape: tuple[int, ...]
    if isinstance(mod, torch.nn.Linear):
        down_shape, up_shape = (rank, mod.in_features), (mod.out_features, rank)
    else:  # 1x1 Conv2d
        down_shape, up_shape = (rank, mod.in_channels, 1, 1), (mod.out_channels, rank, 1, 1)
    sd[key + ".lora_down.weight"] = torch.randn(down_shape, generator=generator) * scale
    sd[key + ".lora_up.weight"] = torch.randn(up_shape, generator=generator) * scale
    sd[key + ".alpha"] = torch.tensor(alpha)


def kohya_lora(unet: Any, text_encoder: Any, rank: int = 4, alpha: float = 2.0, seed: int = 0,
               scale: float = 0.3) -> dict[str, Any]:
    """A kohya/A1111-layout LoRA for ``unet`` + ``text_encoder``, named as real files name modules
    (``lora_te_text_model_encoder_...``: transformers 5 dropped the ``text_model`` level)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    sd: dict[str, Any] = {}

    def add(key: str, mod: Any) -> None:
        add_kohya_pair(sd, key, mod, rank, alpha, scale, g)

    for prefix, model, targets in (("lora_unet_", unet, UNET_TARGETS), ("lora_te_", text_encoder, TE_TARGETS)):
        for name, mod in model.named_modules():
            if ".base_layer" in name or ".lora_" in name or not name.endswith(targets):
                continue
            if prefix != "lora_unet_" and not name.startswith("text_model."):
                name = "text_model." + name
            add(prefix + name.replace(".", "_"), mod)
    return sd


def _kohya_metadata(title: str, rank: int, alpha: float, tags: dict[str, int]) -> dict[str, str]:
    return {
        "ss_base_model_version": "sd_v1",
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(rank),
        "ss_network_alpha": str(alpha),
        "ss_output_name": title.lower().replace(" ", "_"),
        "ss_num_epochs": "10",
        "ss_learning_rate": "0.0001",
        "ss_tag_frequency": json.dumps({"10_demo": tags}),
        "modelspec.sai_model_spec": "1.0.1",
        "modelspec.architecture": "stable-diffusion-v1/lora",
        "modelspec.implementation": "diffusers",
        "modelspec.title": title,
        "modelspec.resolution": f"{DEMO_SIZE}x{DEMO_SIZE}",
        "modelspec.trigger_phrase": next(iter(tags)),
        "modelspec.description": "Demo LoRA with random weights, made by LoRA Studio.",
    }


def _peft_lora(pipe: Any, seed: int, rank: int = 4) -> dict[str, Any]:
    """A diffusers/PEFT-layout LoRA (``unet.<module>.lora_A.weight``) on the UNet attention."""
    import torch

    g = torch.Generator().manual_seed(seed)
    sd: dict[str, Any] = {}
    for name, mod in pipe.unet.named_modules():
        if isinstance(mod, torch.nn.Linear) and name.endswith(("to_q", "to_k", "to_v", "to_out.0")):
            sd[f"unet.{name}.lora_A.weight"] = torch.randn(rank, mod.in_features, generator=g) * 0.3
            sd[f"unet.{name}.lora_B.weight"] = torch.randn(mod.out_features, rank, generator=g) * 0.3
    return sd


def _sdxl_shaped_lora() -> tuple[dict[str, Any], dict[str, str]]:
    """A small LoRA with SDXL key names and widths (2048-wide cross-attention): it exists to show
    how an incompatible LoRA is flagged and refused before anything is loaded."""
    import torch

    g = torch.Generator().manual_seed(4)
    sd: dict[str, Any] = {}
    for block in ("input_blocks_4_1", "middle_block_1", "output_blocks_0_1"):
        key = f"lora_unet_{block}_transformer_blocks_0_attn2_to_k"
        sd[key + ".lora_down.weight"] = torch.randn(4, 2048, generator=g) * 0.01
        sd[key + ".lora_up.weight"] = torch.randn(640, 4, generator=g) * 0.01
        sd[key + ".alpha"] = torch.tensor(2.0)
    meta = _kohya_metadata("XL Sketch", 4, 2.0, {"xl sketch": 12})
    meta.update({"ss_base_model_version": "sdxl_base_v1-0",
                 "modelspec.architecture": "stable-diffusion-xl-v1-base/lora",
                 "modelspec.resolution": "1024x1024",
                 "modelspec.description": "Demo SDXL LoRA: it does not fit the SD 1.x demo model."})
    return sd, meta


def _render_previews(folder: Path, loras: tuple[Path, ...]) -> None:
    """Real thumbnails: the demo model with each LoRA at weight 1 (a second or two in all)."""
    from lorastudio.core.engine.engine import DiffusersEngine
    from lorastudio.core.engine.request import GenerationRequest, LoraSpec

    engine = DiffusersEngine(device="cpu")
    jobs: list[tuple[Path, tuple[LoraSpec, ...]]] = [(folder.with_name(folder.name + ".preview.png"), ())]
    jobs += [(p.with_suffix(".preview.png"), (LoraSpec(p, 1.0),)) for p in loras]
    for target, specs in jobs:
        request = GenerationRequest(model=folder, prompt="a lighthouse at dusk", loras=specs, seed=7, steps=6,
                                    width=DEMO_SIZE, height=DEMO_SIZE)
        engine.generate(request)[0].image.save(target)


def _write_model_sidecar(folder: Path) -> None:
    """A1111's sidecar: the tiny model's widths don't reveal its family, so say it; and InvokeAI's
    ``default_settings`` shape, so a new generation starts at the size and steps the model is for."""
    sidecar = folder.with_name(folder.name + ".json")
    text = json.dumps({
        "sd version": "SD1", "description": "Tiny random-weight SD 1.x pipeline made by LoRA Studio.",
        "default_settings": {"width": DEMO_SIZE, "height": DEMO_SIZE, "steps": DEMO_STEPS}})
    try:
        if sidecar.read_text("utf-8") == text:
            return
    except OSError:
        pass
    sidecar.write_text(text, "utf-8")


def build_demo_library(data: DataDir, previews: bool = True) -> DemoLibrary:
    """Write the demo pipeline and LoRAs into ``data``'s models folders (idempotent)."""
    from safetensors.torch import save_file

    data.ensure()
    folder = data.checkpoints / DEMO_PIPELINE
    loras = (data.loras / "demo-ink-wash.safetensors", data.loras / "demo-neon-glow.safetensors",
             data.loras / "demo-paper-cut.safetensors")
    xl = data.loras / "demo-xl-sketch.safetensors"
    if (folder / "model_index.json").exists() and all(p.exists() for p in (*loras, xl)):
        _write_model_sidecar(folder)  # a library built before the sidecar had default settings gets them
        return DemoLibrary(folder, loras)
    pipe = build_tiny_sd(data.cache / "demo-tokenizer")
    pipe.save_pretrained(str(folder), safe_serialization=True)
    _write_model_sidecar(folder)
    ink = kohya_lora(pipe.unet, pipe.text_encoder, rank=4, alpha=2.0, seed=1)
    save_file(ink, str(loras[0]), metadata=_kohya_metadata(
        "Ink Wash", 4, 2.0, {"inkwash style": 24, "monochrome": 18, "brush strokes": 9}))
    neon = kohya_lora(pipe.unet, pipe.text_encoder, rank=8, alpha=4.0, seed=2)
    save_file(neon, str(loras[1]), metadata=_kohya_metadata(
        "Neon Glow", 8, 4.0, {"neon glow": 30, "night city": 11}))
    paper = _peft_lora(pipe, seed=3)
    save_file(paper, str(loras[2]), metadata={
        "modelspec.architecture": "stable-diffusion-v1/lora", "modelspec.title": "Paper Cut",
        "modelspec.trigger_phrase": "papercut"})
    (data.loras / "demo-paper-cut.json").write_text(json.dumps(
        {"description": "Demo LoRA in diffusers/PEFT layout.", "sd version": "SD1",
         "activation text": "papercut", "preferred weight": 0.8}), "utf-8")
    xl_sd, xl_meta = _sdxl_shaped_lora()
    save_file(xl_sd, str(xl), metadata=xl_meta)
    if previews:
        _render_previews(folder, loras)
    return DemoLibrary(folder, loras)
