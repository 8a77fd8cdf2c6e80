"""A training run as a queue job: the frozen request the window sends to the engine process.

The engine process answers with the trainer's own frozen values (``trainer.TrainProgress``,
``TrainSample``, ``EpochSaved`` as job updates; ``TrainResult`` as the job's result): plain data,
picklable and free of torch, so the window can import all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from lorastudio.core.training.config import TrainConfig


@dataclass(frozen=True)
class TrainRequest:
    """Train the LoRA ``config`` describes. ``captions`` are the page's edited captions (they win over
    the ``.txt`` sidecars); ``resume`` continues from the last saved epoch when a checkpoint exists."""

    config: TrainConfig
    captions: tuple[tuple[Path, str], ...] = ()
    resume: bool = False

    # Only this computer trains (the runner never sends this to a ComfyUI server).
    local_only: ClassVar[bool] = True

    @property
    def job_label(self) -> str:
        verb = "Resume training" if self.resume else "Train"
        return f"{verb} {self.config.output_name} — {Path(self.config.dataset).name or 'pictures'}, " \
               f"{self.config.epochs} epoch{'s' if self.config.epochs != 1 else ''}"

    def caption_map(self) -> dict[Path, str]:
        return dict(self.captions)
