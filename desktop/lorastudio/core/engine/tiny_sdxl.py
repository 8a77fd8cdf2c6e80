"""A tiny random-weight SDXL pipeline and kohya-layout SDXL LoRAs, built offline in a second.

For tests and benchmarks of the SDXL path (two text encoders, sgm block names in LoRA files).
The LoRAs are named as kohya sd-scripts names SDXL files: ``lora_unet_input_blocks_N_1_...`` (the
original sgm UNet layout, which diffusers remaps), ``lora_te1_text_model_...`` and
``lora_te2_text_model_...``, with ``ss_*``/``modelspec.*`` metadata saying SDXL.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorastudio.core.engine.demo import (
    TE_TARGETS,
    UNET_TARGETS,
    _scheduler,
    _text_config,
    _tiny_vae,
    add_kohya_pair,
    write_clip_tokenizer,
)

TINY_SDXL = "tiny-sdxl"


@dataclass(frozen=True)
class TinySdxl:
    pipeline: Path
    loras: tuple[Path, ...]


def build_tiny_sdxl(tokenizer_dir: Path, seed: int = 0) -> Any:
    import torch
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8, layers_per_block=1, block_out_channels=(32, 64), norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, transformer_layers_per_block=(1, 2),
        addition_embed_type="text_time", addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=80,  # 6 * addition_time_embed_dim + text_encoder_2 projection
        cross_attention_dim=64)  # hidden_size(te1) + hidden_size(te2)
    tok = write_clip_tokenizer(tokenizer_dir)
    return StableDiffusionXLPipeline(
        vae=_tiny_vae(), text_encoder=CLIPTextModel(_text_config(hidden_act="gelu")),
        text_encoder_2=CLIPTextModelWithProjection(_text_config(hidden_act="gelu")),
        tokenizer=tok, tokenizer_2=tok, unet=unet, scheduler=_scheduler())


_BLOCK = re.compile(r"^(down_blocks|up_blocks)\.(\d+)\.(attentions|resnets)\.(\d+)\.(.*)$")


def sgm_name(diffusers_name: str, layers_per_block: int) -> str:
    """The original (sgm/LDM) UNet path kohya uses in SDXL LoRA names, for a diffusers module path
    inside an attention block: ``down_blocks.1.attentions.0.x`` → ``input_blocks.2.1.x`` (L=1)."""
    if diffusers_name.startswith("mid_block.attentions.0."):
        return "middle_block.1." + diffusers_name.removeprefix("mid_block.attentions.0.")
    m = _BLOCK.match(diffusers_name)
    if m is None or m.group(3) != "attentions":
        raise ValueError(f"no sgm name for {diffusers_name}")
    block, i, j, rest = m.group(1), int(m.group(2)), int(m.group(4)), m.group(5)
    per = layers_per_block + 1
    n = per * i + j + 1 if block == "down_blocks" else per * i + j
    return f"{'input_blocks' if block == 'down_blocks' else 'output_blocks'}.{n}.1.{rest}"


def kohya_sdxl_lora(pipe: Any, rank: int = 4, alpha: float = 2.0, seed: int = 0,
                    scale: float = 0.3) -> dict[str, Any]:
    """A kohya SDXL LoRA on the UNet attention/ff/proj layers and both text encoders."""
    import torch

    g = torch.Generator().manual_seed(seed)
    sd: dict[str, Any] = {}

    def add(key: str, mod: Any) -> None:
        add_kohya_pair(sd, key, mod, rank, alpha, scale, g)

    per = pipe.unet.config.layers_per_block
    for name, mod in pipe.unet.named_modules():
        if ".base_layer" in name or ".lora_" in name or not name.endswith(UNET_TARGETS):
            continue
        add("lora_unet_" + sgm_name(name, per).replace(".", "_"), mod)
    for prefix, te in (("lora_te1_", pipe.text_encoder), ("lora_te2_", pipe.text_encoder_2)):
        for name, mod in te.named_modules():
            if ".base_layer" in name or ".lora_" in name or not name.endswith(TE_TARGETS):
                continue
            if not name.startswith("text_model."):  # transformers 5 dropped this level in CLIPTextModel
                name = "text_model." + name
            add(prefix + name.replace(".", "_"), mod)
    return sd


def sdxl_lora_metadata(title: str, rank: int, alpha: float) -> dict[str, str]:
    return {"ss_base_model_version": "sdxl_base_v1-0", "ss_network_module": "networks.lora",
            "ss_network_dim": str(rank), "ss_network_alpha": str(alpha),
            "modelspec.architecture": "stable-diffusion-xl-v1-base/lora", "modelspec.title": title,
            "modelspec.sai_model_spec": "1.0.0", "ss_tag_frequency": json.dumps({"1_x": {title.lower(): 1}})}


def build_tiny_sdxl_library(folder: Path) -> TinySdxl:
    """Write the tiny SDXL pipeline and two kohya SDXL LoRAs under ``folder`` (idempotent)."""
    from safetensors.torch import save_file

    pipeline = folder / TINY_SDXL
    loras = (folder / "sdxl-lora-a.safetensors", folder / "sdxl-lora-b.safetensors")
    if (pipeline / "model_index.json").is_file() and all(p.is_file() for p in loras):
        return TinySdxl(pipeline, loras)
    folder.mkdir(parents=True, exist_ok=True)
    pipe = build_tiny_sdxl(folder / "tokenizer-src")
    pipe.save_pretrained(str(pipeline), safe_serialization=True)
    for i, (path, rank, alpha) in enumerate(((loras[0], 4, 2.0), (loras[1], 8, 4.0))):
        save_file(kohya_sdxl_lora(pipe, rank=rank, alpha=alpha, seed=10 + i), str(path),
                  metadata=sdxl_lora_metadata(path.stem, rank, alpha))
    return TinySdxl(pipeline, loras)
