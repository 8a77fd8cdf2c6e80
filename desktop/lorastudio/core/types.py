"""Plain values shared by every core service (library, engine, hub, text)."""

from __future__ import annotations

from enum import StrEnum


class ModelKind(StrEnum):
    """What a file or folder in the library is."""

    CHECKPOINT = "checkpoint"  # single-file SD/SDXL/... checkpoint
    PIPELINE = "pipeline"  # diffusers pipeline folder (model_index.json)
    LORA = "lora"
    LYCORIS = "lycoris"  # LoHa / LoKr
    EMBEDDING = "embedding"  # textual inversion
    VAE = "vae"
    PEFT_ADAPTER = "peft_adapter"  # adapter_config.json + adapter_model.safetensors
    TEXT_MODEL = "text_model"  # transformers causal LM folder
    UNKNOWN = "unknown"

    @property
    def is_text(self) -> bool:
        """A language model or an adapter for one: shown on the Text page, never in the image library."""
        return self in TEXT_KINDS


# PEFT adapter folders are the Text page's adapters: the image engine reads LoRA *files*.
TEXT_KINDS = frozenset({ModelKind.TEXT_MODEL, ModelKind.PEFT_ADAPTER})


class BaseArch(StrEnum):
    """Base architecture a checkpoint is, or a LoRA was trained for."""

    SD1 = "sd1"
    SD2 = "sd2"
    SDXL = "sdxl"
    SD3 = "sd3"
    FLUX = "flux"
    OTHER = "other"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return _ARCH_LABELS[self]


_ARCH_LABELS = {
    BaseArch.SD1: "SD 1.x",
    BaseArch.SD2: "SD 2.x",
    BaseArch.SDXL: "SDXL",
    BaseArch.SD3: "SD 3",
    BaseArch.FLUX: "Flux",
    BaseArch.OTHER: "Other",
    BaseArch.UNKNOWN: "Unknown",
}


class LoraFormat(StrEnum):
    """Key layout of a LoRA file."""

    KOHYA = "kohya"  # lora_unet_* / lora_te_* (A1111, kohya sd-scripts, Civitai)
    DIFFUSERS = "diffusers"  # unet.*.lora.down / text_encoder.* (diffusers' old and new layouts)
    PEFT = "peft"  # base_model.model.*.lora_A / lora_B
    NONE = "none"
