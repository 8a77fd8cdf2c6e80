"""What a model file or folder is, from its safetensors header and sidecars only.

``inspect_file`` never loads tensors and never opens a pickle: ``.ckpt/.pt/.bin/.pth`` files get
status ``"pickle"``. Detection follows the signals diffusers' ``single_file_utils`` uses for
checkpoints and, for LoRAs, ``modelspec.architecture``, then ``ss_base_model_version``, then key
names and the width of the cross-attention key projection (768 SD1, 1024 SD2, 2048 SDXL).
The engine calls ``inspect_file`` to refuse incompatible LoRAs: it stays fast and never raises
for a bad file (``status="error"`` with a readable ``error``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lorastudio.core.errors import BadModelFile
from lorastudio.core.metadata.safetensors_header import SafetensorsHeader, read_header, read_scalar
from lorastudio.core.metadata.sidecars import Sidecars, read_sidecars, split_words
from lorastudio.core.types import BaseArch, LoraFormat, ModelKind

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".bin", ".pth")
MODEL_SUFFIXES = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES

MAX_METADATA_ENTRIES = 200
MAX_METADATA_VALUE = 8_000
TOP_TAGS = 5

STATUS_OK, STATUS_ERROR, STATUS_PICKLE = "ok", "error", "pickle"


@dataclass(frozen=True)
class FileInfo:
    """Everything known about one model file or folder without loading it."""

    path: Path
    kind: ModelKind = ModelKind.UNKNOWN
    base: BaseArch = BaseArch.UNKNOWN
    lora_format: LoraFormat = LoraFormat.NONE
    status: str = STATUS_OK  # "ok" | "error" | "pickle"
    error: str = ""
    size: int = 0
    mtime: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)  # capped: see MAX_METADATA_*
    rank: int | None = None
    alpha: float | None = None
    trains_unet: bool = False
    trains_text_encoder: bool = False
    trigger_words: tuple[str, ...] = ()
    preferred_weight: float | None = None
    description: str = ""
    preview: Path | None = None
    title: str = ""
    network: str = ""  # LoRA flavour: "lora", "loha", "lokr", "dora" ("" for other kinds)
    variant: str = ""  # finer family, e.g. "sdxl-refiner", "sd1-inpaint", "flux-schnell"
    base_signal: str = ""  # for LoRAs: what gave the base away ("modelspec", "keys", ...)
    tensor_count: int = 0
    hub: dict[str, str] = field(default_factory=dict)  # <file>.hf.json, when downloaded by the hub
    is_dir: bool = False

    @property
    def name(self) -> str:
        return self.path.name


# -- entry points ------------------------------------------------------------------------------


def inspect_path(path: Path, siblings: frozenset[str] | None = None) -> FileInfo:
    """``inspect_folder`` for folders, ``inspect_file`` otherwise."""
    return inspect_folder(path) if path.is_dir() else inspect_file(path, siblings)


def inspect_file(path: Path, siblings: frozenset[str] | None = None) -> FileInfo:
    """Describe one file; never raises for a bad or unreadable file (see ``status``/``error``)."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return FileInfo(path=path, status=STATUS_ERROR, error="The file no longer exists.", title=path.stem)
    except OSError as err:
        return FileInfo(path=path, status=STATUS_ERROR, error=_os_reason(err), title=path.stem)
    base_info = FileInfo(path=path, size=st.st_size, mtime=st.st_mtime, title=path.stem)
    side = read_sidecars(path, siblings)
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        # Never unpickled: a pickle can run code. The folder name is the only safe hint.
        return _with_sidecars(replace(base_info, status=STATUS_PICKLE, kind=_kind_from_folder(path),
                                      error="Pickle format: not loaded (convert to safetensors)."), side)
    if suffix not in SAFETENSORS_SUFFIXES:
        return _with_sidecars(replace(base_info, status=STATUS_ERROR, error="Not a model format LoRA Studio reads."),
                              side)
    try:
        header = read_header(path)
    except BadModelFile as err:
        return _with_sidecars(replace(base_info, status=STATUS_ERROR, error=str(err)), side)
    except FileNotFoundError:
        return FileInfo(path=path, status=STATUS_ERROR, error="The file vanished while it was read.", title=path.stem)
    except OSError as err:
        return replace(base_info, status=STATUS_ERROR, error=_os_reason(err))
    info = describe_header(path, header, base_info)
    return _with_sidecars(info, side)


