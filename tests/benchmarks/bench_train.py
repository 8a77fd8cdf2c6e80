"""Image-LoRA training benchmark (prints figures; not part of the pass/fail suite).

  python tests/benchmarks/bench_train.py [--steps N] [--full-size] [--in-process-only]

Steps per second of the real trainer (cached latents, LoRA on the UNet attention, AdamW) on the
tiny demo SD model at 64 px on the CPU; the first steps of each bucket shape (warm-up) are not
counted. Measured twice in the same run: called in this process (the old way), and as the app runs
it, a queue job in the engine process (``TrainRequest`` through ``LocalProcessBackend``, each step
timed when its update arrives here). ``--full-size`` trains an SD1.5-shaped model with random
weights at 512 px (fp16 with gradient checkpointing on CUDA): the GPU figure; on a CPU it is very slow.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "desktop"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def draw_pictures(folder: Path, count: int, size: int) -> Path:
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = Image.new("RGB", (size, size), (250, 250, 245))
        ImageDraw.Draw(image).ellipse((size * 0.2, size * 0.2, size * 0.8, size * 0.8),
                                      fill=(40 * i % 255, 90, 200 - 20 * i))
        image.save(folder / f"p{i}.png")
        (folder / f"p{i}.txt").write_text(f"zq disc, picture {i}", "utf-8")
    return folder


def bare_rate(model: Path, size: int, steps: int, device: str) -> float:
    """Baseline in the same run: a bare peft + torch loop on the same UNet and LoRA (random
    latents and text states, no data, no accelerate), steps per second after 5 warm-up steps."""
    import torch
    from diffusers import UNet2DConditionModel
    from peft import LoraConfig

    unet = UNet2DConditionModel.from_pretrained(str(model / "unet")).to(device)
    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=16, lora_alpha=8, init_lora_weights="gaussian",
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    opt = torch.optim.AdamW([p for p in unet.parameters() if p.requires_grad], lr=1e-4)
    latents = torch.randn(1, 4, size // 8, size // 8, device=device)
    states = torch.randn(1, 77, unet.config.cross_attention_dim, device=device)
    marks = []
    for _ in range(steps):
        t = torch.randint(0, 1000, (1,), device=device)
        loss = torch.nn.functional.mse_loss(unet(latents, t, states).sample, latents)
        loss.backward()
        opt.step()
        opt.zero_grad()
        if device == "cuda":
            torch.cuda.synchronize()
        marks.append(time.perf_counter())
    return (len(marks) - 6) / (marks[-1] - marks[5])


def rate_of(times: list[float]) -> float:
    warm = min(5, len(times) - 2)
    return (len(times) - 1 - warm) / (times[-1] - times[warm])


def engine_process_rate(config: object, threads: int, logs: Path) -> tuple[float, int, float]:
    """(steps/s, steps, seconds in all) of ``config`` trained as a job of the engine process."""
    import queue

    from lorastudio.core.backend.base import JobFailed, JobResult, JobUpdate
    from lorastudio.core.backend.engine_process import ProcessOptions
    from lorastudio.core.backend.local_process import LocalProcessBackend
    from lorastudio.core.training.request import TrainRequest
    from lorastudio.core.training.trainer import TrainProgress

    events: queue.Queue[tuple[float, object]] = queue.Queue()
    backend = LocalProcessBackend(ProcessOptions(log_folder=logs, torch_threads=threads))
    backend.set_listener(lambda e: events.put((time.perf_counter(), e)))
    times: list[float] = []
    started = time.perf_counter()
    try:
        backend.submit("bench", TrainRequest(config))  # type: ignore[arg-type]
        while True:
            at, event = events.get(timeout=3600)
            if isinstance(event, JobUpdate) and isinstance(event.payload, TrainProgress):
                times.append(at)
            elif isinstance(event, JobFailed):
                raise SystemExit(f"training in the engine process failed: {event.message}")
            elif isinstance(event, JobResult):
                break
    finally:
        backend.shutdown()
    return rate_of(times), len(times), time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--full-size", action="store_true")
    p.add_argument("--in-process-only", action="store_true", help="skip the engine-process run")
    args = p.parse_args()

    import torch

    from lorastudio.core.training.config import TrainConfig
    from lorastudio.core.training.trainer import TrainProgress, train

    torch.set_num_threads(max(1, min(os.cpu_count() or 1, 8)))
    gpu = torch.cuda.is_available()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.full_size:
            from bench_engine import build_full_size  # type: ignore[import-not-found]

            (root / "loras").mkdir()
            model, _ = build_full_size(root / "sd15-random", root / "loras")
            size, label = 512, "SD1.5-shaped, 512 px"
        else:
            from lorastudio.core.engine.demo import build_tiny_sd

            model = root / "tiny"
            build_tiny_sd(root / "tok").save_pretrained(str(model), safe_serialization=True)
            size, label = 64, "tiny SD, 64 px"
        data = draw_pictures(root / "pics", 8, size)
        config = TrainConfig(base_model=str(model), dataset=str(data), output_dir=str(root / "out"),
                             output_name="bench", rank=16, alpha=8.0, epochs=1, batch_size=1,
                             repeats=max(1, -(-args.steps // 8)), max_steps=args.steps, resolution=size,
                             sample_prompts=("zq disc",), sample_steps=2, device="" if gpu else "cpu",
                             mixed_precision="fp16" if gpu else "no", gradient_checkpointing=gpu)
        times: list[float] = []

        def on_progress(p: TrainProgress) -> None:
            if gpu:
                torch.cuda.synchronize()
            times.append(time.perf_counter())

        started = time.perf_counter()
        result = train(config, on_progress=on_progress)
        total = time.perf_counter() - started
        rate = rate_of(times)
        device = torch.cuda.get_device_name(0) if gpu else f"CPU ({torch.get_num_threads()} threads)"
        peak = f", peak VRAM {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if gpu else ""
        print(f"train {label}, batch 1, rank 16, on {device}, in this process: {rate:.2f} steps/s "
              f"({result.steps} steps, {total:.1f} s in all with loading, caching, sample and save{peak})")
        if not args.in_process_only:
            from dataclasses import replace

            job = replace(config, output_name="bench-job")
            job_rate, steps, job_total = engine_process_rate(job, torch.get_num_threads(), root / "logs")
            print(f"the same as a queue job in the engine process: {job_rate:.2f} steps/s ({steps} steps, "
                  f"{job_total:.1f} s in all with process start and imports; job / in-process = "
                  f"{job_rate / rate:.2f})")
        if not gpu or not args.full_size:  # fp32 baseline; the fp16 GPU run has no like-for-like bare loop here
            bare = bare_rate(model, size, args.steps, "cuda" if gpu else "cpu")
            print(f"bare peft + torch loop, same UNet and LoRA: {bare:.2f} steps/s "
                  f"(trainer / bare = {rate / bare:.2f})")


if __name__ == "__main__":
    main()
