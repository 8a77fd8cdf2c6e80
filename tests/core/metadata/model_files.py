"""Writers for header-realistic model files: real safetensors with tiny tensors.

Only the keys and the few dims detection reads are realistic (e.g. attn2 ``to_k`` input width 768 /
1024 / 2048); everything else is 1-4 wide so a file is a few KB. Shared by the library tests, the
Qt library tests and the library benchmark.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

SD15_UNET_BLOCKS = (
    [f"down_blocks_{i}_attentions_{j}" for i in range(3) for j in range(2)]
    + ["mid_block_attentions_0"]
    + [f"up_blocks_{i}_attentions_{j}" for i in range(1, 4) for j in range(3)]
)
SDXL_UNET_BLOCKS = [
    "input_blocks_4_1",
    "input_blocks_5_1",
    "input_blocks_7_1",
    "input_blocks_8_1",
    "middle_block_1",
] + [f"output_blocks_{i}_1" for i in range(6)]
ATTN = (
    "attn1_to_q",
    "attn1_to_k",
    "attn1_to_v",
    "attn1_to_out_0",
    "attn2_to_q",
    "attn2_to_k",
    "attn2_to_v",
    "attn2_to_out_0",
    "ff_net_0_proj",
    "ff_net_2",
)
TE = ("self_attn_q_proj", "self_attn_k_proj", "self_attn_v_proj", "self_attn_out_proj", "mlp_fc1", "mlp_fc2")


def _t(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.float16)


def _kohya_module(sd: dict[str, np.ndarray], name: str, rank: int, width: int, alpha: float) -> None:
    sd[f"{name}.lora_down.weight"] = _t(rank, width)
    sd[f"{name}.lora_up.weight"] = _t(2, rank)
    sd[f"{name}.alpha"] = np.array(alpha, dtype=np.float32)


def kohya_sd15(
    rank: int = 4, alpha: float = 2.0, text_encoder: bool = True, cross_width: int = 768, te_width: int = 4
) -> dict[str, np.ndarray]:
    """A kohya/A1111 SD1.5 LoRA key set: 192 UNet + 72 text-encoder modules (792 tensors)."""
    sd: dict[str, np.ndarray] = {}
    for block in SD15_UNET_BLOCKS:
        for mod in ("proj_in", "proj_out"):
            _kohya_module(sd, f"lora_unet_{block}_{mod}", rank, 4, alpha)
        for mod in ATTN:
            width = cross_width if mod in ("attn2_to_k", "attn2_to_v") else 4
            _kohya_module(sd, f"lora_unet_{block}_transformer_blocks_0_{mod}", rank, width, alpha)
    if text_encoder:
        for layer in range(12):
            for mod in TE:
                _kohya_module(sd, f"lora_te_text_model_encoder_layers_{layer}_{mod}", rank, te_width, alpha)
    return sd


def kohya_sdxl(rank: int = 4, alpha: float = 4.0, text_encoder: bool = True) -> dict[str, np.ndarray]:
    """A kohya SDXL LoRA: sgm block names, attn2 to_k width 2048, lora_te1_/lora_te2_."""
    sd: dict[str, np.ndarray] = {}
    for block in SDXL_UNET_BLOCKS:
        for mod in ATTN:
            width = 2048 if mod in ("attn2_to_k", "attn2_to_v") else 4
            _kohya_module(sd, f"lora_unet_{block}_transformer_blocks_0_{mod}", rank, width, alpha)
    if text_encoder:
        for te in ("lora_te1_", "lora_te2_"):
            for layer in range(2):
                for mod in TE:
                    _kohya_module(sd, f"{te}text_model_encoder_layers_{layer}_{mod}", rank, 4, alpha)
    return sd


def diffusers_lora(cross_width: int = 768, rank: int = 4) -> dict[str, np.ndarray]:
    sd: dict[str, np.ndarray] = {}
    for proj in ("to_q", "to_k", "to_v", "to_out.0"):
        width = cross_width if proj in ("to_k", "to_v") else 4
        base = f"unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.{proj}"
        sd[f"{base}.lora.down.weight"] = _t(rank, width)
        sd[f"{base}.lora.up.weight"] = _t(4, rank)
    for proj in ("q_proj", "k_proj"):
        base = f"text_encoder.text_model.encoder.layers.0.self_attn.{proj}"
        sd[f"{base}.lora_linear_layer.down.weight"] = _t(rank, 4)
        sd[f"{base}.lora_linear_layer.up.weight"] = _t(4, rank)
    return sd


def peft_lora(cross_width: int = 2048, rank: int = 8) -> dict[str, np.ndarray]:
    sd: dict[str, np.ndarray] = {}
    for proj in ("to_q", "to_k"):
        width = cross_width if proj == "to_k" else 4
        base = f"base_model.model.down_blocks.1.attentions.0.transformer_blocks.0.attn2.{proj}"
        sd[f"{base}.lora_A.weight"] = _t(rank, width)
        sd[f"{base}.lora_B.weight"] = _t(4, rank)
    return sd


def flux_kohya_lora() -> dict[str, np.ndarray]:
    sd: dict[str, np.ndarray] = {}
    for name in ("lora_unet_double_blocks_0_img_attn_qkv", "lora_unet_single_blocks_0_linear1"):
        _kohya_module(sd, name, 16, 4, 16.0)
    return sd


def loha(cross_width: int = 768) -> dict[str, np.ndarray]:
    sd: dict[str, np.ndarray] = {}
    for block in SD15_UNET_BLOCKS[:2]:
        name = f"lora_unet_{block}_transformer_blocks_0_attn2_to_k"
        sd[f"{name}.hada_w1_a"] = _t(4, 8)
        sd[f"{name}.hada_w1_b"] = _t(8, cross_width)
        sd[f"{name}.hada_w2_a"] = _t(4, 8)
        sd[f"{name}.hada_w2_b"] = _t(8, cross_width)
        sd[f"{name}.alpha"] = np.array(8.0, dtype=np.float32)
    return sd


def lokr() -> dict[str, np.ndarray]:
    sd: dict[str, np.ndarray] = {}
    for block in SDXL_UNET_BLOCKS[:2]:
        name = f"lora_unet_{block}_transformer_blocks_0_attn1_to_q"
        sd[f"{name}.lokr_w1"] = _t(4, 4)
        sd[f"{name}.lokr_w2"] = _t(4, 4)
        sd[f"{name}.alpha"] = np.array(1.0, dtype=np.float32)
    sd["lora_te1_text_model_encoder_layers_0_mlp_fc1.lokr_w1"] = _t(2, 2)
    sd["lora_te1_text_model_encoder_layers_0_mlp_fc1.lokr_w2"] = _t(2, 2)
    return sd


def checkpoint(family: str) -> dict[str, np.ndarray]:
    """Header-realistic single-file checkpoints: the keys/shapes diffusers' detection reads."""
    unet = "model.diffusion_model."
    sd: dict[str, np.ndarray] = {
        "first_stage_model.decoder.conv_in.weight": _t(2, 4, 1, 1),
        "first_stage_model.encoder.conv_in.weight": _t(2, 3, 1, 1),
    }
    if family in ("sd1", "sd1-inpaint"):
        sd[unet + "input_blocks.0.0.weight"] = _t(4, 9 if family == "sd1-inpaint" else 4, 1, 1)
        sd[unet + "input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight"] = _t(2, 768)
        sd[unet + "output_blocks.11.0.skip_connection.weight"] = _t(2, 2, 1, 1)
        sd["cond_stage_model.transformer.text_model.embeddings.position_embedding.weight"] = _t(77, 2)
    elif family == "sd2":
        sd[unet + "input_blocks.0.0.weight"] = _t(4, 4, 1, 1)
        sd[unet + "input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight"] = _t(2, 1024)
        sd["cond_stage_model.model.transformer.resblocks.0.mlp.c_proj.bias"] = _t(2)
    elif family == "sdxl":
        sd[unet + "input_blocks.0.0.weight"] = _t(4, 4, 1, 1)
        sd[unet + "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight"] = _t(2, 2048)
        sd["conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight"] = _t(77, 2)
        sd["conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias"] = _t(2)
    elif family == "sdxl-refiner":
        sd["conditioner.embedders.0.model.transformer.resblocks.9.mlp.c_proj.bias"] = _t(2)
    elif family == "sd3":
        sd = {
            unet + "joint_blocks.0.context_block.adaLN_modulation.1.bias": _t(9216),
            unet + "pos_embed": _t(1, 36864, 1),
        }
    elif family in ("flux-dev", "flux-schnell"):
        sd = {"double_blocks.0.img_attn.norm.key_norm.scale": _t(2)}
        if family == "flux-dev":
            sd["guidance_in.in_layer.bias"] = _t(2)
    else:
        raise ValueError(family)
    return sd