def _os_reason(err: OSError) -> str:
    if isinstance(err, PermissionError):
        return "Cannot read the file: permission denied."
    return f"Cannot read the file: {err.strerror or err.__class__.__name__}."


def _kind_from_folder(path: Path) -> ModelKind:
    hints = {
        "lora": ModelKind.LORA,
        "loras": ModelKind.LORA,
        "lycoris": ModelKind.LYCORIS,
        "stable-diffusion": ModelKind.CHECKPOINT,
        "checkpoints": ModelKind.CHECKPOINT,
        "embeddings": ModelKind.EMBEDDING,
        "vae": ModelKind.VAE,
    }
    for part in reversed(path.parent.parts[-3:]):
        kind = hints.get(part.lower())
        if kind:
            return kind
    return ModelKind.UNKNOWN


def _with_sidecars(info: FileInfo, side: Sidecars) -> FileInfo:

    words = tuple(dict.fromkeys(side.trigger_words + info.trigger_words))
    return replace(
        info,
        preview=side.preview,
        trigger_words=words,
        preferred_weight=side.preferred_weight if side.preferred_weight is not None else info.preferred_weight,
        description=side.description or info.description,
        title=info.title if info.title != info.path.stem else (side.title or info.title),
        base=info.base if info.base is not BaseArch.UNKNOWN else side.base,
        hub=side.hub,
    )


# -- header classification ---------------------------------------------------------------------

_KOHYA_PREFIXES = ("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_", "lora_te3_", "lora_transformer_")
_DIFFUSERS_PREFIXES = ("unet.", "text_encoder.", "text_encoder_2.", "transformer.")
_EMBEDDING_KEYS = ("emb_params", "clip_l", "clip_g")


def describe_header(path: Path, header: SafetensorsHeader, base_info: FileInfo | None = None) -> FileInfo:
    """Classify a parsed header (kind, format, base, rank, alpha, ...)."""

    tensors, meta = header.tensors, header.metadata
    keys = list(tensors)
    info = base_info or FileInfo(path=path, size=header.file_size, title=path.stem)
    info = replace(info, metadata=cap_metadata(meta), tensor_count=len(keys))
    # Not ss_output_name: it is the training run's name, often shared by many files.
    title = meta.get("modelspec.title", "").strip()[:300] or path.stem
    description = meta.get("modelspec.description", "").strip()[:20_000]
    words = _metadata_trigger_words(meta)
    info = replace(info, title=title or path.stem, description=description, trigger_words=words)

    lora = _lora_layout(keys)
    if lora is not None:
        kind, fmt, network = lora
        base, variant = lora_base(meta, header)
        rank, alpha = _rank_alpha(path, header, fmt)
        unet, te = _trained_modules(keys, fmt)
        return replace(
            info,
            kind=kind,
            lora_format=fmt,
            network=network,
            base=base,
            base_signal=variant,
            rank=rank,
            alpha=alpha,
            trains_unet=unet,
            trains_text_encoder=te,
        )
    embedding = _embedding_base(header)
    if embedding is not None:
        return replace(info, kind=ModelKind.EMBEDDING, base=embedding)
    family = checkpoint_family(header)
    if family != "unknown":
        return replace(
            info, kind=ModelKind.CHECKPOINT, base=_FAMILY_BASE[family.split("-")[0]], variant=family, trains_unet=False
        )
    if _is_vae(keys):
        return replace(info, kind=ModelKind.VAE, base=_vae_base(header))
    return info


def cap_metadata(meta: dict[str, str]) -> dict[str, str]:
    """Keep metadata small enough to show and store (some files carry 100 KB+ of ``ss_*``)."""
    out: dict[str, str] = {}
    for k in sorted(meta)[:MAX_METADATA_ENTRIES]:
        v = meta[k]
        if k == "ssmd_cover_images":  # base64 images: huge and useless as text (A1111 drops it too)
            v = f"({len(v)} characters of cover images, not shown)"
        elif len(v) > MAX_METADATA_VALUE:
            v = v[:MAX_METADATA_VALUE] + f"… ({len(v) - MAX_METADATA_VALUE} more characters)"
        out[k[:200]] = v
    return out


