"""Tiny pipelines with real SD 1.5 / SDXL block structure, one adapter file per format, and the
expected result computed BY HAND from each format's definition.

Independent of LoRA Studio's engine on purpose: every writer records, for each layer it writes, the
module it meant (component + diffusers path) and the tensors; ``hand_patch`` rebuilds ΔW from those
with plain torch following the format definitions (A1111 ``network_*.py``, ComfyUI
``weight_adapter/``, LyCORIS), without our key mapping, our patcher or diffusers' loader.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIZE = 64
PROMPT, NEGATIVE, SEED, STEPS, CFG = "a cat", "blurry", 3, 3, 6.0

ATTN = ("to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2", "proj_in", "proj_out")
RESNET = ("conv1", "conv2", "time_emb_proj", "conv_shortcut")
TE = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
# The LDM names of a resnet's layers (written here again, not imported from the code under test).
LDM_RESNET = {"conv1": "in_layers.2", "conv2": "out_layers.3", "time_emb_proj": "emb_layers.1",
              "conv_shortcut": "skip_connection"}


# -- pipelines -----------------------------------------------------------------------------------


def build_sd15_like(folder: Path, seed: int = 0) -> Path:
    """SD 1.5's UNet layout at toy width: 4 down blocks (3 with attention), 2 layers each."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    from lorastudio.core.engine.demo import _scheduler, _text_config, _tiny_vae, write_clip_tokenizer

    if (folder / "model_index.json").is_file():
        return folder
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=SIZE // 8, layers_per_block=2, block_out_channels=(16, 16, 32, 32), norm_num_groups=8,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=32, attention_head_dim=8)
    pipe = StableDiffusionPipeline(
        vae=_tiny_vae(), text_encoder=CLIPTextModel(_text_config()),
        tokenizer=write_clip_tokenizer(folder.parent / (folder.name + "-tok")), unet=unet,
        scheduler=_scheduler(), safety_checker=None, feature_extractor=None, image_encoder=None,
        requires_safety_checker=False)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    folder.with_name(folder.name + ".json").write_text(json.dumps({"sd version": "SD1"}), "utf-8")
    return folder


def build_sdxl_like(folder: Path, seed: int = 0) -> Path:
    """SDXL's UNet layout at toy width: 3 down blocks (the last two with attention), 2 layers each."""
    import torch
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from lorastudio.core.engine.demo import _scheduler, _text_config, _tiny_vae, write_clip_tokenizer

    if (folder / "model_index.json").is_file():
        return folder
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=SIZE // 8, layers_per_block=2, block_out_channels=(16, 32, 32), norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4, 4), use_linear_projection=True, transformer_layers_per_block=(1, 1, 2),
        addition_embed_type="text_time", addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=80, cross_attention_dim=64)
    tok = write_clip_tokenizer(folder.parent / (folder.name + "-tok"))
    pipe = StableDiffusionXLPipeline(
        vae=_tiny_vae(), text_encoder=CLIPTextModel(_text_config(hidden_act="gelu")),
        text_encoder_2=CLIPTextModelWithProjection(_text_config(hidden_act="gelu")),
        tokenizer=tok, tokenizer_2=tok, unet=unet, scheduler=_scheduler())
    pipe.save_pretrained(str(folder), safe_serialization=True)
    folder.with_name(folder.name + ".json").write_text(json.dumps({"sd version": "SDXL"}), "utf-8")
    return folder


def load_plain(folder: Path) -> Any:
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(str(folder), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def render(pipe: Any, on_step: Callable[[int], None] | None = None) -> Any:
    """The image the engine's request (PROMPT, SEED, STEPS, CFG, SIZE) gives, as a uint8 array."""
    import numpy as np
    import torch

    def callback(p: Any, step: int, t: Any, kw: dict[str, Any]) -> dict[str, Any]:
        if on_step is not None:
            on_step(step + 1)
        return {}

    with torch.inference_mode():
        image = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, num_inference_steps=STEPS, guidance_scale=CFG,
                     width=SIZE, height=SIZE, generator=torch.Generator("cpu").manual_seed(SEED),
                     callback_on_step_end=callback).images[0]
    return np.asarray(image)


# -- what a file holds, as the writer meant it ---------------------------------------------------


@dataclass
class HandLayer:
    component: str  # unet | text_encoder | text_encoder_2
    module: str  # diffusers module path
    kind: str  # lora | loha | lokr | full | dora
    t: dict[str, Any]
    alpha: float | None = None


@dataclass
class AdapterFile:
    path: Path
    layers: list[HandLayer] = field(default_factory=list)


