"""The image LoRA training loop: diffusers + peft + accelerate, as diffusers' ``train_text_to_image_lora``.

One step: the cached latents of a batch (one bucket), Gaussian noise, a random timestep, the noisy
latents through the UNet with a LoRA on its attention (LoCon: also its ResNet convolutions), MSE
against the noise (or the velocity for v-prediction models, per the scheduler config). The
latents and, unless the text encoder is trained too, the caption embeddings are computed once
before the first step: the VAE then never runs in the loop.

After every epoch a kohya-format file is written (``name-000001.safetensors`` …, the last epoch
as ``name.safetensors``) with a preview from the latest sample, and a small checkpoint (LoRA,
optimizer and scheduler state, step) in ``.name.training/`` next to it, so a cancelled or
crashed run resumes from the last saved epoch and ends at the same step count. Under
``accelerate launch`` each process trains on its share of the batches; only the main process
samples and saves.
"""

from __future__ import annotations

import io
import logging
import math
import pickle
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import InvalidRequest, ModelLoadError, OutOfMemory
from lorastudio.core.metadata.untrusted import clean_text
from lorastudio.core.training.config import TrainConfig
from lorastudio.core.training.dataset import Dataset, load_crop, plan_batches, scan_dataset
from lorastudio.core.training.kohya_export import TrainingFacts, save_lora, to_kohya, training_metadata

log = logging.getLogger(__name__)

UNET_ATTENTION = ("to_q", "to_k", "to_v", "to_out.0")
UNET_CONVS = ("conv1", "conv2", "conv_shortcut", "conv")  # ResNet convs; "conv": down/upsamplers
TEXT_ATTENTION = ("q_proj", "k_proj", "v_proj", "out_proj")  # out_proj too: see stack notes §2.7
STATE_FILE = "state.pt"


@dataclass(frozen=True)
class TrainProgress:
    step: int
    total_steps: int
    epoch: int  # 1-based
    epochs: int
    loss: float
    elapsed: float  # seconds since this run started
    remaining: float | None  # estimated seconds left; None before the first timed step


@dataclass(frozen=True)
class TrainSample:
    step: int
    epoch: int
    prompt: str
    png: bytes  # the image, PNG-encoded (plain bytes cross threads and processes)


@dataclass(frozen=True)
class TrainResult:
    files: tuple[Path, ...]  # the epoch files written by this run, oldest first
    steps: int
    total_steps: int
    losses: tuple[float, ...]  # every step's loss, including those before a resume
    cancelled: bool
    resumed_from_epoch: int  # 0 when the run started fresh
    last_saved_epoch: int
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    main_process: bool = True  # False in the other processes of an ``accelerate launch`` run


@dataclass(frozen=True)
class EpochSaved:
    epoch: int
    path: Path  # the .safetensors just written (its preview next to it)


ProgressCallback = Callable[[TrainProgress], None]
SampleCallback = Callable[[TrainSample], None]
SavedCallback = Callable[[EpochSaved], None]


def checkpoint_dir(config: TrainConfig) -> Path:
    """The resume state lives next to the output files, hidden from the library scanner."""
    return Path(config.output_dir) / f".{config.output_name}.training"


def epoch_file(config: TrainConfig, epoch: int, last: bool) -> Path:
    """kohya's naming: ``name-000003.safetensors`` for epoch 3, ``name.safetensors`` for the last one."""
    stem = config.output_name if last else f"{config.output_name}-{epoch:06d}"
    return Path(config.output_dir) / f"{stem}.safetensors"


def saved_epochs(config: TrainConfig) -> list[Path]:
    """The epoch files of ``config``'s run on disk, oldest first (the last epoch's file at the end)."""
    folder = Path(config.output_dir)
    pattern = re.compile(re.escape(config.output_name) + r"-[0-9]{6}\.safetensors")
    try:
        files = sorted(p for p in folder.iterdir() if pattern.fullmatch(p.name) and p.is_file())
    except OSError:
        files = []
    final = epoch_file(config, 0, last=True)
    return [*files, final] if final.is_file() else files


