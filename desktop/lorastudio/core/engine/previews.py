"""Cheap live previews: latents -> RGB with a fixed linear map (no VAE), ~0.4 ms per 512² image."""

from __future__ import annotations

from typing import Any

# Widely used approximations of the SD 1.x / SDXL VAE decoders (stack-api-notes §5).
SD15_RGB = [[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350], [-0.2829, 0.1762, 0.2721],
            [-0.2120, -0.2616, -0.7177]]
SDXL_RGB = [[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068], [0.1076, 0.1111, -0.0362],
            [-0.3165, -0.2492, -0.2188]]
SDXL_BIAS = [0.1084, -0.0175, -0.0011]


def latents_to_rgb(latents: Any, xl: bool = False) -> Any:
    """(1,4,h,w) latents -> (h,w,3) uint8 numpy array at 1/8 of the image size."""
    import torch

    factors = torch.tensor(SDXL_RGB if xl else SD15_RGB)
    x = latents[0].detach().float().cpu().permute(1, 2, 0) @ factors
    if xl:
        x = x + torch.tensor(SDXL_BIAS)
    return ((x + 1) / 2).clamp(0, 1).mul(255).byte().numpy()
