"""The engine thread: one long-lived QThread owns the diffusers pipeline; jobs queue to it.

``EngineClient`` lives in the GUI thread. Its private request signals are connected to the worker's
slots, so each job is queued into the engine thread; the worker's signals come back to bound
methods of the client (GUI thread) and are re-emitted for widgets. Cancellation is a CancelToken
set from the GUI thread and checked by the engine between denoising steps.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtGui import QImage

from lorastudio.core.cancel import CancelToken
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.errors import GenerationCancelled, LoraStudioError
from lorastudio.core.paths import DataDir


class EngineWorker(QObject):
    """Runs in the engine thread. Never touches widgets.

    Signals: status(str), device(str), progress(int step, int total), preview(QImage),
    finished(object results, object saved_paths), failed(str), cancelled(), demo_built(object).
    """

    status = Signal(str)
    device = Signal(str)
    progress = Signal(int, int)
    preview = Signal(QImage)
    finished = Signal(object, object)
    failed = Signal(str)
    cancelled = Signal()
    demo_built = Signal(object)
    idle = Signal()

    def __init__(self, data: DataDir, cancel: CancelToken) -> None:
        super().__init__()
        self._data = data
        self._cancel = cancel
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        """The DiffusersEngine (created on first use, in this thread: torch imports here)."""
        if self._engine is None:
            self.status.emit("Starting the engine (loading torch and diffusers)…")
            from lorastudio.core.engine.engine import DiffusersEngine

            self._engine = DiffusersEngine()
            self.device.emit(self._engine.choice.label)
        return self._engine

    @Slot(object)
    def generate(self, request: GenerationRequest) -> None:
        try:
            engine = self.engine
            if engine.model_path != Path(request.model).resolve():
                self.status.emit(f"Loading {Path(request.model).name}…")
            from lorastudio.core.engine.output import save_png

            results = engine.generate(request, on_step=self._on_step, cancel=self._cancel)
            for note in engine.memory_notes:
                self.status.emit(note)
            paths = [save_png(r.image, request, r.seed, self._data.outputs) for r in results]
            self.finished.emit(results, paths)
        except GenerationCancelled:
            self.cancelled.emit()
        except LoraStudioError as err:
            self.failed.emit(str(err))
        except Exception as err:  # keep the window alive; the log gets the traceback
            traceback.print_exc()
            self.failed.emit(f"Unexpected error: {type(err).__name__}: {err}")
        finally:
            self.idle.emit()

    @Slot()
    def warm_up(self) -> None:
        """Import torch/diffusers and pick the device now, not when the user presses Generate."""
        try:
            _ = self.engine
            # The pipeline classes' own imports (C extensions hold the GIL) would otherwise stall
            # the window for ~0.5 s at the first Generate; here they happen before anyone clicks.
            from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline  # noqa: F401
            from transformers import CLIPTextModel, CLIPTokenizer  # noqa: F401

            self.status.emit("Engine ready")
        except Exception as err:  # a broken install must not kill the window
            traceback.print_exc()
            self.failed.emit(f"The engine could not start: {err}")

    @Slot()
    def build_demo(self) -> None:
        try:
            self.status.emit("Building the demo library…")
            from lorastudio.core.engine.demo import build_demo_library

            self.demo_built.emit(build_demo_library(self._data))
        except Exception as err:
            traceback.print_exc()
            self.failed.emit(f"Could not build the demo library: {err}")
        finally:
            self.idle.emit()

    def _on_step(self, step: int, total: int, rgb: Any) -> None:
        self.progress.emit(step, total)
        if rgb is not None:
            h, w, _ = rgb.shape
            self.preview.emit(QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy())


class EngineClient(QObject):
    """GUI-thread handle on the engine thread.

    Signals: busy_changed(bool), status(str), device(str), progress(int, int, float elapsed),
    preview(QImage), finished(object results, object paths), failed(str), cancelled(),
    demo_built(object).
    """

    busy_changed = Signal(bool)
    status = Signal(str)
    device = Signal(str)
    progress = Signal(int, int, float)
    preview = Signal(QImage)
    finished = Signal(object, object)
    failed = Signal(str)
    cancelled = Signal()
    demo_built = Signal(object)

    _generate = Signal(object)
    _warm_up = Signal()
    _build_demo = Signal()

    def __init__(self, data: DataDir, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel = CancelToken()
        self._thread = QThread()
        self._thread.setObjectName("engine")
        self._worker = EngineWorker(data, self._cancel)
        self._worker.moveToThread(self._thread)
        self._jobs = 0
        self._started_at = 0.0
        self._generate.connect(self._worker.generate)
        self._warm_up.connect(self._worker.warm_up)
        self._build_demo.connect(self._worker.build_demo)
        self._worker.status.connect(self._on_worker_status)
        self._worker.device.connect(self._on_worker_device)
        self._worker.progress.connect(self._on_worker_progress)
        self._worker.preview.connect(self._on_worker_preview)
        self._worker.finished.connect(self._on_worker_finished)
        self._worker.failed.connect(self._on_worker_failed)
        self._worker.cancelled.connect(self._on_worker_cancelled)
        self._worker.demo_built.connect(self._on_worker_demo_built)
        self._worker.idle.connect(self._on_worker_idle)
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self._jobs > 0

    @property
    def worker(self) -> EngineWorker:
        return self._worker

    def _queued(self) -> None:
        self._jobs += 1
        if self._jobs == 1:
            self.busy_changed.emit(True)

    def generate(self, request: GenerationRequest) -> None:
        # Reset here, on submission: an Esc pressed while the job still waits in the queue counts.
        self._cancel.reset()
        self._queued()
        self._started_at = time.monotonic()
        self._generate.emit(request)

    def warm_up(self) -> None:
        """Start the engine in the background (not a job: the Generate button stays enabled)."""
        self._warm_up.emit()

    def build_demo(self) -> None:
        self._queued()
        self._build_demo.emit()

    def cancel(self) -> None:
        self._cancel.cancel()

    def shutdown(self) -> None:
        """Cancel what runs and stop the thread (called when the window closes)."""
        self._cancel.cancel()
        self._thread.quit()
        self._thread.wait()

    @Slot(str)
    def _on_worker_status(self, text: str) -> None:
        self.status.emit(text)

    @Slot(str)
    def _on_worker_device(self, text: str) -> None:
        self.device.emit(text)

    @Slot(int, int)
    def _on_worker_progress(self, step: int, total: int) -> None:
        self.progress.emit(step, total, time.monotonic() - self._started_at)

    @Slot(QImage)
    def _on_worker_preview(self, image: QImage) -> None:
        self.preview.emit(image)

    @Slot(object, object)
    def _on_worker_finished(self, results: object, paths: object) -> None:
        self.finished.emit(results, paths)

    @Slot(str)
    def _on_worker_failed(self, message: str) -> None:
        self.failed.emit(message)

    @Slot()
    def _on_worker_cancelled(self) -> None:
        self.cancelled.emit()

    @Slot(object)
    def _on_worker_demo_built(self, lib: object) -> None:
        self.demo_built.emit(lib)

    @Slot()
    def _on_worker_idle(self) -> None:
        self._jobs = max(0, self._jobs - 1)
        if self._jobs == 0:
            self.busy_changed.emit(False)
