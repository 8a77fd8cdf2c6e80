"""What a model file or folder is, from its safetensors header and sidecars only.

``inspect_file`` never loads tensors and never opens a pickle: ``.ckpt/.pt/.bin/.pth`` files get
status ``"pickle"``. Detection follows the signals diffusers' ``single_file_utils`` uses for
checkpoints and, for LoRAs, ``modelspec.architecture``, then ``ss_base_model_version``, then key
names and the width of the cross-attention key projection (768 SD1, 1024 SD2, 2048 SDXL).
The engine calls ``inspect_file`` to refuse incompatible LoRAs: it stays fast and never raises
for a bad file (``status="error"`` with a readable ``error``).
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import re
import stat
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lorastudio.core.errors import BadModelFile
from lorastudio.core.metadata.safetensors_header import SafetensorsHeader, read_header, read_scalar
from lorastudio.core.metadata.sidecars import Sidecars, read_sidecars, split_words
from lorastudio.core.metadata.untrusted import (
    UntrustedJsonError,
    clean_text,
    file_kind,
    finite_float,
    loads_json,
    parse_int,
    read_limited,
)
from lorastudio.core.types import BaseArch, LoraFormat, ModelKind

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".bin", ".pth")
MODEL_SUFFIXES = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES

MAX_METADATA_ENTRIES = 200
MAX_METADATA_VALUE = 8_000
TOP_TAGS = 5
MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_RANK = 1_000_000  # far above any real LoRA (kohya tops out in the thousands)

STATUS_OK, STATUS_ERROR, STATUS_PICKLE = "ok", "error", "pickle"
# transformers names causal-LM heads *ForCausalLM, except GPT-2 and a few older families (*LMHeadModel);
# core.text.models uses the same rule, so a folder the Text page lists is one library entry, not a
# loose ``model.safetensors`` of unknown kind.
CAUSAL_LM_SUFFIXES = ("ForCausalLM", "LMHeadModel")


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


def inspect_path(path: Path, siblings: frozenset[str] | None = None, full: bool = False) -> FileInfo:
    """``inspect_folder`` for folders, ``inspect_file`` otherwise."""
    return inspect_folder(path) if path.is_dir() else inspect_file(path, siblings, full)


def inspect_file(path: Path, siblings: frozenset[str] | None = None, full: bool = False) -> FileInfo:
    """Describe one file; never raises for a bad or unreadable file (see ``status``/``error``).

    Browsing (the default) reads the header with the cheap structural checks; ``full=True``
    validates every tensor entry too, as importing and loading need (``read_header``)."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return FileInfo(path=path, status=STATUS_ERROR, error="The file no longer exists.", title=path.stem)
    except OSError as err:
        return FileInfo(path=path, status=STATUS_ERROR, error=_os_reason(err), title=path.stem)
    base_info = FileInfo(path=path, size=st.st_size, mtime=st.st_mtime, title=clean_text(path.stem))
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the first read forever; devices never end
        return replace(base_info, size=0, status=STATUS_ERROR,
                       error=f"Not read: {clean_text(path.name)} is {file_kind(st.st_mode)}, not a regular file.")
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
        header = read_header(path, full=full)
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
    """Classify a parsed header (kind, format, base, rank, alpha, ...).

    What the tensor names alone say is computed in one pass and cached by key set (the LoRAs of
    one trainer share it), so a scan of 10k files classifies a few hundred key sets; per file
    remain the dims the names point at (rank, widths) and the metadata.
    """
    meta = header.metadata
    facts = key_facts(header.names)
    info = base_info or FileInfo(path=path, size=header.file_size, title=path.stem)
    # Not ss_output_name: it is the training run's name, often shared by many files.
    title = clean_text(meta.get("modelspec.title", "")[:1000]).strip()[:300] or clean_text(path.stem)
    description = clean_text(meta.get("modelspec.description", "")[:40_000], keep_newlines=True).strip()[:20_000]
    common: dict[str, Any] = {
        "metadata": cap_metadata(meta),
        "tensor_count": len(header.names),
        "title": title or path.stem,
        "description": description,
        "trigger_words": _metadata_trigger_words(meta),
    }
    if facts.text_lm:
        # A language model's weights, or a PEFT adapter for one, outside its folder: text mode,
        # never an image LoRA of unknown base.
        if facts.lora is None:
            return replace(info, **common, kind=ModelKind.TEXT_MODEL, base=BaseArch.OTHER)
        rank, alpha = _rank_alpha(path, header, facts)
        return replace(info, **common, kind=ModelKind.PEFT_ADAPTER, base=BaseArch.OTHER, lora_format=LoraFormat.PEFT,
                       network="lora", rank=rank, alpha=alpha, trains_text_encoder=True)
    if facts.lora is not None:
        kind, fmt, network = facts.lora
        base, variant = lora_base(meta, header, facts)
        rank, alpha = _rank_alpha(path, header, facts)
        return replace(
            info,
            **common,
            kind=kind,
            lora_format=fmt,
            network=network,
            base=base,
            base_signal=variant,
            rank=rank,
            alpha=alpha,
            trains_unet=facts.trains_unet,
            trains_text_encoder=facts.trains_te,
        )
    embedding = _embedding_base(header)
    if embedding is not None:
        return replace(info, **common, kind=ModelKind.EMBEDDING, base=embedding)
    family = checkpoint_family(header)
    if family != "unknown":
        return replace(
            info, **common, kind=ModelKind.CHECKPOINT, base=_FAMILY_BASE[family.split("-")[0]], variant=family,
            trains_unet=False,
        )
    if facts.is_vae:
        return replace(info, **common, kind=ModelKind.VAE, base=_vae_base(header))
    return replace(info, **common)


