"""A1111 sampler names mapped to diffusers schedulers (same names artists see in A1111/Civitai)."""

from __future__ import annotations

from typing import Any

# name -> (diffusers class name, extra config)
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler": ("EulerDiscreteScheduler", {}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Heun": ("HeunDiscreteScheduler", {}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {}),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "DPM++ 2M SDE": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
    "DPM++ 2M SDE Karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True},
    ),
    "DDIM": ("DDIMScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
}

DEFAULT_SAMPLER = "Euler"


def make_scheduler(name: str, base_config: Any) -> Any:
    """A fresh scheduler for ``name`` from the checkpoint's own scheduler config."""
    import diffusers

    try:
        cls_name, extra = SAMPLERS[name]
    except KeyError:
        from lorastudio.core.errors import LoraStudioError

        raise LoraStudioError(f"Unknown sampler '{name}'. Choose one of: {', '.join(SAMPLERS)}.") from None
    cls = getattr(diffusers, cls_name)
    return cls.from_config(base_config, **extra)
