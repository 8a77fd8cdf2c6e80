"""Engine benchmark (prints figures; not part of the pass/fail suite).

  python tests/benchmarks/bench_engine.py [--runs N] [--steps N] [--size PX] [--full-size]

(a) a new slider value + generate, against unloading and reloading the LoRAs for the same job;
(b) generation wall time through the app's engine against a bare diffusers script, alternating
    runs in one process; (c) peak RSS of each side, measured in child processes; (d) per adapter
    format: a slider move against a reload, and the memory kept per adapter (``--formats-only``).
--full-size builds an SD1.5-shaped UNet/VAE/CLIP with random weights (fp16 on CUDA) instead of
the tiny demo model: that is the GPU figure; on a CPU it is slow.
"""

from __future__ import annotations

import argparse
import functools
import json
import operator
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "desktop"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def build_library(root: Path, full_size: bool) -> tuple[Path, list[Path]]:
    from lorastudio.core.engine.demo import build_demo_library
    from lorastudio.core.paths import data_dir

    data = data_dir(root)
    lib = build_demo_library(data)
    if not full_size:
        return lib.pipeline, list(lib.loras[:2])
    return build_full_size(data.checkpoints / "sd15-random", data.loras)


def build_full_size(folder: Path, lora_dir: Path) -> tuple[Path, list[Path]]:
    """SD1.5 shapes with random weights, from configs (no download)."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel

    from lorastudio.core.engine.demo import kohya_lora, write_clip_tokenizer

    if not (folder / "model_index.json").exists():
        torch.manual_seed(0)
        unet = UNet2DConditionModel(cross_attention_dim=768)  # the SD1.5 UNet's config is the default
        vae = AutoencoderKL(block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
                            up_block_types=["UpDecoderBlock2D"] * 4, layers_per_block=2, latent_channels=4)
        te = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                                          num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
                                          hidden_act="quick_gelu"))
        sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       timestep_spacing="leading", steps_offset=1)
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=write_clip_tokenizer(folder / "_tok"),
                                       unet=unet, scheduler=sched, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
        pipe.save_pretrained(str(folder))
        for i, rank in enumerate((16, 32)):
            save_file(kohya_lora(unet, te, rank=rank, alpha=rank / 2, seed=i, scale=0.02),
                      str(lora_dir / f"sd15-random-{i}.safetensors"))
    return folder, [lora_dir / "sd15-random-0.safetensors", lora_dir / "sd15-random-1.safetensors"]


def app_generate(engine, model: Path, loras: list[tuple[Path, float]], args) -> float:  # type: ignore[no-untyped-def]
    from lorastudio.core.engine.request import GenerationRequest, LoraSpec

    req = GenerationRequest(model=model, prompt="a lighthouse at dusk", negative_prompt="blurry", seed=1,
                            steps=args.steps, cfg=7.0, width=args.size, height=args.size,
                            loras=tuple(LoraSpec(p, w) for p, w in loras))
    t = time.perf_counter()
    engine.generate(req)
    return time.perf_counter() - t


def bare_generate(pipe, args) -> float:  # type: ignore[no-untyped-def]
    import torch

    t = time.perf_counter()
    pipe(prompt="a lighthouse at dusk", negative_prompt="blurry", num_inference_steps=args.steps, guidance_scale=7.0,
         width=args.size, height=args.size, generator=torch.Generator("cpu").manual_seed(1))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t


def child(side: str, model: str, loras: list[str], args) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Run one side in a fresh process and report its peak RSS (ru_maxrss)."""
    cmd = [sys.executable, __file__, "--child", side, "--model", model, "--steps", str(args.steps),
           "--size", str(args.size), *functools.reduce(operator.iadd, (["--lora", p] for p in loras), [])]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_child(args) -> None:  # type: ignore[no-untyped-def]
    import resource

    import torch

    model, loras = Path(args.model), [(Path(p), 0.7) for p in args.lora]
    if args.child == "app":
        from lorastudio.core.engine.engine import DiffusersEngine

        engine = DiffusersEngine()
        app_generate(engine, model, loras, args)
        seconds = app_generate(engine, model, loras, args)
    else:
        from diffusers import StableDiffusionPipeline

        dev = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.float16 if dev == "cuda" else torch.float32
        pipe = StableDiffusionPipeline.from_pretrained(str(model), dtype=dtype, local_files_only=True).to(dev)
        pipe.set_progress_bar_config(disable=True)
        for i, (p, _) in enumerate(loras):
            pipe.load_lora_weights(str(p), adapter_name=f"b{i}")
        pipe.set_adapters([f"b{i}" for i in range(len(loras))], [w for _, w in loras])
        bare_generate(pipe, args)
        seconds = bare_generate(pipe, args)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "peak_cuda_mb": gpu}))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--full-size", action="store_true")
    p.add_argument("--child")
    p.add_argument("--model")
    p.add_argument("--lora", action="append", default=[])
    p.add_argument("--formats-only", action="store_true", help="only the per-format table (d)")
    args = p.parse_args()
    if args.child:
        run_child(args)
        return
    if args.formats_only:
        format_table(args.runs)
        return
    import torch

    from lorastudio.core.engine.engine import DiffusersEngine

    with tempfile.TemporaryDirectory() as tmp:
        model, lora_files = build_library(Path(tmp), args.full_size)
        engine = DiffusersEngine()
        print(f"device: {engine.choice.label}; torch {torch.__version__}; threads {torch.get_num_threads()}")
        print(f"model: {model.name}, {args.steps} steps, {args.size}x{args.size}, LoRAs: {len(lora_files)}")
        app_generate(engine, model, [(f, 0.5) for f in lora_files], args)  # warm-up, loads everything

        # (a) slider change vs reload
        slider, reload = [], []
        for i in range(args.runs):
            w = 0.3 + 0.1 * i
            slider.append(app_generate(engine, model, [(f, w) for f in lora_files], args))
            t = time.perf_counter()
            engine.unload_loras()
            reload_gen = app_generate(engine, model, [(f, w) for f in lora_files], args)
            reload.append(time.perf_counter() - t if reload_gen else 0.0)
        s, r = statistics.median(slider), statistics.median(reload)
        print(f"(a) new slider value + generate: {s:.3f} s median; unload + reload LoRAs + generate: "
              f"{r:.3f} s; reload costs {r / s:.2f}x  (loads counted: {engine.stats.lora_loads})")

        # (b) app engine vs bare diffusers, alternating in one process
        from diffusers import StableDiffusionPipeline

        dev = engine.choice.device
        dtype = getattr(torch, engine.choice.dtype_name)
        bare = StableDiffusionPipeline.from_pretrained(str(model), dtype=dtype, local_files_only=True).to(dev)
        bare.set_progress_bar_config(disable=True)
        for i, f in enumerate(lora_files):
            bare.load_lora_weights(str(f), adapter_name=f"b{i}")
        bare.set_adapters([f"b{i}" for i in range(len(lora_files))], [0.7] * len(lora_files))
        bare_generate(bare, args)
        app_t, bare_t = [], []
        for _ in range(args.runs):
            app_t.append(app_generate(engine, model, [(f, 0.7) for f in lora_files], args))
            bare_t.append(bare_generate(bare, args))
        a, b = statistics.median(app_t), statistics.median(bare_t)
        print(f"(b) generate, app engine: {a:.3f} s median; bare diffusers: {b:.3f} s; ratio app/bare {a / b:.3f}")
        del bare

        # (c) peak memory, each side in a fresh process
        files = [str(f) for f in lora_files]
        app_c = child("app", str(model), files, args)
        bare_c = child("bare", str(model), files, args)
        print(f"(c) peak RSS app: {app_c['peak_rss_mb']:.0f} MB, bare: {bare_c['peak_rss_mb']:.0f} MB; "
              f"ratio {app_c['peak_rss_mb'] / bare_c['peak_rss_mb']:.3f}"
              + (f"; peak CUDA app {app_c['peak_cuda_mb']:.0f} MB, bare {bare_c['peak_cuda_mb']:.0f} MB"
                 if app_c["peak_cuda_mb"] else ""))
    format_table(args.runs)


