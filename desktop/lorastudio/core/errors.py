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