def _metadata_trigger_words(meta: dict[str, str]) -> tuple[str, ...]:
    words = list(split_words(meta.get("modelspec.trigger_phrase", "")))
    if not words:  # tag frequencies are the trainer's captions: the most used are the likely triggers
        words.extend(top_tags(meta.get("ss_tag_frequency", "")))
    return tuple(dict.fromkeys(words))


def top_tags(raw: str, n: int = TOP_TAGS) -> tuple[str, ...]:
    """The ``n`` most frequent tags in kohya's ``ss_tag_frequency`` JSON ({dataset: {tag: count}})."""
    if not raw:
        return ()
    try:
        data = json.loads(raw)
    except ValueError:
        return ()
    counts: Counter[str] = Counter()
    if isinstance(data, dict):
        for tags in data.values():
            if isinstance(tags, dict):
                for tag, count in tags.items():
                    if isinstance(tag, str) and isinstance(count, int | float) and tag.strip():
                        counts[tag.strip()[:200]] += int(count)
    return tuple(tag for tag, _ in counts.most_common(n))


def _lora_layout(keys: list[str]) -> tuple[ModelKind, LoraFormat, str] | None:
    lycoris = loha = lokr = lora = dora = False
    kohya = diffusers = peft = False
    for k in keys:
        if ".hada_w1_a" in k or ".hada_w1_b" in k:
            loha = True
        elif ".lokr_w1" in k or ".lokr_w2" in k:
            lokr = True
        elif (
            ".lora_down." in k
            or ".lora_up." in k
            or ".lora_A." in k
            or ".lora_B." in k
            or ".lora.down." in k
            or ".lora.up." in k
            or ".lora_linear_layer." in k
            or "_lora.down." in k
            or "_lora.up." in k
        ):
            lora = True
        else:
            if k.endswith(".dora_scale"):
                dora = True
            continue
        if k.startswith(_KOHYA_PREFIXES):
            kohya = True
        elif k.startswith("base_model.model."):
            peft = True
        elif k.startswith(_DIFFUSERS_PREFIXES):
            diffusers = True
        elif ".lora_A." in k or ".lora_B." in k:
            peft = True
        else:
            kohya = kohya or k.startswith("lora_")
            diffusers = diffusers or not k.startswith("lora_")
    lycoris = loha or lokr
    if not (lora or lycoris):
        return None
    fmt = LoraFormat.KOHYA if kohya else LoraFormat.PEFT if peft else LoraFormat.DIFFUSERS
    if lycoris:
        return ModelKind.LYCORIS, fmt, "loha" if loha else "lokr"
    return ModelKind.LORA, fmt, "dora" if dora else "lora"


_ARCH_NEEDLES = (
    ("flux", BaseArch.FLUX),
    ("stable-diffusion-3", BaseArch.SD3),
    ("-xl-", BaseArch.SDXL),
    ("stable-diffusion-v2", BaseArch.SD2),
    ("stable-diffusion-v1", BaseArch.SD1),
)
_SS_NEEDLES = (
    ("flux", BaseArch.FLUX),
    ("sd3", BaseArch.SD3),
    ("sdxl", BaseArch.SDXL),
    ("sd_v2", BaseArch.SD2),
    ("sd_v1", BaseArch.SD1),
)


