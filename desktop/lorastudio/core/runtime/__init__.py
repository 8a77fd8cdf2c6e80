"""The engine runtime (#18): a Python environment with torch, set up for this machine's GPU.

``detect`` picks the PyTorch build (NVIDIA CUDA, AMD ROCm, Apple MPS or CPU) and says why;
``EngineRuntime`` installs it with uv into the data dir, checks it, repairs and removes it;
``engine_python`` names the interpreter that runs the engine process. Nothing here imports torch.
"""

from lorastudio.core.runtime.detect import TARGETS, Detection, Gpu, Target, detect, parse_nvidia_smi, target
from lorastudio.core.runtime.runtime import EngineRuntime, engine_python
from lorastudio.core.runtime.values import InstallProgress, RuntimeState, VerifyReport

__all__ = [
    "TARGETS",
    "Detection",
    "EngineRuntime",
    "Gpu",
    "InstallProgress",
    "RuntimeState",
    "Target",
    "VerifyReport",
    "detect",
    "engine_python",
    "parse_nvidia_smi",
    "target",
]