def first_sample_prompt(config: TrainConfig, first_caption: str = "") -> str:
    """The prompt of the first sample image: the first sample prompt, else the trigger word, else the
    first picture's caption (the same one Compare epochs uses)."""
    return (config.sample_prompts[0] if config.sample_prompts else "") or config.trigger_word or first_caption \
        or "a picture"


def has_checkpoint(config: TrainConfig) -> bool:
    return (checkpoint_dir(config) / STATE_FILE).is_file()


def model_family(pipe: Any) -> str:
    if getattr(pipe, "text_encoder_2", None) is not None:
        return "sdxl"
    return "sd2" if pipe.unet.config.cross_attention_dim == 1024 else "sd1"


def sgm_namer(unet: Any) -> Callable[[str], str | None]:
    """diffusers UNet module name → its original sgm (LDM) name, the one kohya's SDXL files use."""
    from lorastudio.core.engine.adapter_keys import ldm_name

    per = unet.config.layers_per_block
    per = int(per[0] if isinstance(per, list | tuple) else per)
    attention_up = frozenset(i for i, kind in enumerate(unet.config.up_block_types) if "CrossAttn" in kind)
    return lambda name: ldm_name(name, per, attention_up)


def bucket_step(pipe: Any) -> int:
    """Bucket sides must survive the VAE (8x) and every UNet downsampling: 64 for SD, 16 for tiny test models."""
    return int(pipe.vae_scale_factor * 2 ** (len(pipe.unet.config.block_out_channels) - 1))


def load_base(path: Path) -> Any:
    """The base pipeline from a diffusers folder or a single-file checkpoint, in float32 on the CPU
    (the trainer moves and casts the parts itself)."""
    path = Path(path)
    if path.is_file():
        from lorastudio.core.engine.device import DeviceChoice
        from lorastudio.core.engine.single_file import load_single_file

        return load_single_file(path, DeviceChoice("cpu", "float32", "training"))
    if not (path / "model_index.json").is_file():
        raise ModelLoadError(f"{clean_text(path.name)} is not a diffusers model folder or a checkpoint file.")
    from diffusers import DiffusionPipeline

    try:
        pipe = DiffusionPipeline.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ModelLoadError(f"Could not load the model in {clean_text(path.name)}: {first}") from None
    if not hasattr(pipe, "unet") or not hasattr(pipe, "vae"):
        raise ModelLoadError(f"{clean_text(path.name)} is not an SD 1.x, SD 2.x or SDXL model.")
    return pipe


def _accelerator(config: TrainConfig) -> Any:
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    cpu = config.device == "cpu" or (config.device in ("", "cuda") and not torch.cuda.is_available())
    mixed = config.mixed_precision if not cpu else "no"
    try:
        return Accelerator(mixed_precision=mixed, cpu=cpu)
    except ValueError:
        # accelerate keeps one process-wide state; a second run in the same process (the app's
        # engine) with other precision settings must start it afresh. Never under a launcher:
        # there the launcher's settings are the ones to keep.
        AcceleratorState._reset_state(True)
        return Accelerator(mixed_precision=mixed, cpu=cpu)


def _optimizer(params: list[dict[str, Any]], use_8bit: bool, on_gpu: bool, notes: list[str]) -> Any:
    import torch

    if use_8bit and on_gpu:
        try:
            import bitsandbytes as bnb  # optional: only its 8-bit Adam is used

            return bnb.optim.AdamW8bit(params)
        except ImportError:
            notes.append("8-bit Adam needs bitsandbytes, which is not installed; using AdamW.")
    return torch.optim.AdamW(params)


@dataclass
class _Encoded:
    latents: list[Any]  # per image, [4, h/8, w/8] float32 on the CPU
    prompt_embeds: list[Any] | None  # per image, when the text encoder is frozen
    pooled: list[Any] | None  # SDXL


def _encode_prompts(pipe: Any, family: str, captions: list[str], device: Any) -> tuple[Any, Any]:
    if family == "sdxl":
        embeds, _, pooled, _ = pipe.encode_prompt(captions, device=device, num_images_per_prompt=1,
                                                  do_classifier_free_guidance=False)
        return embeds, pooled
    embeds, _ = pipe.encode_prompt(captions, device, 1, False)
    return embeds, None


