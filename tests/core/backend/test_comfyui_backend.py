"""ComfyUIBackend against the protocol-faithful stand-in on 127.0.0.1 (tests/helpers/fake_comfyui.py)."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "helpers"))
from fake_comfyui import FakeComfyUI, write_checkpoint, write_kohya_lora, write_peft_lora

from lorastudio.core.backend.base import (
    BackendEvent,
    JobCancelled,
    JobFailed,
    JobPreview,
    JobProgress,
    JobResult,
    JobStarted,
)
from lorastudio.core.backend.comfyui.backend import ComfyUIBackend
from lorastudio.core.backend.comfyui.probe import check_connection as probe_server
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.messages import MessageKind
from lorastudio.core.metadata.infotext import parse_infotext

FINAL = (JobResult, JobFailed, JobCancelled)


class Recorder:
    def __init__(self) -> None:
        self.events: list[BackendEvent] = []
        self.cond = threading.Condition()

    def __call__(self, event: BackendEvent) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait_for(self, kind: type, count: int = 1, timeout: float = 20.0) -> list[Any]:
        with self.cond:
            ok = self.cond.wait_for(lambda: sum(isinstance(e, kind) for e in self.events) >= count, timeout)
        assert ok, f"no {kind.__name__} within {timeout}s: {self.events!r}"
        return [e for e in self.events if isinstance(e, kind)]

    def final(self, timeout: float = 20.0) -> Any:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(isinstance(e, FINAL) for e in self.events), timeout)
        assert ok, f"the job never ended: {self.events!r}"
        return next(e for e in self.events if isinstance(e, FINAL))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {"model": write_checkpoint(tmp_path / "local" / "tiny.safetensors"),
            "a": write_kohya_lora(tmp_path / "local" / "style_a.safetensors"),
            "b": write_kohya_lora(tmp_path / "local" / "detail_b.safetensors")}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeComfyUI]:
    fake = FakeComfyUI(tmp_path / "server-out", loras=("style_a.safetensors", "sd15/detail_b.safetensors"))
    yield fake
    fake.close()


def make_backend(fake: FakeComfyUI, **kw: Any) -> tuple[ComfyUIBackend, Recorder]:
    backend = ComfyUIBackend(fake.url, name="gpu-box", **kw)
    recorder = Recorder()
    backend.set_listener(recorder)
    return backend, recorder


def request_for(files: dict[str, Path], **kw: Any) -> GenerationRequest:
    base: dict[str, Any] = {
        "model": files["model"], "prompt": "a cat", "negative_prompt": "blurry", "seed": 11, "steps": 4,
        "width": 64, "height": 64, "loras": (LoraSpec(files["a"], 0.8), LoraSpec(files["b"], 0.5, te_weight=0.25)),
    }
    base.update(kw)
    return GenerationRequest(**base).validate()


def test_a_job_sends_our_ids_and_returns_pngs_with_infotext(server: FakeComfyUI, files: dict[str, Path]) -> None:
    backend, rec = make_backend(server)
    backend.submit("job-1", request_for(files, batch_count=2))
    result = rec.final()
    assert isinstance(result, JobResult), result
    assert [img.seed for img in result.images] == [11, 12]
    # one prompt per image, each with our client id and a prompt id we chose
    assert len(server.prompts) == 2
    assert all(p["client_id"] == backend.client_id for p in server.prompts)
    assert [p["prompt_id"] for p in server.prompts] == server.executed
    for image in result.images:
        png = Image.open(io.BytesIO(image.png))
        assert png.size == (64, 64)
        info = parse_infotext(png.info["parameters"])
        assert info.params["Seed"] == str(image.seed)
        assert info.params["Model"] == "tiny"
        assert "style_a" in info.params["Lora hashes"]
        assert "detail_b" in info.params["Lora hashes"]
    assert not backend.busy


def test_progress_and_previews_reach_the_listener_in_order(server: FakeComfyUI, files: dict[str, Path]) -> None:
    backend, rec = make_backend(server)
    backend.submit("job-1", request_for(files, preview_every=1, batch_count=2))
    assert isinstance(rec.final(), JobResult)
    kinds = [type(e) for e in rec.events]
    assert kinds[0] is JobStarted
    assert kinds[-1] is JobResult
    steps = [(e.step, e.total) for e in rec.events if isinstance(e, JobProgress)]
    assert steps == [(i, 8) for i in range(1, 9)]
    previews = [e for e in rec.events if isinstance(e, JobPreview)]
    assert len(previews) == 8
    assert all(p.width == 16 and p.height == 16 and len(p.rgb) == 16 * 16 * 3 for p in previews)
    # each preview follows the progress event of its step
    order = [type(e).__name__ for e in rec.events if isinstance(e, JobProgress | JobPreview)]
    assert order == ["JobProgress", "JobPreview"] * 8
    assert server.prompts[0]["extra_data"] == {"preview_method": "auto"}


def test_cancel_a_running_job_posts_interrupt(server: FakeComfyUI, files: dict[str, Path]) -> None:
    server.step_delay = 0.05
    backend, rec = make_backend(server)
    backend.submit("job-1", request_for(files, steps=40))
    rec.wait_for(JobProgress)
    backend.cancel("job-1")
    assert isinstance(rec.final(), JobCancelled)
    assert server.interrupts == [{"prompt_id": server.prompts[0]["prompt_id"]}]
    assert server.executed == []


def test_cancel_a_pending_job_deletes_it_from_the_queue(server: FakeComfyUI, files: dict[str, Path]) -> None:
    server.hold.clear()  # someone else's job holds the server: ours waits in its queue
    backend, rec = make_backend(server)
    backend.submit("job-1", request_for(files))
    rec.wait_for(JobStarted)
    for _ in range(100):
        if server.prompts:
            break
        threading.Event().wait(0.05)
    backend.cancel("job-1")
    assert isinstance(rec.final(), JobCancelled)
    assert server.deletes == [server.prompts[0]["prompt_id"]]
    assert server.interrupts == []
    server.hold.set()
    threading.Event().wait(0.3)
    assert server.executed == []  # deleted: it never ran


def test_a_dropped_connection_fails_the_job_and_the_backend_recovers(server: FakeComfyUI,
                                                                     files: dict[str, Path]) -> None:
    server.drop_at_step = 2
    backend, rec = make_backend(server)
    backend.submit("job-1", request_for(files))
    failed = rec.final()
    assert isinstance(failed, JobFailed)
    assert failed.kind is MessageKind.ENGINE_CRASHED
    assert failed.message.endswith(".")
    assert failed.message.count(". ") == 0
    assert "\n" not in failed.message
    assert "lost" in failed.message
    assert not backend.busy
    rec2 = Recorder()
    backend.set_listener(rec2)
    backend.submit("job-2", request_for(files, seed=99))
    assert isinstance(rec2.final(), JobResult)


@pytest.mark.parametrize("where", ["ws", "history", "view", "object_info"])
def test_garbage_from_the_server_is_one_sentence(server: FakeComfyUI, files: dict[str, Path], where: str) -> None:
    server.garbage = where
    backend, rec = make_backend(server)
    backend.submit("job-1", request_for(files))
    failed = rec.final()
    assert isinstance(failed, JobFailed), failed
    assert failed.message.startswith("The ComfyUI server at 127.0.0.1:")
    assert "\n" not in failed.message
    assert len(failed.message) < 300
    assert not backend.busy


def test_a_node_error_on_the_server_is_one_sentence(server: FakeComfyUI, files: dict[str, Path]) -> None:
    server.fail_at = "KSampler"
    backend, rec = make_backend(server)
    backend.submit("job-1", request_for(files))
    failed = rec.final()
    assert isinstance(failed, JobFailed)
    assert failed.message.endswith("failed in KSampler: CUDA out of memory. Tried to allocate 2.00 GiB.")
    assert failed.kind is MessageKind.OUT_OF_MEMORY


def test_a_lora_missing_on_the_server_is_refused_by_name(server: FakeComfyUI, files: dict[str, Path],
                                                         tmp_path: Path) -> None:
    extra = write_kohya_lora(tmp_path / "local" / "only_here.safetensors")
    backend, rec = make_backend(server)
    req = request_for(files, loras=(LoraSpec(files["a"]), LoraSpec(extra)))
    backend.submit("job-1", req)
    failed = rec.final()
    assert isinstance(failed, JobFailed)
    assert failed.kind is MessageKind.LORA_MISSING
    assert "only_here.safetensors" in failed.message
    assert "style_a" not in failed.message
    assert server.prompts == []  # refused before submitting


@pytest.mark.parametrize(("change", "words"), [
    ({"blocks": (1.0, 0.0, 1.0)}, "per-block weights"),
    ({"start": 0.3}, "start/stop"),
])
def test_what_comfyui_cannot_do_exactly_is_refused_before_submitting(
        server: FakeComfyUI, files: dict[str, Path], change: dict[str, Any], words: str) -> None:
    backend, rec = make_backend(server)
    backend.submit("job-1", request_for(files, loras=(LoraSpec(files["a"], 0.7, **change),)))
    failed = rec.final()
    assert isinstance(failed, JobFailed)
    assert words in failed.message
    assert "style_a" in failed.message
    assert server.prompts == []


def test_a_peft_lora_and_an_unknown_sampler_are_refused(server: FakeComfyUI, files: dict[str, Path],
                                                        tmp_path: Path) -> None:
    peft = write_peft_lora(tmp_path / "local" / "style_a.safetensors.peft.safetensors")
    backend, rec = make_backend(server)
    backend.submit("job-1", request_for(files, loras=(LoraSpec(peft),)))
    assert "PEFT-format" in rec.final().message
    backend2, rec2 = make_backend(server)
    backend2.submit("job-2", request_for(files, sampler="LMS"))
    assert "sampler 'LMS' has no equivalent" in rec2.final().message
    assert server.prompts == []


def test_a_bearer_token_is_sent_and_a_wrong_one_is_one_sentence(tmp_path: Path, files: dict[str, Path]) -> None:
    fake = FakeComfyUI(tmp_path / "out", loras=("style_a.safetensors", "detail_b.safetensors"), token="s3cret")
    try:
        backend, rec = make_backend(fake, token="s3cret")
        backend.submit("job-1", request_for(files))
        assert isinstance(rec.final(), JobResult)
        wrong, rec2 = make_backend(fake, token="nope")
        wrong.submit("job-2", request_for(files))
        failed = rec2.final()
        assert isinstance(failed, JobFailed)
        assert "refused access (HTTP 401)" in failed.message
    finally:
        fake.close()


def test_an_unreachable_server_fails_fast_with_one_sentence(files: dict[str, Path]) -> None:
    backend = ComfyUIBackend("127.0.0.1:9", timeout=3)  # the discard port: nothing listens
    rec = Recorder()
    backend.set_listener(rec)
    backend.submit("job-1", request_for(files))
    failed = rec.final()
    assert isinstance(failed, JobFailed)
    assert failed.kind is MessageKind.ENGINE_CRASHED
    assert failed.message.startswith("The ComfyUI server at 127.0.0.1:9 did not answer")


def test_list_models_and_check_connection(server: FakeComfyUI) -> None:
    backend, _ = make_backend(server)
    models = backend.list_models()
    assert [p.name for p in models.loras] == ["style_a.safetensors", "detail_b.safetensors"]
    info = probe_server(server.url)
    assert info.version == "0.8.0"
    assert info.device.startswith("cuda:0 NVIDIA Fake")
    assert info.vram_total == 24 * 2**30
    assert (info.checkpoints, info.loras) == (1, 2)
    assert "ComfyUI 0.8.0" in info.summary()
    assert "2 LoRAs" in info.summary()


def test_the_session_runner_shows_progress_previews_and_saves_the_images(
        server: FakeComfyUI, files: dict[str, Path], tmp_path: Path) -> None:
    """The queue → runner → backend path the window uses (the Qt layer forwards events to its thread)."""
    import queue as queue_module

    from lorastudio.core.session.queue import JobQueue
    from lorastudio.core.session.runner import JobRunner

    backend, _ = make_backend(server)
    inbox: queue_module.Queue[BackendEvent] = queue_module.Queue()
    backend.set_listener(inbox.put)  # delivered to "the GUI thread" (this one) like the Qt bridge does
    jobs = JobQueue()
    runner = JobRunner(jobs, backend, tmp_path / "outputs")
    seen: list[str] = []
    runner.progress.connect(lambda p: seen.append(f"progress {p.step}/{p.total}"))
    runner.preview.connect(lambda p: seen.append(f"preview {p.width}x{p.height}"))
    runner.finished.connect(lambda f: seen.append(f"finished {len(f.paths)}"))
    jobs.add(request_for(files, preview_every=1, steps=2, batch_count=2))
    runner.pump()
    while not seen or not seen[-1].startswith("finished"):
        runner.handle(inbox.get(timeout=20))
    assert seen == ["progress 1/4", "preview 16x16", "progress 2/4", "preview 16x16",
                    "progress 3/4", "preview 16x16", "progress 4/4", "preview 16x16", "finished 2"]
    saved = sorted((tmp_path / "outputs").glob("*.png"))
    assert [p.name for p in saved] == ["00001-11.png", "00002-12.png"]
    assert "Seed: 12" in Image.open(saved[1]).text["parameters"]


def test_a_server_that_silently_loses_the_job_is_noticed(server: FakeComfyUI, files: dict[str, Path]) -> None:
    server.lose_prompts = True  # the socket stays open, but no event will ever come
    backend, rec = make_backend(server, stall_check=0.5)
    backend.submit("job-1", request_for(files))
    failed = rec.final(timeout=10)
    assert isinstance(failed, JobFailed)
    assert failed.message == (f"The ComfyUI server at {server.url[7:]} no longer knows the job "
                              "(it may have restarted).")
    assert failed.kind is MessageKind.ENGINE_CRASHED
