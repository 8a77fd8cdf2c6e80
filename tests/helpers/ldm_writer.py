"""Write a diffusers SD 1.x pipeline as an original-layout (LDM) single-file checkpoint, the way
model sites ship them: the reverse of diffusers' conversion (stack-api-notes §3.2). Test fixtures only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
          "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}


def unet_to_ldm(unet: Any) -> dict[str, Any]:
    sd, cfg, out = unet.state_dict(), unet.config, {}
    per = cfg.layers_per_block

    def move(src: str, dst: str, resnet: bool = False) -> None:
        for k in [k for k in sd if k.startswith(src + ".")]:
            rest = k[len(src) + 1:]
            if resnet:
                head, tail = rest.split(".", 1)
                rest = RESNET[head] + "." + tail
            out[f"model.diffusion_model.{dst}.{rest}"] = sd[k]

    for src, dst in (("time_embedding.linear_1", "time_embed.0"), ("time_embedding.linear_2", "time_embed.2"),
                     ("conv_in", "input_blocks.0.0"), ("conv_norm_out", "out.0"), ("conv_out", "out.2")):
        move(src, dst)
    n_down = len(cfg.down_block_types)
    for i, kind in enumerate(cfg.down_block_types):
        for j in range(per):
            n = (per + 1) * i + j + 1
            move(f"down_blocks.{i}.resnets.{j}", f"input_blocks.{n}.0", resnet=True)
            if "CrossAttn" in kind:
                move(f"down_blocks.{i}.attentions.{j}", f"input_blocks.{n}.1")
        if i < n_down - 1:
            move(f"down_blocks.{i}.downsamplers.0.conv", f"input_blocks.{(per + 1) * (i + 1)}.0.op")
    move("mid_block.resnets.0", "middle_block.0", resnet=True)
    move("mid_block.attentions.0", "middle_block.1")
    move("mid_block.resnets.1", "middle_block.2", resnet=True)
    for i, kind in enumerate(cfg.up_block_types):
        for j in range(per + 1):
            n = (per + 1) * i + j
            move(f"up_blocks.{i}.resnets.{j}", f"output_blocks.{n}.0", resnet=True)
            if "CrossAttn" in kind:
                move(f"up_blocks.{i}.attentions.{j}", f"output_blocks.{n}.1")
        if i < n_down - 1:
            n = (per + 1) * i + per
            move(f"up_blocks.{i}.upsamplers.0.conv", f"output_blocks.{n}.{2 if 'CrossAttn' in kind else 1}.conv")
    assert len(out) == len(sd)
    return out


def vae_to_ldm(vae: Any, prefix: str = "first_stage_model.") -> dict[str, Any]:
    n = len(vae.config.block_out_channels)
    pairs = [("conv_norm_out", "norm_out"), ("conv_shortcut", "nin_shortcut"),
             ("mid_block.resnets.0", "mid.block_1"), ("mid_block.resnets.1", "mid.block_2"),
             ("mid_block.attentions.0", "mid.attn_1"), ("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"),
             ("to_v", "v"), ("to_out.0", "proj_out")]
    for i in range(n):
        pairs += [(f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block."),
                  (f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."),
                  (f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{n - 1 - i}.block."),
                  (f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{n - 1 - i}.upsample.")]
    out = {}
    for k, v in vae.state_dict().items():
        for a, b in pairs:
            k = k.replace(a, b)
        if ".mid.attn_1." in k and k.endswith("weight") and v.ndim == 2:
            v = v[:, :, None, None]  # LDM stores the VAE attention projections as 1x1 convs
        out[prefix + k] = v
    return out


def text_encoder_to_ldm(te: Any) -> dict[str, Any]:
    return {"cond_stage_model.transformer." + (k if k.startswith("text_model.") else "text_model." + k): v
            for k, v in te.state_dict().items()}


def save_sd1_single_file(pipe: Any, path: Path) -> Path:
    from safetensors.torch import save_file

    sd = {**unet_to_ldm(pipe.unet), **vae_to_ldm(pipe.vae), **text_encoder_to_ldm(pipe.text_encoder)}
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return path


def save_vae_single_file(vae: Any, path: Path) -> Path:
    """A standalone VAE file as shipped on model sites (``encoder.*``/``decoder.*`` LDM names)."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in vae_to_ldm(vae, prefix="").items()}, str(path))
    return path