def vae() -> dict[str, np.ndarray]:
    return {
        "encoder.conv_in.weight": _t(2, 3, 1, 1),
        "decoder.conv_in.weight": _t(2, 4, 1, 1),
        "quant_conv.weight": _t(2, 2, 1, 1),
        "post_quant_conv.weight": _t(2, 2, 1, 1),
    }


def write(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path


def raw_safetensors(path: Path, header: object, data: bytes = b"", header_len: int | None = None) -> Path:
    """A hand-made (possibly hostile) safetensors file: any JSON header, any claimed length."""
    blob = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(blob) if header_len is None else header_len
    path.write_bytes(struct.pack("<Q", n) + blob + data)
    return path


def ss_metadata(base: str = "sd_v1", size: int = 0, tags: dict[str, int] | None = None) -> dict[str, str]:
    """kohya-style ``ss_*`` metadata; ``size`` pads ``ss_tag_frequency`` to about that many bytes."""
    freq = dict(tags or {"mychar": 40, "1girl": 35, "solo": 30, "smile": 12, "outdoors": 5, "hat": 2})
    i = 0
    while size and len(json.dumps(freq)) < size:
        freq[f"tag_number_{i}_with_some_length"] = 1
        i += 1
    return {
        "ss_base_model_version": base,
        "ss_network_module": "networks.lora",
        "ss_network_dim": "4",
        "ss_network_alpha": "2.0",
        "ss_output_name": "my_lora",
        "ss_learning_rate": "0.0001",
        "ss_num_epochs": "10",
        "ss_tag_frequency": json.dumps({"10_mychar": freq}),
    }
