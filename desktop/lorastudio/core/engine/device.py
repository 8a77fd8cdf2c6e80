"""Pick the device and dtype, and say why, so the window can show it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceChoice:
    device: str  # "cuda", "mps" or "cpu"
    dtype_name: str  # "float16" or "float32"
    reason: str  # one line for the status bar

    @property
    def label(self) -> str:
        return f"{self.device.upper()} — {self.reason}"


def choose_device(requested: str | None = None) -> DeviceChoice:
    """cuda, then mps, then cpu; fp16 on a GPU, fp32 on the CPU (fp16 is slow or unsupported there)."""
    import torch

    if requested == "cpu":
        return DeviceChoice("cpu", "float32", "chosen by the user")
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return DeviceChoice("cuda", "float16", f"{name}, float16")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return DeviceChoice("mps", "float16", "Apple GPU, float16")
    if torch.version.cuda is None:
        why = "no CUDA build of torch installed (File ▸ Engine runtime sets one up)"
    else:
        why = "CUDA build of torch, but no usable NVIDIA GPU or driver found"
    return DeviceChoice("cpu", "float32", why)