@dataclass(frozen=True)
class KeyFacts:
    """What a key set says without any shape: the same for every file that has these keys."""

    lora: tuple[ModelKind, LoraFormat, str] | None
    trains_unet: bool
    trains_te: bool
    key_base: BaseArch | None  # FLUX / SD3 / SDXL from key names alone
    rank_keys: tuple[str, ...]  # down projections: shape[0] is the rank
    width_keys: tuple[str, ...]  # attn2 to_k down projections: shape[1] is the cross-attention width
    te_width_keys: tuple[str, ...]  # text-encoder q_proj down projections: shape[1] is its width
    alpha_key: str | None  # the first per-module ``.alpha`` scalar (kohya)
    is_vae: bool
    text_lm: bool = False  # a causal language model's layers (GPT-2 ``transformer.h.N``, Llama ``model.layers.N``)


_FACTS_CACHE: dict[tuple[str, ...], KeyFacts] = {}
_FACTS_CACHE_SIZE = 64  # a key set holds ~1-3k names: a few MB at most
_FACTS_CACHE_MAX_KEYS = 10_000  # bigger key sets (rare, or hostile) are classified but not kept


def key_facts(names: Iterable[str]) -> KeyFacts:
    """``KeyFacts`` of a key set, cached by the exact (ordered) names."""
    key = tuple(names)
    facts = _FACTS_CACHE.get(key)
    if facts is None:
        facts = _compute_key_facts(key)
        if len(key) <= _FACTS_CACHE_MAX_KEYS:
            if len(_FACTS_CACHE) >= _FACTS_CACHE_SIZE:
                with contextlib.suppress(StopIteration, RuntimeError, KeyError):  # another thread got there
                    _FACTS_CACHE.pop(next(iter(_FACTS_CACHE)))  # oldest first: dicts keep insertion order
            _FACTS_CACHE[key] = facts
    return facts


_RANK_NEEDLES = (".lora_down.", ".lora_A.", ".lora.down.", "lora_linear_layer.down", ".hada_w1_b")
_WIDTH_NEEDLES = ("lora_down", "lora_a", "lora.down", "hada_w1_b", "hada_w2_b")
_TE_WIDTH_NEEDLES = ("lora_down", "lora.down", "lora_linear_layer.down", "lora_A")
_FLUX_PREFIXES = ("lora_unet_double_blocks_", "lora_unet_single_blocks_", "lora_transformer_single_")
_SDXL_PREFIXES = ("lora_te1_", "lora_te2_", "text_encoder_2.")
_TE_PREFIXES = ("lora_te", "text_encoder", "te_", "base_model.model.text_model")
# Decoder blocks and embeddings of transformers causal LMs (optionally under PEFT's prefix). CLIP's
# ``text_model.encoder.layers.N`` and diffusers' ``transformer.transformer_blocks.N`` don't match.
_TEXT_LM_KEY = re.compile(
    r"^(?:base_model\.model\.)?(?:"
    r"(?:transformer\.h|model\.layers|gpt_neox\.layers|model\.decoder\.layers)\.\d+\."
    r"|transformer\.(?:wte|wpe|ln_f)\.|model\.(?:embed_tokens|norm)\.|gpt_neox\.(?:embed_in|final_layer_norm)\."
    r"|lm_head\.|embed_out\.)"
)


