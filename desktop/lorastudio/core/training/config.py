"""Training settings: one frozen value with sound defaults, presets, TOML in and out, a VRAM estimate.

The defaults follow what keeps a LoRA from "frying": rank 16 with alpha 8, a learning rate of
1e-4, the UNet only, a constant schedule. Presets derive the step count and learning rate from the
number of images, so a user picks "character" and a folder and gets a sensible run.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from lorastudio.core.errors import InvalidRequest, LoraStudioError
from lorastudio.core.metadata.untrusted import clean_text, require_float, require_int

NETWORKS = ("lora", "locon")
MIXED_PRECISION = ("no", "fp16", "bf16")
LR_SCHEDULERS = ("constant", "cosine", "linear")
PRESETS = ("character", "style", "object")
MAX_CONFIG_BYTES = 256 * 1024


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs. Paths may be relative to the TOML file that holds them."""

    base_model: str = ""  # a diffusers folder or a single-file SD 1.x / SDXL checkpoint
    dataset: str = ""  # the folder of images (+ name.txt captions)
    output_dir: str = ""  # where the .safetensors files go (the library's loras folder)
    output_name: str = "my-lora"
    network: str = "lora"  # "lora": attention only; "locon": also the ResNet convolutions
    rank: int = 16
    alpha: float = 8.0
    learning_rate: float = 1e-4
    train_text_encoder: bool = False
    text_encoder_lr: float = 5e-5
    lr_scheduler: str = "constant"
    lr_warmup_steps: int = 0
    epochs: int = 10
    max_steps: int = 0  # 0: the epochs decide
    batch_size: int = 1
    repeats: int = 1  # each image is seen this many times per epoch
    resolution: int = 512
    seed: int = 42
    trigger_word: str = ""
    sample_prompts: tuple[str, ...] = ()
    sample_every_steps: int = 0  # 0: one sample at the end of every epoch
    sample_steps: int = 20
    gradient_checkpointing: bool = False  # GPU only, like the two below
    mixed_precision: str = "no"
    use_8bit_adam: bool = False
    device: str = ""  # "" = the best available; "cpu" forces the CPU

    def validate(self) -> TrainConfig:
        """Raise ``InvalidRequest`` with one sentence for the first setting out of range; return self."""
        for name, value in (("The base model", self.base_model), ("The dataset folder", self.dataset),
                            ("The output folder", self.output_dir)):
            if not value.strip():
                raise InvalidRequest(f"{name} is not set.")
        name = self.output_name.strip()
        if not name or any(c in name for c in '/\\:*?"<>|') or name.startswith(".") or len(name) > 120:
            raise InvalidRequest("The output name must be a plain file name (no / \\ : * ? \" < > |).")
        _require_choice("The network", self.network, NETWORKS)
        _require_choice("Mixed precision", self.mixed_precision, MIXED_PRECISION)
        _require_choice("The learning-rate schedule", self.lr_scheduler, LR_SCHEDULERS)
        require_int("The rank", self.rank, 1, 1024)
        require_float("Alpha", self.alpha, 1e-3, 10_000.0)
        require_float("The learning rate", self.learning_rate, 1e-8, 1.0)
        require_float("The text-encoder learning rate", self.text_encoder_lr, 1e-8, 1.0)
        require_int("Warm-up steps", self.lr_warmup_steps, 0, 10**7)
        require_int("Epochs", self.epochs, 1, 10_000)
        require_int("Max steps", self.max_steps, 0, 10**7)
        require_int("The batch size", self.batch_size, 1, 256)
        require_int("Repeats", self.repeats, 1, 1000)
        require_int("The resolution", self.resolution, 64, 4096)
        require_int("The seed", self.seed, 0, 2**32 - 1)
        require_int("Sample every N steps", self.sample_every_steps, 0, 10**7)
        require_int("Sample steps", self.sample_steps, 1, 200)
        if len(self.sample_prompts) > 16:
            raise InvalidRequest("Use at most 16 sample prompts.")
        return self

    def total_steps(self, steps_per_epoch: int) -> int:
        total = self.epochs * steps_per_epoch
        return min(total, self.max_steps) if self.max_steps else total


def _require_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidRequest(f"{name} must be one of {', '.join(choices)} (got {clean_text(str(value))[:24]}).")


# -- presets ---------------------------------------------------------------------------------

# Target total image views (steps × batch), rank/alpha and learning rate per kind of subject.
# Characters and objects converge in ~100 views per image; styles want more images seen fewer
# times each and a gentler rate so they do not overwrite the base model's knowledge.
_PRESETS: dict[str, dict[str, Any]] = {
    "character": {"views_per_image": 100, "min_views": 800, "max_views": 3000, "rank": 16, "alpha": 8.0,
                  "learning_rate": 1e-4},
    "style": {"views_per_image": 60, "min_views": 1000, "max_views": 4000, "rank": 32, "alpha": 16.0,
              "learning_rate": 5e-5},
    "object": {"views_per_image": 80, "min_views": 600, "max_views": 2000, "rank": 8, "alpha": 4.0,
               "learning_rate": 1e-4},
}


def apply_preset(config: TrainConfig, preset: str, image_count: int) -> TrainConfig:
    """``config`` with the preset's rank, alpha, learning rate, epochs and repeats for ``image_count``
    images (10 epochs, so there are ten files to compare)."""
    _require_choice("The preset", preset, PRESETS)
    p = _PRESETS[preset]
    n = max(1, image_count)
    views = min(p["max_views"], max(p["min_views"], n * p["views_per_image"]))
    epochs = 10
    repeats = max(1, round(views / (epochs * n)))
    # a bigger batch averages more images per step: scale the rate with its square root
    lr = p["learning_rate"] * math.sqrt(config.batch_size)
    return replace(config, rank=p["rank"], alpha=p["alpha"], learning_rate=lr, epochs=epochs, repeats=repeats,
                   max_steps=0)


