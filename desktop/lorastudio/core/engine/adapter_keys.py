"""Where each layer of an adapter file lands in a loaded pipeline.

Adapter files name the layer they change in one of several layouts:
- kohya/A1111/OneTrainer: ``lora_unet_<path>`` / ``lora_te_<path>`` / ``lora_te1_``/``lora_te2_`` with
  ``.`` → ``_``; the UNet path either in diffusers' names (``down_blocks_0_attentions_0_…``) or in the
  original LDM/sgm names (``input_blocks_1_1_…``, ``middle_block_1_…``, ``output_blocks_3_0_in_layers_2``);
- diffusers/PEFT: ``unet.<path>``, ``text_encoder.<path>``, ``text_encoder_2.<path>``.

``ModuleIndex`` holds every spelling of every module of the pipeline, so a file is mapped by a dict
lookup per layer, and each module knows its LoRA-Block-Weight block (``IN04``, ``M00``, ``OUT03``,
``BASE``), derived from its LDM index exactly as hako-mikan's extension derives it from A1111's names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# The suffixes after a layer's name, longest first so ``lora_magnitude_vector.weight`` wins.
ROLES: tuple[str, ...] = tuple(sorted((
    "lora_down.weight", "lora_up.weight", "lora_mid.weight", "alpha", "lora_A.weight", "lora_B.weight",
    "lora.down.weight", "lora.up.weight", "lora_magnitude_vector", "lora_magnitude_vector.weight",
    "hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2",
    "lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2",
    "diff", "diff_b", "dora_scale", "w_norm", "b_norm",
    # refused formats, recognised so the refusal can name them
    "oft_blocks", "oft_diag", "oft_R", "boft_R", "boft_blocks", "boft_s",
    "a1.weight", "a2.weight", "b1.weight", "b2.weight", "on_input",
), key=len, reverse=True))

# Keys that other tools put into adapter files and that change no layer (OneTrainer/kohya embed
# textual inversions as ``bundle_emb.*``; some trainers store the rank or version as tensors).
IGNORED_PREFIXES = ("bundle_emb.", "emb_params", "string_to_param", "lora_te_text_projection_")

COMPONENTS = ("unet", "text_encoder", "text_encoder_2")

_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
           "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_TOP = {"conv_in": "input_blocks.0.0", "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2", "conv_norm_out": "out.0", "conv_out": "out.2",
        "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2"}
_PART = re.compile(r"^(down_blocks|up_blocks)\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.+)$")
_MID = re.compile(r"^mid_block\.(resnets|attentions)\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class Target:
    """One module of the pipeline: its component, its path there, and its LBW block id."""

    component: str
    module: str
    block: str  # "BASE" (text encoders), "IN00".."IN11", "M00", "OUT00".."OUT11", or "" (no block)

    @property
    def is_text_encoder(self) -> bool:
        return self.component != "unet"


def split_key(key: str) -> tuple[str, str] | None:
    """``layer.role`` → (layer, role); None for a key that is no adapter tensor we know."""
    for role in ROLES:
        if key.endswith("." + role):
            return key[: -len(role) - 1], role
    return None


def _resnet(rest: str) -> str:
    head, _, tail = rest.partition(".")
    return _RESNET.get(head, head) + ("." + tail if tail else "")


def ldm_name(name: str, layers_per_block: int, attention_up: frozenset[int]) -> str | None:
    """The original (LDM/sgm) UNet path of diffusers module ``name``; None when it has none.

    ``attention_up``: indices of up blocks with attentions (their upsampler sits at ``.2``)."""
    for src, dst in _TOP.items():
        if name == src or name.startswith(src + "."):
            return dst + name[len(src):]
    per = layers_per_block + 1
    m = _PART.match(name)
    if m:
        kind, i, part, j, rest = m.group(1), int(m.group(2)), m.group(3), int(m.group(4)), m.group(5)
        if kind == "down_blocks":
            if part == "downsamplers":
                return f"input_blocks.{per * (i + 1)}.0.op" + rest.removeprefix("conv")
            n = per * i + j + 1
            return f"input_blocks.{n}.{0 if part == 'resnets' else 1}." + (_resnet(rest) if part == "resnets" else rest)
        if part == "upsamplers":
            at = 2 if i in attention_up else 1
            return f"output_blocks.{per * i + layers_per_block}.{at}." + rest
        n = per * i + j
        return f"output_blocks.{n}.{0 if part == 'resnets' else 1}." + (_resnet(rest) if part == "resnets" else rest)
    m = _MID.match(name)
    if m:
        part, j, rest = m.group(1), int(m.group(2)), m.group(3)
        if part == "attentions":
            return "middle_block.1." + rest
        return f"middle_block.{2 * j}." + _resnet(rest)
    return None


def block_of(ldm: str | None) -> str:
    """LBW block id of an LDM UNet path (``input_blocks.4.1.…`` → ``IN04``)."""
    if ldm is None:
        return ""
    m = re.match(r"^(input_blocks|output_blocks)\.(\d+)\.", ldm)
    if m:
        return f"{'IN' if m.group(1) == 'input_blocks' else 'OUT'}{int(m.group(2)):02d}"
    return "M00" if ldm.startswith("middle_block.") else ""


@dataclass
class ModuleIndex:
    """Every spelling of every weight-bearing module of a pipeline → (Target, the torch module)."""

    names: dict[str, Target]
    modules: dict[Target, Any]
    xl: bool

    def lookup(self, layer: str) -> Target | None:
        target = self.names.get(layer)
        if target is None and layer.startswith("base_model.model."):
            target = self.names.get("unet." + layer.removeprefix("base_model.model."))
        return target


def _weight_modules(model: Any) -> list[tuple[str, Any]]:
    out = []
    for name, mod in model.named_modules():
        # PEFT wraps adapted modules; their own weights live on ``base_layer``.
        if ".lora_" in name or name.endswith((".base_layer", "lora_magnitude_vector")) or ".base_layer." in name:
            continue
        base = getattr(mod, "base_layer", mod)
        w = getattr(base, "weight", None)
        if w is not None and hasattr(w, "shape") and name:
            out.append((name, base))
    return out


def build_index(pipe: Any) -> ModuleIndex:
    """Index ``pipe``'s UNet and text encoders under every name adapter files use."""
    names: dict[str, Target] = {}
    modules: dict[Target, Any] = {}
    xl = getattr(pipe, "text_encoder_2", None) is not None
    unet = pipe.unet
    per = unet.config.layers_per_block
    per = int(per[0] if isinstance(per, list | tuple) else per)
    attention_up = frozenset(i for i, kind in enumerate(unet.config.up_block_types) if "CrossAttn" in kind)
    for name, mod in _weight_modules(unet):
        ldm = ldm_name(name, per, attention_up)
        target = Target("unet", name, block_of(ldm))
        modules[target] = mod
        names["lora_unet_" + name.replace(".", "_")] = target
        names["unet." + name] = target
        if ldm is not None:
            names["lora_unet_" + ldm.replace(".", "_")] = target
    encoders = (("text_encoder", "lora_te1_" if xl else "lora_te_"), ("text_encoder_2", "lora_te2_"))
    for component, prefix in encoders:
        model = getattr(pipe, component, None)
        if model is None:
            continue
        for name, mod in _weight_modules(model):
            # transformers 5 dropped the ``text_model.`` level that kohya files still carry.
            canonical = name if name.startswith("text_model.") else "text_model." + name
            target = Target(component, name, "BASE")
            modules[target] = mod
            names[prefix + canonical.replace(".", "_")] = target
            names[f"{component}.{name}"] = target
            names[f"{component}.{canonical}"] = target
    return ModuleIndex(names, modules, xl)