def _compute_key_facts(keys: tuple[str, ...]) -> KeyFacts:
    unet = te = flux = sd3 = sdxl = False
    rank_keys: list[str] = []
    width_keys: list[str] = []
    te_width_keys: list[str] = []
    alpha_key: str | None = None
    text_lm_keys = 0
    for k in keys:
        if _TEXT_LM_KEY.match(k):
            text_lm_keys += 1
        if k.startswith(_TE_PREFIXES) or "text_model" in k or ".encoder.layers." in k:
            te = True
        else:
            unet = True
        if any(n in k for n in _RANK_NEEDLES):
            rank_keys.append(k)
        if alpha_key is None and k.endswith(".alpha"):
            alpha_key = k
        if k.startswith(_FLUX_PREFIXES) or ".single_transformer_blocks." in k or "double_blocks." in k:
            flux = True
        if k.startswith("lora_unet_joint_blocks_") or "joint_blocks." in k or ".joint_transformer_blocks." in k:
            sd3 = True
        if k.startswith(_SDXL_PREFIXES) or ".add_embedding." in k or "lora_unet_label_emb" in k:
            sdxl = True
        low = k.lower()
        if "attn2" in low and "to_k" in low and any(n in low for n in _WIDTH_NEEDLES):
            width_keys.append(k)
        if k.startswith(("lora_te_", "text_encoder.")) and "q_proj" in k and any(n in k for n in _TE_WIDTH_NEEDLES):
            te_width_keys.append(k)
    lora = _lora_layout(keys)
    return KeyFacts(
        lora=lora,
        trains_unet=unet,
        trains_te=te,
        key_base=BaseArch.FLUX if flux else BaseArch.SD3 if sd3 else BaseArch.SDXL if sdxl else None,
        rank_keys=tuple(rank_keys),
        width_keys=tuple(width_keys),
        te_width_keys=tuple(te_width_keys),
        alpha_key=alpha_key,
        is_vae=lora is None and _is_vae(keys),
        text_lm=bool(keys) and 2 * text_lm_keys >= len(keys),
    )


def cap_metadata(meta: dict[str, str]) -> dict[str, str]:
    """Keep metadata small enough to show and store (some files carry 100 KB+ of ``ss_*``)."""
    out: dict[str, str] = {}
    # nsmallest, not sorted(): a hostile header may carry a million keys.
    keys = sorted(meta) if len(meta) <= MAX_METADATA_ENTRIES else heapq.nsmallest(MAX_METADATA_ENTRIES, meta)
    for k in keys:
        v = meta[k]
        if k == "ssmd_cover_images":  # base64 images: huge and useless as text (A1111 drops it too)
            v = f"({len(v)} characters of cover images, not shown)"
        elif len(v) > MAX_METADATA_VALUE:
            v = v[:MAX_METADATA_VALUE] + f"… ({len(v) - MAX_METADATA_VALUE} more characters)"
        out[clean_text(k[:200])] = clean_text(v, keep_newlines=True)
    return out


def _metadata_trigger_words(meta: dict[str, str]) -> tuple[str, ...]:
    words = list(split_words(meta.get("modelspec.trigger_phrase", "")[:20_000]))
    if not words:  # tag frequencies are the trainer's captions: the most used are the likely triggers
        words.extend(top_tags(meta.get("ss_tag_frequency", "")))
    return tuple(dict.fromkeys(words))


MAX_TAG_JSON = 16 * 1024 * 1024  # the whole header's cap: the value cannot be longer anyway


