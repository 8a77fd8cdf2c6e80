"""Key mapping, block ids and fit reports on full-size SD 1.5 and SDXL UNets (built on the meta
device: real module names and shapes, no memory), named as real kohya files name them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from lorastudio.core.engine.adapter_keys import build_index
from lorastudio.core.engine.blocks import BlockWeightError, block_factor, fit_blocks, parse_blocks, presets
from lorastudio.core.engine.fit import fit_report, fit_sentence
from lorastudio.core.types import BaseArch


def _unet(**config: Any) -> Any:
    import torch
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        return UNet2DConditionModel(**config)


@pytest.fixture(scope="module")
def sd15() -> Any:
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    with torch.device("meta"):
        te = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                          num_attention_heads=12))
    return SimpleNamespace(unet=_unet(cross_attention_dim=768), text_encoder=te)


@pytest.fixture(scope="module")
def sdxl() -> Any:
    unet = _unet(
        block_out_channels=(320, 640, 1280), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D",
                                                               "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(5, 10, 20),
        transformer_layers_per_block=(1, 2, 10), use_linear_projection=True, cross_attention_dim=2048,
        addition_embed_type="text_time", addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816)
    import torch

    return SimpleNamespace(unet=unet, text_encoder=None, text_encoder_2=torch.nn.Module())


# Real SD 1.5 kohya keys (LDM names) and the diffusers module each one is; the LBW block it is in.
SD15_LDM = {
    "lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_q":
        ("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", "IN01"),
    "lora_unet_input_blocks_2_0_in_layers_2": ("down_blocks.0.resnets.1.conv1", "IN02"),
    "lora_unet_input_blocks_3_0_op": ("down_blocks.0.downsamplers.0.conv", "IN03"),
    "lora_unet_input_blocks_4_0_skip_connection": ("down_blocks.1.resnets.0.conv_shortcut", "IN04"),
    "lora_unet_input_blocks_8_1_proj_out": ("down_blocks.2.attentions.1.proj_out", "IN08"),
    "lora_unet_input_blocks_11_0_emb_layers_1": ("down_blocks.3.resnets.1.time_emb_proj", "IN11"),
    "lora_unet_middle_block_1_transformer_blocks_0_ff_net_2":
        ("mid_block.attentions.0.transformer_blocks.0.ff.net.2", "M00"),
    "lora_unet_middle_block_2_out_layers_3": ("mid_block.resnets.1.conv2", "M00"),
    "lora_unet_output_blocks_2_1_conv": ("up_blocks.0.upsamplers.0.conv", "OUT02"),
    "lora_unet_output_blocks_3_1_transformer_blocks_0_attn2_to_k":
        ("up_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k", "OUT03"),
    "lora_unet_output_blocks_5_2_conv": ("up_blocks.1.upsamplers.0.conv", "OUT05"),
    "lora_unet_output_blocks_11_1_proj_in": ("up_blocks.3.attentions.2.proj_in", "OUT11"),
    "lora_unet_down_blocks_1_attentions_1_transformer_blocks_0_attn1_to_out_0":
        ("down_blocks.1.attentions.1.transformer_blocks.0.attn1.to_out.0", "IN05"),
}
SDXL_SGM = {
    "lora_unet_input_blocks_4_1_transformer_blocks_1_attn1_to_q":
        ("down_blocks.1.attentions.0.transformer_blocks.1.attn1.to_q", "IN04"),
    "lora_unet_input_blocks_8_1_transformer_blocks_9_ff_net_2":
        ("down_blocks.2.attentions.1.transformer_blocks.9.ff.net.2", "IN08"),
    "lora_unet_middle_block_1_proj_in": ("mid_block.attentions.0.proj_in", "M00"),
    "lora_unet_output_blocks_0_1_transformer_blocks_0_attn2_to_v":
        ("up_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v", "OUT00"),
    "lora_unet_output_blocks_2_2_conv": ("up_blocks.0.upsamplers.0.conv", "OUT02"),
    "lora_unet_output_blocks_5_1_proj_out": ("up_blocks.1.attentions.2.proj_out", "OUT05"),
    "lora_unet_output_blocks_8_0_skip_connection": ("up_blocks.2.resnets.2.conv_shortcut", "OUT08"),
}


@pytest.mark.parametrize(("which", "table"), [("sd15", SD15_LDM), ("sdxl", SDXL_SGM)])
def test_ldm_and_diffusers_names_map_to_the_module_and_lbw_block(which: str, table: dict[str, tuple[str, str]],
                                                                  request: pytest.FixtureRequest) -> None:
    index = build_index(request.getfixturevalue(which))
    for key, (module, block) in table.items():
        target = index.lookup(key)
        assert target is not None, key
        assert (target.module, target.block) == (module, block), key
        assert index.lookup("lora_unet_" + module.replace(".", "_")) == target
        assert index.lookup("unet." + module) == target


def test_text_encoder_names_with_and_without_text_model(sd15: Any) -> None:
    index = build_index(sd15)
    kohya = index.lookup("lora_te_text_model_encoder_layers_11_self_attn_q_proj")
    peft = index.lookup("text_encoder.text_model.encoder.layers.11.self_attn.q_proj")
    assert kohya is not None
    assert kohya == peft
    assert kohya.block == "BASE"
    assert kohya.is_text_encoder


def test_fit_report_counts_layers_and_refuses_another_model(sd15: Any) -> None:
    index = build_index(sd15)
    ok = {"lora_unet_input_blocks_1_1_proj_in.lora_down.weight": (8, 320, 1, 1),
          "lora_unet_input_blocks_1_1_proj_in.lora_up.weight": (320, 8, 1, 1),
          "lora_unet_input_blocks_1_1_proj_in.alpha": (),
          "lora_unet_input_blocks_1_0_in_layers_2.hada_w1_a": (320, 4),
          "lora_unet_input_blocks_1_0_in_layers_2.hada_w1_b": (4, 2880),
          "lora_unet_input_blocks_1_0_in_layers_2.hada_w2_a": (320, 4),
          "lora_unet_input_blocks_1_0_in_layers_2.hada_w2_b": (4, 2880),
          "lora_unet_nowhere_to_q.lora_down.weight": (8, 320),
          "lora_unet_nowhere_to_q.lora_up.weight": (320, 8),
          "bundle_emb.style.string_to_param.*": (2, 768)}
    report = fit_report(ok, index)
    assert (report.total, report.fitting, report.unknown, report.kinds) == (3, 2, 1, frozenset({"lora", "loha"}))
    sentence, refuse = fit_sentence("x.safetensors", report, "", "SD 1.x")
    assert (sentence, refuse) == ("x.safetensors fits 2 of 3 layers (1 unknown layer ignored).", False)
    xl = {f"lora_unet_input_blocks_4_1_transformer_blocks_{i}_attn2_to_k.lora_down.weight": (4, 2048)
          for i in range(2)} | {f"lora_unet_input_blocks_4_1_transformer_blocks_{i}_attn2_to_k.lora_up.weight": (640, 4)
                                for i in range(2)}
    report = fit_report(xl, index)
    assert fit_sentence("xl.safetensors", report, "SDXL", "SD 1.x") == (
        "xl.safetensors was made for SDXL: 0 of 2 layers fit this SD 1.x model.", True)


def test_lbw_expansion_blocks_outside_the_vector_are_zero() -> None:
    outd = presets(BaseArch.SD1)["OUTD"]
    assert block_factor("OUT03", outd, BaseArch.SD1) == 1.0
    assert block_factor("IN01", outd, BaseArch.SD1) == 0.0
    assert block_factor("IN03", presets(BaseArch.SD1)["ALL"], BaseArch.SD1) == 0.0  # LBW's to26
    assert block_factor("", outd, BaseArch.SD1) == 1.0  # time embedding, conv_out: in no block
    assert block_factor("IN04", None, BaseArch.SD1) == 1.0
    # A preset written for SD 1.x becomes the same preset on SDXL; other lengths are refused.
    assert fit_blocks(outd, BaseArch.SDXL) == presets(BaseArch.SDXL)["OUTD"]
    with pytest.raises(BlockWeightError, match="12 values for SDXL"):
        fit_blocks(parse_blocks("1,0.5,0,0,0,0,0,0,1,1,1,1,0,0,0,0,0", BaseArch.SD1), BaseArch.SDXL)
