""""Test connection": what a ComfyUI server is and what it has (Qt-free; Settings, the CLI and the
window's device label call it)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lorastudio.core.backend.comfyui.client import ComfyClient
from lorastudio.core.backend.comfyui.errors import RemoteError
from lorastudio.core.backend.comfyui.models import ServerModels, fetch_server_models
from lorastudio.core.metadata.untrusted import clean_text, parse_int

# ComfyUI names a CUDA device "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync" (model_management.
# get_torch_device_name): the index and the allocator mean nothing to a user.
_DEVICE_INDEX = re.compile(r"^[a-z]+:\d+\s+")
_ALLOCATOR = re.compile(r"\s+:\s+\S+$")


@dataclass(frozen=True)
class ServerInfo:
    url: str
    version: str
    device: str
    vram_total: int | None  # bytes
    vram_free: int | None
    checkpoints: int
    loras: int
    device_type: str = ""  # "cuda", "cpu", "mps", ... as the server says
    models: ServerModels = field(default_factory=ServerModels)

    def summary(self) -> str:
        """One line for the Settings dialog and ``lorastudio backends test``."""
        vram = f", {self.vram_total / 2**30:.1f} GB VRAM" if self.vram_total else ""
        return (f"ComfyUI {self.version} on {self.device or 'an unknown device'}{vram}: "
                f"{self.checkpoints} checkpoints, {self.loras} LoRAs.")

    def device_line(self) -> str:
        """The device in a few words for the status bar: "NVIDIA GeForce RTX 4090, 24 GB", "CPU"."""
        if self.device_type == "cpu" or self.device == "cpu":
            return "CPU"  # ComfyUI reports the RAM as the "VRAM" of a CPU
        name = _ALLOCATOR.sub("", _DEVICE_INDEX.sub("", self.device)).strip() or "an unknown device"
        return f"{name}, {round(self.vram_total / 2**30)} GB" if self.vram_total else name


def check_connection(url: str, token: str | None = None, timeout: float = 10.0) -> ServerInfo:
    """Ask ``/system_stats`` and ``/object_info``; ``RemoteError`` with one sentence on failure."""
    client = ComfyClient(url, token, timeout)
    stats = client.get_json("/system_stats")
    if not isinstance(stats, dict) or not isinstance(stats.get("system"), dict):
        raise RemoteError(f"{client.label} answered, but not like a ComfyUI server (no system stats).")
    version = clean_text(str(stats["system"].get("comfyui_version") or "unknown version"))[:40]
    devices = stats.get("devices")
    device, kind, total, free = "", "", None, None
    if isinstance(devices, list) and devices and isinstance(devices[0], dict):
        first = devices[0]
        device = clean_text(str(first.get("name") or first.get("type") or ""))[:120]
        kind = clean_text(str(first.get("type") or ""))[:20]
        total = parse_int(first.get("vram_total"), 0, 2**60)
        free = parse_int(first.get("vram_free"), 0, 2**60)
    models = fetch_server_models(client)
    return ServerInfo(client.url, version, device, total, free, len(models.checkpoints), len(models.loras),
                      kind, models)
