"""Errors of the remote path; each message is one sentence for the user."""

from __future__ import annotations

from lorastudio.core.errors import LoraLoadError, LoraStudioError


class RemoteError(LoraStudioError):
    """A ComfyUI server could not be reached, refused a request or answered something unusable."""


class RemoteUnreachable(RemoteError):
    """The server did not answer, or the connection broke during a job (another server may do it)."""


class RemoteUnsupported(LoraStudioError):
    """The job asks for something a ComfyUI server cannot do exactly (said before submitting)."""


class RemoteMissingFiles(LoraLoadError):
    """The server lacks the checkpoint, VAE or LoRAs the job uses."""