def top_tags(raw: str, n: int = TOP_TAGS) -> tuple[str, ...]:
    """The ``n`` most frequent tags in kohya's ``ss_tag_frequency`` JSON ({dataset: {tag: count}}).

    Counts are summed over datasets; a count that is not a finite number counts as nothing.
    One dataset (the usual case) is ranked by ``heapq.nlargest`` in C, without a Python call per tag.
    """
    if not raw:
        return ()
    try:
        data = loads_json(raw, max_bytes=MAX_TAG_JSON, max_depth=None, lone_surrogates=True)
    except UntrustedJsonError:
        return ()
    if not isinstance(data, dict):
        return ()
    sets = [tags for tags in data.values() if isinstance(tags, dict) and tags]
    best: list[str] = []
    if len(sets) == 1:
        tags = sets[0]
        try:  # orjson numbers are finite; anything else (text, lists) makes the comparison fail
            best = heapq.nlargest(4 * n, tags, key=tags.__getitem__)
            best = [t for t in best if _count(tags[t]) > 0]
        except TypeError:
            best = []
    if not best:
        counts: dict[str, float] = {}
        for tags in sets:
            for tag, count in tags.items():
                c = _count(count)
                if c > 0 and isinstance(tag, str):
                    counts[tag] = counts.get(tag, 0.0) + c
        best = heapq.nlargest(4 * n, counts, key=counts.__getitem__)
    out: list[str] = []
    for tag in best:  # several raw tags may clean to one, or to nothing
        word = clean_text(tag[:400]).strip()[:200]
        if word and word not in out:
            out.append(word)
        if len(out) == n:
            break
    return tuple(out)


def _count(value: object) -> float:
    number = finite_float(value, 0, 1e15)
    return number if number is not None else 0.0


def _lora_layout(keys: Sequence[str]) -> tuple[ModelKind, LoraFormat, str] | None:
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


def lora_base(meta: dict[str, str], header: SafetensorsHeader, facts: KeyFacts | None = None) -> tuple[BaseArch, str]:
    """Base architecture of a LoRA and the signal it came from ("modelspec", "ss_base_model_version",
    "keys", "attn2.to_k width", "text encoder width" or "none")."""
    arch = meta.get("modelspec.architecture", "")[:200].lower()
    if arch:
        for needle, base in _ARCH_NEEDLES:
            if needle in arch:
                return base, "modelspec"
        return BaseArch.OTHER, "modelspec"
    ss = meta.get("ss_base_model_version", "")[:200].lower()
    if ss:
        for needle, base in _SS_NEEDLES:
            if needle in ss:
                return base, "ss_base_model_version"
        return BaseArch.OTHER, "ss_base_model_version"
    if meta.get("ss_v2", "").lower() == "true":
        return BaseArch.SD2, "ss_v2"
    facts = facts or key_facts(header.names)
    if facts.key_base is not None:
        return facts.key_base, "keys"
    widths = {768: BaseArch.SD1, 1024: BaseArch.SD2, 2048: BaseArch.SDXL}
    for k in facts.width_keys:
        shape = header.shape(k)
        width_base = widths.get(shape[1]) if shape is not None and len(shape) >= 2 else None
        if width_base:
            return width_base, "attn2.to_k width"
    te_widths = {768: BaseArch.SD1, 1024: BaseArch.SD2}
    for k in facts.te_width_keys:
        shape = header.shape(k)
        te_base = te_widths.get(shape[1]) if shape is not None and len(shape) >= 2 else None
        if te_base:
            return te_base, "text encoder width"
    return BaseArch.UNKNOWN, "none"


def _rank_alpha(path: Path, header: SafetensorsHeader, facts: KeyFacts) -> tuple[int | None, float | None]:
    meta = header.metadata
    ranks = [r for r in header.dims(facts.rank_keys, 0) if 0 < r <= MAX_RANK]
    # "²".isdigit() is True and int() of 5,000 digits raises: parse_int refuses both.
    rank = Counter(ranks).most_common(1)[0][0] if ranks else parse_int(meta.get("ss_network_dim"), 1, MAX_RANK)
    alpha = _float(meta.get("ss_network_alpha"))
    if alpha is None and "lora_adapter_metadata" in meta:  # diffusers' save_lora_weights
        try:
            adapter = loads_json(meta["lora_adapter_metadata"], max_bytes=MAX_CONFIG_BYTES, lone_surrogates=True)
        except UntrustedJsonError:
            adapter = None
        if isinstance(adapter, dict):
            alpha = finite_float(adapter.get("unet.lora_alpha", adapter.get("transformer.lora_alpha")), -1e6, 1e6)
    if alpha is None and facts.alpha_key is not None:
        # kohya stores alpha per module as a scalar tensor: read those bytes only
        alpha = read_scalar(path, header, facts.alpha_key)
    return rank, alpha


