"""Text jobs as engine-process jobs: streamed text, no reload between generations, cancel keeps the
text so far, training streams its loss, merge and demo results, one-sentence errors, and requests
and events that cross the process boundary."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lorastudio.core.backend import text_job
from lorastudio.core.backend.base import BackendEvent, JobResult, JobUpdate, runs_locally
from lorastudio.core.backend.engine_process import HANDLERS, ProcessOptions
from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import GenerationCancelled, InvalidRequest, ModelLoadError
from lorastudio.core.text.engine import TextEngine
from lorastudio.core.text.mix import TextGenerationRequest, TextGenerationResult, TextMix
from lorastudio.core.text.models import TextModelInfo, inspect_adapter
from lorastudio.core.text.requests import (
    TEXT_REQUESTS,
    TextChunk,
    TextDemoRequest,
    TextGenerateRequest,
    TextMergeRequest,
    TextStatus,
    TextTrainRequest,
)
from lorastudio.core.text.train import TrainConfig, TrainProgress, TrainResult


@dataclass
class Context:
    """Stands in for engine_process.JobContext: records what the handler sends."""

    options: ProcessOptions = field(default_factory=lambda: ProcessOptions(device="cpu"))
    cancel: CancelToken = field(default_factory=CancelToken)
    events: list[BackendEvent] = field(default_factory=list)
    cancel_on_first_update_of: type | None = None

    def send(self, event: BackendEvent) -> None:
        pickle.dumps(event)  # everything sent must cross the process boundary
        self.events.append(event)
        if (self.cancel_on_first_update_of is not None and isinstance(event, JobUpdate)
                and isinstance(event.payload, self.cancel_on_first_update_of)):
            self.cancel.cancel()

    def payloads(self, kind: type) -> list[object]:
        return [e.payload for e in self.events if isinstance(e, JobUpdate) and isinstance(e.payload, kind)]


@pytest.fixture(autouse=True)
def fresh_engine() -> Iterator[None]:
    text_job.reset_engine()
    yield
    text_job.reset_engine()


def _generate(model: Path, mix: TextMix = TextMix(), prompt: str = "the cat ", tokens: int = 12,
              seed: int = 3) -> TextGenerateRequest:
    return TextGenerateRequest(model, mix, TextGenerationRequest(prompt, max_new_tokens=tokens, seed=seed))


def test_requests_name_themselves_run_locally_and_are_registered(tiny_lm: Path, tmp_path: Path) -> None:
    mix = TextMix.of({"/a/cats": 0.5, "/a/dogs": 0.0})
    requests = [
        _generate(tiny_lm, mix, prompt="once upon a time " * 5),
        TextTrainRequest(tiny_lm, tmp_path / "birds.txt", tmp_path / "birds-lora", TrainConfig()),
        TextMergeRequest(tiny_lm, mix, tmp_path / "merged"),
        TextDemoRequest(tmp_path / "text", tmp_path / "text-adapters"),
    ]
    labels = [r.job_label for r in requests]
    assert labels[0] == "Text: once upon a time once upon a time once… — tiny-gpt2, 12 tokens, 1 adapter"
    assert labels[1] == "Fine-tune tiny-gpt2 on birds.txt → birds-lora"
    assert labels[2] == "Merge tiny-gpt2, 1 adapter → merged"
    assert labels[3] == "Build the demo text model"
    for request in requests:
        assert runs_locally(request)
        assert pickle.loads(pickle.dumps(request)) == request
        assert type(request) in HANDLERS
    assert set(TEXT_REQUESTS) <= set(HANDLERS)


def test_generation_streams_and_the_next_one_does_not_reload(tiny_lm: Path,
                                                              tiny_adapters: tuple[Path, Path]) -> None:
    cats, dogs = tiny_adapters
    ctx = Context()
    first = text_job.run(ctx, "j1", _generate(tiny_lm, TextMix.of({str(cats): 0.7, str(dogs): 0.3})))
    result = first.payload
    assert isinstance(result, TextGenerationResult)
    assert not result.cancelled
    assert len(result.token_ids) == 12
    chunks = ctx.payloads(TextChunk)
    assert chunks
    assert "".join(c.text for c in chunks) == result.text  # type: ignore[attr-defined]
    assert [s.text for s in ctx.payloads(TextStatus)] == [  # type: ignore[attr-defined]
        "Loading tiny-gpt2…", "Applying the adapter mix…", "Generating…"]
    assert first.stats == {"model_loads": 1, "adapter_loads": 2, "mix_builds": 1}

    # The same generation on a plain engine gives the same tokens: the job adds nothing of its own.
    engine = TextEngine(device="cpu")
    engine.load_model(tiny_lm)
    engine.set_mix(TextMix.of({str(cats): 0.7, str(dogs): 0.3}))
    assert engine.generate(TextGenerationRequest("the cat ", max_new_tokens=12, seed=3)).token_ids == result.token_ids

    # A new weight rebuilds the mix only; the model and adapters stay loaded.
    ctx = Context()
    second = text_job.run(ctx, "j2", _generate(tiny_lm, TextMix.of({str(cats): 0.7, str(dogs): 1.0})))
    assert second.stats == {"model_loads": 1, "adapter_loads": 2, "mix_builds": 2}
    assert [s.text for s in ctx.payloads(TextStatus)] == ["Applying the adapter mix…", "Generating…"]  # type: ignore[attr-defined]
    third = text_job.run(Context(), "j3", _generate(tiny_lm, TextMix.of({str(cats): 0.7, str(dogs): 1.0}), seed=4))
    assert third.stats == {"model_loads": 1, "adapter_loads": 2, "mix_builds": 2}


def test_cancel_keeps_the_text_so_far(tiny_lm: Path) -> None:
    ctx = Context(cancel_on_first_update_of=TextChunk)
    with pytest.raises(GenerationCancelled):
        text_job.run(ctx, "j1", _generate(tiny_lm, tokens=100))
    last = ctx.events[-1]
    assert isinstance(last, JobUpdate)
    result = last.payload
    assert isinstance(result, TextGenerationResult)
    assert result.cancelled
    assert 1 <= len(result.token_ids) < 100
    assert "".join(c.text for c in ctx.payloads(TextChunk)) == result.text  # type: ignore[attr-defined]


def test_a_job_cancelled_before_it_starts_loads_nothing(tiny_lm: Path) -> None:
    ctx = Context()
    ctx.cancel.cancel()
    with pytest.raises(GenerationCancelled):
        text_job.run(ctx, "j1", _generate(tiny_lm))
    assert ctx.events == []


def test_errors_are_one_sentence(tiny_lm: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"^missing is not a language model folder"):
        text_job.run(Context(), "j1", _generate(tmp_path / "missing"))
    bad = TextGenerateRequest(tiny_lm, TextMix(), TextGenerationRequest("x", temperature=50.0))
    with pytest.raises(InvalidRequest, match="Temperature"):
        text_job.run(Context(), "j2", bad)
    with pytest.raises(InvalidRequest, match="cannot run a str"):
        text_job.run(Context(), "j3", "generate something")


def test_training_streams_loss_and_returns_the_adapter(tiny_lm: Path, tmp_path: Path) -> None:
    data = tmp_path / "birds.txt"
    data.write_text("a bird sings in the tree. the bird flies home. " * 12, "utf-8")
    config = TrainConfig(rank=4, alpha=8, dropout=0.0, lr=1e-2, epochs=2, batch_size=4, max_length=32)
    ctx = Context()
    done = text_job.run(ctx, "t1", TextTrainRequest(tiny_lm, data, tmp_path / "birds-lora", config))
    result = done.payload
    assert isinstance(result, TrainResult)
    assert result.adapter_dir == tmp_path / "birds-lora"
    assert inspect_adapter(tmp_path / "birds-lora") is not None
    progress = ctx.payloads(TrainProgress)
    assert [p.loss for p in progress] == list(result.losses)  # type: ignore[attr-defined]
    assert progress[-1].step == result.steps  # type: ignore[attr-defined]


def test_training_cancel_sends_the_partial_result(tiny_lm: Path, tmp_path: Path) -> None:
    data = tmp_path / "birds.txt"
    data.write_text("a bird sings in the tree. the bird flies home. " * 24, "utf-8")
    config = TrainConfig(rank=4, alpha=8, dropout=0.0, epochs=50, batch_size=2, max_length=16)
    ctx = Context(cancel_on_first_update_of=TrainProgress)
    with pytest.raises(GenerationCancelled):
        text_job.run(ctx, "t1", TextTrainRequest(tiny_lm, data, tmp_path / "birds-lora", config))
    last = ctx.events[-1]
    assert isinstance(last, JobUpdate)
    assert isinstance(last.payload, TrainResult)
    assert last.payload.cancelled
    assert last.payload.steps == 1


def test_merge_returns_the_new_model(tiny_lm: Path, tiny_adapters: tuple[Path, Path], tmp_path: Path) -> None:
    cats, _ = tiny_adapters
    done = text_job.run(Context(), "m1", TextMergeRequest(tiny_lm, TextMix.of({str(cats): 0.5}), tmp_path / "merged"))
    assert isinstance(done, JobResult)
    info = done.payload
    assert isinstance(info, TextModelInfo)
    assert info.path == tmp_path / "merged"
