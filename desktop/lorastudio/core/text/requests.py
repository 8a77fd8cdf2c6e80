"""The Text tab's queue jobs and the events they stream: plain frozen values, pickled to the engine
process and back.

Each request holds everything its job needs (the model folder, the mix, the settings), has a
``job_label`` for the queue panel and ``local_only = True``: only the local engine process runs
text jobs, whichever image backend is chosen. The handler is ``core/backend/text_job.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from lorastudio.core.text.mix import TextGenerationRequest, TextMix
from lorastudio.core.text.train import TrainConfig

_LABEL_PROMPT = 40


def _short(text: str, size: int = _LABEL_PROMPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[:size - 1].rstrip() + "…"


def _adapters(mix: TextMix) -> str:
    n = len(mix.active)
    return f", {n} adapter{'s' if n != 1 else ''}" if n else ""


@dataclass(frozen=True)
class TextGenerateRequest:
    """Generate a continuation with ``model`` and the weighted adapters of ``mix``."""

    model: Path
    mix: TextMix
    generation: TextGenerationRequest

    local_only: ClassVar[bool] = True

    @property
    def job_label(self) -> str:
        prompt = _short(self.generation.prompt) or "(no prompt)"
        return (f"Text: {prompt} — {self.model.name}, {self.generation.max_new_tokens} tokens"
                f"{_adapters(self.mix)}")

    def validate(self) -> TextGenerateRequest:
        """Raise ``InvalidRequest`` for the first setting out of range; return self."""
        self.mix.validate()
        self.generation.validate()
        return self


@dataclass(frozen=True)
class TextTrainRequest:
    """Fine-tune a LoRA adapter for ``model`` on ``data`` and save it in ``out_dir``."""

    model: Path
    data: Path
    out_dir: Path
    config: TrainConfig

    local_only: ClassVar[bool] = True

    @property
    def job_label(self) -> str:
        return f"Fine-tune {self.model.name} on {self.data.name} → {self.out_dir.name}"

    def validate(self) -> TextTrainRequest:
        self.config.validate()
        return self


@dataclass(frozen=True)
class TextMergeRequest:
    """Fold the weighted adapters of ``mix`` into ``model`` and save a new model in ``out_dir``."""

    model: Path
    mix: TextMix
    out_dir: Path

    local_only: ClassVar[bool] = True

    @property
    def job_label(self) -> str:
        return f"Merge {self.model.name}{_adapters(self.mix)} → {self.out_dir.name}"

    def validate(self) -> TextMergeRequest:
        self.mix.validate()
        return self


@dataclass(frozen=True)
class TextDemoRequest:
    """Build the tiny demo language model in ``models_root`` and its two adapters in ``adapters_root``."""

    models_root: Path
    adapters_root: Path

    local_only: ClassVar[bool] = True

    @property
    def job_label(self) -> str:
        return "Build the demo text model"

    def validate(self) -> TextDemoRequest:
        return self


TextRequest = TextGenerateRequest | TextTrainRequest | TextMergeRequest | TextDemoRequest
TEXT_REQUESTS: tuple[type, ...] = (TextGenerateRequest, TextTrainRequest, TextMergeRequest, TextDemoRequest)


# -- what the jobs stream (JobUpdate payloads) -------------------------------------------------------
@dataclass(frozen=True)
class TextChunk:
    """Newly generated text (one or more tokens' worth), in order."""

    text: str


@dataclass(frozen=True)
class TextStatus:
    """What a text job is doing now ("Loading tiny-gpt2…"), for the Text tab's status line."""

    text: str


@dataclass(frozen=True)
class TextDemoBuilt:
    """The result of a ``TextDemoRequest``: the demo model's folder and its adapters' folders."""

    model_dir: Path
    adapters: tuple[Path, ...] = ()