# -- TOML ----------------------------------------------------------------------------------

_FIELDS = {f.name: f for f in fields(TrainConfig)}
_PATH_FIELDS = ("base_model", "dataset", "output_dir")


def config_from_dict(values: dict[str, Any], base_dir: Path | None = None) -> TrainConfig:
    """A validated config from plain values (a parsed TOML table); relative paths are resolved
    against ``base_dir``."""
    defaults = TrainConfig()
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in _FIELDS:
            raise InvalidRequest(f"Unknown setting {clean_text(str(key))[:40]!r} in the training config.")
        default = getattr(defaults, key)
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidRequest(f"{key} must be a list of strings.")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise InvalidRequest(f"{key} must be true or false.")
        elif isinstance(default, float):
            if isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, float):
                raise InvalidRequest(f"{key} must be a number.")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidRequest(f"{key} must be a whole number.")
        elif not isinstance(value, str):
            raise InvalidRequest(f"{key} must be a string.")
        if key in _PATH_FIELDS and value and base_dir is not None:
            path = Path(value).expanduser()
            value = str(path if path.is_absolute() else (base_dir / path).resolve())
        kwargs[key] = value
    return replace(defaults, **kwargs).validate()


def read_config(path: Path) -> TrainConfig:
    """The config in a TOML file (settings at the top level or in a ``[train]`` table)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise InvalidRequest(f"{clean_text(str(path))} could not be read: {err.strerror or err}.") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise InvalidRequest(f"{clean_text(path.name)} is too large for a training config.")
    try:
        table = tomllib.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InvalidRequest(f"{clean_text(path.name)} is not valid TOML: {str(err).splitlines()[0]}.") from None
    if isinstance(table.get("train"), dict):
        table = table["train"]
    return config_from_dict(table, path.absolute().parent)


def config_to_toml(config: TrainConfig) -> str:
    """TOML text for ``config`` (a tiny writer: strings, numbers, booleans, lists of strings)."""
    lines = ["# LoRA Studio training config: lorastudio train THIS_FILE", "[train]"]
    for f in fields(TrainConfig):
        lines.append(f"{f.name} = {_toml_value(getattr(config, f.name))}")
    return "\n".join(lines) + "\n"


def write_config(config: TrainConfig, path: Path) -> None:
    Path(path).write_text(config_to_toml(config), "utf-8")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def base_family(path: Path) -> str:
    """"sd1", "sd2" or "sdxl" for a base model, from its folder's configs or its file header (no
    weights are read); "sd1" when it cannot be told."""
    path = Path(path)
    try:
        if path.is_dir():
            index = json.loads((path / "model_index.json").read_text("utf-8"))
            if "text_encoder_2" in index:
                return "sdxl"
            unet = json.loads((path / "unet" / "config.json").read_text("utf-8"))
            return "sd2" if unet.get("cross_attention_dim") == 1024 else "sd1"
        if path.is_file():
            from lorastudio.core.engine.single_file import checkpoint_family

            family = checkpoint_family(path)
            return family if family in _ARCH else "sd1"
    except (OSError, ValueError, AttributeError, InvalidRequest, LoraStudioError):
        pass
    return "sd1"


def base_bucket_step(path: Path) -> int:
    """The bucket side multiple for a base model (as ``trainer.bucket_step``, from its configs
    alone): 64 for every real SD model, less for tiny test models."""
    path = Path(path)
    try:
        unet = json.loads((path / "unet" / "config.json").read_text("utf-8"))
        vae = json.loads((path / "vae" / "config.json").read_text("utf-8"))
        return int(2 ** (len(vae["block_out_channels"]) - 1) * 2 ** (len(unet["block_out_channels"]) - 1))
    except (OSError, ValueError, KeyError, TypeError):
        return 64


# -- memory --------------------------------------------------------------------------------

# Parameter counts (UNet, text encoders, VAE) and activation elements per pixel per image,
# calibrated on SD 1.5 at 512 px (≈6.5 GB fp16 without checkpointing) and SDXL at 1024 px.
_ARCH = {"sd1": (860e6, 123e6, 84e6, 7600.0), "sd2": (865e6, 340e6, 84e6, 7600.0),
         "sdxl": (2567e6, 817e6, 84e6, 9500.0)}


def estimate_vram(config: TrainConfig, family: str) -> int:
    """Rough peak GPU memory in bytes for training ``config`` on a ``family`` ("sd1"/"sd2"/"sdxl")
    model: frozen weights + activations + LoRA weights, gradients and optimizer state."""
    unet, te, vae, per_px = _ARCH.get(family, _ARCH["sd1"])
    half = config.mixed_precision in ("fp16", "bf16")
    weight_bytes = 2 if half else 4
    frozen = (unet + te + vae) * weight_bytes
    activations = per_px * config.batch_size * config.resolution ** 2 * weight_bytes
    if config.gradient_checkpointing:
        activations *= 0.3
    if config.train_text_encoder:
        activations *= 1.1
    lora_params = unet * 0.0035 * config.rank / 4 * (2 if config.network == "locon" else 1)
    optimizer = 2 if config.use_8bit_adam else 8
    trainable = lora_params * (4 + 4 + optimizer)  # fp32 weights, gradients, Adam moments
    context = 0.6e9  # CUDA context and allocator slack
    return int(frozen + activations + trainable + context)