def _cache(pipe: Any, dataset: Dataset, family: str, device: Any, dtype: Any, with_text: bool,
           cancel: CancelToken) -> _Encoded:
    import numpy as np
    import torch

    latents: list[Any] = []
    embeds: list[Any] = []
    pooled: list[Any] = []
    scale = pipe.vae.config.scaling_factor
    shift = getattr(pipe.vae.config, "shift_factor", None) or 0.0
    with torch.no_grad():
        for image in dataset.images:
            cancel.raise_if_cancelled()
            pixels = np.asarray(load_crop(image), dtype=np.float32) / 127.5 - 1.0
            tensor = torch.from_numpy(pixels).permute(2, 0, 1)[None].to(device, dtype)
            dist = pipe.vae.encode(tensor).latent_dist
            latents.append(((dist.mean - shift) * scale)[0].float().cpu())
            if with_text:
                e, p = _encode_prompts(pipe, family, [image.caption], device)
                embeds.append(e[0].float().cpu())
                if p is not None:
                    pooled.append(p[0].float().cpu())
    return _Encoded(latents, embeds if with_text else None, pooled if with_text and pooled else None)


def _sample(pipe: Any, config: TrainConfig, prompts: tuple[str, ...], step: int, epoch: int,
            on_sample: SampleCallback | None) -> bytes | None:
    """One fixed-seed image per sample prompt; returns the last one's PNG bytes."""
    import torch

    last = None
    unet_mode = pipe.unet.training
    pipe.unet.eval()
    try:
        for prompt in prompts:
            generator = torch.Generator("cpu").manual_seed(config.seed)
            with torch.no_grad():
                image = pipe(prompt, num_inference_steps=config.sample_steps, generator=generator,
                             width=config.resolution, height=config.resolution, output_type="pil").images[0]
            buf = io.BytesIO()
            image.save(buf, format="PNG")
            last = buf.getvalue()
            if on_sample is not None:
                on_sample(TrainSample(step, epoch, prompt, last))
    finally:
        pipe.unet.train(unet_mode)
    return last