def _float(value: str | None) -> float | None:
    return finite_float(value, -1e6, 1e6)


# -- embeddings, checkpoints, VAEs -------------------------------------------------------------


def _embedding_base(header: SafetensorsHeader) -> BaseArch | None:
    t = header.names
    if "clip_g" in t and "clip_l" in t:
        return BaseArch.SDXL
    if len(t) > 4:
        return None
    names = [k for k in t if k == "emb_params" or k.startswith("string_to_param.") or k == "clip_l"]
    if not names:
        return None
    shape = header.shape(names[0])
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


def _shape(header: SafetensorsHeader, key: str) -> tuple[int, ...] | None:
    for k in (key, "model.diffusion_model." + key):
        if k in header.names:
            return header.shape(k)
    return None


def checkpoint_family(header: SafetensorsHeader) -> str:
    """Family of a single-file checkpoint, as diffusers' ``infer_diffusers_model_type`` sees it,
    except that unrecognised files are "unknown" rather than "sd1"."""
    t = header.names
    inp = _shape(header, "input_blocks.0.0.weight")
    v2 = _shape(header, "input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight")
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
    sd3 = _shape(header, "joint_blocks.0.context_block.adaLN_modulation.1.bias")
    if sd3 and sd3[-1] == 9216:
        pe = _shape(header, "pos_embed")
        return {147456: "sd3.5-medium"}.get(pe[1] if pe and len(pe) > 1 else 0, "sd3")
    if _shape(header, "joint_blocks.37.x_block.mlp.fc1.weight"):
        return "sd3.5-large"
    if _shape(header, "double_blocks.0.img_attn.norm.key_norm.scale"):
        return "flux-dev" if _shape(header, "guidance_in.in_layer.bias") else "flux-schnell"
    if (
        "model.diffusion_model.output_blocks.11.0.skip_connection.weight" in t
        or "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight" in t
    ):
        return "sd1"
    if v2 and v2[-1] == 768:
        return "sd1"
    return "unknown"


def _is_vae(keys: Sequence[str]) -> bool:
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
    for k in header.names:
        shape = header.shape(k) if k.endswith("decoder.conv_in.weight") else None
        if shape is not None and len(shape) == 4 and shape[1] == 16:
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
        if isinstance(archs, list) and any(isinstance(a, str) and a.endswith(CAUSAL_LM_SUFFIXES) for a in archs):
            return ModelKind.TEXT_MODEL
    return None


def _json(path: Path) -> Any:
    """A config file's JSON, or None when it is missing, not a regular file, too big or too deep."""
    try:
        return loads_json(read_limited(path, MAX_CONFIG_BYTES), max_bytes=MAX_CONFIG_BYTES, lone_surrogates=True)
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
        clean_text(k[:200]): clean_text((v if isinstance(v, str) else json.dumps(v))[:MAX_METADATA_VALUE], True)
        for k, v in list(config.items())[:MAX_METADATA_ENTRIES]
    }
    info = FileInfo(path=path, kind=kind, is_dir=True, size=size, mtime=mtime, title=_folder_title(path), metadata=meta)

    if kind is ModelKind.PIPELINE:
        cls = clean_text(str(config.get("_class_name", ""))[:200])
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
        targets = config.get("target_modules")
        target_text = json.dumps(targets)[:100_000] if targets is not None else ""
        info = replace(
            info,
            base=BaseArch.OTHER,
            lora_format=LoraFormat.PEFT,
            network="lora",
            rank=parse_int(config.get("r"), 1, MAX_RANK),
            alpha=finite_float(config.get("lora_alpha"), -1e6, 1e6),
            trains_text_encoder="to_q" not in target_text,
            trains_unet="to_q" in target_text,
            variant=clean_text(str(config.get("base_model_name_or_path") or "")[:300]),
        )
    else:
        archs = config.get("architectures") or []
        first = archs[0] if isinstance(archs, list) and archs else ""
        info = replace(info, base=BaseArch.OTHER, variant=clean_text(str(first)[:200]))
    return _with_sidecars(info, side)


def _folder_title(path: Path) -> str:
    # Hugging Face cache snapshots are named by commit: the repo folder says more.
    parent = path.parent
    if parent.name == "snapshots" and parent.parent.name.startswith("models--"):
        return clean_text(parent.parent.name.removeprefix("models--").replace("--", "/"))
    return clean_text(path.name)
