"""The Backend interface and the events every backend sends.

Events are plain frozen values (picklable: the local backend receives them from its engine
process). A backend calls its listener from its own thread; the session handles events on the
thread it chooses (the Qt layer forwards them to the GUI thread).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.messages import MessageKind


@dataclass(frozen=True)
class BuildDemo:
    """A job that builds the demo library (a tiny pipeline and three LoRAs) in the data dir."""

    root: Path


# Other job kinds (training, text) are frozen dataclasses defined by their own packages, with a
# ``job_label`` property and ``local_only = True``: engine_process.HANDLERS maps each type to its
# handler. The union names the two every backend knows.
JobRequest = GenerationRequest | BuildDemo


def runs_locally(request: object) -> bool:
    """Jobs that only the local engine process can run (the demo build, training, text)."""
    return isinstance(request, BuildDemo) or bool(getattr(request, "local_only", False))


@dataclass(frozen=True)
class JobStarted:
    job_id: str


@dataclass(frozen=True)
class JobProgress:
    job_id: str
    step: int
    total: int


@dataclass(frozen=True)
class JobPreview:
    """A live preview: ``rgb`` holds height*width*3 bytes (small: 1/8 of the image)."""

    job_id: str
    width: int
    height: int
    rgb: bytes


@dataclass(frozen=True)
class JobUpdate:
    """A job-specific event (a training loss, a sample image, generated text so far). ``payload``
    is a frozen value defined by the job's own module."""

    job_id: str
    payload: object


@dataclass(frozen=True)
class ImageResult:
    """One finished image: PNG bytes with their infotext, the seed, and anything the user should
    know about how it was made (a LoRA partly applied, an option ignored)."""

    png: bytes
    seed: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobResult:
    job_id: str
    images: tuple[ImageResult, ...] = ()
    seconds: float = 0.0
    # Engine counters (pipeline_loads, lora_loads, mix_applications): a weight change must not reload.
    stats: dict[str, int] = field(default_factory=dict)
    payload: object = None  # what a non-image job produced (saved files, the text)


@dataclass(frozen=True)
class JobFailed:
    job_id: str
    kind: MessageKind
    message: str  # one sentence for the user


@dataclass(frozen=True)
class JobCancelled:
    job_id: str


@dataclass(frozen=True)
class BackendStatus:
    """A status line ("Loading model.safetensors…", "Engine ready")."""

    text: str
    device: str = ""  # set once the backend knows where it generates ("CUDA: RTX 4090, float16")


@dataclass(frozen=True)
class BackendStopped:
    """The backend's worker went away (crash, kill, out of memory); the next submit restarts it."""

    message: str


BackendEvent = (JobStarted | JobProgress | JobPreview | JobUpdate | JobResult | JobFailed | JobCancelled
                | BackendStatus | BackendStopped)
Listener = Callable[[BackendEvent], None]


@dataclass(frozen=True)
class ModelList:
    checkpoints: tuple[Path, ...] = ()
    loras: tuple[Path, ...] = ()


class BackendBusy(RuntimeError):
    """submit() while a job runs: the queue feeds one job at a time (a programming error)."""


class Backend(abc.ABC):
    """Runs one job at a time and reports through the listener."""

    name: str = "backend"

    def __init__(self) -> None:
        self._listener: Listener | None = None

    def set_listener(self, listener: Listener | None) -> None:
        self._listener = listener

    def emit(self, event: BackendEvent) -> None:
        if self._listener is not None:
            self._listener(event)

    @property
    @abc.abstractmethod
    def busy(self) -> bool:
        """A job was submitted and its last event (result, failure, cancel) has not come yet."""

    @abc.abstractmethod
    def submit(self, job_id: str, request: JobRequest) -> None:
        """Start ``request``; raises BackendBusy while another job runs."""

    @abc.abstractmethod
    def cancel(self, job_id: str) -> None:
        """Stop ``job_id`` after its current step (a JobCancelled event follows)."""

    @abc.abstractmethod
    def list_models(self) -> ModelList:
        """The checkpoints and LoRAs this backend can use."""

    def warm_up(self) -> None:  # noqa: B027 - optional: most backends have nothing to prepare
        """Prepare (start processes, import libraries) before the first job; optional."""

    def shutdown(self) -> None:  # noqa: B027 - optional
        """Stop what runs and release resources; safe to call twice."""
