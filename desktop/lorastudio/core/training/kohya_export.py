"""Trained LoRA weights → a kohya-format ``.safetensors`` that A1111, ComfyUI, Forge and diffusers load.

Keys: ``lora_unet_<module path with _>.lora_down.weight`` / ``.lora_up.weight`` / ``.alpha`` for the
UNet, ``lora_te_…`` (SDXL: ``lora_te1_…``, ``lora_te2_…``) for the text encoders, with kohya's
``text_model_`` level. The UNet path is diffusers' for SD 1.x/2.x (as kohya's sd-scripts write them)
and the original sgm one for SDXL (``lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q``,
as kohya's SDXL files and A1111/ComfyUI expect). The header carries kohya's ``ss_*`` training
metadata, ``sshs_model_hash`` (the tensor-only "addnet" hash A1111 trusts) and Stability's
``modelspec.*`` keys.

Every file is written under a hidden temporary name in the target folder, flushed, then renamed:
a full disk or a crash leaves the library without a half-written LoRA.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorastudio.core.errors import InvalidRequest
from lorastudio.core.metadata.untrusted import clean_text

_CHUNK = 4 * 1024 * 1024

BASE_VERSION = {"sd1": "sd_v1", "sd2": "sd_v2", "sdxl": "sdxl_base_v1-0"}
ARCHITECTURE = {"sd1": "stable-diffusion-v1/lora", "sd2": "stable-diffusion-v2-512/lora",
                "sdxl": "stable-diffusion-xl-v1-base/lora"}
IMPLEMENTATION = {"sd1": "diffusers", "sd2": "diffusers",
                  "sdxl": "https://github.com/Stability-AI/generative-models"}
NETWORK_MODULE = {"lora": "networks.lora", "locon": "lycoris.kohya"}


def kohya_name(prefix: str, module: str) -> str:
    """``lora_unet_`` + ``down_blocks.0.attentions.0…to_q`` → kohya's underscore form."""
    return prefix + module.replace(".", "_")


def to_kohya(peft_state: Mapping[str, Any], prefix: str, alpha: float, text_encoder: bool = False,
             rename: Callable[[str], str | None] | None = None) -> dict[str, Any]:
    """PEFT LoRA tensors (``<module>.lora_A.weight`` / ``.lora_B.weight``) as kohya tensors
    (``<prefix><module>.lora_down.weight`` / ``.lora_up.weight`` / ``.alpha``), float32 on the CPU.
    ``rename`` gives a module's name in the file (None: keep it), e.g. the SDXL UNet's sgm names."""
    import torch

    out: dict[str, Any] = {}
    for key, tensor in peft_state.items():
        for peft_part, kohya_part in ((".lora_A.weight", ".lora_down.weight"), (".lora_B.weight", ".lora_up.weight")):
            if not key.endswith(peft_part):
                continue
            module = key[: -len(peft_part)]
            if module.startswith("base_model.model."):
                module = module[len("base_model.model."):]
            if text_encoder and not module.startswith("text_model."):
                module = "text_model." + module  # transformers 5 dropped the level kohya names keep
            if rename is not None:
                module = rename(module) or module
            name = kohya_name(prefix, module)
            out[name + kohya_part] = tensor.detach().to("cpu", torch.float32).contiguous()
            out[name + ".alpha"] = torch.tensor(float(alpha))
    return out


@dataclass(frozen=True)
class TrainingFacts:
    """What the metadata records about the run that made one file."""

    title: str
    family: str  # "sd1" / "sd2" / "sdxl"
    base_model_name: str
    resolution: int
    network: str
    rank: int
    alpha: float
    learning_rate: float
    text_encoder_lr: float | None
    epoch: int
    epochs: int
    steps: int
    max_steps: int
    batch_size: int
    seed: int
    num_images: int
    repeats: int
    dataset_name: str
    tag_frequency: Mapping[str, int]
    buckets: Mapping[tuple[int, int], int]
    lr_scheduler: str
    mixed_precision: str
    prediction_type: str
    trigger_word: str
    started_at: float
    session_id: str