def _modules(pipe: Any, component: str, suffixes: tuple[str, ...]) -> list[tuple[str, Any]]:
    model = getattr(pipe, component)
    return [(n, m) for n, m in model.named_modules()
            if n.endswith(suffixes) and hasattr(m, "weight") and ".lora_" not in n and "base_layer" not in n]


def _kohya_te_name(prefix: str, name: str) -> str:
    return prefix + ("" if name.startswith("text_model.") else "text_model.") + name


def ldm_unet_name(name: str, per: int, attention_up: set[int]) -> str:
    """The LDM name of a diffusers UNet module, from the SD 1.5 conversion table (written out)."""
    m = re.match(r"^(down_blocks|up_blocks)\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)$", name)
    if m:
        i, j, rest = int(m.group(2)), int(m.group(4)), m.group(5)
        if m.group(3) == "resnets":
            head, _, tail = rest.partition(".")
            rest = LDM_RESNET[head] + ("." + tail if tail else "")
        sub = 0 if m.group(3) == "resnets" else 1
        if m.group(1) == "down_blocks":
            return f"input_blocks.{(per + 1) * i + j + 1}.{sub}.{rest}"
        return f"output_blocks.{(per + 1) * i + j}.{sub}.{rest}"
    m = re.match(r"^down_blocks\.(\d+)\.downsamplers\.0\.conv$", name)
    if m:
        return f"input_blocks.{(per + 1) * (int(m.group(1)) + 1)}.0.op"
    m = re.match(r"^up_blocks\.(\d+)\.upsamplers\.0\.conv$", name)
    if m:
        i = int(m.group(1))
        return f"output_blocks.{(per + 1) * i + per}.{2 if i in attention_up else 1}.conv"
    if name.startswith("mid_block.attentions.0."):
        return "middle_block.1." + name.removeprefix("mid_block.attentions.0.")
    m = re.match(r"^mid_block\.resnets\.(\d+)\.([a-z_0-9]+)$", name)
    if m:
        return f"middle_block.{2 * int(m.group(1))}.{LDM_RESNET[m.group(2)]}"
    raise ValueError(name)


def _shape(mod: Any) -> tuple[int, ...]:
    return tuple(mod.weight.shape)


def _lora_factors(mod: Any, rank: int, g: Any, scale: float) -> dict[str, Any]:
    import torch

    shape = _shape(mod)
    down = (rank, *shape[1:]) if len(shape) == 4 else (rank, shape[1])
    up = (shape[0], rank, 1, 1) if len(shape) == 4 else (shape[0], rank)
    return {"down": torch.randn(down, generator=g) * scale, "up": torch.randn(up, generator=g) * scale}


def write_kohya(pipe: Any, path: Path, *, ldm: bool = False, resnets: bool = False, alpha: float | None = 2.0,
                rank: int = 4, seed: int = 1, te: bool = True, onetrainer: bool = False,
                dora: str = "", scale: float = 0.3, meta: dict[str, str] | None = None) -> AdapterFile:
    """kohya LoRA/LoCon: ``lora_unet_``/``lora_te_``(``1_``/``2_``) names, diffusers- or LDM-style.

    ``dora``: "" | "in" (LyCORIS [1, in] dora_scale) | "out" ([out, 1]). ``onetrainer`` adds an
    embedded embedding (``bundle_emb``) and float16 alphas, as OneTrainer files carry."""
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    xl = getattr(pipe, "text_encoder_2", None) is not None
    per = pipe.unet.config.layers_per_block
    attention_up = {i for i, k in enumerate(pipe.unet.config.up_block_types) if "CrossAttn" in k}
    sd: dict[str, Any] = {}
    out = AdapterFile(path)
    targets = [("unet", n, m) for n, m in _modules(pipe, "unet", ATTN)]
    if resnets:
        convs = (*RESNET, "downsamplers.0.conv", "upsamplers.0.conv")
        targets += [("unet", n, m) for n, m in _modules(pipe, "unet", convs)]
    if te:
        targets += [("text_encoder", n, m) for n, m in _modules(pipe, "text_encoder", TE)]
        if xl:
            targets += [("text_encoder_2", n, m) for n, m in _modules(pipe, "text_encoder_2", TE)]
    for component, name, mod in targets:
        if component == "unet":
            key = "lora_unet_" + (ldm_unet_name(name, per, attention_up) if ldm else name).replace(".", "_")
        else:
            prefix = ("lora_te1_" if component == "text_encoder" else "lora_te2_") if xl else "lora_te_"
            key = _kohya_te_name(prefix, name).replace(".", "_")
        f = _lora_factors(mod, rank, g, scale)
        sd[key + ".lora_down.weight"], sd[key + ".lora_up.weight"] = f["down"], f["up"]
        t = dict(f)
        if alpha is not None:
            sd[key + ".alpha"] = torch.tensor(alpha, dtype=torch.float16 if onetrainer else torch.float32)
        kind = "lora"
        if dora:
            w = mod.weight.detach().float()
            if dora == "in":
                norm = w.transpose(0, 1).reshape(w.shape[1], -1).norm(dim=1).reshape(1, w.shape[1])
            else:
                norm = w.reshape(w.shape[0], -1).norm(dim=1).reshape(w.shape[0], 1)
            norm = norm.reshape(norm.shape + (1,) * (w.dim() - 2))
            sd[key + ".dora_scale"] = norm * (1 + 0.3 * torch.randn(norm.shape, generator=g))
            t["m"] = sd[key + ".dora_scale"]
            t["axis"] = dora
            kind = "dora"
        out.layers.append(HandLayer(component, name, kind, t, alpha if alpha is not None else float(rank)))
    if onetrainer:
        sd["bundle_emb.mystyle.string_to_param.*"] = torch.randn(2, 32, generator=g)
    save_file(sd, str(path), metadata=meta or {"ss_network_module": "networks.lora"})
    return out