def lora_base(meta: dict[str, str], header: SafetensorsHeader) -> tuple[BaseArch, str]:
    """Base architecture of a LoRA and the signal it came from ("modelspec", "ss_base_model_version",
    "keys", "attn2.to_k width", "text encoder width" or "none")."""
    arch = meta.get("modelspec.architecture", "").lower()
    if arch:
        for needle, base in _ARCH_NEEDLES:
            if needle in arch:
                return base, "modelspec"
        return BaseArch.OTHER, "modelspec"
    ss = meta.get("ss_base_model_version", "").lower()
    if ss:
        for needle, base in _SS_NEEDLES:
            if needle in ss:
                return base, "ss_base_model_version"
        return BaseArch.OTHER, "ss_base_model_version"
    if meta.get("ss_v2", "").lower() == "true":
        return BaseArch.SD2, "ss_v2"
    keys = header.tensors
    for k in keys:
        if (
            k.startswith(("lora_unet_double_blocks_", "lora_unet_single_blocks_", "lora_transformer_single_"))
            or ".single_transformer_blocks." in k
            or "double_blocks." in k
        ):
            return BaseArch.FLUX, "keys"
    for k in keys:
        if k.startswith("lora_unet_joint_blocks_") or "joint_blocks." in k or ".joint_transformer_blocks." in k:
            return BaseArch.SD3, "keys"
    for k in keys:
        if (
            k.startswith(("lora_te1_", "lora_te2_", "text_encoder_2."))
            or ".add_embedding." in k
            or "lora_unet_label_emb" in k
        ):
            return BaseArch.SDXL, "keys"
    widths = {768: BaseArch.SD1, 1024: BaseArch.SD2, 2048: BaseArch.SDXL}
    for k, t in keys.items():
        low = k.lower()
        if (
            "attn2" in low
            and "to_k" in low
            and len(t.shape) >= 2
            and (
                "lora_down" in low or "lora_a" in low or "lora.down" in low or "hada_w1_b" in low or "hada_w2_b" in low
            )
        ):
            width_base = widths.get(t.shape[1])
            if width_base:
                return width_base, "attn2.to_k width"
    te_widths = {768: BaseArch.SD1, 1024: BaseArch.SD2}
    for k, t in keys.items():
        if (
            k.startswith(("lora_te_", "text_encoder."))
            and "q_proj" in k
            and len(t.shape) >= 2
            and ("lora_down" in k or "lora.down" in k or "lora_linear_layer.down" in k or "lora_A" in k)
        ):
            te_base = te_widths.get(t.shape[1])
            if te_base:
                return te_base, "text encoder width"
    return BaseArch.UNKNOWN, "none"


def _rank_alpha(path: Path, header: SafetensorsHeader, fmt: LoraFormat) -> tuple[int | None, float | None]:
    meta, tensors = header.metadata, header.tensors
    rank: int | None = None
    ranks: Counter[int] = Counter()
    for k, t in tensors.items():
        if (
            ".lora_down." in k
            or ".lora_A." in k
            or ".lora.down." in k
            or "lora_linear_layer.down" in k
            or ".hada_w1_b" in k
        ) and t.shape:
            ranks[t.shape[0]] += 1
    if ranks:
        rank = ranks.most_common(1)[0][0]
    elif meta.get("ss_network_dim", "").isdigit():
        rank = int(meta["ss_network_dim"])
    alpha = _float(meta.get("ss_network_alpha"))
    if alpha is None and "lora_adapter_metadata" in meta:  # diffusers' save_lora_weights
        try:
            adapter = json.loads(meta["lora_adapter_metadata"])
            alpha = _float(str(adapter.get("unet.lora_alpha", adapter.get("transformer.lora_alpha", ""))))
        except (ValueError, AttributeError):
            alpha = None
    if alpha is None:
        first = next((k for k in tensors if k.endswith(".alpha")), None)
        if first is not None:  # kohya stores alpha per module as a scalar tensor: read those bytes only
            alpha = read_scalar(path, header, first)
    return rank, alpha


def _float(value: str | None) -> float | None:
    if value is None or value in ("", "None"):
        return None
    try:
        f = float(value)
    except ValueError:
        return None
    return f if f == f and abs(f) != float("inf") else None


def _trained_modules(keys: Iterable[str], fmt: LoraFormat) -> tuple[bool, bool]:
    unet = te = False
    for k in keys:
        if (
            k.startswith(("lora_te", "text_encoder", "te_", "base_model.model.text_model"))
            or "text_model" in k
            or ".encoder.layers." in k
        ):
            te = True
        else:
            unet = True
        if unet and te:
            break
    return unet, te


# -- embeddings, checkpoints, VAEs -------------------------------------------------------------


def _embedding_base(header: SafetensorsHeader) -> BaseArch | None:
    t = header.tensors
    if "clip_g" in t and "clip_l" in t:
        return BaseArch.SDXL
    names = [k for k in t if k == "emb_params" or k.startswith("string_to_param.") or k == "clip_l"]
    if not names or len(t) > 4:
        return None
    shape = t[names[0]].shape
    width = shape[-1] if shape else 0
    return {768: BaseArch.SD1, 1024: BaseArch.SD2}.get(width, BaseArch.UNKNOWN)