def format_table(runs: int) -> None:
    """(d) per adapter format on a tiny SD 1.5-structured model: a slider move (new weight, mix
    applied) against unloading and reloading the file, and the memory the engine keeps for it."""
    sys.path.insert(0, str(ROOT / "tests" / "helpers"))
    import adapter_files as af

    from lorastudio.core.engine.engine import DiffusersEngine
    from lorastudio.core.engine.request import LoraSpec

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = af.build_sd15_like(root / "tiny-sd15")
        p = af.load_plain(model)
        files = {
            "LoRA kohya (PEFT path)": af.write_kohya(p, root / "kohya.safetensors").path,
            "LoRA LDM names + LoCon": af.write_kohya(p, root / "ldm.safetensors", ldm=True, resnets=True).path,
            "LoRA + block weights": af.write_kohya(p, root / "lbw.safetensors", seed=9).path,
            "LoHa": af.write_loha(p, root / "loha.safetensors").path,
            "LoHa Tucker": af.write_loha(p, root / "loha-t.safetensors", tucker=True).path,
            "LoKr": af.write_lokr(p, root / "lokr.safetensors").path,
            "full/diff": af.write_full(p, root / "full.safetensors").path,
            "DoRA (kohya)": af.write_kohya(p, root / "dora.safetensors", dora="in").path,
            "DoRA (PEFT)": af.write_peft(p, root / "dora-peft.safetensors", dora=True).path,
        }
        engine = DiffusersEngine(device="cpu")
        engine.load_model(model)
        blocks = (1.0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
        print("(d) per format, tiny SD1.5-structured model (apply only, no denoising):")
        print(f"    {'format':26s} {'path':6s} {'slider move':>12s} {'reload':>10s} {'ratio':>7s} "
              f"{'factors':>10s} {'orig. W':>10s}")
        for label, path in files.items():
            b = blocks if "block" in label else None

            def spec(w: float, path: Path = path, b: tuple[float, ...] | None = b) -> tuple[LoraSpec, ...]:
                return (LoraSpec(path, w, blocks=b),)

            engine.apply_mix(spec(0.5))  # load once
            kept = engine.adapter_memory()[path.resolve()]
            originals = engine.patched_originals_nbytes()
            kind = engine.adapter_path_kind(path)
            moves, reloads = [], []
            for i in range(runs):
                t = time.perf_counter()
                engine.apply_mix(spec(0.3 + 0.1 * i))
                moves.append(time.perf_counter() - t)
                t = time.perf_counter()
                engine.unload_loras()
                engine.apply_mix(spec(0.3 + 0.1 * i))
                reloads.append(time.perf_counter() - t)
            m, r = statistics.median(moves), statistics.median(reloads)
            print(f"    {label:26s} {kind:6s} {m * 1000:9.2f} ms {r * 1000:7.1f} ms {r / m:6.0f}x "
                  f"{kept / 1024:6.1f} KiB {originals / 1024:6.1f} KiB")
            engine.unload_loras()
        print("    factors: what the engine keeps per adapter (PEFT: its lora_A/lora_B weights); orig. W: the\n"
              "    original weights of the layers the patcher touches, kept once and shared by all adapters")


if __name__ == "__main__":
    main()
