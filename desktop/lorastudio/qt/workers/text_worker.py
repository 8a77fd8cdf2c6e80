"""The text thread: one long-lived QThread owns the TextEngine (a causal LM and its adapters).

``TextClient`` lives in the GUI thread; its private request signals are connected to the worker's
slots, so jobs queue into the text thread in order. The worker's signals go straight to bound
methods of GUI-thread widgets. Each cancellable job carries its own CancelToken, so a Stop never
leaks into the next job.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import GenerationCancelled, LoraStudioError
from lorastudio.core.text.mix import TextGenerationRequest, TextMix
from lorastudio.core.text.train import TrainConfig


@dataclass(frozen=True)
class GenerateJob:
    model: Path
    mix: TextMix
    request: TextGenerationRequest
    cancel: CancelToken = field(default_factory=CancelToken, compare=False)


@dataclass(frozen=True)
class TrainJob:
    model: Path
    data: Path
    out_dir: Path
    config: TrainConfig
    cancel: CancelToken = field(default_factory=CancelToken, compare=False)


@dataclass(frozen=True)
class MergeJob:
    model: Path
    mix: TextMix
    out_dir: Path
    cancel: CancelToken = field(default_factory=CancelToken, compare=False)


@dataclass(frozen=True)
class DemoJob:
    models_root: Path
    adapters_root: Path


class TextWorker(QObject):
    """Runs in the text thread; never touches widgets.

    Signals: status(str), model_loaded(object TextModelInfo), chunk(str),
    generation_finished(object TextGenerationResult), train_progress(object TrainProgress),
    train_finished(object TrainResult), merge_finished(object TextModelInfo),
    demo_built(object Path), failed(str), idle(str job kind: load|generate|train|merge|demo).
    """

    status = Signal(str)
    model_loaded = Signal(object)
    chunk = Signal(str)
    generation_finished = Signal(object)
    train_progress = Signal(object)
    train_finished = Signal(object)
    merge_finished = Signal(object)
    demo_built = Signal(object)
    failed = Signal(str)
    idle = Signal(str)

    def __init__(self, device: str = "cpu") -> None:
        super().__init__()
        self._device = device
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        """The TextEngine, created on first use in this thread (torch imports here, not in the GUI)."""
        if self._engine is None:
            self.status.emit("Starting the text engine (loading torch and transformers)…")
            from lorastudio.core.text.engine import TextEngine

            self._engine = TextEngine(device=self._device)
            self._device = self._engine.device  # "auto" resolved; training and merging use it too
        return self._engine

    def _load(self, model: Path) -> None:
        info = self.engine.model_info
        if info is None or info.path.resolve() != Path(model).resolve():
            self.status.emit(f"Loading {Path(model).name}…")
            self.model_loaded.emit(self.engine.load_model(model))

    def _fail(self, err: Exception) -> None:
        if isinstance(err, LoraStudioError):
            self.failed.emit(str(err))
        else:  # keep the window alive; the log gets the traceback
            traceback.print_exc()
            self.failed.emit(f"Unexpected error: {type(err).__name__}: {err}")

    @Slot(str)
    def load_model(self, path: str) -> None:
        try:
            self._load(Path(path))
            self.status.emit(f"{Path(path).name} is ready.")
        except Exception as err:
            self._fail(err)
        finally:
            self.idle.emit("load")

    @Slot(object)
    def generate(self, job: GenerateJob) -> None:
        try:
            if job.cancel.cancelled:
                raise GenerationCancelled("Cancelled.")
            self._load(job.model)
            self.status.emit("Applying the adapter mix…")
            self.engine.set_mix(job.mix)
            self.status.emit("Generating…")
            result = self.engine.generate(job.request, on_text=self.chunk.emit, cancel=job.cancel)
            self.generation_finished.emit(result)
        except Exception as err:
            self._fail(err)
        finally:
            self.idle.emit("generate")

    @Slot(object)
    def train(self, job: TrainJob) -> None:
        try:
            from lorastudio.core.text.train import train_adapter

            self.status.emit(f"Preparing to train on {job.data.name}…")
            result = train_adapter(job.model, job.data, job.out_dir, job.config,
                                   on_progress=self.train_progress.emit, cancel=job.cancel,
                                   device=self.engine.device)
            self.train_finished.emit(result)
        except Exception as err:
            self._fail(err)
        finally:
            self.idle.emit("train")

    @Slot(object)
    def merge(self, job: MergeJob) -> None:
        try:
            from lorastudio.core.text.merge import merge_mix

            self.status.emit(f"Merging into {job.out_dir.name}…")
            self.merge_finished.emit(merge_mix(job.model, job.mix, job.out_dir, cancel=job.cancel,
                                               device=self.engine.device))
        except Exception as err:
            self._fail(err)
        finally:
            self.idle.emit("merge")

    @Slot(object)
    def build_demo(self, job: DemoJob) -> None:
        try:
            from lorastudio.core.text.demo import build_demo

            self.status.emit("Building the demo text model and two demo adapters…")
            model_dir, _ = build_demo(job.models_root, job.adapters_root)
            self.demo_built.emit(model_dir)
        except Exception as err:
            self._fail(err)
        finally:
            self.idle.emit("demo")


class TextClient(QObject):
    """GUI-thread handle on the text thread: queue jobs, cancel them, shut down."""

    _load_requested = Signal(str)
    _generate_requested = Signal(object)
    _train_requested = Signal(object)
    _merge_requested = Signal(object)
    _demo_requested = Signal(object)

    def __init__(self, device: str = "cpu", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = TextWorker(device)
        self.thread = QThread()
        self.thread.setObjectName("text-engine")
        self.worker.moveToThread(self.thread)
        self._load_requested.connect(self.worker.load_model)
        self._generate_requested.connect(self.worker.generate)
        self._train_requested.connect(self.worker.train)
        self._merge_requested.connect(self.worker.merge)
        self._demo_requested.connect(self.worker.build_demo)
        self._tokens: list[CancelToken] = []
        self.thread.start()

    def _track(self, token: CancelToken) -> None:
        self._tokens.append(token)

    def load_model(self, path: Path) -> None:
        self._load_requested.emit(str(path))

    def generate(self, job: GenerateJob) -> None:
        self._track(job.cancel)
        self._generate_requested.emit(job)

    def train(self, job: TrainJob) -> None:
        self._track(job.cancel)
        self._train_requested.emit(job)

    def merge(self, job: MergeJob) -> None:
        self._track(job.cancel)
        self._merge_requested.emit(job)

    def build_demo(self, job: DemoJob) -> None:
        self._demo_requested.emit(job)

    def cancel(self) -> None:
        """Stop the running job and anything queued behind it."""
        for token in self._tokens:
            token.cancel()
        self._tokens.clear()

    def shutdown(self) -> None:
        """Cancel, let the current job return, stop the thread and wait for it."""
        self.cancel()
        if self.thread.isRunning():
            self.thread.quit()
            self.thread.wait()