def train(config: TrainConfig, on_progress: ProgressCallback | None = None, on_sample: SampleCallback | None = None,
          cancel: CancelToken | None = None, resume: bool = False,
          captions: dict[Path, str] | None = None, on_saved: SavedCallback | None = None) -> TrainResult:
    """Train the LoRA described by ``config``; see the module docstring. ``resume`` continues from
    the last saved epoch when a checkpoint exists. A cancel stops between steps and keeps the
    files of the epochs already saved."""
    config = config.validate()
    token = cancel or CancelToken()
    base = Path(config.base_model)
    if not base.exists():
        raise ModelLoadError(f"The base model {clean_text(str(base))} does not exist.")
    out_dir = Path(config.output_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidRequest(f"{clean_text(str(out_dir))} is not a folder.")

    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler
    from diffusers.optimization import get_scheduler
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

    started = time.time()
    notes: list[str] = []
    accelerator = _accelerator(config)
    device = accelerator.device
    on_gpu = device.type != "cpu"
    if not on_gpu:
        ignored = [name for name, on in (("gradient checkpointing", config.gradient_checkpointing),
                                         ("mixed precision", config.mixed_precision != "no"),
                                         ("8-bit Adam", config.use_8bit_adam)) if on]
        if ignored:
            notes.append(f"On the CPU {', '.join(ignored)} is not used.")
    weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(accelerator.mixed_precision, torch.float32)

    pipe = load_base(base)
    pipe.set_progress_bar_config(disable=True)
    family = model_family(pipe)
    dataset = scan_dataset(Path(config.dataset), config.resolution, bucket_step(pipe), captions)
    text_encoders = [te for te in (pipe.text_encoder, getattr(pipe, "text_encoder_2", None)) if te is not None]
    unet, vae = pipe.unet, pipe.vae
    for module in (unet, vae, *text_encoders):
        module.requires_grad_(False)
    vae.to(device)  # loaded in float32 and kept so: it encodes once (fp16 SD VAEs overflow)
    for module in (unet, *text_encoders):
        # .to(dtype) only when it changes something: diffusers warns on every cast
        module.to(device) if weight_dtype == torch.float32 else module.to(device, dtype=weight_dtype)

    targets = UNET_ATTENTION + (UNET_CONVS if config.network == "locon" else ())
    torch.manual_seed(config.seed)  # the LoRA's initial weights
    # peft annotates lora_alpha as int but only divides by it, so a float alpha is fine.
    unet.add_adapter(LoraConfig(r=config.rank, lora_alpha=config.alpha,  # type: ignore[arg-type]
                                init_lora_weights="gaussian", target_modules=list(targets)))
    te_config = LoraConfig(r=config.rank, lora_alpha=config.alpha,  # type: ignore[arg-type]
                           init_lora_weights="gaussian", target_modules=list(TEXT_ATTENTION))
    if config.train_text_encoder:
        for te in text_encoders:
            te.add_adapter(te_config)
    trainables = [unet, *(text_encoders if config.train_text_encoder else [])]
    for module in trainables:  # LoRA weights train in float32 even when the base runs in half precision
        for p in module.parameters():
            if p.requires_grad:
                p.data = p.data.float()
    if on_gpu and config.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
        if config.train_text_encoder:
            for te in text_encoders:
                te.gradient_checkpointing_enable()

    params: list[dict[str, Any]] = [
        {"params": [p for p in unet.parameters() if p.requires_grad], "lr": config.learning_rate}]
    if config.train_text_encoder:
        params.append({"params": [p for te in text_encoders for p in te.parameters() if p.requires_grad],
                       "lr": config.text_encoder_lr})
    optimizer = _optimizer(params, config.use_8bit_adam, on_gpu, notes)

    world = accelerator.num_processes
    per_epoch = math.ceil(len(plan_batches(dataset, config.batch_size, config.repeats, config.seed, 1)) / world)
    total = config.total_steps(per_epoch)
    epochs = min(config.epochs, math.ceil(total / per_epoch))
    lr_scheduler = get_scheduler(config.lr_scheduler, optimizer=optimizer,
                                 num_warmup_steps=config.lr_warmup_steps, num_training_steps=total)

    step = start_epoch = 0
    losses: list[float] = []
    ckpt = checkpoint_dir(config)
    if resume and (ckpt / STATE_FILE).is_file():
        state = _read_state(ckpt / STATE_FILE)
        if state.get("total_steps") != total or state.get("rank") != config.rank \
                or state.get("network") != config.network or state.get("images") != len(dataset.images):
            raise InvalidRequest("The saved training state is for other settings or images; start afresh instead.")
        set_peft_model_state_dict(unet, state["unet"])
        if config.train_text_encoder:
            for i, te in enumerate(text_encoders):
                set_peft_model_state_dict(te, state["text_encoders"][i])
        optimizer.load_state_dict(state["optimizer"])
        lr_scheduler.load_state_dict(state["scheduler"])
        step, start_epoch, losses = int(state["step"]), int(state["epoch"]), list(state["losses"])
        started -= float(state.get("seconds", 0.0))

    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    prediction_type = noise_scheduler.config.prediction_type
    cached = _cache(pipe, dataset, family, device, torch.float32, not config.train_text_encoder, token)
    vae.to("cpu")  # not needed until sampling decodes; frees its memory on the GPU
    prepared = accelerator.prepare(unet, optimizer, lr_scheduler)
    train_unet, optimizer, lr_scheduler = prepared
    train_unet.train()
    for te in text_encoders:
        te.train(config.train_text_encoder)

    prompts = config.sample_prompts or (first_sample_prompt(config, dataset.images[0].caption),)
    files: list[Path] = []
    last_png: bytes | None = None
    last_saved = start_epoch
    session_id = uuid.uuid4().hex[:16]
    timed_from: tuple[float, int] | None = None
    cancelled = False

    def sample(epoch: int) -> None:
        nonlocal last_png
        if accelerator.is_main_process:
            vae.to(device)
            last_png = _sample(pipe, config, prompts, step, epoch, on_sample) or last_png
            vae.to("cpu")

    def save(epoch: int, last: bool) -> None:
        nonlocal last_saved
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            unwrapped = accelerator.unwrap_model(train_unet)
            tensors = to_kohya(get_peft_model_state_dict(unwrapped), "lora_unet_", config.alpha,
                               rename=sgm_namer(unwrapped) if family == "sdxl" else None)
            te_states = []
            if config.train_text_encoder:
                prefixes = ("lora_te1_", "lora_te2_") if family == "sdxl" else ("lora_te_",)
                for prefix, te in zip(prefixes, text_encoders, strict=True):
                    te_state = get_peft_model_state_dict(te)
                    te_states.append(te_state)
                    tensors.update(to_kohya(te_state, prefix, config.alpha, text_encoder=True))
            facts = _facts(config, family, dataset, epoch, epochs, step, total, prediction_type, started, session_id)
            files.append(save_lora(tensors, training_metadata(facts), epoch_file(config, epoch, last), last_png))
            if on_saved is not None:  # the library shows each epoch's file at once
                on_saved(EpochSaved(epoch, files[-1]))
            _write_state(ckpt, {
                "unet": get_peft_model_state_dict(unwrapped), "text_encoders": te_states,
                "optimizer": optimizer.state_dict(), "scheduler": lr_scheduler.state_dict(),
                "step": step, "epoch": epoch, "losses": losses, "total_steps": total, "rank": config.rank,
                "network": config.network, "images": len(dataset.images), "seconds": time.time() - started})
        last_saved = epoch

    try:
        for epoch in range(start_epoch + 1, epochs + 1):
            batches = plan_batches(dataset, config.batch_size, config.repeats, config.seed, epoch)
            for batch in batches[accelerator.process_index::world][:per_epoch]:
                if step >= total:
                    break
                if token.cancelled:
                    cancelled = True
                    break
                loss = _step(config, family, pipe, train_unet, text_encoders, noise_scheduler, cached, dataset,
                             batch, step + accelerator.process_index * 1_000_003, device, weight_dtype, F)
                accelerator.backward(loss)
                if world > 1 and len(params) > 1:
                    # the text encoders run outside DDP (through pipe.encode_prompt): average
                    # their LoRA gradients across processes by hand
                    for p in params[1]["params"]:
                        if p.grad is not None:
                            p.grad = accelerator.reduce(p.grad, reduction="mean")
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_([p for g in params for p in g["params"]], 1.0)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                losses.append(float(loss.detach().item()))
                now = time.time()
                if timed_from is None:
                    timed_from = (now, step)  # the first step includes warm-up: time from after it
                    remaining = None
                else:
                    rate = (now - timed_from[0]) / max(1, step - timed_from[1])
                    remaining = rate * (total - step)
                if on_progress is not None and accelerator.is_main_process:
                    on_progress(TrainProgress(step, total, epoch, epochs, losses[-1], now - started, remaining))
                if config.sample_every_steps and step % config.sample_every_steps == 0:
                    sample(epoch)
            if cancelled:
                break
            if not config.sample_every_steps or last_png is None:
                sample(epoch)
            save(epoch, last=epoch == epochs or step >= total)
            if step >= total:
                break
    except torch.cuda.OutOfMemoryError:
        raise OutOfMemory("The GPU ran out of memory while training; lower the batch size or resolution, or "
                          "turn on gradient checkpointing.") from None
    finally:
        accelerator.free_memory()

    if not cancelled and step >= total and accelerator.is_main_process:
        shutil.rmtree(ckpt, ignore_errors=True)  # finished: the resume state has served its purpose
    return TrainResult(files=tuple(files), steps=step, total_steps=total, losses=tuple(losses), cancelled=cancelled,
                       resumed_from_epoch=start_epoch, last_saved_epoch=last_saved,
                       seconds=time.time() - started, notes=tuple(notes),
                       main_process=bool(accelerator.is_main_process))


def _step(config: TrainConfig, family: str, pipe: Any, unet: Any, text_encoders: list[Any], noise_scheduler: Any,
          cached: _Encoded, dataset: Dataset, batch: list[int], seed: int, device: Any, dtype: Any, F: Any) -> Any:
    import torch

    generator = torch.Generator("cpu").manual_seed(config.seed * 7_919 + seed)
    latents = torch.stack([cached.latents[i] for i in batch]).to(device)
    noise = torch.randn(latents.shape, generator=generator).to(device)
    timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(batch),),
                              generator=generator).to(device)
    noisy = noise_scheduler.add_noise(latents, noise, timesteps)
    if cached.prompt_embeds is not None:
        embeds = torch.stack([cached.prompt_embeds[i] for i in batch]).to(device, dtype)
        pooled = torch.stack([cached.pooled[i] for i in batch]).to(device, dtype) if cached.pooled else None
    else:
        embeds, pooled = _encode_prompts(pipe, family, [dataset.images[i].caption for i in batch], device)
        embeds = embeds.to(dtype)
    kwargs: dict[str, Any] = {}
    if family == "sdxl" and pooled is not None:
        ids = []
        for i in batch:  # SDXL's size conditioning: original size, crop corner, target size
            image = dataset.images[i]
            c = image.crop
            scale = c.bucket[0] / c.width
            ids.append([image.size[1], image.size[0], round(c.top * scale), round(c.left * scale),
                        c.bucket[1], c.bucket[0]])
        kwargs["added_cond_kwargs"] = {"text_embeds": pooled.to(device, dtype),
                                       "time_ids": torch.tensor(ids, device=device, dtype=dtype)}
    prediction_type = noise_scheduler.config.prediction_type
    if prediction_type == "v_prediction":
        target = noise_scheduler.get_velocity(latents, noise, timesteps)
    elif prediction_type == "epsilon":
        target = noise
    else:
        raise InvalidRequest(f"Models that predict {prediction_type!r} cannot be trained here.")
    pred = unet(noisy.to(dtype), timesteps, embeds, **kwargs).sample
    return F.mse_loss(pred.float(), target.float(), reduction="mean")


