"""Typed messages for the user: a level, a kind (what it is about) and one sentence.

The Qt layer shows them in the one notice area; the CLI prints them. Code decides on ``kind``,
never on the wording, so a message can be reworded without breaking anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from lorastudio.core import errors


class Level(Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class MessageKind(Enum):
    GENERAL = "general"
    CANCELLED = "cancelled"
    NO_MODEL = "no-model"
    MODEL_LOAD = "model-load"
    LORA_LOAD = "lora-load"
    LORA_MISSING = "lora-missing"
    OUT_OF_MEMORY = "out-of-memory"
    ENGINE_CRASHED = "engine-crashed"
    ENGINE_START = "engine-start"
    GENERATION = "generation"
    RESTORE = "restore"
    LIBRARY = "library"
    HUB = "hub"
    SETTINGS = "settings"
    UNEXPECTED = "unexpected"


@dataclass(frozen=True)
class Message:
    level: Level
    text: str
    kind: MessageKind = MessageKind.GENERAL


def info(text: str, kind: MessageKind = MessageKind.GENERAL) -> Message:
    return Message(Level.INFO, text, kind)


def warning(text: str, kind: MessageKind = MessageKind.GENERAL) -> Message:
    return Message(Level.WARNING, text, kind)


def error(text: str, kind: MessageKind = MessageKind.GENERAL) -> Message:
    return Message(Level.ERROR, text, kind)


# Most specific first: IncompatibleLoraError is a LoraLoadError.
_KINDS: tuple[tuple[type[BaseException], MessageKind], ...] = (
    (errors.GenerationCancelled, MessageKind.CANCELLED),
    (errors.EngineRuntimeMissing, MessageKind.ENGINE_START),
    (errors.OutOfMemory, MessageKind.OUT_OF_MEMORY),
    (errors.LoraLoadError, MessageKind.LORA_LOAD),
    (errors.ModelLoadError, MessageKind.MODEL_LOAD),
    (errors.BadModelFile, MessageKind.MODEL_LOAD),
    (errors.ImageMetadataError, MessageKind.RESTORE),
    (errors.HubError, MessageKind.HUB),
    (errors.DownloadError, MessageKind.HUB),
    (errors.LoraStudioError, MessageKind.GENERAL),
)


def kind_of(err: BaseException) -> MessageKind:
    """The message kind for an exception; anything not ours is UNEXPECTED."""
    for cls, kind in _KINDS:
        if isinstance(err, cls):
            return kind
    return MessageKind.UNEXPECTED


def from_exception(err: BaseException) -> Message:
    """One sentence for any exception: ours as written, others named without their library text."""
    if isinstance(err, errors.LoraStudioError):
        return error(str(err), kind_of(err))
    return error(f"Something went wrong ({type(err).__name__}); the details are in the log file.",
                 MessageKind.UNEXPECTED)