def write_peft(pipe: Any, path: Path, *, seed: int = 5, rank: int = 4, dora: bool = False,
               te: bool = True, alpha: float | None = None) -> AdapterFile:
    """diffusers/PEFT layout: ``unet.<path>.lora_A.weight`` (+ ``lora_magnitude_vector`` for DoRA);
    no alpha in the file means lora_alpha = r, scale 1; ``alpha`` writes diffusers'
    ``lora_adapter_metadata`` (``unet.r``, ``unet.lora_alpha``, …) as ``save_lora_weights`` does."""
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    sd: dict[str, Any] = {}
    out = AdapterFile(path)
    targets = [("unet", n, m) for n, m in _modules(pipe, "unet", ("to_q", "to_k", "to_v", "to_out.0"))]
    if te:
        targets += [("text_encoder", n, m) for n, m in _modules(pipe, "text_encoder", ("q_proj", "v_proj"))]
    for component, name, mod in targets:
        f = _lora_factors(mod, rank, g, 0.3)
        sd[f"{component}.{name}.lora_A.weight"], sd[f"{component}.{name}.lora_B.weight"] = f["down"], f["up"]
        t = dict(f)
        kind = "lora"
        if dora:
            w = mod.weight.detach().float()
            norm = w.norm(dim=1)
            sd[f"{component}.{name}.lora_magnitude_vector"] = norm * (1 + 0.3 * torch.randn(norm.shape, generator=g))
            t["m"], t["axis"], kind = sd[f"{component}.{name}.lora_magnitude_vector"], "out", "dora"
        out.layers.append(HandLayer(component, name, kind, t, float(rank) if alpha is None else alpha))
    meta = None
    if alpha is not None:
        config = {"r": rank, "lora_alpha": alpha, "use_dora": dora, "alpha_pattern": {}, "rank_pattern": {},
                  "target_modules": ["to_q", "to_k", "to_v", "to_out.0", "q_proj", "v_proj"]}
        packed = {f"{c}.{k}": v for c in ("unet", "text_encoder") for k, v in config.items()}
        meta = {"format": "pt", "lora_adapter_metadata": json.dumps(packed, sort_keys=True)}
    save_file(sd, str(path), metadata=meta)
    return out