def _facts(config: TrainConfig, family: str, dataset: Dataset, epoch: int, epochs: int, step: int, total: int,
           prediction_type: str, started: float, session_id: str) -> TrainingFacts:
    return TrainingFacts(
        title=config.output_name, family=family, base_model_name=Path(config.base_model).name,
        resolution=config.resolution, network=config.network, rank=config.rank, alpha=config.alpha,
        learning_rate=config.learning_rate,
        text_encoder_lr=config.text_encoder_lr if config.train_text_encoder else None,
        epoch=epoch, epochs=epochs, steps=step, max_steps=total, batch_size=config.batch_size, seed=config.seed,
        num_images=len(dataset.images), repeats=config.repeats, dataset_name=Path(config.dataset).name,
        tag_frequency=dataset.tag_frequency(), buckets=dataset.buckets(), lr_scheduler=config.lr_scheduler,
        mixed_precision=config.mixed_precision, prediction_type=prediction_type, trigger_word=config.trigger_word,
        started_at=started, session_id=session_id)


def _write_state(folder: Path, state: dict[str, Any]) -> None:
    """The resume state, written to a temporary name and renamed (a crash keeps the previous one)."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{STATE_FILE}.partial"
    try:
        torch.save(state, tmp)
        tmp.replace(folder / STATE_FILE)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        log.warning("Could not write the training checkpoint: %s", err)


def _read_state(path: Path) -> dict[str, Any]:
    import torch

    try:
        # weights_only: tensors, numbers, strings and lists; never arbitrary pickled objects
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
        raise InvalidRequest("The saved training state could not be read; start afresh instead.") from None
    if not isinstance(state, dict):
        raise InvalidRequest("The saved training state is damaged; start afresh instead.")
    return state


def with_overrides(config: TrainConfig, **changes: Any) -> TrainConfig:
    """``config`` with some settings changed, validated (the CLI's ``--set`` and the page)."""
    return replace(config, **changes).validate()