_FAMILY_BASE = {
    "sd1": BaseArch.SD1,
    "sd2": BaseArch.SD2,
    "sdxl": BaseArch.SDXL,
    "sd3": BaseArch.SD3,
    "sd3.5": BaseArch.SD3,
    "flux": BaseArch.FLUX,
    "playground": BaseArch.SDXL,
}


def _shape(t: dict[str, Any], key: str) -> tuple[int, ...] | None:
    for k in (key, "model.diffusion_model." + key):
        if k in t:
            shape: tuple[int, ...] = t[k].shape
            return shape
    return None


def checkpoint_family(header: SafetensorsHeader) -> str:
    """Family of a single-file checkpoint, as diffusers' ``infer_diffusers_model_type`` sees it,
    except that unrecognised files are "unknown" rather than "sd1"."""
    t = header.tensors
    inp = _shape(t, "input_blocks.0.0.weight")
    v2 = _shape(t, "input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight")
    xl_base = "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias" in t
    xl_ref = "conditioner.embedders.0.model.transformer.resblocks.9.mlp.c_proj.bias" in t
    if inp is not None and len(inp) > 1 and inp[1] == 9:
        return "sd2-inpaint" if v2 and v2[-1] == 1024 else "sdxl-inpaint" if xl_base else "sd1-inpaint"
    if v2 and v2[-1] == 1024:
        return "sd2"
    if "edm_mean" in t:
        return "playground-v2.5"
    if xl_base:
        return "sdxl"
    if xl_ref:
        return "sdxl-refiner"
    sd3 = _shape(t, "joint_blocks.0.context_block.adaLN_modulation.1.bias")
    if sd3 and sd3[-1] == 9216:
        pe = _shape(t, "pos_embed")
        return {147456: "sd3.5-medium"}.get(pe[1] if pe and len(pe) > 1 else 0, "sd3")
    if _shape(t, "joint_blocks.37.x_block.mlp.fc1.weight"):
        return "sd3.5-large"
    if _shape(t, "double_blocks.0.img_attn.norm.key_norm.scale"):
        return "flux-dev" if _shape(t, "guidance_in.in_layer.bias") else "flux-schnell"
    if (
        "model.diffusion_model.output_blocks.11.0.skip_connection.weight" in t
        or "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight" in t
    ):
        return "sd1"
    if v2 and v2[-1] == 768:
        return "sd1"
    return "unknown"


def _is_vae(keys: list[str]) -> bool:
    stripped = [k.removeprefix("first_stage_model.").removeprefix("vae.") for k in keys]
    has_enc = any(k.startswith("encoder.") for k in stripped)
    has_dec = any(k.startswith("decoder.") for k in stripped)
    quant = any(k.startswith(("quant_conv.", "post_quant_conv.")) for k in stripped)
    return (
        has_enc
        and has_dec
        and (quant or len(keys) < 400)
        and all(k.startswith(("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")) for k in stripped)
    )


def _vae_base(header: SafetensorsHeader) -> BaseArch:
    # SD1/SD2/SDXL VAEs share one architecture (4 latent channels); 16 channels is SD3 or Flux.
    for k, t in header.tensors.items():
        if k.endswith("decoder.conv_in.weight") and len(t.shape) == 4 and t.shape[1] == 16:
            return BaseArch.OTHER
    arch = header.metadata.get("modelspec.architecture", "").lower()
    for needle, base in _ARCH_NEEDLES:
        if needle in arch:
            return base
    return BaseArch.UNKNOWN


# -- folders -----------------------------------------------------------------------------------

_PIPELINE_BASES = {
    "StableDiffusionXLPipeline": BaseArch.SDXL,
    "StableDiffusionXLImg2ImgPipeline": BaseArch.SDXL,
    "StableDiffusionXLInpaintPipeline": BaseArch.SDXL,
    "StableDiffusion3Pipeline": BaseArch.SD3,
    "FluxPipeline": BaseArch.FLUX,
    "FluxImg2ImgPipeline": BaseArch.FLUX,
}


def folder_kind(path: Path, names: Iterable[str] | None = None) -> ModelKind | None:
    """The kind of a model *folder* (one entry in the library, not descended into), else None."""
    present = set(names) if names is not None else None

    def has(name: str) -> bool:
        return name in present if present is not None else (path / name).is_file()

    if has("model_index.json"):
        return ModelKind.PIPELINE
    if has("adapter_config.json"):
        return ModelKind.PEFT_ADAPTER
    if has("config.json"):
        config = _json(path / "config.json")
        archs = config.get("architectures") if isinstance(config, dict) else None
        if isinstance(archs, list) and any(isinstance(a, str) and a.endswith("ForCausalLM") for a in archs):
            return ModelKind.TEXT_MODEL
    return None


