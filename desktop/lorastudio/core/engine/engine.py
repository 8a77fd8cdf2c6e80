"""The diffusers engine: one pipeline loaded at a time, each LoRA file loaded once under its own
adapter name, and a mix applied per request with ``set_adapters`` (no reload when a weight changes).

Not thread-safe by design: one engine thread owns it (qt/workers/engine_worker.py) and jobs queue.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lorastudio.core.cancel import CancelToken
from lorastudio.core.engine.device import DeviceChoice, choose_device
from lorastudio.core.engine.loras import is_kohya, prepare_kohya, read_lora_state_dict
from lorastudio.core.engine.memory import MemoryState, apply_memory_options
from lorastudio.core.engine.previews import latents_to_rgb
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.engine.schedulers import make_scheduler
from lorastudio.core.engine.vae import VaeSwitch
from lorastudio.core.errors import (
    GenerationCancelled,
    IncompatibleLoraError,
    LoraLoadError,
    LoraStudioError,
    ModelLoadError,
    OutOfMemory,
)
from lorastudio.core.types import BaseArch

log = logging.getLogger(__name__)

# step (1-based), total steps, preview RGB array (h, w, 3 uint8) or None
StepCallback = Callable[[int, int, Any], None]


@dataclass
class GenerationResult:
    image: Any  # PIL.Image.Image
    seed: int
    request: GenerationRequest
    index: int = 0  # position in the batch
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class EngineStats:
    """Counters the tests and benchmarks read: a slider change must not bump the load counts."""

    pipeline_loads: int = 0
    lora_loads: int = 0
    mix_applications: int = 0


def _quiet_libraries() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    # transformers 5 prints a "LOAD REPORT" of MISSING lora keys for every text-encoder LoRA:
    # noise (the weights are applied; shared/notes/verified-facts.md), not news for users.
    for lib in (dlog, tlog):
        lib.disable_progress_bar()
        lib.set_verbosity_error()


def _adapter_id(path: Path) -> str:
    # Generated ids: display names with '.' or names like 'train' break PEFT (notes §2.7).
    return "lora_" + hashlib.sha1(str(path).encode("utf-8")).hexdigest()[:10]


class DiffusersEngine:
    def __init__(self, device: str | None = None) -> None:
        self.choice: DeviceChoice = choose_device(device)
        self.stats = EngineStats()
        self._pipe: Any = None
        self._model: Path | None = None
        self._base_scheduler_config: Any = None
        self._adapters: dict[Path, str] = {}
        self._model_base: BaseArch | None = None
        self._applied: tuple[tuple[str, Any], ...] | None = None
        # Single-file checkpoints: family ("sd1"/"sd2"/"sdxl") -> diffusers config folder overriding
        # the shipped resources/configs/<family> (tests with tiny models, unusual checkpoints).
        self.single_file_configs: dict[str, Path] = {}
        self.memory_notes: tuple[str, ...] = ()  # e.g. "offload ignored on CPU", for the status bar
        self._memory_state = MemoryState()
        self._vae = VaeSwitch()
        _quiet_libraries()

    # -- model -------------------------------------------------------------------------------
    @property
    def model_path(self) -> Path | None:
        return self._model

    @property
    def pipeline(self) -> Any:
        return self._pipe

    def load_model(self, path: Path) -> Any:
        """Load (or keep) the pipeline at ``path``: a diffusers folder with model_index.json."""
        path = Path(path).expanduser().resolve()
        if self._pipe is not None and self._model == path:
            return self._pipe
        self.unload()
        pipe = self._load_pipeline(path)
        pipe.set_progress_bar_config(disable=True)
        self._pipe, self._model = pipe, path
        self._base_scheduler_config = pipe.scheduler.config
        self.stats.pipeline_loads += 1
        return pipe

    def _load_pipeline(self, path: Path) -> Any:
        import torch

        if not path.exists():
            raise ModelLoadError(f"Model not found: {path}")
        if path.is_dir() and not (path / "model_index.json").is_file():
            raise ModelLoadError(
                f"{path.name} is not a diffusers pipeline folder (model_index.json is missing).")
        if path.is_file():
            from lorastudio.core.engine.single_file import load_single_file

            return load_single_file(path, self.choice, configs=self.single_file_configs)
        from diffusers import DiffusionPipeline

        dtype = getattr(torch, self.choice.dtype_name)
        try:
            pipe = DiffusionPipeline.from_pretrained(str(path), dtype=dtype, local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
            raise ModelLoadError(f"Could not load the pipeline in {path.name}: {err}") from None
        if not hasattr(pipe, "load_lora_weights"):
            raise ModelLoadError(f"{path.name} is a {type(pipe).__name__}, which LoRA Studio cannot mix LoRAs into.")
        return pipe.to(self.choice.device)

    def unload(self) -> None:
        self._pipe = None
        self._model = None
        self._model_base = None
        self._adapters.clear()
        self._applied = None
        self._vae.reset()
        self._memory_state = MemoryState()
        import gc

        gc.collect()

    # -- LoRAs -------------------------------------------------------------------------------
    def loaded_loras(self) -> dict[Path, str]:
        return dict(self._adapters)

    def ensure_lora(self, path: Path) -> str:
        """Load ``path`` once under a generated adapter name; later calls are free."""
        if self._pipe is None:
            raise ModelLoadError("Load a model before adding LoRAs.")
        path = Path(path).expanduser().resolve()
        if path in self._adapters:
            return self._adapters[path]
        self.check_compatible(path)
        sd = read_lora_state_dict(path)
        name = _adapter_id(path)
        try:
            with warnings.catch_warnings():
                # peft warns "Already found a peft_config" for every second adapter: by design here.
                warnings.filterwarnings("ignore", message="Already found a `peft_config`")
                if is_kohya(sd):
                    self._pipe.load_lora_weights(prepare_kohya(sd), adapter_name=name)
                else:
                    self._pipe.load_lora_weights(str(path), adapter_name=name)
        except (ValueError, KeyError, RuntimeError, TypeError) as err:
            self._discard_partial(name)
            msg = str(err).splitlines()[0][:200]
            if "size mismatch" in msg or "shape" in msg:
                raise LoraLoadError(f"{path.name} does not fit this model (tensor shapes differ): "
                                    "it was trained for another base model.") from None
            raise LoraLoadError(f"{path.name} could not be loaded as a LoRA: {msg}") from None
        self._adapters[path] = name
        self._applied = None
        self.stats.lora_loads += 1
        return name

    def check_compatible(self, lora: Path) -> None:
        """Refuse a LoRA made for another base architecture, from headers only (before loading)."""
        from lorastudio.core.metadata.detect import inspect_path

        if self._model is None:
            return
        if self._model_base is None:
            self._model_base = inspect_path(self._model).base
        lora_base = inspect_path(lora).base
        known = (BaseArch.UNKNOWN, BaseArch.OTHER)
        if self._model_base not in known and lora_base not in known and lora_base != self._model_base:
            raise IncompatibleLoraError(
                f"{lora.name} was made for {lora_base.label}, but the current model is "
                f"{self._model_base.label}. Choose a {self._model_base.label} LoRA or another model.")

    def _discard_partial(self, name: str) -> None:
        try:
            if name in self._pipe.get_list_adapters().get("unet", []):
                self._pipe.delete_adapters(name)
        except Exception:  # a failed load may leave nothing to delete; the pipeline stays usable
            log.debug("nothing to clean after failed LoRA load", exc_info=True)

    def apply_mix(self, loras: tuple[LoraSpec, ...]) -> None:
        """Activate exactly the enabled LoRAs at their weights (loads new files once)."""
        pipe = self._pipe
        active = [spec for spec in loras if spec.enabled]
        names = [self.ensure_lora(spec.path) for spec in active]
        weights: list[Any] = []
        for spec in active:
            if spec.te_weight is None:
                weights.append(float(spec.weight))
            else:
                w = {"unet": float(spec.weight), "text_encoder": float(spec.te_weight)}
                if getattr(pipe, "text_encoder_2", None) is not None:
                    w["text_encoder_2"] = float(spec.te_weight)
                weights.append(w)
        key = tuple(zip(names, [repr(w) for w in weights], strict=True))
        if key == self._applied:
            return
        if not self._adapters:
            self._applied = key
            return
        if names:
            pipe.enable_lora()
            pipe.set_adapters(names, adapter_weights=weights)
        else:
            pipe.disable_lora()
        self._applied = key
        self.stats.mix_applications += 1

    # -- generation --------------------------------------------------------------------------
    def generate(self, request: GenerationRequest, on_step: StepCallback | None = None,
                 cancel: CancelToken | None = None) -> list[GenerationResult]:
        """Run ``request`` (batch_count images, seeds seed, seed+1, ...)."""
        import time

        import torch

        t0 = time.perf_counter()
        pipe = self.load_model(request.model)
        t_model = time.perf_counter()
        self.apply_mix(request.loras)
        self.memory_notes = apply_memory_options(pipe, request.memory, self.choice, self._memory_state)
        self._vae.apply(pipe, request.vae, self.choice)  # cached; None restores the checkpoint's own
        t_mix = time.perf_counter()
        pipe.scheduler = make_scheduler(request.sampler, self._base_scheduler_config)
        xl = "XL" in type(pipe).__name__
        results: list[GenerationResult] = []
        total = request.steps
        for index in range(max(1, request.batch_count)):
            seed = request.seed + index

            def on_step_end(p: Any, step: int, timestep: Any, kwargs: dict[str, Any],
                            index: int = index) -> dict[str, Any]:
                if cancel is not None and cancel.cancelled:
                    # Raising (not p._interrupt) skips the VAE decode: cancel means discard.
                    raise GenerationCancelled("Generation cancelled.")
                if on_step is not None:
                    preview = None
                    every = request.preview_every
                    if every and ((step + 1) % every == 0) and step + 1 < total:
                        preview = latents_to_rgb(kwargs["latents"], xl=xl)
                    on_step(index * total + step + 1, total * max(1, request.batch_count), preview)
                return {}

            # Noise from a CPU generator: the same seed gives the same picture on any device.
            generator = torch.Generator("cpu").manual_seed(seed)
            kwargs: dict[str, Any] = dict(
                prompt=request.prompt, negative_prompt=request.negative_prompt or None,
                num_inference_steps=request.steps, guidance_scale=request.cfg,
                width=request.width, height=request.height, generator=generator,
                callback_on_step_end=on_step_end, callback_on_step_end_tensor_inputs=["latents"])
            if request.clip_skip > 1:
                kwargs["clip_skip"] = request.clip_skip - 1  # A1111 "2" = diffusers 1
            if cancel is not None and cancel.cancelled:
                raise GenerationCancelled("Generation cancelled.")
            t_start = time.perf_counter()
            try:
                with torch.inference_mode():
                    image = pipe(**kwargs).images[0]
            except torch.OutOfMemoryError:
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                raise OutOfMemory(
                    "The GPU ran out of memory. Try a smaller size, fewer LoRAs, or turn on VAE "
                    "tiling / model CPU offload in Settings.") from None
            except LoraStudioError:
                raise
            except ValueError as err:
                raise LoraStudioError(f"Generation failed: {str(err).splitlines()[0]}") from None
            results.append(GenerationResult(image=image, seed=seed, request=request, index=index, timings={
                "load_model": t_model - t0, "apply_mix": t_mix - t_model,
                "denoise_and_decode": time.perf_counter() - t_start}))
        return results