def training_metadata(f: TrainingFacts) -> dict[str, str]:
    """kohya ``ss_*`` and ``modelspec.*`` header entries (all strings, as the format wants)."""
    dataset_key = f"{f.repeats}_{f.dataset_name}"  # kohya's folder-name form, which readers expect
    meta = {
        "ss_session_id": f.session_id,
        "ss_training_started_at": str(int(f.started_at)),
        "ss_training_finished_at": str(int(time.time())),
        "ss_output_name": f.title,
        "ss_base_model_version": BASE_VERSION.get(f.family, "sd_v1") + ("_v" if f.prediction_type == "v_prediction"
                                                                         and f.family != "sdxl" else ""),
        "ss_v2": str(f.family == "sd2"),
        "ss_sd_model_name": f.base_model_name,
        "ss_resolution": f"({f.resolution}, {f.resolution})",
        "ss_network_module": NETWORK_MODULE[f.network],
        "ss_network_dim": str(f.rank),
        "ss_network_alpha": _number(f.alpha),
        "ss_network_args": json.dumps({"algo": "locon", "conv_dim": str(f.rank), "conv_alpha": _number(f.alpha)}
                                      if f.network == "locon" else {}),
        "ss_learning_rate": _number(f.learning_rate),
        "ss_unet_lr": _number(f.learning_rate),
        "ss_text_encoder_lr": _number(f.text_encoder_lr) if f.text_encoder_lr is not None else "None",
        "ss_epoch": str(f.epoch),
        "ss_num_epochs": str(f.epochs),
        "ss_steps": str(f.steps),
        "ss_max_train_steps": str(f.max_steps),
        "ss_batch_size_per_device": str(f.batch_size),
        "ss_seed": str(f.seed),
        "ss_num_train_images": str(f.num_images * f.repeats),
        "ss_num_reg_images": "0",
        "ss_lr_scheduler": f.lr_scheduler,
        "ss_mixed_precision": f.mixed_precision,
        "ss_clip_skip": "None",
        "ss_tag_frequency": json.dumps({dataset_key: dict(f.tag_frequency)}, ensure_ascii=False),
        "ss_dataset_dirs": json.dumps({dataset_key: {"n_repeats": f.repeats, "img_count": f.num_images}},
                                      ensure_ascii=False),
        "ss_bucket_info": json.dumps({"buckets": {str(i): {"resolution": list(b), "count": n}
                                                  for i, (b, n) in enumerate(sorted(f.buckets.items()))}}),
        "ss_training_comment": "trained with LoRA Studio",
        "modelspec.sai_model_spec": "1.0.1",
        "modelspec.architecture": ARCHITECTURE.get(f.family, ARCHITECTURE["sd1"]),
        "modelspec.implementation": IMPLEMENTATION.get(f.family, "diffusers"),
        "modelspec.title": f.title,
        "modelspec.resolution": f"{f.resolution}x{f.resolution}",
        "modelspec.date": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime()),
        "modelspec.prediction_type": "v" if f.prediction_type == "v_prediction" else "epsilon",
        "modelspec.description": f"LoRA trained by LoRA Studio: epoch {f.epoch} of {f.epochs}, {f.steps} steps.",
    }
    if f.trigger_word:
        meta["modelspec.trigger_phrase"] = f.trigger_word
    return meta


def _number(value: float) -> str:
    return f"{value:g}"


def serialize(tensors: Mapping[str, Any], metadata: Mapping[str, str]) -> bytes:
    """The file's bytes, with ``sshs_model_hash`` (SHA-256 of everything after the header) added."""
    from safetensors.torch import save

    first = save(dict(tensors), metadata=dict(metadata))
    header = int.from_bytes(first[:8], "little")
    digest = hashlib.sha256(first[8 + header:]).hexdigest()
    return bytes(save(dict(tensors), metadata={**metadata, "sshs_model_hash": digest}))


def _write_chunk(f: Any, data: memoryview) -> None:
    f.write(data)


def _write_atomic(target: Path, data: bytes) -> Path:
    """Write ``data`` to a hidden temporary file next to ``target``; return it (caller renames)."""
    tmp = target.with_name(f".{target.name}.partial")
    try:
        with open(tmp, "wb") as f:
            view = memoryview(data)
            for start in range(0, len(view), _CHUNK):
                _write_chunk(f, view[start:start + _CHUNK])
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def save_lora(tensors: Mapping[str, Any], metadata: Mapping[str, str], target: Path,
              preview_png: bytes | None = None) -> Path:
    """Write the LoRA (and ``<stem>.preview.png``) so that either both appear whole or nothing does.

    Raises ``InvalidRequest`` with one sentence when the disk is full or the folder is not writable.
    """
    target = Path(target)
    preview = target.with_name(target.stem + ".preview.png")
    temps: list[tuple[Path, Path]] = []
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temps.append((_write_atomic(target, serialize(tensors, metadata)), target))
        if preview_png is not None:
            temps.append((_write_atomic(preview, preview_png), preview))
        for tmp, final in temps:  # the LoRA first: a preview without its LoRA would be an orphan
            os.replace(tmp, final)
    except OSError as err:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        name = clean_text(target.name)
        if err.errno == errno.ENOSPC:
            raise InvalidRequest(f"The disk is full: {name} was not saved; free some space and resume.") from None
        raise InvalidRequest(f"{name} could not be saved: {err.strerror or err}.") from None
    return target