def write_loha(pipe: Any, path: Path, *, tucker: bool = False, seed: int = 2, rank: int = 4,
               alpha: float = 2.0) -> AdapterFile:
    """LyCORIS LoHa on attention linears and resnet convs; ``tucker``: convs 3x3 in the CP form."""
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    sd: dict[str, Any] = {}
    out = AdapterFile(path)
    targets = _modules(pipe, "unet", ("to_q", "to_v", "ff.net.2", "conv1", "conv2"))
    for name, mod in targets:
        shape = _shape(mod)
        key = "lora_unet_" + name.replace(".", "_")
        t: dict[str, Any] = {}
        if tucker and len(shape) == 4 and shape[2] > 1:
            # CP form: w_a [r, out], w_b [r, in], t [r, r, kh, kw]
            for i in (1, 2):
                t[f"a{i}"] = torch.randn(rank, shape[0], generator=g) * 0.4
                t[f"b{i}"] = torch.randn(rank, shape[1], generator=g) * 0.4
                t[f"t{i}"] = torch.randn(rank, rank, *shape[2:], generator=g) * 0.4
                sd[f"{key}.hada_w{i}_a"], sd[f"{key}.hada_w{i}_b"] = t[f"a{i}"], t[f"b{i}"]
                sd[f"{key}.hada_t{i}"] = t[f"t{i}"]
        else:
            inner = int(torch.tensor(shape[1:]).prod())
            for i in (1, 2):
                t[f"a{i}"] = torch.randn(shape[0], rank, generator=g) * 0.4
                t[f"b{i}"] = torch.randn(rank, inner, generator=g) * 0.4
                sd[f"{key}.hada_w{i}_a"], sd[f"{key}.hada_w{i}_b"] = t[f"a{i}"], t[f"b{i}"]
        sd[f"{key}.alpha"] = torch.tensor(alpha)
        out.layers.append(HandLayer("unet", name, "loha", t, alpha))
    save_file(sd, str(path), metadata={"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "loha"}'})
    return out


def _factor(n: int) -> tuple[int, int]:
    a = 1
    for d in range(1, int(n**0.5) + 1):
        if n % d == 0:
            a = d
    return a, n // a


def write_lokr(pipe: Any, path: Path, *, form: str = "w1", seed: int = 3, rank: int = 2,
               alpha: float = 1.0) -> AdapterFile:
    """LyCORIS LoKr. ``form`` "w1": full w1 with w2 = w2_a @ w2_b (scale alpha/rank);
    "w1ab": w1 = w1_a @ w1_b with a full w2 (scale alpha/rank); "full": both full (scale 1)."""
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    sd: dict[str, Any] = {}
    out = AdapterFile(path)
    for name, mod in _modules(pipe, "unet", ("to_k", "to_out.0", "ff.net.0.proj", "conv2")):
        shape = _shape(mod)
        o1, o2 = _factor(shape[0])
        i1, i2 = _factor(shape[1])
        key = "lora_unet_" + name.replace(".", "_")
        t: dict[str, Any] = {}
        k = shape[2:]  # conv kernels live in w2
        if form == "w1ab":
            t["w1_a"], t["w1_b"] = torch.randn(o1, rank, generator=g) * 0.5, torch.randn(rank, i1, generator=g) * 0.5
            t["w2"] = torch.randn(o2, i2, *k, generator=g) * 0.3
        else:
            t["w1"] = torch.randn(o1, i1, generator=g) * 0.5
            if form == "full":
                t["w2"] = torch.randn(o2, i2, *k, generator=g) * 0.3
            else:
                t["w2_a"] = torch.randn(o2, rank, generator=g) * 0.5
                t["w2_b"] = torch.randn(rank, i2, *k, generator=g) * 0.5
        for role, v in t.items():
            sd[f"{key}.lokr_{role}"] = v
        sd[f"{key}.alpha"] = torch.tensor(alpha)
        out.layers.append(HandLayer("unet", name, "lokr", t, alpha))
    save_file(sd, str(path), metadata={"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "lokr"}'})
    return out


def write_full(pipe: Any, path: Path, *, seed: int = 4) -> AdapterFile:
    """LyCORIS full/diff: ``diff`` (ΔW) and ``diff_b`` (Δbias)."""
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    sd: dict[str, Any] = {}
    out = AdapterFile(path)
    for name, mod in _modules(pipe, "unet", ("to_out.0", "proj_out", "conv1")):
        key = "lora_unet_" + name.replace(".", "_")
        t = {"diff": torch.randn(_shape(mod), generator=g) * 0.1}
        if getattr(mod, "bias", None) is not None:
            t["diff_b"] = torch.randn(mod.bias.shape, generator=g) * 0.1
        for role, v in t.items():
            sd[f"{key}.{role}"] = v
        out.layers.append(HandLayer("unet", name, "full", t))
    save_file(sd, str(path), metadata={"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "full"}'})
    return out


def write_refused(path: Path, fmt: str) -> None:
    """A small file in a format the engine must refuse (OFT, GLoRA, IA3)."""
    import torch
    from safetensors.torch import save_file

    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    if fmt == "OFT":
        sd = {f"{key}.oft_blocks": torch.zeros(4, 4, 4), f"{key}.alpha": torch.tensor(1.0)}
    elif fmt == "GLoRA":
        sd = {f"{key}.{r}.weight": torch.zeros(4, 16) for r in ("a1", "a2", "b1", "b2")}
    else:
        sd = {f"{key}.weight": torch.zeros(16), f"{key}.on_input": torch.tensor(False)}
    save_file(sd, str(path))


# -- ΔW by definition ----------------------------------------------------------------------------


def hand_delta(layer: HandLayer, shape: tuple[int, ...]) -> tuple[Any, Any]:
    """(ΔW, Δbias) of one layer, from the format's definition."""
    import torch

    t = layer.t
    bias = None
    if layer.kind in ("lora", "dora"):
        down, up = t["down"], t["up"]
        rank = down.shape[0]
        w = up.reshape(up.shape[0], rank) @ down.reshape(rank, -1)
        w = w * (layer.alpha / rank if layer.alpha is not None else 1.0)
    elif layer.kind == "loha":
        if "t1" in t:
            parts = []
            for i in (1, 2):
                # Σ_{p,q} a[p,o] · b[q,c] · t[p,q,h,w]
                parts.append(torch.einsum("po,qc,pqhw->ochw", t[f"a{i}"], t[f"b{i}"], t[f"t{i}"]))
            w = parts[0] * parts[1]
        else:
            w = (t["a1"] @ t["b1"]) * (t["a2"] @ t["b2"])
        w = w.reshape(shape) * (layer.alpha / t["b1"].shape[0])
    elif layer.kind == "lokr":
        scale = 1.0
        if "w1_a" in t:
            w1, scale = t["w1_a"] @ t["w1_b"], layer.alpha / t["w1_b"].shape[0]
        else:
            w1 = t["w1"]
        if "w2_a" in t:
            b = t["w2_b"]
            w2 = (t["w2_a"] @ b.reshape(b.shape[0], -1)).reshape(t["w2_a"].shape[0], *b.shape[1:])
            scale = layer.alpha / b.shape[0]
        else:
            w2 = t["w2"]
        # Kronecker product on the first two axes, written out: W[a*o2+c, b*i2+d] = w1[a,b] · w2[c,d]
        o1, i1 = w1.shape
        o2, i2 = w2.shape[:2]
        w = torch.zeros(o1 * o2, i1 * i2, *w2.shape[2:])
        for a in range(o1):
            for b in range(i1):
                w[a * o2:(a + 1) * o2, b * i2:(b + 1) * i2] = w1[a, b] * w2
        w = w * scale
    else:  # full
        w, bias = t["diff"], t.get("diff_b")
    return w.reshape(shape), bias


def hand_patch(pipe: Any, mix: list[tuple[AdapterFile, float]], *, te_weights: dict[int, float] | None = None,
               multiplier: Callable[[HandLayer, int], float] | None = None) -> None:
    """Patch ``pipe``'s weights in place: W = W0 + Σ w·ΔW (DoRA: W0 + w·(W' − W0), W' from the
    original W0 as A1111 and ComfyUI compute it), float32. ``multiplier(layer, index in mix)``."""
    import torch

    originals: dict[tuple[str, str], tuple[Any, Any]] = {}
    with torch.no_grad():
        for i, (adapter, weight) in enumerate(mix):
            for layer in adapter.layers:
                mod = getattr(pipe, layer.component).get_submodule(layer.module)
                key = (layer.component, layer.module)
                if key not in originals:
                    originals[key] = (mod.weight.detach().clone(),
                                      None if mod.bias is None else mod.bias.detach().clone())
                w0 = originals[key][0]
                w = weight
                if layer.component != "unet" and te_weights and i in te_weights:
                    w = te_weights[i]
                if multiplier is not None:
                    w *= multiplier(layer, i)
                if w == 0:
                    continue
                delta, dbias = hand_delta(layer, tuple(w0.shape))
                if layer.kind == "dora":
                    merged = w0 + delta
                    m = layer.t["m"]
                    if layer.t["axis"] == "out":
                        norm = merged.reshape(merged.shape[0], -1).norm(dim=1)
                        norm = norm.reshape(-1, *[1] * (merged.dim() - 1))
                    else:
                        norm = merged.transpose(0, 1).reshape(merged.shape[1], -1).norm(dim=1)
                        norm = norm.reshape(1, -1, *[1] * (merged.dim() - 2))
                    delta = merged * (m.reshape(norm.shape) / norm) - w0
                mod.weight += w * delta
                if dbias is not None:
                    mod.bias += w * dbias


def expected_image(folder: Path, mix: list[tuple[AdapterFile, float]], **kw: Any) -> Any:
    pipe = load_plain(folder)
    hand_patch(pipe, mix, **kw)
    return render(pipe)