def _json(path: Path) -> Any:
    try:
        if path.stat().st_size > 4 * 1024 * 1024:
            return None
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _folder_stat(path: Path, marker: str) -> tuple[int, float]:
    """Size of the folder's weight files and the newest mtime among its top-level files."""
    size, mtime = 0, 0.0
    try:
        for root, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".")][:32]
            for name in files:
                try:
                    st = os.stat(os.path.join(root, name))
                except OSError:
                    continue
                size += st.st_size
                if root == str(path) or name == marker:
                    mtime = max(mtime, st.st_mtime)
    except OSError:
        pass
    return size, mtime


def inspect_folder(path: Path) -> FileInfo:
    """Describe a diffusers pipeline, PEFT adapter or transformers causal-LM folder."""
    path = Path(path)
    kind = folder_kind(path)
    side = read_sidecars(path)
    if kind is None:
        return _with_sidecars(
            FileInfo(
                path=path,
                is_dir=True,
                title=path.name,
                status=STATUS_ERROR,
                error="This folder is not a model folder LoRA Studio knows.",
            ),
            side,
        )
    marker = {
        ModelKind.PIPELINE: "model_index.json",
        ModelKind.PEFT_ADAPTER: "adapter_config.json",
        ModelKind.TEXT_MODEL: "config.json",
    }[kind]
    size, mtime = _folder_stat(path, marker)
    config = _json(path / marker)
    if not isinstance(config, dict):
        return _with_sidecars(
            FileInfo(
                path=path,
                kind=kind,
                is_dir=True,
                size=size,
                mtime=mtime,
                title=path.name,
                status=STATUS_ERROR,
                error=f"{marker} is missing or not valid JSON.",
            ),
            side,
        )
    meta = {
        k: (v if isinstance(v, str) else json.dumps(v))[:MAX_METADATA_VALUE]
        for k, v in list(config.items())[:MAX_METADATA_ENTRIES]
        if isinstance(k, str)
    }
    info = FileInfo(path=path, kind=kind, is_dir=True, size=size, mtime=mtime, title=_folder_title(path), metadata=meta)

    if kind is ModelKind.PIPELINE:
        cls = str(config.get("_class_name", ""))
        base = _PIPELINE_BASES.get(cls)
        if base is None:
            unet = _json(path / "unet" / "config.json")
            width = unet.get("cross_attention_dim") if isinstance(unet, dict) else None
            if isinstance(width, list):
                width = width[0] if width else None
            base = {768: BaseArch.SD1, 1024: BaseArch.SD2, 2048: BaseArch.SDXL}.get(
                width if isinstance(width, int) else 0,
                BaseArch.OTHER if cls and not cls.startswith("StableDiffusion") else BaseArch.UNKNOWN,
            )
        info = replace(info, base=base, variant=cls)
    elif kind is ModelKind.PEFT_ADAPTER:
        rank = config.get("r")
        alpha = config.get("lora_alpha")
        targets = config.get("target_modules")
        target_text = json.dumps(targets) if targets is not None else ""
        info = replace(
            info,
            base=BaseArch.OTHER,
            lora_format=LoraFormat.PEFT,
            network="lora",
            rank=rank if isinstance(rank, int) else None,
            alpha=float(alpha) if isinstance(alpha, int | float) else None,
            trains_text_encoder="to_q" not in target_text,
            trains_unet="to_q" in target_text,
            variant=str(config.get("base_model_name_or_path") or "")[:300],
        )
    else:
        archs = config.get("architectures") or []
        info = replace(info, base=BaseArch.OTHER, variant=str(archs[0]) if archs else "")
    return _with_sidecars(info, side)


def _folder_title(path: Path) -> str:
    # Hugging Face cache snapshots are named by commit: the repo folder says more.
    parent = path.parent
    if parent.name == "snapshots" and parent.parent.name.startswith("models--"):
        return parent.parent.name.removeprefix("models--").replace("--", "/")
    return path.name
