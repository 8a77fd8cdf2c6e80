"""Low-memory options for GPUs, applied to the loaded pipeline, and what each one did.

All off by default: on a CPU they only cost time (slicing, tiling) or do nothing (offload needs an
accelerator), and on a large GPU they are not needed. The engine re-applies them when they change,
without reloading the model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from lorastudio.core.engine.device import DeviceChoice

log = logging.getLogger(__name__)

OFFLOAD_NEEDS_GPU = "Model CPU offload needs an NVIDIA GPU; it is ignored on the CPU."


@dataclass(frozen=True)
class MemoryOptions:
    attention_slicing: bool = False  # attention in slices: less peak VRAM, a little slower
    vae_tiling: bool = False  # decode large images tile by tile (seams are blended)
    cpu_offload: bool = False  # keep each model in RAM until it runs (needs accelerate + CUDA)

    @property
    def any(self) -> bool:
        return self.attention_slicing or self.vae_tiling or self.cpu_offload


@dataclass
class MemoryState:
    """What is applied to one pipeline object right now (``None``: nothing yet)."""

    pipe_id: int = 0
    applied: MemoryOptions | None = None
    offloaded: bool = False
    notes: tuple[str, ...] = ()


def can_offload(choice: DeviceChoice) -> bool:
    if choice.device != "cuda":
        return False
    try:
        import accelerate  # noqa: F401
    except ImportError:
        return False
    return True


def apply_memory_options(pipe: Any, options: MemoryOptions, choice: DeviceChoice,
                         state: MemoryState) -> tuple[str, ...]:
    """Make ``pipe`` match ``options`` (switching off what was on); returns notes for the user.
    Cheap when nothing changed: the engine calls it before every generation."""
    if state.pipe_id != id(pipe):
        state.pipe_id, state.applied, state.offloaded, state.notes = id(pipe), None, False, ()
    if state.applied == options:
        return state.notes
    notes: list[str] = []
    if options.attention_slicing:
        pipe.enable_attention_slicing("auto")
    elif state.applied is not None and state.applied.attention_slicing:
        pipe.disable_attention_slicing()
    vae = getattr(pipe, "vae", None)
    if vae is not None and hasattr(vae, "enable_tiling"):
        if options.vae_tiling:
            vae.enable_tiling()
        else:
            vae.disable_tiling()
    want_offload = options.cpu_offload and can_offload(choice)
    if options.cpu_offload and not want_offload:
        notes.append(OFFLOAD_NEEDS_GPU if choice.device != "cuda" else
                     "Model CPU offload needs the 'accelerate' package; it is ignored.")
    if want_offload and not state.offloaded:
        pipe.enable_model_cpu_offload(device=choice.device)
        state.offloaded = True
    elif not want_offload and state.offloaded:
        pipe.remove_all_hooks()
        pipe.to(choice.device)
        state.offloaded = False
    state.applied, state.notes = options, tuple(notes)
    for note in notes:
        log.info(note)
    return state.notes


def applied_summary(pipe: Any) -> dict[str, bool]:
    """What is really on in ``pipe`` (read back from the modules, for tests and the status bar)."""
    unet = getattr(pipe, "unet", None)
    slicing = False
    if unet is not None:
        slicing = any(type(p).__name__.startswith("Sliced") for p in unet.attn_processors.values())
    vae = getattr(pipe, "vae", None)
    return {"attention_slicing": slicing, "vae_tiling": bool(getattr(vae, "use_tiling", False)),
            "cpu_offload": bool(getattr(pipe, "_all_hooks", None))}
