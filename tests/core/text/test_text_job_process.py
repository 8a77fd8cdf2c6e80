"""Text jobs through the real engine process: the text streams over the pipe, the model stays
loaded between jobs, and a cancel mid-stream ends the job with the text so far."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lorastudio.core.backend.base import BackendEvent, JobCancelled, JobFailed, JobResult, JobUpdate
from lorastudio.core.backend.engine_process import ProcessOptions
from lorastudio.core.backend.local_process import LocalProcessBackend
from lorastudio.core.messages import MessageKind
from lorastudio.core.text.demo import build_demo_model
from lorastudio.core.text.mix import TextGenerationRequest, TextGenerationResult, TextMix
from lorastudio.core.text.requests import TextChunk, TextGenerateRequest

pytestmark = pytest.mark.slow
TIMEOUT = 180.0


@pytest.fixture(scope="module")
def long_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GPT-2 with room for thousands of tokens: a generation long enough to stop midway."""
    return build_demo_model(tmp_path_factory.mktemp("long-lm") / "long-gpt2", n_embd=32, n_positions=4096,
                            pretrain_steps=0)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalProcessBackend]:
    # nice=0: on a machine loaded by other work, the default nice 5 starves the engine for minutes.
    b = LocalProcessBackend(ProcessOptions(log_folder=tmp_path / "logs", torch_threads=2, device="cpu", nice=0))
    yield b
    b.shutdown()


def _events_until_end(events: queue.Queue[BackendEvent], job_id: str,
                      on_event: object = None) -> list[BackendEvent]:
    seen: list[BackendEvent] = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            event = events.get(timeout=1.0)
        except queue.Empty:
            continue
        if getattr(event, "job_id", None) != job_id:
            continue
        seen.append(event)
        if callable(on_event):
            on_event(event)
        if isinstance(event, JobResult | JobFailed | JobCancelled):
            return seen
    raise AssertionError(f"job {job_id} did not end within {TIMEOUT} s; saw {seen}")


def _request(model: Path, tokens: int, seed: int = 1) -> TextGenerateRequest:
    return TextGenerateRequest(model, TextMix(), TextGenerationRequest("the cat ", max_new_tokens=tokens, seed=seed))


def _text(events: list[BackendEvent]) -> str:
    return "".join(e.payload.text for e in events if isinstance(e, JobUpdate) and isinstance(e.payload, TextChunk))


def test_text_streams_from_the_engine_process_and_stays_loaded(backend: LocalProcessBackend, long_lm: Path,
                                                               tmp_path: Path) -> None:
    events: queue.Queue[BackendEvent] = queue.Queue()
    backend.set_listener(events.put)

    backend.submit("a", _request(long_lm, 16))
    first = _events_until_end(events, "a")
    done = first[-1]
    assert isinstance(done, JobResult)
    assert isinstance(done.payload, TextGenerationResult)
    assert len(done.payload.token_ids) == 16
    assert _text(first) == done.payload.text
    assert done.stats["model_loads"] == 1

    backend.submit("b", _request(long_lm, 8, seed=2))
    second = _events_until_end(events, "b")
    assert isinstance(second[-1], JobResult)
    assert second[-1].stats["model_loads"] == 1  # the model stayed loaded in the engine process

    backend.submit("c", _request(tmp_path / "nothing-here", 8))
    failed = _events_until_end(events, "c")[-1]
    assert isinstance(failed, JobFailed)
    assert failed.kind is MessageKind.MODEL_LOAD
    assert failed.message == ("nothing-here is not a language model folder (config.json with a *ForCausalLM "
                              "architecture and safetensors weights).")


def test_cancel_mid_stream_keeps_the_text_so_far(backend: LocalProcessBackend, long_lm: Path) -> None:
    events: queue.Queue[BackendEvent] = queue.Queue()
    backend.set_listener(events.put)

    def cancel_at_first_text(event: BackendEvent) -> None:
        if isinstance(event, JobUpdate) and isinstance(event.payload, TextChunk):
            backend.cancel("long")

    backend.submit("long", _request(long_lm, 4000))
    seen = _events_until_end(events, "long", cancel_at_first_text)
    assert isinstance(seen[-1], JobCancelled)
    partial = seen[-2]
    assert isinstance(partial, JobUpdate)
    assert isinstance(partial.payload, TextGenerationResult)
    assert partial.payload.cancelled
    assert 1 <= len(partial.payload.token_ids) < 4000
    assert _text(seen) == partial.payload.text
