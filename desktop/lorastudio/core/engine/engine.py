"""The diffusers engine: one pipeline loaded at a time, each LoRA file loaded once under its own
adapter name, and a mix applied per request without a reload when a weight changes: plain LoRAs as
diffusers/PEFT adapters (``set_adapters``), every other format by patching only the touched layers.

Not thread-safe by design: the engine process (core/backend/engine_process.py) owns it and runs one job at a time.
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
from lorastudio.core.engine.adapter_keys import COMPONENTS, ModuleIndex, Target, build_index, split_key
from lorastudio.core.engine.adapter_math import LayerAdapter, peft_scale
from lorastudio.core.engine.blocks import block_factor, fit_blocks
from lorastudio.core.engine.device import DeviceChoice, choose_device
from lorastudio.core.engine.fit import FitReport, fit_report, fit_sentence
from lorastudio.core.engine.loras import is_kohya, prepare_kohya, read_lora_state_dict, require_lora_suffix
from lorastudio.core.engine.memory import MemoryState, apply_memory_options
from lorastudio.core.engine.patcher import WeightPatcher
from lorastudio.core.engine.previews import latents_to_rgb
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.engine.schedulers import make_scheduler
from lorastudio.core.engine.vae import VaeSwitch
from lorastudio.core.errors import (
    BadModelFile,
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
    # One sentence per LoRA that only partly fits the model ("x fits 264 of 270 layers (…)").
    warnings: tuple[str, ...] = ()


@dataclass
class _Loaded:
    """A LoRA file the engine holds: as a diffusers/PEFT adapter or in the weight patcher."""

    name: str
    path: Path
    report: FitReport
    warning: str
    patched: bool


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


def _clip_skip_embeds(pipe: Any, prompt: str, negative: str, clip_skip: int) -> tuple[Any, Any]:
    """A1111's clip skip for SD 1.x/2.x: the hidden state ``clip_skip`` layers from the end, through the
    final layer norm, for the prompt AND the negative prompt. diffusers 0.42 skips only the prompt's
    layers (and reaches for ``text_encoder.text_model``, which transformers 5 removed), so we encode."""
    import torch

    te = pipe.text_encoder

    def encode(text: str) -> Any:
        ids = pipe.tokenizer(text, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids.to(pipe.device)
        with torch.inference_mode():
            hidden = te(ids, output_hidden_states=True).hidden_states[-clip_skip]
            return te.final_layer_norm(hidden)

    return encode(prompt), encode(negative)


class DiffusersEngine:
    def __init__(self, device: str | None = None) -> None:
        self.choice: DeviceChoice = choose_device(device)
        self.stats = EngineStats()
        self._pipe: Any = None
        self._model: Path | None = None
        self._base_scheduler_config: Any = None
        self._adapters: dict[Path, str] = {}
        self._loaded: dict[Path, _Loaded] = {}
        self._patcher = WeightPatcher()
        self._index: ModuleIndex | None = None
        self._model_base: BaseArch | None = None
        self._peft_applied: tuple[tuple[str, Any], ...] | None = None
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
        self._loaded.clear()
        self._patcher.clear()
        self._index = None
        self._peft_applied = None
        self._vae.reset()
        self._memory_state = MemoryState()
        import gc

        gc.collect()

    # -- LoRAs -------------------------------------------------------------------------------
    def loaded_loras(self) -> dict[Path, str]:
        return dict(self._adapters)

    def ensure_lora(self, path: Path) -> str:
        """Load ``path`` once under a generated adapter name; later calls are free.

        Plain LoRA/LoCon files in a layout diffusers converts become diffusers/PEFT adapters (a weight
        change is a ``set_adapters`` call); every other format, and rows with block weights, go to
        the weight patcher (core/engine/patcher.py)."""
        if self._pipe is None:
            raise ModelLoadError("Load a model before adding LoRAs.")
        path = Path(path).expanduser().resolve()
        loaded = self._loaded.get(path)
        return loaded.name if loaded is not None else self._load_adapter(path, patch=False).name

    def unload_loras(self) -> None:
        """Forget every LoRA (the model goes back to its own weights); the next mix reloads files."""
        for loaded in list(self._loaded.values()):
            if loaded.patched:
                self._patcher.remove(loaded.name)
            else:
                self._discard_partial(loaded.name)
        self._loaded.clear()
        self._adapters.clear()
        self._peft_applied = None

    def adapter_warnings(self, loras: tuple[LoraSpec, ...]) -> tuple[str, ...]:
        """The partial-fit sentences of the enabled rows' files (loaded ones)."""
        out = []
        for spec in loras:
            loaded = self._loaded.get(Path(spec.path).expanduser().resolve())
            if spec.enabled and loaded is not None and loaded.warning:
                out.append(loaded.warning)
        return tuple(out)

    def adapter_memory(self) -> dict[Path, int]:
        """Bytes each loaded adapter keeps: its factors (patched) or its PEFT lora_A/lora_B weights."""
        out = {}
        for path, loaded in self._loaded.items():
            if loaded.patched:
                out[path] = self._patcher.adapter_nbytes(loaded.name)
                continue
            total = 0
            for component in COMPONENTS:
                model = getattr(self._pipe, component, None)
                for key, param in (model.named_parameters() if model is not None else ()):
                    if f".{loaded.name}." in key or key.endswith(f".{loaded.name}"):
                        total += int(param.numel()) * int(param.element_size())
            out[path] = total
        return out

    def patched_originals_nbytes(self) -> int:
        return self._patcher.originals_nbytes()

    def adapter_path_kind(self, path: Path) -> str:
        """``"peft"`` or ``"patch"``: how a loaded file is applied (tests and benchmarks)."""
        return "patch" if self._loaded[Path(path).expanduser().resolve()].patched else "peft"

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
            log.warning("%s refused: made for %s, the model %s is %s", lora, lora_base, self._model, self._model_base)
            raise IncompatibleLoraError(
                f"{lora.name} was made for {lora_base.label}, but the current model is "
                f"{self._model_base.label}. Choose a {self._model_base.label} LoRA or another model.")

    def _arch(self) -> BaseArch:
        """The loaded model's family, for block ids and messages (tiny test models: from the layout)."""
        if self._model_base is None and self._model is not None:
            from lorastudio.core.metadata.detect import inspect_path

            self._model_base = inspect_path(self._model).base
        if self._model_base in (BaseArch.SD1, BaseArch.SD2, BaseArch.SDXL):
            return self._model_base
        return BaseArch.SDXL if getattr(self._pipe, "text_encoder_2", None) is not None else BaseArch.SD1

    def _module_index(self) -> ModuleIndex:
        if self._index is None:
            self._index = build_index(self._pipe)
        return self._index

    def _fit(self, path: Path) -> tuple[FitReport, str]:
        """The fit report of ``path`` from its header; refusals raise one sentence."""
        from lorastudio.core.metadata.detect import inspect_path
        from lorastudio.core.metadata.safetensors_header import read_header

        if not path.is_file():
            raise LoraLoadError(f"LoRA file not found: {path.name}")
        require_lora_suffix(path)  # a .txt is "not a LoRA file", a .ckpt "never loaded"
        try:
            header = read_header(path)
        except (BadModelFile, OSError) as err:
            log.info("cannot read %s: %s", path, err)
            raise LoraLoadError(f"{path.name} is not a readable safetensors file.") from None
        report = fit_report({k: tuple(t.shape) for k, t in header.tensors.items()}, self._module_index())
        report.metadata = dict(header.metadata)
        if report.refused:
            raise LoraLoadError(f"{path.name} is a {report.refused} adapter, which LoRA Studio cannot "
                                "apply exactly, so it is not loaded.")
        if report.legacy:
            return report, ""  # diffusers' loader reads it; it refuses what does not fit
        lora_base = inspect_path(path).base
        lora_label = "" if lora_base in (BaseArch.UNKNOWN, BaseArch.OTHER) else lora_base.label
        sentence, refuse = fit_sentence(path.name, report, lora_label, self._arch().label)
        if refuse:
            log.warning("%s refused: %d of %d layers fit (%d unknown, %d of another size)", path,
                        report.fitting, report.total, report.unknown, report.mismatched)
            raise IncompatibleLoraError(sentence)
        if sentence:
            log.warning("%s: %s", path, sentence)
        return report, sentence

    def _needs_patch(self, report: FitReport, blocks: tuple[float, ...] | None) -> bool:
        """Block weights that change any layer of the file need the patcher (PEFT scales can't)."""
        arch = self._arch()
        return blocks is not None and any(block_factor(p.target.block, blocks, arch) != 1.0 for p in report.layers)

    def _load_adapter(self, path: Path, patch: bool, blocks: tuple[float, ...] | None = None) -> _Loaded:
        self.check_compatible(path)
        report, warning = self._fit(path)
        name = _adapter_id(path)
        loaded = None
        if report.legacy:
            loaded = self._load_peft(path, name, report, warning)
            if loaded is None:
                raise LoraLoadError(f"{path.name} is in an old diffusers layout that does not fit this model.")
        elif not patch and not self._needs_patch(report, blocks) and report.plain_lora and report.complete:
            loaded = self._load_peft(path, name, report, warning)
        if loaded is None:
            loaded = self._load_patched(path, name, report, warning)
        self._loaded[path] = loaded
        self._adapters[path] = name
        self._peft_applied = None
        self.stats.lora_loads += 1
        return loaded

    def _load_peft(self, path: Path, name: str, report: FitReport, warning: str) -> _Loaded | None:
        """Load as a diffusers/PEFT adapter; None (nothing left behind) when diffusers cannot take the
        file whole, so the caller patches instead of half-applying."""
        sd = read_lora_state_dict(path)
        try:
            with warnings.catch_warnings():
                # peft warns "Already found a peft_config" for every second adapter: by design here.
                warnings.filterwarnings("ignore", message="Already found a `peft_config`")
                if is_kohya(sd):
                    self._pipe.load_lora_weights(prepare_kohya(self._diffusers_names(sd, report)),
                                                 adapter_name=name)
                else:
                    self._pipe.load_lora_weights(str(path), adapter_name=name)
        except Exception:  # any loader failure: the patcher applies the file instead
            log.info("diffusers could not load %s; patching it instead", path, exc_info=True)
            self._discard_partial(name)
            return None
        wrapped = self._peft_modules(name)
        missing = {(t.target.component, t.target.module) for t in report.layers} - wrapped
        if missing:
            log.info("diffusers left %d layers of %s out (e.g. %s); patching it instead", len(missing), path,
                     sorted(missing)[:3])
            self._discard_partial(name)
            return None
        return _Loaded(name, path, report, warning, patched=False)

    def _diffusers_names(self, sd: dict[str, Any], report: FitReport) -> dict[str, Any]:
        """SD 1.x/2.x kohya files with LDM names, renamed to the diffusers-style kohya names that
        diffusers converts (it maps only SDXL's sgm names itself)."""
        if self._module_index().xl:
            return sd
        rename = {p.layer: "lora_unet_" + p.target.module.replace(".", "_")
                  for p in report.layers if p.target.component == "unet"}
        out = {}
        for key, value in sd.items():
            split = split_key(key)
            if split is not None and split[0] in rename:
                key = rename[split[0]] + "." + split[1]
            out[key] = value
        return out

    def _peft_modules(self, name: str) -> set[tuple[str, str]]:
        found = set()
        for component in COMPONENTS:
            model = getattr(self._pipe, component, None)
            if model is None:
                continue
            for mod_name, mod in model.named_modules():
                lora_a = getattr(mod, "lora_A", None)
                if lora_a is not None and name in lora_a:
                    found.add((component, mod_name))
        return found

    def _load_patched(self, path: Path, name: str, report: FitReport, warning: str) -> _Loaded:
        sd = read_lora_state_dict(path)
        device = self.choice.device
        layers: dict[Target, LayerAdapter] = {}
        for planned in report.layers:
            tensors = {role: sd[f"{planned.layer}.{role}"] for role in planned.roles}
            alpha = tensors.pop("alpha", None)
            magnitude = None
            for role in ("dora_scale", "lora_magnitude_vector", "lora_magnitude_vector.weight"):
                if role in tensors:
                    magnitude = tensors.pop(role).to(device)
            scale = None
            if "lora_A.weight" in tensors and alpha is None:
                scale = peft_scale(report.metadata, planned.target.component, planned.target.module)
            layers[planned.target] = LayerAdapter(
                planned.kind, {k: v.to(device) for k, v in tensors.items()},
                alpha=None if alpha is None else float(alpha.float().item()), magnitude=magnitude,
                scale_override=scale)
        self._patcher.add(name, layers, self._module_index().modules)
        return _Loaded(name, path, report, warning, patched=True)

    def _move_to_patcher(self, loaded: _Loaded) -> _Loaded:
        """A PEFT-loaded row now needs patching (block weights): reload it into the patcher."""
        self._discard_partial(loaded.name)
        self._peft_applied = None
        moved = self._load_patched(loaded.path, loaded.name, loaded.report, loaded.warning)
        self._loaded[loaded.path] = moved
        self.stats.lora_loads += 1
        return moved

    def _discard_partial(self, name: str) -> None:
        try:
            listed = self._pipe.get_list_adapters()
            if any(name in names for names in listed.values()):
                self._pipe.delete_adapters(name)
        except Exception:  # a failed load may leave nothing to delete; the pipeline stays usable
            log.debug("nothing to clean after failed LoRA load", exc_info=True)

    def apply_mix(self, loras: tuple[LoraSpec, ...]) -> None:
        """Activate exactly the enabled LoRAs at their weights (loads new files once), as for the
        first step (rows with ``start`` > 0 wait for their step)."""
        self._activate(loras, 0, 1)

    def _activate(self, loras: tuple[LoraSpec, ...], step: int, total: int) -> None:
        arch = self._arch()
        rows = []
        for spec in loras:
            if not spec.enabled:
                continue
            path = Path(spec.path).expanduser().resolve()
            blocks = None if spec.blocks is None else fit_blocks(tuple(spec.blocks), arch)
            loaded = self._loaded.get(path)
            if loaded is None:
                if self._pipe is None:
                    raise ModelLoadError("Load a model before adding LoRAs.")
                loaded = self._load_adapter(path, patch=False, blocks=blocks)
            if loaded.report.legacy and blocks is not None and any(v != 1.0 for v in blocks):
                raise LoraLoadError(f"Block weights cannot be applied to {path.name}: it is in an old "
                                    "diffusers layout that only diffusers' own loader reads.")
            if not loaded.patched and self._needs_patch(loaded.report, blocks):
                loaded = self._move_to_patcher(loaded)
            on = spec.start <= step / max(1, total) < spec.stop
            unet_w = float(spec.weight) if on else 0.0
            te_w = float(spec.weight if spec.te_weight is None else spec.te_weight)
            rows.append((loaded, unet_w, te_w, blocks, spec.te_weight is None and on))
        changed = self._apply_peft([r for r in rows if not r[0].patched])
        scales = {r[0].name: (r[1], r[2], r[3]) for r in rows if r[0].patched}

        def scale(name: str, target: Target) -> float:
            row = scales.get(name)
            if row is None:
                return 0.0
            unet_w, te_w, blocks = row
            return (te_w if target.is_text_encoder else unet_w) * block_factor(target.block, blocks, arch)

        if self._patcher.apply(scale):
            changed = True
        if changed:
            self.stats.mix_applications += 1

    def _apply_peft(self, rows: list[Any]) -> bool:
        pipe = self._pipe
        names: list[str] = []
        weights: list[Any] = []
        for loaded, unet_w, te_w, _blocks, same in rows:
            names.append(loaded.name)
            if same:
                weights.append(unet_w)
            else:
                w = {"unet": unet_w, "text_encoder": te_w}
                if getattr(pipe, "text_encoder_2", None) is not None:
                    w["text_encoder_2"] = te_w
                weights.append(w)
        key = tuple(zip(names, [repr(w) for w in weights], strict=True))
        if key == self._peft_applied:
            return False
        self._peft_applied = key
        if not any(not a.patched for a in self._loaded.values()):
            return False
        if names:
            pipe.enable_lora()
            pipe.set_adapters(names, adapter_weights=weights)
        else:
            pipe.disable_lora()
        return True

    # -- generation --------------------------------------------------------------------------
    def generate(self, request: GenerationRequest, on_step: StepCallback | None = None,
                 cancel: CancelToken | None = None) -> list[GenerationResult]:
        """Run ``request`` (batch_count images, seeds seed, seed+1, ...)."""
        import time

        import torch

        t0 = time.perf_counter()
        pipe = self.load_model(request.model)
        # Clip skip can only be checked against the text encoder the model really has.
        layers = getattr(getattr(pipe, "text_encoder", None), "config", None)
        request.validate(text_encoder_layers=getattr(layers, "num_hidden_layers", None))
        t_model = time.perf_counter()
        self.apply_mix(request.loras)
        self.memory_notes = apply_memory_options(pipe, request.memory, self.choice, self._memory_state)
        self._vae.apply(pipe, request.vae, self.choice)  # cached; None restores the checkpoint's own
        t_mix = time.perf_counter()
        pipe.scheduler = make_scheduler(request.sampler, self._base_scheduler_config)
        xl = "XL" in type(pipe).__name__
        results: list[GenerationResult] = []
        total = request.steps
        # Rows with start/stop switch at step boundaries (set_adapters or a re-patch of their layers).
        scheduled = any(s.start > 0.0 or s.stop < 1.0 for s in request.active_loras)
        notes = self.adapter_warnings(request.loras)
        for index in range(max(1, request.batch_count)):
            seed = request.seed + index
            if scheduled:
                self._activate(request.loras, 0, total)

            def on_step_end(p: Any, step: int, timestep: Any, kwargs: dict[str, Any],
                            index: int = index) -> dict[str, Any]:
                if cancel is not None and cancel.cancelled:
                    # Raising (not p._interrupt) skips the VAE decode: cancel means discard.
                    raise GenerationCancelled("Generation cancelled.")
                if scheduled and step + 1 < total:
                    self._activate(request.loras, step + 1, total)
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
            if request.clip_skip > 1 and not xl:
                kwargs["prompt_embeds"], kwargs["negative_prompt_embeds"] = _clip_skip_embeds(
                    pipe, request.prompt, request.negative_prompt, request.clip_skip)
                del kwargs["prompt"], kwargs["negative_prompt"]
            elif request.clip_skip > 1:
                kwargs["clip_skip"] = request.clip_skip - 1  # A1111 "2" = diffusers 1 (SDXL pipelines)
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
                "denoise_and_decode": time.perf_counter() - t_start}, warnings=notes))
        return results
