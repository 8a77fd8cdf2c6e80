"""Typed errors whose message is one sentence a user understands.

The Qt layer and the CLI show ``str(error)`` as is; they never show a traceback for these.
"""


class LoraStudioError(Exception):
    """Base class: the message is meant for the user."""


class ModelLoadError(LoraStudioError):
    """A checkpoint or pipeline could not be loaded."""


class LoraLoadError(LoraStudioError):
    """A LoRA file could not be loaded or does not fit the current model."""


class IncompatibleLoraError(LoraLoadError):
    """The LoRA was trained for another base architecture than the current checkpoint."""


class BadModelFile(LoraStudioError):
    """A model file is corrupt, truncated, oversized or in a format we refuse to read."""


class GenerationCancelled(LoraStudioError):
    """The user cancelled a running job."""


class OutOfMemory(LoraStudioError):
    """The device ran out of memory."""


class DownloadError(LoraStudioError):
    """A download failed; nothing half-written is left visible."""


class HubError(LoraStudioError):
    """Talking to the Hugging Face Hub failed (search, model page, access)."""


class HubAccessDenied(HubError, DownloadError):
    """A gated or private repo refused us (no token, or the license is not accepted)."""


class DownloadCancelled(DownloadError):
    """The user paused or cancelled a download; a paused one keeps its partial data."""


class TrainingDataError(LoraStudioError):
    """Training data is missing, empty, unreadable or too short."""


class ImageMetadataError(LoraStudioError):
    """An image could not be read, or carries no generation parameters to restore."""


class PresetError(LoraStudioError):
    """A preset (saved mix) could not be saved, renamed or loaded, e.g. its name is taken."""


class InvalidRequest(LoraStudioError):
    """A job's settings are out of range (steps, size, seed, weights...) or its output cannot be written."""


class EngineRuntimeMissing(LoraStudioError):
    """No Python environment with torch is set up to run the engine (the installers ship without it)."""


class EngineRuntimeError(LoraStudioError):
    """Setting up, checking or removing the engine runtime (the Python environment with torch) failed."""


class UnknownRuntimeTarget(EngineRuntimeError):
    """A runtime build key (cpu, cu130, ...) that LoRA Studio does not know."""


class UvMissing(EngineRuntimeError):
    """The bundled uv program (it installs the engine runtime) cannot be found."""


class NotEnoughDiskSpace(EngineRuntimeError):
    """The disk has too little free space for the engine runtime, before or during the install."""


class IndexUnreachable(EngineRuntimeError):
    """The package index (or the wheel folder) could not be reached or read."""


class DriverTooOld(EngineRuntimeError):
    """The GPU driver is older than the chosen PyTorch build needs."""


class RuntimeInstallFailed(EngineRuntimeError):
    """uv could not install the engine runtime, or the new runtime failed its checks."""


class RuntimeInstallCancelled(GenerationCancelled, EngineRuntimeError):
    """The user cancelled the install; the next install reuses what was downloaded."""
