"""LoRA preview jobs ("Make preview"): the request for one LoRA's preview and where its image goes.

A preview is an ordinary queued generation: the current settings, the LoRA alone at its preferred
weight with its trigger words, a fixed seed so previews are comparable. The image is written as
``<stem>.preview.png`` next to the LoRA (A1111's convention), or into the data dir's cache when
that folder is read-only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from lorastudio.core.engine.request import GenerationRequest, LoraSpec

PREVIEW_SEED = 1234
PREVIEW_MAX_SIZE = 512
DEFAULT_PREVIEW_PROMPT = "a portrait"
__all__ = ["PREVIEW_SEED", "PreviewJobs", "cache_preview_path", "preview_path", "preview_request"]


def preview_request(base: GenerationRequest, lora: Path, weight: float | None,
                    trigger_words: tuple[str, ...]) -> GenerationRequest:
    """``base`` (the current settings and checkpoint) turned into one LoRA's preview request."""
    prompt = base.prompt.strip() or DEFAULT_PREVIEW_PROMPT
    words = [w for w in trigger_words if w and w not in prompt]
    if words:
        prompt = ", ".join([*words, prompt])
    width, height = (min(base.width, PREVIEW_MAX_SIZE), min(base.height, PREVIEW_MAX_SIZE))
    spec = LoraSpec(path=lora, weight=1.0 if weight is None else weight, name=lora.stem)
    return replace(base, prompt=prompt, loras=(spec,), seed=PREVIEW_SEED, width=width - width % 8,
                   height=height - height % 8, batch_count=1, preview_every=0).validate()


def preview_path(lora: Path) -> Path:
    """Where the preview of ``lora`` goes next to it: ``name.preview.png``."""
    return lora.with_name(f"{lora.stem}.preview.png")


def cache_preview_path(cache_dir: Path, lora: Path, sha256: str | None) -> Path:
    """The fallback in the app's cache for a LoRA whose folder is read-only."""
    return cache_dir / "previews" / f"{sha256 or lora.stem}.preview.png"


@dataclass
class _Pending:
    lora: Path
    sha256: str | None
    overwrite: bool


class PreviewJobs:
    """Job id → LoRA for queued preview jobs, with the overall progress ("Preview 2 of 5")."""

    def __init__(self, cache_dir: Path) -> None:
        self._cache_dir = cache_dir
        self._pending: dict[str, _Pending] = {}
        self._total = 0
        self._done = 0

    def add(self, job_id: str, lora: Path, sha256: str | None = None, overwrite: bool = True) -> None:
        if not self._pending:  # a new batch after the last one finished
            self._total = self._done = 0
        self._pending[job_id] = _Pending(lora, sha256, overwrite)
        self._total += 1

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._pending

    def progress(self) -> str:
        return f"Preview {min(self._done + 1, self._total)} of {self._total}"

    def drop(self, job_id: str) -> None:
        """A job that failed or was cancelled: it counts as done, nothing is written."""
        if self._pending.pop(job_id, None) is not None:
            self._done += 1

    def drop_all_but(self, live: set[str]) -> None:
        """After a failure or a cancel (those events carry no job id): drop the jobs no longer queued."""
        for job_id in [j for j in self._pending if j not in live]:
            self.drop(job_id)

    def finish(self, job_id: str, png: bytes) -> Path | None:
        """Write a finished job's PNG; return the file written (None when not ours or kept)."""
        pending = self._pending.pop(job_id, None)
        if pending is None:
            return None
        self._done += 1
        target = preview_path(pending.lora)
        if target.exists() and not pending.overwrite:
            return None
        if os.access(target.parent, os.W_OK):
            try:
                target.write_bytes(png)
                return target
            except OSError:
                pass  # e.g. a read-only mount that os.access did not see: use the cache
        cached = cache_preview_path(self._cache_dir, pending.lora, pending.sha256)
        if cached.exists() and not pending.overwrite:
            return None
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(png)
        return cached
