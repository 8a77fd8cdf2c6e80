"""ComfyUI backend overhead and pool speed-up against the stand-in (no GPU needed).

Prints, for a batch of N 64x64 images: the client-side overhead per image (a stand-in that renders
instantly), and the wall time on one server vs a pool of two when each step takes --step-ms; then the
same for N one-image jobs queued through the session's JobRunner (each job to the first idle server).

    .venv/bin/python tests/benchmarks/bench_comfyui.py [--images 6] [--steps 20] [--step-ms 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from fake_comfyui import FakeComfyUI, write_checkpoint, write_kohya_lora

from lorastudio.core.backend.base import Backend, JobCancelled, JobFailed, JobResult
from lorastudio.core.backend.comfyui.backend import ComfyUIBackend
from lorastudio.core.backend.comfyui.pool import PoolBackend
from lorastudio.core.engine.request import GenerationRequest, LoraSpec


def run(backend: Backend, request: GenerationRequest) -> float:
    done = threading.Event()
    final: list[object] = []

    def listener(event: object) -> None:
        if isinstance(event, JobResult | JobFailed | JobCancelled):
            final.append(event)
            done.set()

    backend.set_listener(listener)
    start = time.perf_counter()
    backend.submit("bench", request)
    done.wait(600)
    elapsed = time.perf_counter() - start
    assert isinstance(final[0], JobResult), final
    return elapsed


def run_queue(backend: Backend, requests: list[GenerationRequest]) -> float:
    """Queue ``requests`` as separate jobs and run them as the window does (events applied on one
    thread); the wall time until the last result is saved."""
    import queue as queues

    from lorastudio.core.session.queue import JobQueue
    from lorastudio.core.session.runner import JobRunner

    events: queues.Queue[object] = queues.Queue()
    backend.set_listener(events.put)
    jobs = JobQueue()
    runner = JobRunner(jobs, backend, Path(tempfile.mkdtemp()))
    start = time.perf_counter()
    for request in requests:
        jobs.add(request)
    runner.pump()
    while runner.busy or jobs.pending():
        runner.handle(events.get(timeout=600))  # type: ignore[arg-type]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--step-ms", type=float, default=10.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    model = write_checkpoint(tmp / "tiny.safetensors")
    lora = write_kohya_lora(tmp / "style.safetensors")
    servers = [FakeComfyUI(tmp / f"out{i}", loras=("style.safetensors",), step_delay=0.0) for i in range(2)]
    request = GenerationRequest(model=model, prompt="a cat", loras=(LoraSpec(lora, 0.8),), seed=1, steps=args.steps,
                                width=64, height=64, batch_count=args.images)
    try:
        single = ComfyUIBackend(servers[0].url)
        run(single, request)  # warm: first /object_info, imports
        instant = run(single, request.with_seed(1000))
        print(f"overhead per image (instant server, {args.steps} progress events): "
              f"{instant / args.images * 1000:.1f} ms")
        for s in servers:
            s.step_delay = args.step_ms / 1000
        one = run(single, request.with_seed(2000))
        pool = PoolBackend([ComfyUIBackend(s.url) for s in servers])
        two = run(pool, request.with_seed(3000))
        ideal = args.images * args.steps * args.step_ms / 1000
        print(f"{args.images} images x {args.steps} steps x {args.step_ms:g} ms: one server {one:.2f} s "
              f"(pure GPU time {ideal:.2f} s), pool of two {two:.2f} s, speed-up {one / two:.2f}x")
        queued = [replace(request, seed=4000 + 10 * i, batch_count=1) for i in range(args.images)]
        one_q = run_queue(ComfyUIBackend(servers[0].url), queued)
        two_q = run_queue(PoolBackend([ComfyUIBackend(s.url) for s in servers]),
                          [r.with_seed(r.seed + 5000) for r in queued])
        print(f"{args.images} queued one-image jobs: one server {one_q:.2f} s, pool of two {two_q:.2f} s, "
              f"speed-up {one_q / two_q:.2f}x")
    finally:
        for s in servers:
            s.close()


if __name__ == "__main__":
    main()
